"""The run config: which model, strategies and suites, and how to run them.

Loaded from YAML (or built from CLI flags), validated with every problem reported at
once. Strategy entries are a name (`few-shot`), a name with settings
(`{name: few-shot, k: 8}`), a labelled variant (`{name: few-shot, label: few-shot-8, k: 8}`),
a composition (`lora+rag`) or a sweep (`{name: lora, sweep: {r: [4, 8]}}`: one row per
point, see `harness.sweeps`). `model` is a name or path (the `hf` backend) or a mapping
`{backend: NAME, name: MODEL, ...settings}`; a strategy entry may name its own.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
)

from harness._yaml import LineMap, line_of, load_yaml
from harness.errors import InputError, Problem
from harness.gate import MAX_RESAMPLES, GateConfig
from harness.models.options import DEVICE_HELP, DTYPE_HELP, device_error, dtype_error
from harness.reporting.recommend import DecisionConstraints
from harness.sweeps import SweepPoint, apply_point, expand_sweep, sweep_key_problems

#: the longest time limit, in seconds (about 31 years): longer ones overflow the clock
#: the limits wait on; `null` is the way to say "no limit"
MAX_TIMEOUT_S = 1e9

#: the most seeds per seed-dependent row
MAX_REPLICATES = 1000

#: seeds are 32-bit unsigned integers (numpy's, which training seeds through)
MAX_SEED = 2**32 - 1


def _not_a_flag(value: Any) -> Any:
    """A number field given `true`/`false`, which pydantic would read as 1 or 0."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number, got {str(value).lower()}")
    return value


def _seconds(value: float | None) -> float | None:
    """A time limit: a positive, finite number of seconds no longer than MAX_TIMEOUT_S."""
    if value is None:
        return value
    if not value > 0:  # also NaN
        raise ValueError("a timeout must be a positive number of seconds (null for no limit)")
    if value > MAX_TIMEOUT_S:
        raise ValueError(
            f"a timeout must be at most {MAX_TIMEOUT_S:.0e} seconds, got {value:g} "
            "(null for no limit)"
        )
    return value


