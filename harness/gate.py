"""The regression gate: compare a run to a baseline and decide whether it may ship.

For every strategy × suite × gated metric the gate computes the drop from the baseline
(respecting `higher_is_better`: for perplexity an increase is a drop) and fails the cell
only when the drop exceeds its threshold *and* is statistically significant, so noise
does not fail a pipeline:

- paired test when both sides stored predictions for the same examples: the example
  outputs are rebuilt from `predictions.jsonl` and compared with
  `harness.analysis.compare_cells` (exact McNemar for 0/1 scores of a plain-mean metric,
  else paired bootstrap), exactly as the run's deltas and `harness compare` do;
- CI-based otherwise (a bare results.json baseline, or different example sets):
  `harness.analysis.compare_summaries`, a normal approximation from the two 95%
  intervals, as for independent samples.

Thresholds: `GateConfig` (the `gate:` section of a run config, or `harness check` flags).
A changed suite version or content (a stale baseline) is bad input, not a verdict.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.analysis import TestName, compare_cells, compare_summaries, training_variance_note
from harness.analysis import describe_test as _describe_test
from harness.analysis import format_p as fmt_p
from harness.baseline import StoredRun
from harness.errors import InputError, Problem
from harness.metrics import Metric
from harness.results import (
    Cell,
    MetricValue,
    RunResults,
    SuiteInfo,
    as_replicates,
    pairing_problem,
)

Verdict = Literal["pass", "fail", "pass-not-significant", "new", "removed"]

MaxDrop = Annotated[float, Field(ge=0)]
#: drops within this of the threshold count as equal to it (float noise in the figures)
_EPSILON = 1e-9


# -- config --------------------------------------------------------------------------


class SuiteGate(BaseModel):
    """Thresholds for one suite."""

    model_config = ConfigDict(extra="forbid")

    max_drop: MaxDrop | None = Field(
        None, description="max drop of this suite's gated metrics (overrides the defaults)"
    )
    metrics: dict[str, MaxDrop] = Field(
        default_factory=dict,
        description="metric -> max drop on this suite; also gates that metric here",
    )


#: the most bootstrap resamples: each one holds a copy of the paired scores in memory
MAX_RESAMPLES = 100_000


class GateConfig(BaseModel):
    """The `gate:` section of a run config: what `harness check` allows to drop.

    A threshold is looked up, first match wins: `suites.S.metrics.M`, `suites.S.max_drop`,
    `metrics.M`, `forgetting_budget` (suites with role `forgetting`), `max_drop`. Drops
    are in the metric's own units (accuracy 0.02 = two points).
    """

    model_config = ConfigDict(extra="forbid")

    max_drop: MaxDrop = Field(0.02, description="default max drop of a gated metric")
    forgetting_budget: MaxDrop | None = Field(
        None, description="max drop on forgetting suites (general skills); default: max_drop"
    )
    alpha: float = Field(
        0.05, gt=0, lt=1, description="a drop is significant when its p-value is below this"
    )
    metrics: dict[str, MaxDrop | None] = Field(
        default_factory=dict,
        description="metrics gated on every suite that reports them, besides each suite's "
        "primary metric, with their own max drop (null: the suite's default); a list of "
        "names is accepted",
    )
    suites: dict[str, SuiteGate] = Field(default_factory=dict, description="per-suite thresholds")
    strategies: list[str] | None = Field(
        None, description="strategies to gate (default: every strategy of run and baseline)"
    )
    fail_on_missing: bool = Field(
        False, description="fail when a strategy, suite or metric of the baseline is missing"
    )
    bootstrap_resamples: int = Field(
        1000, ge=100, le=MAX_RESAMPLES, description="resamples of paired bootstraps"
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed of the paired bootstrap")

    @field_validator("metrics", mode="before")
    @classmethod
    def _names_as_mapping(cls, value: Any) -> Any:
        if isinstance(value, list):
            return dict.fromkeys(value)
        return value

    def threshold(self, suite: SuiteInfo, metric: str) -> tuple[float, str]:
        """The max drop of `metric` on `suite`, and which setting gave it (in words)."""
        per_suite = self.suites.get(suite.name)
        if per_suite is not None and metric in per_suite.metrics:
            return per_suite.metrics[metric], f"gate.suites.{suite.name}.metrics.{metric}"
        if per_suite is not None and per_suite.max_drop is not None:
            return per_suite.max_drop, f"gate.suites.{suite.name}.max_drop"
        if self.metrics.get(metric) is not None:
            return float(self.metrics[metric] or 0.0), f"gate.metrics.{metric}"
        if suite.role == "forgetting" and self.forgetting_budget is not None:
            return self.forgetting_budget, "forgetting budget"
        return self.max_drop, "max drop"

    def gated_metrics(self, suite: SuiteInfo, reported: Sequence[str]) -> list[str]:
        """The suite's primary metric, then the configured ones the suite reports."""
        names = [suite.primary_metric, *self.metrics]
        per_suite = self.suites.get(suite.name)
        if per_suite is not None:
            names += list(per_suite.metrics)
        known = {suite.primary_metric, *reported}
        return [n for n in dict.fromkeys(names) if n in known]


