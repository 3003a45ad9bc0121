"""Sweep curves and learning vs forgetting, assembled from a run's files for the reports.

The statistics live in `harness.analysis` (`build_curve`, `pareto_frontier`,
`matched_gain`); this module only finds the rows: which rows form a sweep and at which
setting values (the run's `config.yaml`), which rows are trained (trainable parameters
in their costs), their gains and drops (their deltas to zero-shot), and hands the
paired comparisons to the decision's own test (`compare_quality`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.analysis import (
    DEFAULT_ALPHA,
    Comparison,
    Curve,
    CurvePoint,
    MatchedGain,
    TradeoffPoint,
    build_curve,
    format_p,
    matched_gain,
    mean_estimate,
    pareto_frontier,
)
from harness.metrics import Metric
from harness.reporting.recommend import (
    PairedData,
    build_profiles,
    compare_quality,
    drop_vs_zero_shot,
)
from harness.results import RunResults, SuiteInfo
from harness.sweeps import CURVE_SETTINGS, SweepPoint, sweep_rows

#: gains within this many primary-metric units count as matched (0.05 = 5 points)
DEFAULT_TOLERANCE = 0.05


@dataclass(frozen=True)
class Learning:
    """What the reports show about sweeps and about learning vs forgetting."""

    curves: tuple[Curve, ...] = ()
    points: tuple[TradeoffPoint, ...] = ()
    frontier: tuple[bool, ...] = ()
    matched: tuple[MatchedGain, ...] = ()
    alpha: float = DEFAULT_ALPHA
    notes: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.curves and not self.points


def compare_rows(
    results: RunResults, data: PairedData, a: str, b: str, suites: Sequence[SuiteInfo]
) -> Comparison:
    """Row `a` minus row `b` on the mean primary metric over `suites`, with the test
    the decision uses (paired where per-example scores allow, else CI-based)."""
    pa, pb = build_profiles(results, suites, lambda _: False, [a, b])
    return compare_quality(pa, pb, suites, data).result


def build_curves(
    results: RunResults,
    strategies: Sequence[Any],
    data: PairedData,
    alpha: float = DEFAULT_ALPHA,
) -> list[Curve]:
    """One curve per swept curve setting (`CURVE_SETTINGS`), per group of the sweep's
    other settings, per target suite the rows were evaluated on."""
    curves = []
    targets = [s for s in results.suites if s.role == "target"]
    for sweep in sweep_rows(strategies):
        keys = [k for k, _ in sweep[0].values]
        for key in keys:
            setting = key.rpartition(".")[2]
            if setting not in CURVE_SETTINGS:
                continue
            groups: dict[tuple[tuple[str, Any], ...], list[SweepPoint]] = {}
            for point in sweep:
                rest = tuple((k, repr(v)) for k, v in point.values if k != key)
                groups.setdefault(rest, []).append(point)
            for group in groups.values():
                if len(group) < 2:
                    continue
                for suite in targets:
                    curve = _curve(results, data, suite, key, setting, group, alpha)
                    if curve is not None:
                        curves.append(curve)
    return curves


def _curve(
    results: RunResults,
    data: PairedData,
    suite: SuiteInfo,
    key: str,
    setting: str,
    group: Sequence[SweepPoint],
    alpha: float,
) -> Curve | None:
    points = []
    for point in group:
        x = _as_number(point.value(key))
        row = next(
            (r for r in (f"{point.row}@{suite.name}", point.row) if results.cell(r, suite.name)),
            None,
        )
        cell = results.cell(row, suite.name) if row else None
        metric = cell.metrics.get(suite.primary_metric) if cell and cell.has_figures else None
        if x is None or row is None or metric is None or math.isnan(metric.value):
            continue
        n = len(cell.seeds) if cell and cell.seeds else 1
        points.append(CurvePoint(x, row, metric.value, metric.ci95, n))
    if len(points) < 2:
        return None
    return build_curve(
        setting,
        suite.name,
        suite.primary_metric,
        points,
        lambda a, b: compare_rows(results, data, a.row, b.row, [suite]),
        alpha=alpha,
        higher_is_better=suite.higher_is_better,
        title=CURVE_SETTINGS[setting],
        base=group[0].base,
    )


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def family_of(strategies: Sequence[Any]) -> Mapping[str, str]:
    """Row name (as written in the config, before `@target`) -> its strategy name."""
    families: dict[str, str] = {}
    for entry in strategies:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            continue
        name = entry["name"]
        families[str(entry.get("label") or name)] = name
    for sweep in sweep_rows(strategies):
        for point in sweep:
            entry = next(
                e
                for e in strategies
                if isinstance(e, Mapping) and (e.get("label") or e.get("name")) == point.base
            )
            families[point.row] = entry["name"]
    return families


def build_tradeoff(
    results: RunResults,
    strategies: Sequence[Any],
    data: PairedData,
    alpha: float = DEFAULT_ALPHA,
    tolerance: float = DEFAULT_TOLERANCE,
) -> tuple[list[TradeoffPoint], list[bool], list[MatchedGain], list[str]]:
    """Every trained row as a (gain, drop) point, the frontier, and for each pair of
    strategies the matched-gain comparison of their forgetting; with notes."""
    families = family_of(strategies)
    forgetting = [s for s in results.suites if s.role == "forgetting"]
    notes: list[str] = []
    points: list[TradeoffPoint] = []
    for row in results.strategies():
        cells = [c for c in results.cells if c.strategy == row and c.has_figures]
        if not cells or max(c.cost.trainable_params for c in cells) <= 0:
            continue
        targets = [s for s in results.suites if s.role == "target" and results.cell(row, s.name)]
        gains = []
        for suite in targets:
            cell = results.cell(row, suite.name)
            delta = cell.delta_vs_zero_shot.get(suite.primary_metric) if cell else None
            if delta is None or math.isnan(delta.value):
                continue
            sign = 1.0 if suite.higher_is_better else -1.0
            lo, hi = sorted((sign * delta.ci95[0], sign * delta.ci95[1]))
            gains.append((sign * delta.value, (lo, hi)))
        drops = [
            (d.drop, d.ci95)
            for s in forgetting
            if (d := drop_vs_zero_shot(results.cell(row, s.name), s, alpha)) is not None
        ]
        if not gains or not drops:
            continue
        gain, gain_ci = mean_estimate(gains)
        drop, drop_ci = mean_estimate(drops)
        family = families.get(row.split("@")[0], row.split("@")[0].split("[")[0])
        points.append(
            TradeoffPoint(row, family, tuple(s.name for s in targets), gain, gain_ci, drop, drop_ci)
        )
    frontier = pareto_frontier([(p.gain, p.drop) for p in points])
    tested = [s for s in forgetting if s.higher_is_better]
    if len(tested) < len(forgetting):
        notes.append(
            "matched-gain tests use the forgetting suites whose primary metric is "
            "higher-is-better only"
        )
    matched = []
    names = list(dict.fromkeys(p.family for p in points))
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a = [p for p in points if p.family == first]
            b = [p for p in points if p.family == second]
            if not tested:
                continue
            result = matched_gain(
                a,
                b,
                # drop(p) - drop(q) = quality(q) - quality(p) on the forgetting suites
                lambda p, q: compare_rows(results, data, q.row, p.row, tested),
                tolerance=tolerance,
                alpha=alpha,
            )
            if result.pairs:
                matched.append(result)
    return points, frontier, matched, notes


def build_learning(
    results: RunResults,
    config: Mapping[str, Any],
    data: PairedData,
    alpha: float = DEFAULT_ALPHA,
) -> Learning:
    """Curves and the learning-forgetting view of a run (`config`: its config.yaml)."""
    strategies = config.get("strategies") or []
    curves = build_curves(results, strategies, data, alpha)
    points, frontier, matched, notes = build_tradeoff(results, strategies, data, alpha)
    return Learning(
        tuple(curves), tuple(points), tuple(frontier), tuple(matched), alpha, tuple(notes)
    )


def read_learning(
    run_dir: Path, results: RunResults, metrics: Mapping[str, type[Metric]] | None, alpha: float
) -> Learning:
    """`build_learning` from a run folder's files."""
    from harness.reporting.evidence import read_paired_data, read_run_config, registered_metrics

    data = read_paired_data(run_dir, registered_metrics() if metrics is None else metrics)
    return build_learning(results, read_run_config(run_dir), data, alpha)