class Timeouts(BaseModel):
    """A strategy entry's own time limits, in seconds; null for none."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    adapt: float | None = Field(None, description="adapting the row")
    cell: float | None = Field(None, description="evaluating one suite")

    _flags = field_validator("adapt", "cell", mode="before")(_not_a_flag)
    _limits = field_validator("adapt", "cell")(_seconds)

    @model_serializer(mode="wrap")
    def _given_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # a limit left out inherits the run's; dumping it as null would mean "no limit"
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set}


#: the backend a plain model name or path means
DEFAULT_BACKEND = "hf"


class ModelSpec(BaseModel):
    """A model and the backend that loads it; `settings` are the backend's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str = Field(DEFAULT_BACKEND, description="a registered backend name")
    name: str | None = Field(
        None, description="hub id, local folder, or the served model's id; default: the demo"
    )
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _flat(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # written as it is read: {backend, name, ...settings}
        data: dict[str, Any] = handler(self)
        return {"backend": data["backend"], "name": data["name"], **data["settings"]}


_MODEL_KEYS = ("backend", "name")


def _normalise_model(raw: Any) -> Any:
    """`model: NAME` and `model: {backend: B, name: N, k: v}` to the explicit form."""
    if isinstance(raw, str):
        return {"name": raw}
    if isinstance(raw, dict) and "settings" not in raw:
        settings = {k: v for k, v in raw.items() if k not in _MODEL_KEYS}
        return {k: v for k, v in raw.items() if k in _MODEL_KEYS} | {"settings": settings}
    return raw


class ExecutorConfig(BaseModel):
    """Where the run's work units run: in this process (`local`) or on a Ray cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["local", "ray"] = Field(
        "local", description="local: one unit after another in this process; ray: Ray tasks"
    )
    address: str | None = Field(
        None,
        description="ray: the cluster to connect to (`auto`, `ray://host:10001`); "
        "null starts a local one (or uses the one this process already started)",
    )
    gpus_per_unit: float | None = Field(
        None,
        ge=0,
        description="ray: GPUs each unit asks for; null: 1 for a training row and 0.25 for "
        "a prompting row when the cluster has GPUs, else 0",
    )
    cpus_per_unit: float = Field(
        1, gt=0, description="ray: CPUs each unit asks for (also its torch threads)"
    )
    max_retries: int = Field(
        2, ge=0, description="ray: retries of a unit whose worker process died"
    )

    _flags = field_validator("gpus_per_unit", "cpus_per_unit", "max_retries", mode="before")(
        _not_a_flag
    )


class StrategyEntry(BaseModel):
    """One strategy of the matrix, with its settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="a strategy name, or names joined by '+' to compose them")
    label: str | None = Field(None, description="the row name in reports (default: name)")
    settings: dict[str, Any] = Field(default_factory=dict)
    model: ModelSpec | None = Field(
        None,
        description="the model this row runs on (default: the run's); its deltas stay "
        "against the run's zero-shot row",
    )
    timeout: float | Timeouts | None = Field(
        None,
        description="seconds for adapting and for each cell of this row (a number for "
        "both, or {adapt: N, cell: N}); default: the run's adapt_timeout and cell_timeout",
    )
    sweep: dict[str, list[Any]] | None = Field(
        None,
        description="a grid over settings, {setting: [values]} (`link.setting` in a chain): "
        "one row per point of the cross product, labelled `row[setting=value]`",
    )

    @field_validator("model", mode="before")
    @classmethod
    def _model_forms(cls, value: Any) -> Any:
        return _normalise_model(value)

    _flags = field_validator("timeout", mode="before")(_not_a_flag)

    @field_validator("label")
    @classmethod
    def _plain_label(cls, value: str | None) -> str | None:
        # a row's name heads reports and names its artifacts folder
        if value is None:
            return value
        if not value.strip():
            raise ValueError("a label is empty: name the row, or leave `label` out")
        if any(c in value for c in "/\\") or value.strip() in (".", ".."):
            raise ValueError(
                f"label {value!r} is not a plain name: write it without '/' or '\\' "
                "(it names the row's folder in the run folder)"
            )
        if any(ord(c) < 32 for c in value):
            raise ValueError(f"label {value!r} holds a line break or control character")
        return value

    @field_validator("timeout")
    @classmethod
    def _positive(cls, value: float | Timeouts | None) -> float | Timeouts | None:
        if isinstance(value, int | float):
            _seconds(value)
        return value

    def timeouts(
        self, adapt: float | None, cell: float | None
    ) -> tuple[float | None, float | None]:
        """This row's (adapt, cell) limits, given the run's defaults."""
        if isinstance(self.timeout, int | float):
            return float(self.timeout), float(self.timeout)
        if isinstance(self.timeout, Timeouts):
            given = self.timeout.model_fields_set
            return (
                self.timeout.adapt if "adapt" in given else adapt,
                self.timeout.cell if "cell" in given else cell,
            )
        return adapt, cell

    @property
    def row(self) -> str:
        return self.label or self.name

    @property
    def chain(self) -> list[str]:
        return [part.strip() for part in self.name.split("+")]

    def points(self) -> list[tuple[StrategyEntry, SweepPoint | None]]:
        """The rows this entry stands for: itself, or one plain entry per sweep point
        (labelled with the point, its settings set); call after `sweep_problems`."""
        if not self.sweep:
            return [(self, None)]
        return [
            (
                self.model_copy(
                    update={
                        "label": point.row,
                        "settings": apply_point(self.settings, point.values),
                        "sweep": None,
                    }
                ),
                point,
            )
            for point in expand_sweep(self.row, self.sweep)
        ]

    def sweep_problems(self, source: str, where: str) -> list[Problem]:
        """The shape problems of this entry's sweep (keys, lists, repeats, conflicts)."""
        if self.sweep is None:
            return []
        problems = [
            Problem(source, f"{where}.sweep" + (f".{key}" if key else ""), message, fix)
            for key, message, fix in sweep_key_problems(self.chain, self.sweep)
        ]
        for key in self.sweep:
            link, dot, name = key.partition(".")
            fixed = self.settings.get(link, {}) if dot else self.settings
            if isinstance(fixed, dict) and (name if dot else key) in fixed:
                problems.append(
                    Problem(
                        source,
                        f"{where}.sweep.{key}",
                        f"setting {key!r} is both set and swept",
                        "remove it from the settings or from the sweep",
                    )
                )
        return problems