def parse_gate_config(
    data: Any, source: str, lines: Mapping[tuple[str | int, ...], int] | None = None
) -> GateConfig:
    """Validate a `gate:` mapping; every problem with file, line and field."""
    from harness._yaml import line_of

    try:
        return GateConfig.model_validate(data if data is not None else {})
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = ("gate", *err["loc"])
            name = ".".join(str(p) for p in loc)
            if err["type"] == "extra_forbidden":
                message, fix = f"unknown field {name!r}", "remove it or check its spelling"
            else:
                message, fix = err["msg"], "see the regression gate section of README.md"
            problems.append(Problem(source, name, message, fix, line_of(dict(lines or {}), loc)))
        raise InputError(problems) from None


# -- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class GateCheck:
    """The verdict on one strategy × suite × gated metric, with its figures and reason."""

    strategy: str
    suite: str
    metric: str
    role: str
    higher_is_better: bool
    verdict: Verdict
    #: why, in words (names the test that applied, or why none could)
    reason: str
    baseline: float | None = None
    value: float | None = None
    #: how much worse the run is (positive = worse), in the metric's units
    drop: float | None = None
    threshold: float | None = None
    #: which setting gave the threshold ("max drop", "forgetting budget", "gate.suites...")
    threshold_source: str = ""
    p_value: float | None = None
    #: the test of `harness.analysis` that gave the p-value ("" when none ran)
    test: TestName | Literal[""] = ""
    #: examples compared pairwise (0 for the CI-based rule)
    n_matched: int = 0
    #: training replicates (seeds) of the run's and the baseline's cell in the test
    replicates: tuple[int, int] = (1, 1)

    @property
    def failed(self) -> bool:
        return self.verdict == "fail"

    @property
    def summary(self) -> str:
        """One line with every figure: what CI failure messages show."""
        head = f"{self.strategy} · {self.suite} · {self.metric}: {self.verdict}"
        if self.baseline is None or self.value is None or self.drop is None:
            return f"{head} ({self.reason})"
        text = (
            f"{head}: {fmt(self.baseline)} -> {fmt(self.value)}, drop "
            f"{fmt(self.drop, signed=True)} (allowed {fmt(self.threshold)}, "
            f"{self.threshold_source})"
        )
        if self.p_value is not None:
            words = describe_test(self.test, self.n_matched, self.replicates)
            text += f", p={fmt_p(self.p_value)} ({words})"
        return text


@dataclass(frozen=True)
class GateReport:
    """Every check of a run against a baseline, and what else is worth knowing."""

    run_id: str
    baseline_id: str
    run_source: str
    baseline_source: str
    config: GateConfig
    checks: tuple[GateCheck, ...]
    #: differences that are not verdicts: model, seed, missing predictions, example sets
    notes: tuple[str, ...] = field(default=())

    @property
    def failures(self) -> tuple[GateCheck, ...]:
        return tuple(c for c in self.checks if c.failed)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        """0 when the gate passes, 1 when a check failed."""
        return 0 if self.passed else 1

    def count(self, verdict: Verdict) -> int:
        return sum(1 for c in self.checks if c.verdict == verdict)


def fmt(value: float | None, *, signed: bool = False) -> str:
    """A figure as reports show it."""
    if value is None or math.isnan(value):
        return "n/a"
    value = round(value, 3) + 0.0  # no "-0.000"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def describe_test(test: str, n_matched: int, replicates: tuple[int, int] = (1, 1)) -> str:
    """The test in words, as every report shows it (`harness.analysis.describe_test`)."""
    return _describe_test(test, n_matched, replicates)


