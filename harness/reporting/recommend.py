"""The recommendation: which strategy to choose under stated constraints, and why.

Pure logic, no I/O: `recommend(results, constraints, paired, knowledge_in_context)`
returns a `Recommendation`: one `Decision` per target suite, over every row evaluated on
it (rows fine-tuned for that target included), and an overall decision over the rows
evaluated on every target when there are two targets or more. Each decision is
conservative on purpose:

- quality is the primary metric of the target suite (the mean over the targets for the
  overall view); `quality_suites` names the suites to decide on (default: every target
  suite whose primary metric is higher-is-better);
- a strategy is a candidate when it has no failed cells and meets every constraint;
- the best candidate is chosen only when it is significantly better than *every* other
  candidate at `decision.alpha` (default: the gate's alpha, else 0.05), Holm-corrected
  over those comparisons when there are several. Every comparison goes through one
  function (`compare_quality` by default), which calls `harness.analysis`: the test the
  run's deltas, the gate and `harness compare` use (exact McNemar, paired bootstrap, or
  the replicate t-test when a row has several training seeds) for one suite, the mean of
  per-suite differences (`compare_strata`) for several, and the CI-based test when
  per-example scores are missing;
- otherwise the decision says which strategies cannot be separated, names the cheapest
  of them as a tie-breaker *suggestion*, labelled as such, and the smallest difference
  the suite's examples could detect at 80% power;
- a row whose result depends on the seed but was adapted with one seed is named: the
  verdict on it does not measure training variance;
- either way it names the significant forgetting of the chosen row, or of every tied
  row, as caveats (zero-shot's value → the row's value).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.analysis import (
    DEFAULT_ALPHA,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Comparison,
    Estimate,
    Stratum,
    compare_strata,
    compare_summaries_over_strata,
    describe_test,
    detectable_difference,
    format_p,
    holm,
    training_variance_note,
)
from harness.analysis import as_replicates as cell_replicates
from harness.metrics import Metric
from harness.results import (
    Cell,
    PredictionRecord,
    RunResults,
    SuiteInfo,
    as_replicates,
    pairing_problem,
)

CostAxis = Literal[
    "latency_ms", "adapt_seconds", "trainable_params", "artifact_bytes", "prompt_tokens"
]
Verdict = Literal["choose", "tie", "none"]

#: cost axis -> (label, unit) for sentences and plot axes
COST_AXES: dict[str, tuple[str, str]] = {
    "latency_ms": ("eval latency", "ms per example"),
    "adapt_seconds": ("adaptation time", "s"),
    "trainable_params": ("trainable parameters", ""),
    "artifact_bytes": ("artifact size", "bytes"),
    "prompt_tokens": ("prompt length", "tokens"),
}


class DecisionConstraints(BaseModel):
    """The `decision:` section of a run config: what the recommendation must respect.

    Every field is optional; unset constraints are not applied.
    """

    model_config = ConfigDict(extra="forbid")

    min_quality: float | None = Field(
        None, description="minimum quality: mean primary metric over the quality suites"
    )
    max_forgetting: float | None = Field(
        None,
        ge=0,
        description="largest acceptable drop vs zero-shot on any forgetting suite, in "
        "primary-metric units (0.02 = two accuracy points)",
    )
    max_latency_ms: float | None = Field(None, gt=0, description="eval latency per example")
    max_adapt_seconds: float | None = Field(None, ge=0, description="adaptation time budget")
    max_trainable_params: int | None = Field(None, ge=0)
    max_artifact_bytes: int | None = Field(None, ge=0)
    max_prompt_tokens: float | None = Field(None, gt=0, description="mean prompt length")
    facts_change_often: bool = Field(
        False,
        description="set aside strategies that keep knowledge in trained weights; prefer "
        "strategies with knowledge in context (RAG) in a tie",
    )
    quality_suites: list[str] | None = Field(
        None, description="target suites that define quality (default: all higher-is-better)"
    )
    cost_axis: CostAxis = Field("latency_ms", description="cost axis of the Pareto view")
    alpha: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="significance level of the decisions (default: the gate's alpha, else 0.05)",
    )

    def describe(self) -> list[str]:
        """The active constraints, in words."""
        out = []
        if self.min_quality is not None:
            out.append(f"quality ≥ {self.min_quality:g}")
        if self.max_forgetting is not None:
            out.append(f"forgetting ≤ {self.max_forgetting:g} on every forgetting suite")
        if self.max_latency_ms is not None:
            out.append(f"eval latency ≤ {self.max_latency_ms:g} ms per example")
        if self.max_adapt_seconds is not None:
            out.append(f"adaptation ≤ {self.max_adapt_seconds:g} s")
        if self.max_trainable_params is not None:
            out.append(f"trainable parameters ≤ {self.max_trainable_params:,}")
        if self.max_artifact_bytes is not None:
            out.append(f"artifact size ≤ {_bytes(self.max_artifact_bytes)}")
        if self.max_prompt_tokens is not None:
            out.append(f"prompt length ≤ {self.max_prompt_tokens:g} tokens")
        if self.facts_change_often:
            out.append("facts change often")
        return out


def knowledge_in_context_by_name(strategy: str) -> bool:
    """The fallback when a strategy class does not say: its name contains `rag`."""
    return "rag" in strategy.lower()


# -- profiles ------------------------------------------------------------------------


@dataclass(frozen=True)
class StrategyCosts:
    """One strategy's costs over its cells; None where unknown."""

    adapt_seconds: float
    eval_seconds: float
    latency_ms: float | None
    trainable_params: int
    artifact_bytes: int
    peak_memory_mb: float
    prompt_tokens: float

    def axis(self, name: str) -> float | None:
        value = getattr(self, name)
        return None if value is None else float(value)