# -- text ----------------------------------------------------------------------------


def curve_lines(learning: Learning) -> list[str]:
    """One line per curve."""
    return [f"{c.title} of {c.base} on {c.suite}: {c.describe()}" for c in learning.curves]


def tradeoff_rows(learning: Learning) -> tuple[list[str], list[list[str]]]:
    """The learning-vs-forgetting table: header and rows."""
    header = [
        "row",
        "targets",
        "gain vs zero-shot [95% CI]",
        "mean drop on forgetting [95% CI]",
        "frontier",
    ]
    rows = [
        [
            p.row,
            ", ".join(p.targets),
            f"{p.gain:+.3f} [{p.gain_ci[0]:+.3f}, {p.gain_ci[1]:+.3f}]",
            f"{p.drop:+.3f} [{p.drop_ci[0]:+.3f}, {p.drop_ci[1]:+.3f}]",
            "yes" if on else "no",
        ]
        for p, on in zip(learning.points, learning.frontier, strict=True)
    ]
    return header, rows


def matched_lines(learning: Learning) -> list[str]:
    """One sentence per matched pair, and one verdict per pair of strategies."""
    lines = []
    for m in learning.matched:
        verdict = m.verdict()
        head = {
            "none": f"At matched gain (within {m.tolerance:g}), {m.a} and {m.b} cannot be "
            "told apart on forgetting",
            "mixed": f"At matched gain (within {m.tolerance:g}), {m.a} and {m.b} each forget "
            "less on some pairs",
        }.get(verdict, f"At matched gain (within {m.tolerance:g}), {verdict} forgets less")
        lines.append(head + ":")
        for pair in m.pairs:
            r = pair.result
            lines.append(
                f"  {pair.a.row} (gain {pair.a.gain:+.3f}, drop {pair.a.drop:+.3f}) vs "
                f"{pair.b.row} (gain {pair.b.gain:+.3f}, drop {pair.b.drop:+.3f}): drop "
                f"difference {r.difference:+.3f} [{r.ci95[0]:+.3f}, {r.ci95[1]:+.3f}], "
                f"p={format_p(r.p_value)} ({r.test}), Holm p={format_p(pair.p_adjusted)}"
            )
        if m.unmatched:
            lines.append(
                f"  no row of the other strategy within {m.tolerance:g} of gain: "
                + ", ".join(m.unmatched)
            )
    return lines


