"""The comparison table, built once from results and rendered by each reporter.

A row per strategy; a column per suite (primary metric with its 95% CI, and the paired
difference to zero-shot), target suites first and forgetting suites grouped after them;
then cost columns. The best value of each column is marked; failed cells say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.results import Cell, RunResults, SuiteInfo

SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class TableCell:
    text: str
    best: bool = False
    failed: bool = False
    #: the paired difference to zero-shot is significant (p < 0.05)
    significant: bool = False


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


def _metric_cell(cell: Cell | None, suite: SuiteInfo) -> tuple[TableCell, float | None]:
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
    significant = False
    if delta is not None and not math.isnan(delta.value):
        significant = delta.p_value < SIGNIFICANCE
        mark = "*" if significant else ""
        text += f"\nΔ {delta.value:+.3f}{mark}"
    return TableCell(text, significant=significant), metric.value


def _mark_best(cells: list[TableCell], values: list[float | None], higher: bool) -> list[TableCell]:
    known = [v for v in values if v is not None and not math.isnan(v)]
    if len(known) < 2 or len(set(known)) == 1:
        return cells  # nothing to choose between
    best = max(known) if higher else min(known)
    return [
        TableCell(c.text, best=True, failed=c.failed, significant=c.significant)
        if v is not None and v == best
        else c
        for c, v in zip(cells, values, strict=True)
    ]


def _cost_columns(results: RunResults, strategy: str) -> tuple[list[str], list[float | None]]:
    cells = [c for c in results.cells if c.strategy == strategy and c.status != "failed"]
    if not cells:
        return ["—"] * 5, [None] * 5
    adapt = max(c.cost.adapt_seconds for c in cells)
    evaluate = sum(c.cost.eval_seconds for c in cells)
    params = max(c.cost.trainable_params for c in cells)
    memory = max(c.cost.peak_memory_mb for c in cells)
    tokens = sum(c.cost.prompt_tokens_mean for c in cells) / len(cells)
    texts = [f"{adapt:.1f}", f"{evaluate:.1f}", f"{params:,}", f"{memory:,.0f}", f"{tokens:.0f}"]
    return texts, [adapt, evaluate, float(params), memory, tokens]


COST_TITLES = ("adapt s", "eval s", "trainable params", "peak MB", "prompt tokens")


def build_table(results: RunResults) -> ComparisonTable:
    suites = sorted(results.suites, key=lambda s: (s.role != "target", s.name))
    columns = [Column(f"{s.name}\n{s.primary_metric}", s.role, s.name) for s in suites] + [
        Column(title, "cost") for title in COST_TITLES
    ]
    strategies = results.strategies()
    grid: list[list[TableCell]] = [[] for _ in strategies]
    for suite in suites:
        made = [_metric_cell(results.cell(st, suite.name), suite) for st in strategies]
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


LEGEND = (
    "Each suite: primary metric, its 95% CI, and Δ = difference to zero-shot on the same "
    "examples (* = p < 0.05, paired test). Best of each column highlighted."
)
COST_LEGEND = (
    "adapt s: adaptation time; eval s: evaluation time over all suites; peak MB: peak "
    "memory; prompt tokens: mean prompt length."
)