def strategy_costs(results: RunResults, strategy: str) -> StrategyCosts | None:
    """Costs of a strategy's ok cells (None when it has none).

    Eval latency per example = total eval seconds / total test examples; a missing
    `artifact_bytes` (strategies that write nothing) counts as 0.
    """
    cells = [c for c in results.cells if c.strategy == strategy and c.has_figures]
    if not cells:
        return None
    n_test = sum(s.n_test for c in cells if (s := results.suite(c.suite)) is not None)
    evaluate = sum(c.cost.eval_seconds for c in cells)
    return StrategyCosts(
        adapt_seconds=max(c.cost.adapt_seconds for c in cells),
        eval_seconds=evaluate,
        latency_ms=1000.0 * evaluate / n_test if n_test else None,
        trainable_params=max(c.cost.trainable_params for c in cells),
        artifact_bytes=max(_artifact_bytes(c) for c in cells),
        peak_memory_mb=max(c.cost.peak_memory_mb for c in cells),
        prompt_tokens=sum(c.cost.prompt_tokens_mean for c in cells) / len(cells),
    )


def _artifact_bytes(cell: Cell) -> int:
    value = (cell.cost.model_extra or {}).get("artifact_bytes", 0)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class ForgettingDrop:
    """How much a strategy lowers a forgetting suite's primary metric vs zero-shot.

    `drop` is positive when the strategy is worse (for lower-is-better metrics too).
    """

    suite: str
    drop: float
    ci95: tuple[float, float]
    p_value: float
    #: the suite's primary metric, zero-shot's value and the strategy's value
    metric: str = ""
    before: float | None = None
    after: float | None = None
    #: the significance level the drop is judged at
    alpha: float = DEFAULT_ALPHA

    @property
    def significant(self) -> bool:
        return self.drop > 0 and self.p_value < self.alpha


@dataclass(frozen=True)
class StrategyProfile:
    """What the decision knows about one strategy."""

    strategy: str
    quality: float | None
    #: quality suite -> (value, ci95) of the primary metric
    per_suite: dict[str, tuple[float, tuple[float, float]]]
    drops: tuple[ForgettingDrop, ...]
    costs: StrategyCosts | None
    knowledge_in_context: bool
    failed_suites: tuple[str, ...] = ()
    #: the seeds the row was adapted with, when its result depends on the seed
    seeds: tuple[int, ...] = ()

    @property
    def training_variance_measured(self) -> bool:
        """False for a seed-dependent row adapted with one seed only."""
        return len(self.seeds) != 1


def drop_vs_zero_shot(
    cell: Cell | None, suite: SuiteInfo, alpha: float = DEFAULT_ALPHA
) -> ForgettingDrop | None:
    """The forgetting drop of a cell, from its paired delta to zero-shot, judged at
    `alpha`."""
    if cell is None or not cell.has_figures:
        return None
    metric = cell.metrics.get(suite.primary_metric)
    after = None if metric is None or math.isnan(metric.value) else metric.value
    if cell.strategy == "zero-shot":
        return ForgettingDrop(
            suite.name, 0.0, (0.0, 0.0), 1.0, suite.primary_metric, after, after, alpha
        )
    delta = cell.delta_vs_zero_shot.get(suite.primary_metric)
    if delta is None or math.isnan(delta.value):
        return None
    sign = -1.0 if suite.higher_is_better else 1.0
    lo, hi = sign * delta.ci95[0], sign * delta.ci95[1]
    # the delta is strategy minus zero-shot on the same examples
    before = None if after is None else after - delta.value
    return ForgettingDrop(
        suite.name,
        sign * delta.value,
        (min(lo, hi), max(lo, hi)),
        delta.p_value,
        suite.primary_metric,
        before,
        after,
        alpha,
    )