def learning_markdown(learning: Learning) -> list[str]:
    """The report.md section (empty when the run has no curve and no trained row)."""
    if learning.empty:
        return []
    lines = []
    if learning.curves:
        lines += ["## Sweep curves", ""]
        lines += [f"- {line}" for line in curve_lines(learning)]
        lines.append("")
    if learning.points:
        header, rows = tradeoff_rows(learning)
        lines += ["## Learning vs forgetting", ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|---|---|---:|---:|---|")
        lines += ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in rows]
        lines.append("")
        matched = matched_lines(learning)
        lines += [
            f"- {m.strip()}" if not m.startswith("  ") else f"  - {m.strip()}" for m in matched
        ]
        lines += [f"- Note: {n}" for n in learning.notes]
        lines.append("")
    return lines


def learning_html(learning: Learning) -> list[str]:
    """The report.html sections (none when the run has no curve and no trained row)."""
    from html import escape

    def e(text: object) -> str:
        return escape(str(text), quote=True)

    sections = []
    if learning.curves:
        items = "".join(f"<li>{e(line)}</li>" for line in curve_lines(learning))
        sections.append(
            f'<section><h2>Sweep curves</h2><ul>{items}</ul><p class="legend">Where a curve '
            "stops improving: the first point after which no later point is significantly "
            "better (paired tests of the decision, Holm-corrected over the later points). "
            "The curves are in the plots below.</p></section>"
        )
    if learning.points:
        header, rows = tradeoff_rows(learning)
        head = "".join(f"<th>{e(h)}</th>" for h in header)
        body = "".join(
            "<tr>"
            + f'<td class="name">{e(row[0])}</td>'
            + "".join(f"<td>{e(v)}</td>" for v in row[1:-1])
            + ('<td class="best">yes</td>' if row[-1] == "yes" else "<td>no</td>")
            + "</tr>"
            for row in rows
        )
        matched = matched_lines(learning)
        items = "".join(
            f"<li>{e(m.strip())}</li>" if m.startswith("  ") else f"</ul><p>{e(m)}</p><ul>"
            for m in matched
        )
        notes = "".join(f'<p class="legend">{e(n)}</p>' for n in learning.notes)
        sections.append(
            "<section><h2>Learning vs forgetting</h2>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<ul>{items}</ul>{notes}"
            "<p class=\"legend\">Gain: the row's primary metric minus zero-shot's on its "
            "targets (mean over them); drop: zero-shot minus the row on the forgetting suites "
            "(mean). Frontier: no other row learns at least as much for no more forgetting. "
            "Matched gain: each row paired with the other strategy's row of nearest gain on "
            "the same targets, the difference of their drops tested with the decision's "
            "paired test (Holm over the pairs).</p></section>"
        )
    return sections