# -- comparison ----------------------------------------------------------------------


def check_compatible(run: StoredRun, baseline: StoredRun) -> None:
    """Raise `InputError` when the baseline is stale: a shared suite changed version or data."""
    problems = []
    for suite in run.results.suites:
        old = baseline.results.suite(suite.name)
        if old is None:
            continue
        fix = (
            f"re-create the baseline from a run of the current suite (`harness baseline save "
            f"RUN_DIR`), or compare against a baseline of {suite.name} v{old.version}"
        )
        if old.version != suite.version:
            problems.append(
                Problem(
                    str(baseline.results_path),
                    f"suites.{suite.name}.version",
                    f"baseline is stale: suite {suite.name!r} is version {old.version} in the "
                    f"baseline and {suite.version} in the run",
                    fix,
                )
            )
        elif old.content_hash and suite.content_hash and old.content_hash != suite.content_hash:
            problems.append(
                Problem(
                    str(baseline.results_path),
                    f"suites.{suite.name}.content_hash",
                    f"baseline is stale: suite {suite.name!r} (version {suite.version} in both) "
                    "has different content (suite file or data changed without a version bump)",
                    fix + "; bump the suite's version when its data or prompt changes",
                )
            )
    if problems:
        raise InputError(problems)


def compare(
    run: StoredRun,
    baseline: StoredRun,
    config: GateConfig,
    metrics: Mapping[str, type[Metric]],
) -> GateReport:
    """Gate `run` against `baseline` with `config`; `metrics` are the registered metrics.

    Raises `InputError` for a stale baseline and for a config naming a suite, metric or
    strategy that neither side has.
    """
    check_compatible(run, baseline)
    new, old = run.results, baseline.results
    _check_config_names(config, new, old)
    notes = _notes(run, baseline)

    strategies = list(dict.fromkeys([*new.strategies(), *old.strategies()]))
    if config.strategies is not None:
        strategies = [s for s in strategies if s in config.strategies]
    suites = list({s.name: s for s in [*old.suites, *new.suites]}.values())
    order = {s.name: i for i, s in enumerate(new.suites)}
    suites.sort(key=lambda s: (s.role != "target", order.get(s.name, len(order))))

    checks: list[GateCheck] = []
    for strategy in strategies:
        for suite in suites:
            checks += _check_cell(strategy, suite, run, baseline, config, metrics, notes)
    return GateReport(
        run_id=new.run_id,
        baseline_id=old.run_id,
        run_source=str(run.source),
        baseline_source=str(baseline.source),
        config=config,
        checks=tuple(checks),
        notes=tuple(dict.fromkeys(notes)),
    )


def _check_config_names(config: GateConfig, new: RunResults, old: RunResults) -> None:
    problems = []
    suite_names = {s.name for s in [*new.suites, *old.suites]}
    reported: dict[str, set[str]] = {}
    for cell in [*new.cells, *old.cells]:
        reported.setdefault(cell.suite, set()).update(cell.metrics)
    for suite in [*new.suites, *old.suites]:
        reported.setdefault(suite.name, set()).add(suite.primary_metric)
    everywhere = set().union(*reported.values()) if reported else set()
    for name in config.metrics:
        if name not in everywhere:
            problems.append(
                Problem(
                    "gate",
                    f"metrics.{name}",
                    f"no suite of the run or the baseline reports metric {name!r}",
                    f"use one of {sorted(everywhere)}",
                )
            )
    for name, per_suite in config.suites.items():
        if name not in suite_names:
            problems.append(
                Problem(
                    "gate",
                    f"suites.{name}",
                    f"suite {name!r} is in neither the run nor the baseline",
                    f"use one of {sorted(suite_names)}",
                )
            )
            continue
        for metric in per_suite.metrics:
            if metric not in reported.get(name, set()):
                problems.append(
                    Problem(
                        "gate",
                        f"suites.{name}.metrics.{metric}",
                        f"suite {name!r} does not report metric {metric!r}",
                        f"use one of {sorted(reported.get(name, set()))}",
                    )
                )
    known = {*new.strategies(), *old.strategies()}
    for name in config.strategies or []:
        if name not in known:
            problems.append(
                Problem(
                    "gate",
                    "strategies",
                    f"strategy {name!r} is in neither the run nor the baseline",
                    f"use one of {sorted(known)}",
                )
            )
    if problems:
        raise InputError(problems)