def quality_suites(results: RunResults, constraints: DecisionConstraints) -> list[SuiteInfo]:
    """The suites whose primary metrics define quality."""
    if constraints.quality_suites is not None:
        return [s for s in results.suites if s.name in constraints.quality_suites]
    return [s for s in results.suites if s.role == "target" and s.higher_is_better]


def build_profiles(
    results: RunResults,
    suites: Sequence[SuiteInfo],
    knowledge_in_context: Callable[[str], bool],
    rows: Sequence[str] | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> list[StrategyProfile]:
    """What the decision knows about each of `rows` (default: every row), with quality
    the mean primary metric over `suites`; failures count on `suites` and the forgetting
    suites; forgetting is significant at `alpha`."""
    forgetting = [s for s in results.suites if s.role == "forgetting"]
    counted = {s.name for s in (*suites, *forgetting)}
    profiles = []
    for strategy in results.strategies() if rows is None else rows:
        per_suite: dict[str, tuple[float, tuple[float, float]]] = {}
        for suite in suites:
            cell = results.cell(strategy, suite.name)
            metric = cell.metrics.get(suite.primary_metric) if cell and cell.has_figures else None
            if metric is not None and not math.isnan(metric.value):
                per_suite[suite.name] = (metric.value, metric.ci95)
        complete = bool(suites) and len(per_suite) == len(suites)
        quality = sum(v for v, _ in per_suite.values()) / len(suites) if complete else None
        drops = tuple(
            d
            for s in forgetting
            if (d := drop_vs_zero_shot(results.cell(strategy, s.name), s, alpha)) is not None
        )
        seeds = next(
            (tuple(c.seeds) for c in results.cells if c.strategy == strategy and c.has_figures),
            (),
        )
        failed = tuple(
            c.suite
            for c in results.cells
            if c.strategy == strategy and c.status == "failed" and c.suite in counted
        )
        profiles.append(
            StrategyProfile(
                strategy,
                quality,
                per_suite,
                drops,
                strategy_costs(results, strategy),
                knowledge_in_context(strategy),
                failed,
                seeds,
            )
        )
    return profiles


# -- statistics ----------------------------------------------------------------------


@dataclass(frozen=True)
class PairedData:
    """What the paired tests read: each cell's prediction records (one per example and
    replicate seed) and the metrics that score them, with the comparison bootstrap's
    seed and size (the run's `bootstrap_resamples`, as for its deltas)."""

    #: (row, suite) -> the cell's records from predictions.jsonl
    records: Mapping[tuple[str, str], Sequence[PredictionRecord]] = field(default_factory=dict)
    #: metric name -> metric class (the plugin registry's)
    metrics: Mapping[str, type[Metric]] = field(default_factory=dict)
    seed: int = DEFAULT_SEED
    n_resamples: int = DEFAULT_RESAMPLES


@dataclass(frozen=True)
class QualityComparison:
    """Quality of row `a` minus quality of row `b`, tested by `harness.analysis`."""

    a: str
    b: str
    result: Comparison
    #: why no paired test was possible ("" when the test is paired)
    why_not_paired: str = ""
    #: rows of the pair adapted with one seed although their result depends on it
    single_seed: tuple[str, ...] = ()
    #: the Holm-adjusted p-value when the leader was compared with several rivals
    p_adjusted: float | None = None
    #: how many comparisons the Holm correction covered
    family: int = 1

    @property
    def difference(self) -> float:
        return self.result.difference

    @property
    def p_value(self) -> float:
        return self.result.p_value

    @property
    def test(self) -> str:
        return self.result.test

    @property
    def n_examples(self) -> int:
        return self.result.n_examples

    def separated(self, alpha: float) -> bool:
        """`a` is significantly better: the (Holm-adjusted) p-value is below `alpha`."""
        p = self.p_value if self.p_adjusted is None else self.p_adjusted
        return not math.isnan(p) and p < alpha and self.difference > 0

    def evidence(self) -> str:
        """The test in words, as the gate and `harness compare` write it, e.g.
        `p=0.003, exact McNemar on 200 matched examples`."""
        r = self.result
        test = describe_test(r.test, r.n_examples, r.replicates, r.strata)
        text = f"p={format_p(r.p_value)}, {test}"
        if self.why_not_paired:
            text += f" ({self.why_not_paired})"
        if self.p_adjusted is not None:
            text += (
                f"; Holm-corrected over {self.family} comparisons (one per rival): "
                f"p={format_p(self.p_adjusted)}"
            )
        if self.single_seed:
            text += f"; {_join(list(self.single_seed))}: {training_variance_note(False)}"
        elif r.training_variance_measured:
            text += f"; {training_variance_note(True)}"
        return text


def format_value(value: float) -> str:
    """A metric value with three decimals up to 1, else three significant digits: 0.812,
    1.000, 5.65, 96.5."""
    if abs(value) <= 1:
        return f"{value:.3f}"
    if abs(value) < 1000:
        return f"{value:#.3g}".rstrip(".")  # 7.10, not 7.1; 100, not 100.
    return f"{value:,.0f}"


def compare_quality(
    a: StrategyProfile,
    b: StrategyProfile,
    suites: Sequence[SuiteInfo],
    data: PairedData,
) -> QualityComparison:
    """Is `a` better than `b` on quality (the mean primary metric over `suites`)?

    Paired (`compare_strata`: the run's own test for one suite, the mean of per-suite
    differences for several; replicates paired by seed) when every suite has both rows'
    per-example scores on the same examples; else CI-based from the cells' values and
    95% CIs (`compare_summaries_over_strata`).
    """
    single_seed = tuple(p.strategy for p in (a, b) if not p.training_variance_measured)
    strata, why = _strata(a, b, suites, data)
    if not why:
        try:
            result = compare_strata(strata, seed=data.seed, n_resamples=data.n_resamples)
            return QualityComparison(a.strategy, b.strategy, result, single_seed=single_seed)
        except ValueError as e:
            why = f"no paired test: {e}"
    summaries = [(Estimate(*a.per_suite[s.name]), Estimate(*b.per_suite[s.name])) for s in suites]
    result = compare_summaries_over_strata(summaries)
    return QualityComparison(a.strategy, b.strategy, result, why, single_seed)


def _strata(
    a: StrategyProfile, b: StrategyProfile, suites: Sequence[SuiteInfo], data: PairedData
) -> tuple[list[Stratum], str]:
    """Each suite's metric and the two rows' replicates, or why they cannot be paired."""
    strata: list[Stratum] = []
    for suite in suites:
        metric = suite.primary_metric
        ra, rb = (
            data.records.get((a.strategy, suite.name)),
            data.records.get((b.strategy, suite.name)),
        )
        if not ra or not rb:
            return [], f"no per-example scores on {suite.name}"
        if metric not in data.metrics:
            return [], f"metric {metric!r} is not registered"
        problem = pairing_problem(ra, rb, metric, (a.strategy, b.strategy))
        if problem:
            return [], f"{suite.name}: {problem}"
        metric_class = data.metrics[metric]
        strata.append((metric_class(), as_replicates(ra, metric), as_replicates(rb, metric)))
    return strata, ""


def power_of(
    a: StrategyProfile,
    b: StrategyProfile,
    suites: Sequence[SuiteInfo],
    data: PairedData,
    alpha: float,
) -> tuple[float, int] | None:
    """The minimum detectable quality difference between two rows at 80% power, and the
    number of test examples it is for (None without paired per-example scores)."""
    strata, why = _strata(a, b, suites, data)
    if why:
        return None
    try:
        difference = detectable_difference(strata, alpha=alpha)
    except ValueError:
        return None
    if difference is None:
        return None
    return difference, sum(len(cell_replicates(x)[0].outputs) for _, x, _ in strata)


# -- Pareto --------------------------------------------------------------------------


@dataclass(frozen=True)
class ParetoPoint:
    strategy: str
    quality: float
    cost: float
    #: no other strategy is at least as good on both quality and cost, and better on one
    optimal: bool


def pareto_front(profiles: Sequence[StrategyProfile], axis: str) -> list[ParetoPoint]:
    """Quality against one cost axis; strategies without quality or cost are left out."""
    points = [
        (p.strategy, p.quality, cost)
        for p in profiles
        if p.quality is not None
        and p.costs is not None
        and (cost := p.costs.axis(axis)) is not None
    ]
    out = []
    for name, q, c in points:
        dominated = any(
            q2 >= q and c2 <= c and (q2 > q or c2 < c) for n2, q2, c2 in points if n2 != name
        )
        out.append(ParetoPoint(name, q, c, not dominated))
    return out


# -- the decision --------------------------------------------------------------------

#: the statistical comparison behind every decision: is `a` better than `b` on `suites`?
#: One function, so that the test behind the decisions can be swapped in one place.
CompareQuality = Callable[
    [StrategyProfile, StrategyProfile, Sequence[SuiteInfo], PairedData], QualityComparison
]


@dataclass(frozen=True)
class ForgettingCaveat:
    """A row under consideration that is significantly worse than zero-shot on a
    forgetting suite."""

    strategy: str
    drop: ForgettingDrop

    def text(self) -> str:
        """e.g. `sft@a is worse on reading: exact_match 0.810 → 0.420 (p=4e-10)`."""
        d = self.drop
        if d.before is None or d.after is None:
            change = f"by {d.drop:.3f} vs zero-shot"
        else:
            change = f"{d.metric} {format_value(d.before)} → {format_value(d.after)}".lstrip()
        return f"{self.strategy} is worse on {d.suite}: {change} (p={format_p(d.p_value)})"


@dataclass(frozen=True)
class Decision:
    """The decision for one scope: a target suite, or every target at once.

    `verdict` "choose" names `chosen`; "tie" names the rows the data cannot separate
    (`tied`) and a cheapest `tie_breaker`, a suggestion rather than a statistical win;
    "none" says why nothing can be recommended.
    """

    verdict: Verdict
    #: one short line: "Choose few-shot", "Cannot separate few-shot and zero-shot", ...
    headline: str
    #: one or two sentences naming the evidence and its uncertainty
    reason: str
    #: the target suite decided on, or ALL_TARGETS for the overall view
    scope: str = ""
    chosen: str | None = None
    #: the strategies the data cannot separate (verdict "tie")
    tied: tuple[str, ...] = ()
    #: the cheapest tied strategy: a suggestion, not a statistical win
    tie_breaker: str | None = None
    tie_breaker_reason: str = ""
    #: significant forgetting of the chosen row, or of each tied row
    caveats: tuple[ForgettingCaveat, ...] = ()
    #: the comparison that decided: the winner against the runner-up, or the leader
    #: against the closest row it cannot be separated from
    evidence: QualityComparison | None = None
    #: the smallest quality difference the data could have detected (power), when known
    min_detectable_difference: float | None = None
    #: the test examples `min_detectable_difference` is for (over every quality suite)
    power_examples: int = 0
    #: the significance level of the decision
    alpha: float = DEFAULT_ALPHA
    #: rows compared here that depend on the seed but were adapted with one seed
    single_seed: tuple[str, ...] = ()
    #: (strategy, why it is not a candidate)
    excluded: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    quality_suites: tuple[str, ...] = ()
    quality_label: str = ""
    cost_axis: str = "latency_ms"
    #: the rows evaluated in this scope
    profiles: tuple[StrategyProfile, ...] = ()
    comparisons: tuple[QualityComparison, ...] = ()
    pareto: tuple[ParetoPoint, ...] = field(default_factory=tuple)

    @property
    def title(self) -> str:
        """The scope, as reports name it."""
        return "All targets" if self.scope == ALL_TARGETS else self.scope


#: the scope of the overall view
ALL_TARGETS = "*"


@dataclass(frozen=True)
class Recommendation:
    """Every decision of a run: one per target suite, then the overall view when rows
    share every target."""

    decisions: tuple[Decision, ...]
    overall: Decision | None = None
    constraints: tuple[str, ...] = ()
    #: notes about the run as a whole (suites left out, no zero-shot row, ...)
    notes: tuple[str, ...] = ()
    cost_axis: str = "latency_ms"
    #: every row, with its forgetting drops and costs
    profiles: tuple[StrategyProfile, ...] = ()
    #: the significance level of every decision
    alpha: float = DEFAULT_ALPHA

    @property
    def views(self) -> tuple[Decision, ...]:
        """The per-target decisions, then the overall one."""
        return self.decisions + ((self.overall,) if self.overall is not None else ())

    @property
    def chosen(self) -> frozenset[str]:
        """The rows chosen in any scope."""
        return frozenset(d.chosen for d in self.views if d.chosen)

    @property
    def tied(self) -> frozenset[str]:
        """The rows tied for the lead in any scope."""
        return frozenset(t for d in self.views for t in d.tied)

    @property
    def verdict(self) -> Verdict:
        """ "choose" when every scope chose, "none" when none did, else "tie"."""
        verdicts = {d.verdict for d in self.views}
        if verdicts == {"choose"}:
            return "choose"
        return "none" if verdicts <= {"none"} else "tie"

    @property
    def summary(self) -> str:
        """One line per run: each scope and what it says."""
        return "; ".join(f"{d.title}: {d.headline}" for d in self.views)


def recommend(
    results: RunResults,
    constraints: DecisionConstraints | None = None,
    paired: PairedData | None = None,
    knowledge_in_context: Callable[[str], bool] | None = None,
    compare: CompareQuality = compare_quality,
) -> Recommendation:
    """A decision for each target suite over every row evaluated on it, and an overall
    one over the rows evaluated on every target (when there are two targets or more).

    Quality suites: `constraints.quality_suites`, else every target suite whose primary
    metric is higher-is-better. Significance: `constraints.alpha`, else 0.05 (the report
    fills it from the gate's alpha). Without `paired` data every test is CI-based.
    """
    constraints = constraints or DecisionConstraints()
    alpha = DEFAULT_ALPHA if constraints.alpha is None else constraints.alpha
    data = paired or PairedData()
    in_context = knowledge_in_context or knowledge_in_context_by_name
    listed = quality_suites(results, constraints)
    # a lower-is-better quality would be ranked backwards by the comparison
    suites = [s for s in listed if s.higher_is_better]
    notes = tuple(_suite_notes(results, constraints, listed))
    everyone = build_profiles(results, [], in_context, alpha=alpha)
    shared = Recommendation(
        (),
        constraints=tuple(constraints.describe()),
        notes=notes,
        cost_axis=constraints.cost_axis,
        profiles=tuple(everyone),
        alpha=alpha,
    )
    if not suites:
        nothing = Decision(
            "none",
            "No decision: no target suite to measure quality on",
            "Add a target suite with a higher-is-better primary metric, or list "
            "`decision.quality_suites`.",
            cost_axis=constraints.cost_axis,
        )
        return replace(shared, decisions=(nothing,))

    def scope(name: str, scope_suites: Sequence[SuiteInfo]) -> Decision:
        rows = [r for r in results.strategies() if _evaluated(results, r, scope_suites)]
        profiles = build_profiles(results, scope_suites, in_context, rows, alpha)
        return decide_scope(name, scope_suites, profiles, constraints, data, alpha, compare)

    decisions = tuple(scope(s.name, [s]) for s in suites)
    overall = None
    if len(suites) > 1:
        sharing = [r for r in results.strategies() if _evaluated(results, r, suites)]
        if len(sharing) > 1:
            overall = scope(ALL_TARGETS, suites)
    return replace(shared, decisions=decisions, overall=overall)


def _evaluated(results: RunResults, row: str, suites: Sequence[SuiteInfo]) -> bool:
    """Whether a row was evaluated (or tried to be) on every suite: a skipped cell means
    the row was adapted to another target."""
    return all(
        (c := results.cell(row, s.name)) is not None and c.status != "skipped" for s in suites
    )


def decide_scope(
    scope: str,
    suites: Sequence[SuiteInfo],
    profiles: Sequence[StrategyProfile],
    constraints: DecisionConstraints,
    data: PairedData,
    alpha: float,
    compare: CompareQuality = compare_quality,
) -> Decision:
    """Choose among `profiles` on the quality of `suites` at level `alpha`, or say why
    the data cannot.

    The best candidate must beat every other one; with several rivals the p-values are
    Holm-corrected over those comparisons (family-wise error at `alpha`).
    """
    base = Decision(
        "none",
        "No strategy meets the constraints",
        "",
        scope=scope,
        quality_suites=tuple(s.name for s in suites),
        quality_label=_quality_label(suites),
        cost_axis=constraints.cost_axis,
        profiles=tuple(profiles),
        pareto=tuple(pareto_front(profiles, constraints.cost_axis)),
        alpha=alpha,
    )
    excluded = [(p.strategy, why) for p in profiles if (why := _exclusion(p, constraints))]
    out = {name for name, _ in excluded}
    candidates = sorted(
        (p for p in profiles if p.strategy not in out),
        key=lambda p: -(p.quality or 0.0),
    )
    if not candidates:
        top = max(
            (p for p in profiles if p.quality is not None),
            key=lambda p: p.quality or 0.0,
            default=None,
        )
        reasons = dict(excluded)
        reason = (
            f"The best-quality strategy, {top.strategy} ({top.quality:.3f}), is excluded: "
            f"{reasons[top.strategy]}. Relax a constraint or add a strategy."
            if top is not None and top.quality is not None
            else "No strategy produced a result here."
        )
        return replace(base, reason=reason, excluded=tuple(excluded))

    best = candidates[0]
    comparisons = [compare(best, other, suites, data) for other in candidates[1:]]
    if len(comparisons) > 1:
        adjusted = holm([c.p_value for c in comparisons])
        comparisons = [
            replace(c, p_adjusted=p, family=len(comparisons))
            for c, p in zip(comparisons, adjusted, strict=True)
        ]
    notes = tuple(_caveats(best, constraints, suites))
    single_seed = tuple(p.strategy for p in candidates if not p.training_variance_measured)
    base = replace(base, single_seed=single_seed)
    if len(candidates) == 1:
        reason = (
            f"{best.strategy} is the only strategy that meets the constraints"
            f" (quality {_quality_text(best, suites)})."
        )
        return replace(
            base,
            verdict="choose",
            headline=f"Choose {best.strategy}",
            reason=reason,
            chosen=best.strategy,
            caveats=_forgetting_caveats([best]),
            excluded=tuple(excluded),
            notes=notes,
        )

    tied = [best] + [
        c for c, cmp in zip(candidates[1:], comparisons, strict=True) if not cmp.separated(alpha)
    ]
    if len(tied) == 1:
        runner_up = comparisons[0]
        others = "the runner-up" if len(candidates) == 2 else "every other candidate; closest:"
        reason = (
            f"{best.strategy} has the best quality ({_quality_text(best, suites)}) and is "
            f"significantly better than {others} {runner_up.b} "
            f"({_quality_text(candidates[1], suites)}): Δ {runner_up.difference:+.3f}, "
            f"{runner_up.evidence()}."
        )
        return replace(
            base,
            verdict="choose",
            headline=f"Choose {best.strategy}",
            reason=reason,
            chosen=best.strategy,
            caveats=_forgetting_caveats([best]),
            evidence=runner_up,
            excluded=tuple(excluded),
            notes=notes,
            comparisons=tuple(comparisons),
        )

    names = _join([t.strategy for t in tied])
    closest = next(c for c in comparisons if not c.separated(alpha))
    other = next(p for p in candidates if p.strategy == closest.b)
    reason = (
        f"The data do not separate {names}: {best.strategy} ({_quality_text(best, suites)}) "
        f"leads {other.strategy} ({_quality_text(other, suites)}) by "
        f"Δ {closest.difference:+.3f} ({closest.evidence()}), not significant at "
        f"alpha {alpha:g}."
    )
    pick, pick_reason = _tie_breaker(tied, constraints)
    power = power_of(best, other, suites, data, alpha)
    return replace(
        base,
        verdict="tie",
        headline=f"Cannot separate {names}",
        reason=reason,
        tied=tuple(t.strategy for t in tied),
        tie_breaker=pick,
        tie_breaker_reason=pick_reason,
        caveats=_forgetting_caveats(tied),
        evidence=closest,
        min_detectable_difference=None if power is None else power[0],
        power_examples=0 if power is None else power[1],
        excluded=tuple(excluded),
        notes=notes,
        comparisons=tuple(comparisons),
    )


def _forgetting_caveats(rows: Sequence[StrategyProfile]) -> tuple[ForgettingCaveat, ...]:
    return tuple(ForgettingCaveat(p.strategy, d) for p in rows for d in p.drops if d.significant)


def _exclusion(p: StrategyProfile, c: DecisionConstraints) -> str:
    """Why a strategy is not a candidate ("" when it is)."""
    if p.failed_suites:
        return f"failed on {', '.join(p.failed_suites)}"
    if p.quality is None:
        return "no result on every quality suite"
    if c.min_quality is not None and p.quality < c.min_quality:
        return f"quality {p.quality:.3f} is below the minimum {c.min_quality:g}"
    if c.max_forgetting is not None:
        for d in p.drops:
            if d.drop > c.max_forgetting:
                return (
                    f"lowers {d.suite} by {d.drop:.3f} vs zero-shot "
                    f"(allowed {c.max_forgetting:g}; p={format_p(d.p_value)})"
                )
    costs = p.costs
    if costs is not None:
        budgets: list[tuple[float | None, float | None, str, Callable[[float], str]]] = [
            (c.max_latency_ms, costs.latency_ms, "eval latency", lambda v: f"{v:.1f} ms/example"),
            (c.max_adapt_seconds, costs.adapt_seconds, "adaptation", lambda v: f"{v:.1f} s"),
            (c.max_trainable_params, costs.trainable_params, "trainable parameters", _count),
            (c.max_artifact_bytes, costs.artifact_bytes, "artifact size", _bytes),
            (c.max_prompt_tokens, costs.prompt_tokens, "prompt length", lambda v: f"{v:.0f} tok"),
        ]
        for limit, value, what, fmt in budgets:
            if limit is not None and value is not None and value > limit:
                return f"{what} {fmt(value)} is over the budget {fmt(limit)}"
    trains_weights = costs is not None and costs.trainable_params > 0
    if c.facts_change_often and trains_weights and not p.knowledge_in_context:
        return "keeps its knowledge in trained weights, which go stale when facts change"
    return ""


def _caveats(
    best: StrategyProfile, c: DecisionConstraints, suites: Sequence[SuiteInfo]
) -> list[str]:
    notes = []
    if c.min_quality is not None and len(suites) == 1 and best.quality is not None:
        lo = best.per_suite[suites[0].name][1][0]
        if lo < c.min_quality:
            notes.append(
                f"{best.strategy}'s quality 95% CI reaches {lo:.3f}, below the minimum "
                f"{c.min_quality:g}: more test examples would make the constraint safer."
            )
    if c.max_forgetting is not None:
        for d in best.drops:
            if d.ci95[1] > c.max_forgetting:
                notes.append(
                    f"{best.strategy}'s drop on {d.suite} has a 95% CI up to {d.ci95[1]:.3f}, "
                    f"above the allowed {c.max_forgetting:g}."
                )
    return notes


def _tie_breaker(tied: Sequence[StrategyProfile], c: DecisionConstraints) -> tuple[str, str]:
    axis = c.cost_axis
    label, unit = COST_AXES[axis]

    def cost(p: StrategyProfile) -> float:
        value = p.costs.axis(axis) if p.costs else None
        return math.inf if value is None else value

    pool = list(tied)
    prefix = ""
    if c.facts_change_often and any(p.knowledge_in_context for p in pool):
        pool = [p for p in pool if p.knowledge_in_context]
        prefix = "keeps its knowledge in context (facts change often) and "
    pick = min(pool, key=lambda p: (cost(p), -(p.quality or 0.0)))
    values = ", ".join(f"{p.strategy} {_axis_value(cost(p), axis)}" for p in tied)
    return pick.strategy, f"{prefix}is the cheapest by {label} ({values}{_unit(unit)})"


def _suite_notes(
    results: RunResults, c: DecisionConstraints, suites: Sequence[SuiteInfo]
) -> list[str]:
    notes = []
    if c.quality_suites is not None:
        missing = [n for n in c.quality_suites if results.suite(n) is None]
        if missing:
            notes.append(f"decision.quality_suites names unknown suites: {', '.join(missing)}.")
    # listed suites, or by default every target suite
    considered = suites if c.quality_suites is not None else results.suites
    left_out = [
        s.name
        for s in considered
        if not s.higher_is_better and (c.quality_suites is not None or s.role == "target")
    ]
    if left_out:
        notes.append(
            f"No decision for {', '.join(left_out)}: a lower-is-better primary metric "
            "is not ranked yet."
        )
    if not any(s.strategy == "zero-shot" for s in results.cells):
        notes.append("No zero-shot row: forgetting cannot be measured.")
    return notes


def _quality_label(suites: Sequence[SuiteInfo]) -> str:
    parts = [f"{s.name} {s.primary_metric}" for s in suites]
    return parts[0] if len(parts) == 1 else "mean of " + ", ".join(parts)


def _quality_text(p: StrategyProfile, suites: Sequence[SuiteInfo]) -> str:
    if p.quality is None:
        return "n/a"
    if len(suites) == 1:
        lo, hi = p.per_suite[suites[0].name][1]
        return f"{p.quality:.3f}, 95% CI {lo:.3f}–{hi:.3f}"
    return f"{p.quality:.3f}"


def _excluded_text(excluded: Sequence[tuple[str, str]]) -> str:
    return "; ".join(f"{name}: {why}" for name, why in excluded)


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _bytes(value: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B"


def _axis_value(value: float, axis: str) -> str:
    if math.isinf(value):
        return "unknown"
    if axis == "trainable_params":
        return _count(value)
    if axis == "artifact_bytes":
        return _bytes(value)
    return f"{value:.1f}"


def _unit(unit: str) -> str:
    return f" {unit}" if unit and unit != "bytes" else ""