class SuiteEntry(BaseModel):
    """One suite of the run, optionally scored with other metrics than its file lists.

    `metrics` either replaces the suite's list (plain names) or edits it (`+bleu` adds,
    `-perplexity` removes); `primary_metric` picks the one reports rank by. The metrics
    a cell is scored with are part of its cache key. A plain string is `{name: ...}`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="a registered suite name or a suite.yaml path")
    metrics: tuple[str, ...] | None = Field(
        None, description="names replace the suite's metrics; +name adds, -name removes"
    )
    primary_metric: str | None = Field(None, description="default: the suite's own")

    @field_validator("metrics")
    @classmethod
    def _one_form(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("list at least one metric, or leave `metrics` out")
        edits = [m[:1] in ("+", "-") for m in value]
        if any(edits) and not all(edits):
            raise ValueError(
                "either name every metric (replacing the suite's list) or only add and "
                "remove them (+name, -name), not both"
            )
        if any(not m.lstrip("+-").strip() for m in value):
            raise ValueError("a metric name is empty")
        return value

    @model_serializer(mode="wrap")
    def _as_name(self, handler: SerializerFunctionWrapHandler) -> Any:
        # a suite without overrides stays the plain string the config gave
        return self.name if not (self.metrics or self.primary_metric) else handler(self)

    def resolve_metrics(self, own: Sequence[str], own_primary: str) -> tuple[list[str], str]:
        """(metrics, primary metric) of the suite for this run, given the suite's own."""
        metrics = list(own)
        if self.metrics and all(m[:1] in ("+", "-") for m in self.metrics):
            for edit in self.metrics:
                name = edit[1:].strip()
                if edit[0] == "+" and name not in metrics:
                    metrics.append(name)
                elif edit[0] == "-" and name in metrics:
                    metrics.remove(name)
        elif self.metrics:
            metrics = list(dict.fromkeys(self.metrics))
        return metrics, self.primary_metric or own_primary