def _notes(run: StoredRun, baseline: StoredRun) -> list[str]:
    new, old = run.results, baseline.results
    notes = []
    if new.model != old.model:
        notes.append(f"model: baseline {old.model}, run {new.model}")
    if new.seed != old.seed:
        notes.append(f"seed: baseline {old.seed}, run {new.seed} (few-shot draws differ)")
    if new.harness_version != old.harness_version:
        notes.append(f"harness version: baseline {old.harness_version}, run {new.harness_version}")
    if baseline.predictions_path is None:
        notes.append(
            "the baseline has no predictions.jsonl: every comparison is CI-based "
            "(keep the whole baseline folder for paired tests)"
        )
    if run.predictions_path is None:
        notes.append("the run has no predictions.jsonl: every comparison is CI-based")
    for strategy in old.strategies():
        if strategy not in new.strategies():
            notes.append(f"strategy {strategy!r} is in the baseline but not in the run")
    for strategy in new.strategies():
        if strategy not in old.strategies():
            notes.append(f"strategy {strategy!r} is new: the baseline has no figures for it")
    for suite in old.suites:
        if new.suite(suite.name) is None:
            notes.append(f"suite {suite.name!r} is in the baseline but not in the run")
    for suite in new.suites:
        if old.suite(suite.name) is None:
            notes.append(f"suite {suite.name!r} is new: the baseline has no figures for it")
    return notes


def _missing(
    strategy: str,
    suite: SuiteInfo,
    metric: str,
    verdict: Verdict,
    reason: str,
    config: GateConfig,
) -> GateCheck:
    if verdict == "removed" and config.fail_on_missing:
        verdict, reason = "fail", f"{reason} (gate.fail_on_missing)"
    return GateCheck(
        strategy, suite.name, metric, suite.role, suite.higher_is_better, verdict, reason
    )


def _check_cell(
    strategy: str,
    suite: SuiteInfo,
    run: StoredRun,
    baseline: StoredRun,
    config: GateConfig,
    metrics: Mapping[str, type[Metric]],
    notes: list[str],
) -> list[GateCheck]:
    new_cell = run.results.cell(strategy, suite.name)
    old_cell = baseline.results.cell(strategy, suite.name)
    reported = [*(new_cell.metrics if new_cell else {}), *(old_cell.metrics if old_cell else {})]
    checks = []
    for metric in config.gated_metrics(suite, reported):
        checks.append(
            _check_metric(
                strategy, suite, metric, new_cell, old_cell, run, baseline, config, metrics, notes
            )
        )
    return checks


