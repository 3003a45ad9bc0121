"""The comparison table, built once from results and rendered by each reporter.

A row per strategy; a column per suite (primary metric with its 95% CI, and the paired
difference to zero-shot with its p-value), target suites first and forgetting suites
grouped after them (a significant drop vs zero-shot is flagged); then cost columns. The
best value of each column is marked; failed cells say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from harness.analysis import DEFAULT_ALPHA, format_p, training_variance_note
from harness.reporting.recommend import (
    COST_AXES,
    Decision,
    Recommendation,
    strategy_costs,
)
from harness.results import Cell, RunResults, SuiteInfo


@dataclass(frozen=True)
class TableCell:
    text: str
    best: bool = False
    failed: bool = False
    #: the paired difference to zero-shot is significant (p < alpha)
    significant: bool = False
    #: a forgetting suite, significantly worse than zero-shot
    drop: bool = False


@dataclass(frozen=True)
class Column:
    title: str
    group: str  # "target", "forgetting" or "cost"
    suite: str | None = None


@dataclass
class ComparisonTable:
    columns: list[Column]
    rows: list[tuple[str, list[TableCell]]]
    failures: list[tuple[str, str, str]] = field(default_factory=list)


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def _metric_cell(
    cell: Cell | None, suite: SuiteInfo, alpha: float
) -> tuple[TableCell, float | None]:
    if cell is None:
        return TableCell("—"), None
    if cell.status == "failed":
        return TableCell("failed", failed=True), None
    if cell.status == "skipped":
        return TableCell("skipped"), None
    metric = cell.metrics.get(suite.primary_metric)
    if metric is None:
        return TableCell("—"), None
    lo, hi = metric.ci95
    text = f"{_fmt(metric.value)}\n[{_fmt(lo)}, {_fmt(hi)}]"
    delta = cell.delta_vs_zero_shot.get(suite.primary_metric)
    significant = drop = False
    if delta is not None and not math.isnan(delta.value):
        significant = delta.p_value < alpha
        worse = delta.value < 0 if suite.higher_is_better else delta.value > 0
        drop = significant and worse and suite.role == "forgetting"
        mark = "*" if significant else ""
        text += f"\nΔ {delta.value:+.3f}{mark} (p={format_p(delta.p_value)})"
        if drop:
            text += "\nDROP"
    return TableCell(text, significant=significant, drop=drop), metric.value


def _mark_best(cells: list[TableCell], values: list[float | None], higher: bool) -> list[TableCell]:
    known = [v for v in values if v is not None and not math.isnan(v)]
    if len(known) < 2 or len(set(known)) == 1:
        return cells  # nothing to choose between
    best = max(known) if higher else min(known)
    return [
        replace(c, best=True) if v is not None and v == best else c
        for c, v in zip(cells, values, strict=True)
    ]


def _cost_columns(results: RunResults, strategy: str) -> tuple[list[str], list[float | None]]:
    costs = strategy_costs(results, strategy)
    if costs is None:
        return ["—"] * len(COST_TITLES), [None] * len(COST_TITLES)
    latency = costs.latency_ms
    texts = [
        f"{costs.adapt_seconds:.1f}",
        f"{costs.eval_seconds:.1f}",
        "n/a" if latency is None else f"{latency:.1f}",
        f"{costs.trainable_params:,}",
        f"{costs.artifact_bytes / 1e6:,.1f}",
        f"{costs.peak_memory_mb:,.0f}",
        f"{costs.prompt_tokens:.0f}",
    ]
    values: list[float | None] = [
        costs.adapt_seconds,
        costs.eval_seconds,
        latency,
        float(costs.trainable_params),
        float(costs.artifact_bytes),
        costs.peak_memory_mb,
        costs.prompt_tokens,
    ]
    return texts, values


COST_TITLES = (
    "adapt s",
    "eval s",
    "ms/example",
    "trainable params",
    "artifact MB",
    "peak MB",
    "prompt tokens",
)


def build_table(results: RunResults, alpha: float = DEFAULT_ALPHA) -> ComparisonTable:
    """The table of a run; a Δ to zero-shot is marked significant when p < `alpha`."""
    suites = sorted(results.suites, key=lambda s: (s.role != "target", s.name))
    columns = [Column(f"{s.name}\n{s.primary_metric}", s.role, s.name) for s in suites] + [
        Column(title, "cost") for title in COST_TITLES
    ]
    strategies = results.strategies()
    grid: list[list[TableCell]] = [[] for _ in strategies]
    for suite in suites:
        made = [_metric_cell(results.cell(st, suite.name), suite, alpha) for st in strategies]
        marked = _mark_best([m[0] for m in made], [m[1] for m in made], suite.higher_is_better)
        for row, cell in zip(grid, marked, strict=True):
            row.append(cell)
    costs = [_cost_columns(results, st) for st in strategies]
    for j in range(len(COST_TITLES)):
        cells = [TableCell(texts[j]) for texts, _ in costs]
        marked = _mark_best(cells, [values[j] for _, values in costs], higher=False)
        for row, cell in zip(grid, marked, strict=True):
            row.append(cell)
    failures = [(c.strategy, c.suite, c.error or "") for c in results.cells if c.status == "failed"]
    return ComparisonTable(columns, list(zip(strategies, grid, strict=True)), failures)


def legend(alpha: float = DEFAULT_ALPHA) -> str:
    """What the quality table shows."""
    return (
        "Each suite: primary metric, its 95% CI, and Δ = difference to zero-shot on the same "
        f"examples with its p-value (* = p < {alpha:g}, paired test). DROP: a forgetting "
        "suite significantly worse than zero-shot. Best of each column highlighted."
    )


LEGEND = legend()
COST_LEGEND = (
    "adapt s: adaptation time; eval s: evaluation time over all suites; ms/example: eval "
    "latency per test example; artifact MB: size of what the strategy saved (0 when "
    "unknown); peak MB: peak memory; prompt tokens: mean prompt length."
)


def pareto_rows(recommendation: Recommendation) -> tuple[list[str], list[list[str]]]:
    """The Pareto view as a table: for each decision's scope, its rows, best quality
    first."""
    axis = recommendation.cost_axis
    label, unit = COST_AXES[axis]
    header = ["target", "strategy", "quality", f"{label} ({unit})" if unit else label]
    header.append("Pareto-optimal")
    rows = []
    for decision in recommendation.views:
        for p in sorted(decision.pareto, key=lambda p: (-p.quality, p.cost)):
            cost = f"{p.cost:,.0f}" if axis.endswith(("params", "bytes")) else f"{p.cost:.1f}"
            optimal = "yes" if p.optimal else "no"
            rows.append([decision.title, p.strategy, f"{p.quality:.3f}", cost, optimal])
    return header, rows


@dataclass(frozen=True)
class DecisionBlock:
    """One decision as every reporter shows it: the same sentences in each."""

    verdict: str
    #: the target suite, or "All targets"
    title: str
    headline: str
    #: what quality means here, e.g. "demo-tickets-intent accuracy"
    quality: str
    reason: str
    #: "ROW — why" when the data cannot separate the leaders, else ""
    tie_breaker: str
    #: the minimum detectable difference and what to do about it (ties only), or ""
    power: str
    #: the rows adapted with one seed although their result depends on it, or ""
    training_variance: str
    caveats: tuple[str, ...]
    #: "ROW: why"
    excluded: tuple[str, ...]
    notes: tuple[str, ...]


TIE_BREAKER_LABEL = "Tie-breaker suggestion (not a statistical win)"


def decision_blocks(recommendation: Recommendation) -> list[DecisionBlock]:
    """Every decision of a run, per target suite then overall, in words."""
    return [_block(d) for d in recommendation.views]


def power_text(d: Decision) -> str:
    """For a tie: the smallest quality difference the test examples detect at 80% power,
    so that the reader knows whether to add examples or accept the tie ("" otherwise)."""
    mdd, n = d.min_detectable_difference, d.power_examples
    if mdd is None or d.verdict != "tie" or n <= 0:
        return ""
    k = len(d.quality_suites)
    where = "this suite detects" if k <= 1 else f"over {k} suites the mean quality detects"
    if math.isinf(mdd):
        return (
            f"With {n} test examples {where.replace('detects', 'cannot detect')} any "
            "difference at 80% power: add test examples before reading anything into the gap."
        )
    text = (
        f"With {n} test examples {where} differences of {mdd:.3f} or more at 80% power; "
        "a smaller true difference needs more examples."
    )
    observed = abs(d.evidence.difference) if d.evidence is not None else 0.0
    if 0 < observed < mdd:
        needed = math.ceil(n * (mdd / observed) ** 2)
        text += (
            f" Detecting the observed Δ {observed:.3f} would take about {needed:,} examples; "
            "if a difference that small does not matter, accept the tie."
        )
    return text


def training_variance_text(d: Decision) -> str:
    """Which rows of a decision were adapted with one seed, and what to do ("" if none)."""
    if not d.single_seed:
        return ""
    rows = ", ".join(d.single_seed)
    return (
        f"{rows}: {training_variance_note(False)}. A decision about trained strategies (or "
        "random demonstrations) needs `replicates: 3` in the run config: another seed can "
        "move a row by more than the gaps compared here."
    )


def _block(d: Decision) -> DecisionBlock:
    power = power_text(d)
    return DecisionBlock(
        verdict=d.verdict,
        title=d.title,
        headline=d.headline,
        quality=d.quality_label or "—",
        reason=d.reason,
        tie_breaker=f"{d.tie_breaker} — {d.tie_breaker_reason}." if d.tie_breaker else "",
        power=power,
        training_variance=training_variance_text(d),
        caveats=tuple(c.text() for c in d.caveats),
        excluded=tuple(f"{name}: {why}" for name, why in d.excluded),
        notes=d.notes,
    )


def constraints_text(recommendation: Recommendation) -> str:
    """The active constraints in one line ("" when none is set)."""
    return " · ".join(recommendation.constraints)


PARETO_LEGEND = (
    "Pareto-optimal: no other strategy is at least as good on quality and at least as cheap "
    "on this cost, and better on one of them."
)