class RunConfig(BaseModel):
    """The schema of a run config file (and of `config.yaml` in a run folder)."""

    model_config = ConfigDict(extra="forbid")

    model: ModelSpec | None = Field(
        None,
        description="hub id or local folder (the hf backend), or {backend: NAME, name: "
        "MODEL, ...settings}; default: the demo model",
    )
    strategies: list[StrategyEntry] = Field(
        default_factory=lambda: [StrategyEntry(name="zero-shot"), StrategyEntry(name="few-shot")]
    )
    suites: list[SuiteEntry] = Field(
        default_factory=list,
        description="suite names or suite.yaml paths, or {name, metrics, primary_metric}",
    )
    seed: int = Field(0, ge=0, le=MAX_SEED)
    replicates: int = Field(
        1,
        ge=1,
        le=MAX_REPLICATES,
        description="seeds per seed-dependent row (training, sampled demonstrations): "
        "replicate r uses seed + r; deterministic rows run once",
    )
    out: str | None = Field(None, description="run folder; default reports/<run-id>")
    batch_size: int = Field(16, ge=1)
    device: str = "auto"
    dtype: str = "auto"
    chat_template: str = Field("auto", pattern="^(auto|on|off)$")
    trust_remote_code: bool = False
    bootstrap_resamples: int = Field(1000, ge=100, le=MAX_RESAMPLES)
    max_test_examples: int | None = Field(None, ge=1, description="evaluate at most N per suite")
    adapt_timeout: float | None = Field(
        None, description="seconds for adapting one row; null (default) for no limit"
    )
    cell_timeout: float | None = Field(
        3600, description="seconds for evaluating one strategy on one suite; null for none"
    )
    block_plugins: list[str] = Field(default_factory=list)
    cache: bool = Field(True, description="reuse cached artifacts and predictions")
    cache_dir: str | None = Field(
        None, description="default $HARNESS_CACHE_DIR or ~/.cache/harness"
    )
    reporters: list[str] = Field(default_factory=lambda: ["terminal", "html", "markdown"])
    tracking: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="settings of tracking reporters by name (mlflow, wandb), checked by them",
    )
    executor: ExecutorConfig = Field(
        default_factory=ExecutorConfig, description="where work units run (local or ray)"
    )
    gate: GateConfig | None = Field(None, description="thresholds for `harness check`")
    decision: DecisionConstraints | None = Field(
        None, description="constraints of the recommendation (see README, Decision report)"
    )

    _flags = field_validator(
        "seed",
        "replicates",
        "batch_size",
        "bootstrap_resamples",
        "max_test_examples",
        "adapt_timeout",
        "cell_timeout",
        mode="before",
    )(_not_a_flag)
    _limits = field_validator("adapt_timeout", "cell_timeout")(_seconds)

    @field_validator("replicates")
    @classmethod
    def _seeds_fit(cls, value: int, info: ValidationInfo) -> int:
        seed = info.data.get("seed")
        if isinstance(seed, int) and seed + value - 1 > MAX_SEED:
            raise ValueError(
                f"the replicates' seeds run from {seed} to {seed + value - 1}, past the "
                f"largest seed {MAX_SEED}: lower `seed` or `replicates`"
            )
        return value

    @field_validator("suites", mode="before")
    @classmethod
    def _names_as_entries(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("model", mode="before")
    @classmethod
    def _model_forms(cls, value: Any) -> Any:
        return _normalise_model(value)

    @property
    def model_spec(self) -> ModelSpec:
        """The run's model, the demo model's name left to the planner (None)."""
        return self.model or ModelSpec()

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        error = device_error(value)
        if error:
            raise ValueError(f"{error}: {DEVICE_HELP}")
        return value

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        error = dtype_error(value)
        if error:
            raise ValueError(f"{error}: {DTYPE_HELP}")
        return value


#: keys of a strategy entry that are not the strategy's settings
_ENTRY_KEYS = ("name", "label", "timeout", "model", "sweep")


def _normalise_strategies(raw: Any) -> Any:
    """Accept `- few-shot` and `- {name: few-shot, k: 8}` as well as the explicit form."""
    if not isinstance(raw, list):
        return raw
    out = []
    for item in raw:
        if isinstance(item, str):
            out.append({"name": item})
        elif isinstance(item, dict) and "settings" not in item:
            settings = {k: v for k, v in item.items() if k not in _ENTRY_KEYS}
            out.append({k: v for k, v in item.items() if k in _ENTRY_KEYS} | {"settings": settings})
        else:
            out.append(item)
    return out


def parse_config(data: Any, source: str, lines: LineMap | None = None) -> RunConfig:
    """Validate config data; every problem reported with file, line, field and fix."""
    lines = lines or {}
    if data is None:
        # an empty file is more likely a mistake (a wrong or unsaved file) than a request
        # for the defaults; `{}` asks for the defaults explicitly
        raise InputError.single(
            source,
            "",
            "the run config is empty",
            "write the run config (see README), or `{}` for the defaults",
            1,
        )
    if not isinstance(data, dict):
        raise InputError.single(source, "", "a run config must be a YAML mapping", "see README")
    data = dict(data)
    if "strategies" in data:
        data["strategies"] = _normalise_strategies(data["strategies"])
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = tuple(err["loc"])
            name = ".".join(str(p) for p in loc)
            if err["type"] == "extra_forbidden":
                message, fix = f"unknown field {name!r}", "remove it or check its spelling"
            else:
                message, fix = err["msg"], "see the run config reference in README.md"
            problems.append(Problem(source, name, message, fix, line_of(lines, loc)))
        raise InputError(problems) from None


def load_config(path: Path) -> RunConfig:
    """Load and validate a run config file."""
    data, lines = load_yaml(Path(path), "run config")
    config = parse_config(data, str(path), lines)
    # relative suite paths are relative to the config file, so a config travels with its suites
    base = Path(path).parent
    config.suites = [
        s.model_copy(update={"name": str((base / s.name).resolve())})
        if (base / s.name).exists() or s.name.endswith((".yaml", ".yml"))
        else s
        for s in config.suites
    ]
    return config


def _type_error(value: Any, hint: Any) -> str | None:
    """Why `value` does not fit the annotation `hint` (None when it fits or we cannot tell)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return None
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        errors = [_type_error(value, option) for option in options]
        return None if any(e is None for e in errors) else errors[0]
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        return None if value in allowed else f"must be one of {list(allowed)}"
    if hint is type(None):
        return None if value is None else "must be null"
    if hint is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"must be an integer, got {value!r}"
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else f"must be a number, got {value!r}"
    if hint is str:
        return None if isinstance(value, str) else f"must be a text, got {value!r}"
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            return f"must be a list, got {value!r}"
        inner = [a for a in typing.get_args(hint) if a is not Ellipsis]
        if len(inner) == 1:
            for item in value:
                error = _type_error(item, inner[0])
                if error:
                    return f"items {error}"
        return None
    if origin is dict:
        return None if isinstance(value, dict) else f"must be a mapping, got {value!r}"
    return None


_EXPONENT_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _yaml12_float(value: Any, hint: Any) -> Any:
    """`1e-4` as the number YAML 1.2 reads, not the text PyYAML's YAML 1.1 makes of it,
    where a setting takes a number (also inside a list, for a sweep's values)."""
    if isinstance(value, str) and _EXPONENT_FLOAT.fullmatch(value.strip()):
        accepts = hint is float or float in typing.get_args(hint)
        return float(value) if accepts else value
    return value


def build_settings(settings_class: type, values: dict[str, Any], where: str, field: str) -> Any:
    """Fill a strategy's settings dataclass, rejecting unknown keys, wrong types and values.

    Each problem names the setting; the settings class's optional `validate()` method
    checks values (raising ValueError).
    """
    known = {f.name: f for f in dataclasses.fields(settings_class) if f.init}
    hints = typing.get_type_hints(settings_class)
    problems = []
    converted: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            choices = sorted(known) or "none: this strategy has no settings"
            problems.append(
                Problem(
                    where, f"{field}.{key}", f"unknown setting {key!r}", f"use one of {choices}"
                )
            )
            continue
        hint = hints.get(key, Any)
        value = _yaml12_float(value, hint)
        error = _type_error(value, hint)
        if error:
            problems.append(
                Problem(
                    where, f"{field}.{key}", f"setting {key!r} {error}", "see `harness plugins -v`"
                )
            )
            continue
        is_tuple = typing.get_origin(hint) is tuple or tuple in typing.get_args(hint)
        converted[key] = tuple(value) if isinstance(value, list) and is_tuple else value
    if problems:
        raise InputError(problems)
    try:
        settings = settings_class(**converted)
    except (TypeError, ValueError) as e:
        raise InputError.single(
            where, field, f"bad settings: {e}", "see `harness plugins -v`"
        ) from None
    validate = getattr(settings, "validate", None)
    if callable(validate):
        try:
            validate()
        except InputError as e:  # a file a setting names is bad: its own problems, as they are
            raise InputError(
                [
                    dataclasses.replace(
                        p, file=p.file or where, field=f"{field}.{p.field}" if p.field else field
                    )
                    for p in e.problems
                ]
            ) from None
        except (TypeError, ValueError) as e:
            raise InputError.single(where, field, str(e), "see `harness plugins -v`") from None
    return settings