def _check_metric(
    strategy: str,
    suite: SuiteInfo,
    metric: str,
    new_cell: Cell | None,
    old_cell: Cell | None,
    run: StoredRun,
    baseline: StoredRun,
    config: GateConfig,
    metrics: Mapping[str, type[Metric]],
    notes: list[str],
) -> GateCheck:
    if new_cell is not None and new_cell.status == "failed":
        return GateCheck(
            strategy,
            suite.name,
            metric,
            suite.role,
            suite.higher_is_better,
            "fail",
            f"the cell failed in the run: {new_cell.error or 'no error recorded'}",
        )
    if old_cell is None:
        where = "suite" if baseline.results.suite(suite.name) is None else "cell"
        return _missing(strategy, suite, metric, "new", f"new {where}: no baseline figure", config)
    if new_cell is None:
        where = "suite" if run.results.suite(suite.name) is None else "strategy"
        return _missing(
            strategy, suite, metric, "removed", f"the {where} is not in the run", config
        )
    if not old_cell.has_figures:
        return _missing(
            strategy,
            suite,
            metric,
            "new",
            f"the baseline cell has status {old_cell.status}",
            config,
        )
    if not new_cell.has_figures:
        return _missing(
            strategy,
            suite,
            metric,
            "removed",
            f"the cell has status {new_cell.status} in the run",
            config,
        )
    old_value = old_cell.metrics.get(metric)
    new_value = new_cell.metrics.get(metric)
    if old_value is None:
        return _missing(strategy, suite, metric, "new", "the baseline has no figure", config)
    if new_value is None:
        return _missing(strategy, suite, metric, "removed", "the run no longer reports it", config)

    threshold, source = config.threshold(suite, metric)
    higher = _higher_is_better(suite, metric, metrics)
    difference = new_value.value - old_value.value
    drop = -difference if higher else difference
    base = GateCheck(
        strategy,
        suite.name,
        metric,
        suite.role,
        higher,
        "pass",
        "",
        baseline=old_value.value,
        value=new_value.value,
        drop=drop,
        threshold=threshold,
        threshold_source=source,
    )
    if math.isnan(old_value.value):
        return _replace(base, verdict="new", reason="the baseline figure is n/a")
    if math.isnan(new_value.value):
        return _replace(base, verdict="fail", reason="the run's figure is n/a")

    p_value, test, n_matched, replicates, why_not_paired = _significance(
        strategy, suite.name, metric, run, baseline, config, metrics, old_value, new_value
    )
    if why_not_paired and "no predictions.jsonl" not in why_not_paired:
        notes.append(f"{strategy} · {suite.name} · {metric}: {why_not_paired}")
    base = _replace(base, p_value=p_value, test=test, n_matched=n_matched, replicates=replicates)
    test_words = describe_test(test, n_matched, replicates)
    fallback = f"; {why_not_paired}" if why_not_paired else ""
    if not (new_cell.training_variance_measured and old_cell.training_variance_measured):
        # a seed-dependent row adapted once: its figures carry an unmeasured seed effect
        fallback += f"; {training_variance_note(False)}"
    limit = f"{source} {fmt(threshold)}"
    if drop <= threshold + _EPSILON:
        if drop < -_EPSILON:
            reason = f"improved by {fmt(-drop)}"
        elif drop > _EPSILON:
            reason = f"dropped {fmt(drop)}, within the {limit}"
        else:
            reason = "unchanged"
        return _replace(base, reason=reason)
    significant = not math.isnan(p_value) and p_value < config.alpha
    if significant:
        budget = "forgetting budget breached: " if source == "forgetting budget" else ""
        reason = (
            f"{budget}dropped {fmt(drop)} > {limit}, and significant "
            f"(p={fmt_p(p_value)} < {config.alpha:g}, {test_words}){fallback}"
        )
        return _replace(base, verdict="fail", reason=reason)
    reason = (
        f"dropped {fmt(drop)} > {limit}, but not significant "
        f"(p={fmt_p(p_value)} >= {config.alpha:g}, {test_words}): could be noise{fallback}"
    )
    return _replace(base, verdict="pass-not-significant", reason=reason)


def _replace(check: GateCheck, **changes: Any) -> GateCheck:
    return dataclasses.replace(check, **changes)


def _higher_is_better(suite: SuiteInfo, metric: str, metrics: Mapping[str, type[Metric]]) -> bool:
    cls = metrics.get(metric)
    if cls is not None:
        return bool(cls.higher_is_better)
    # an unregistered metric: only the primary one's direction is recorded in results.json
    return suite.higher_is_better if metric == suite.primary_metric else True


def _significance(
    strategy: str,
    suite: str,
    metric: str,
    run: StoredRun,
    baseline: StoredRun,
    config: GateConfig,
    metrics: Mapping[str, type[Metric]],
    old_value: MetricValue,
    new_value: MetricValue,
) -> tuple[float, TestName, int, tuple[int, int], str]:
    """(p-value, test, matched examples, replicates of run and baseline, why no paired
    test was possible or "")."""
    new_records = run.predictions(strategy, suite)
    old_records = baseline.predictions(strategy, suite)
    why = ""
    if old_records is None or new_records is None:
        side = "baseline" if old_records is None else "run"
        why = f"CI-based: the {side} has no predictions.jsonl"
    elif metric not in metrics:
        why = f"CI-based: metric {metric!r} is not registered here (load its plugin)"
    elif not old_records or not new_records:
        side = "baseline" if not old_records else "run"
        why = f"CI-based: the {side}'s predictions.jsonl has no lines for this cell"
    else:
        problem = pairing_problem(new_records, old_records, metric, ("the run", "the baseline"))
        why = f"CI-based: {problem}" if problem else ""
    if why:
        summary = compare_summaries(new_value, old_value)
        return summary.p_value, summary.test, 0, (1, 1), why
    assert new_records is not None and old_records is not None
    difference = compare_cells(
        metrics[metric](),
        as_replicates(new_records, metric),
        as_replicates(old_records, metric),
        seed=config.seed,
        n_resamples=config.bootstrap_resamples,
    )
    return (
        difference.p_value,
        difference.test,
        difference.n_examples,
        difference.replicates,
        "",
    )
