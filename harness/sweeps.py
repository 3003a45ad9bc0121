"""Sweeps: a strategy entry that declares a grid over its settings.

`{name: lora, sweep: {learning_rate: [1.0e-4, 5.0e-4]}}` stands for one row per point
of the grid (the cross product of the lists, in the order written), labelled
`lora[learning_rate=0.0001]`, `lora[learning_rate=0.0005]`. In a chain (`lora+rag`) a
key names its link: `lora.r`. The expansion is plain data, used by the plan (each point
becomes an ordinary entry, validated and cached like one) and by the reports (which
rows form a curve, and at which setting values).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from harness.errors import Problem

if TYPE_CHECKING:
    from harness.config import StrategyEntry

#: settings whose sweep draws a curve, and what the curve is called
CURVE_SETTINGS: dict[str, str] = {
    "max_train_examples": "data-efficiency curve",
    "k": "k-shot curve",
    "r": "rank curve",
    "learning_rate": "learning-rate curve",
}


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: its row label and the setting values that define it."""

    #: the row name, e.g. `lora[learning_rate=0.0001]` (per-target rows add `@suite`)
    row: str
    #: the entry's own row name (its label, else its strategy name)
    base: str
    #: (key, value) in the order the sweep lists its keys; chain keys are `link.key`
    values: tuple[tuple[str, Any], ...]

    def value(self, key: str) -> Any:
        return dict(self.values)[key]


def format_value(value: Any) -> str:
    """A setting value as it appears in a row label: short, stable and readable.

    Numbers in their shortest round-trip form (`0.0001`, `1e-05`, `8`), booleans and
    null as YAML writes them, lists in brackets without spaces.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest round-trip: 0.0001, 1e-05, 1.0
    if isinstance(value, list | tuple):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ",".join(f"{k}:{format_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    return str(value)


def point_label(base: str, values: Sequence[tuple[str, Any]]) -> str:
    """`base[key=value,key=value]`."""
    return base + "[" + ",".join(f"{k}={format_value(v)}" for k, v in values) + "]"


def expand_sweep(base: str, sweep: Mapping[str, Sequence[Any]]) -> list[SweepPoint]:
    """Every point of the grid, in the order written (the last key varies fastest)."""
    keys = list(sweep)
    return [
        SweepPoint(
            point_label(base, list(zip(keys, combo, strict=True))),
            base,
            tuple(zip(keys, combo, strict=True)),
        )
        for combo in itertools.product(*(list(sweep[k]) for k in keys))
    ]


def apply_point(settings: Mapping[str, Any], values: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """The entry's settings with a point's values set (`link.key` into the link's mapping)."""
    merged: dict[str, Any] = {
        k: (dict(v) if isinstance(v, dict) else v) for k, v in settings.items()
    }
    for key, value in values:
        link, dot, name = key.partition(".")
        if dot:
            inner = merged.get(link)
            merged[link] = {**(inner if isinstance(inner, dict) else {}), name: value}
        else:
            merged[key] = value
    return merged


def sweep_key_problems(
    chain: Sequence[str], sweep: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """Shape problems of a sweep, as (key, message, fix); the values' types and ranges
    are checked later, point by point, as the strategy's settings."""
    problems: list[tuple[str, str, str]] = []
    if not sweep:
        return [("", "a sweep needs at least one setting", "write `sweep: {setting: [v1, v2]}`")]
    for key, values in sweep.items():
        if not isinstance(values, list | tuple) or not values:
            problems.append(
                (key, "a sweep lists the values of each setting", f"write `{key}: [v1, v2]`")
            )
            continue
        labels = [format_value(v) for v in values]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            problems.append((key, f"value {repeated[0]} is listed twice", "list each value once"))
        link, dot, name = key.partition(".")
        if len(chain) > 1 and not dot:
            problems.append(
                (
                    key,
                    f"in the chain {'+'.join(chain)!r} a swept setting names its link",
                    f"write one of {[f'{c}.{key}' for c in chain]}",
                )
            )
        elif dot and (len(chain) == 1 or link not in chain):
            fix = (
                f"write `{name}` (a single strategy takes its settings unprefixed)"
                if len(chain) == 1
                else f"use one of the links {list(chain)}"
            )
            problems.append((key, f"{link!r} is not a link of {'+'.join(chain)!r}", fix))
        elif not key.strip() or (dot and not name):
            problems.append((key, "empty setting name", "name the setting to sweep"))
    return problems


def sweep_rows(strategies: Sequence[Any]) -> list[list[SweepPoint]]:
    """The sweeps of a run config's `strategies` list, as `config.yaml` stores it (a
    list of mappings with `name`, `label`, `settings`, `sweep`): one list of points per
    swept entry, in config order. Entries that are not sweeps are skipped."""
    out: list[list[SweepPoint]] = []
    for entry in strategies:
        if not isinstance(entry, Mapping):
            continue
        sweep = entry.get("sweep")
        name = entry.get("name")
        if not isinstance(sweep, Mapping) or not sweep or not isinstance(name, str):
            continue
        if any(not isinstance(v, list | tuple) or not v for v in sweep.values()):
            continue
        base = entry.get("label") or name
        out.append(expand_sweep(str(base), sweep))
    return out


def plan_points(
    entries: Sequence[StrategyEntry], source: str, problems: list[Problem]
) -> list[tuple[int, tuple[StrategyEntry, SweepPoint | None]]]:
    """Each entry's rows with the entry's index: the entry itself, or one plain entry per
    sweep point. A sweep's shape problems are added to `problems` and its entry skipped."""
    out: list[tuple[int, tuple[StrategyEntry, SweepPoint | None]]] = []
    for i, entry in enumerate(entries):
        shape = entry.sweep_problems(source, f"strategies[{i}]")
        if shape:
            problems.extend(shape)
            continue
        out += [(i, item) for item in entry.points()]
    return out


def point_problem(problem: Problem, point: SweepPoint | None, where: str) -> Problem:
    """A settings problem of one sweep point, named after it: a swept setting's field
    becomes `where.sweep.key` and the message gives the value; a problem of the settings
    as a whole (a `validate()` error) names the point."""
    if point is None:
        return problem
    for key, value in point.values:
        name = key.partition(".")[2] or key
        if problem.field in (f"{where}.{key}", f"{where}.{name}"):
            # an unknown key is the same problem at every point: said once, without a value
            about_key = problem.message.startswith("unknown setting")
            suffix = "" if about_key else f" (sweep value {format_value(value)})"
            return replace(problem, field=f"{where}.sweep.{key}", message=problem.message + suffix)
    if problem.field == where:
        return replace(problem, message=f"{problem.message} (sweep point {point.row})")
    return problem
