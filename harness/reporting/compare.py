"""`harness compare RUN_A RUN_B`: the cell-by-cell difference of two runs.

For every strategy × suite cell in either run, the primary metric in A and in B and the
difference B − A. Where both runs scored the same test examples (matched by
`example_id` in predictions.jsonl), the difference gets a paired test computed exactly
as the run computes its deltas and the gate its checks (`harness.analysis.compare_cells`:
exact McNemar for 0/1 scores of a mean metric, else a paired bootstrap); otherwise the
CI-based test from the two cells' values and 95% CIs (`compare_summaries`). p-values are
Holm-corrected over all tested cells, so that comparing many cells does not manufacture
differences; significant means a corrected p below alpha (the run's `gate.alpha`, 0.05
by default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.analysis import (
    compare_cells,
    compare_summaries,
    describe_test,
    format_p,
    holm,
)
from harness.metrics import Metric
from harness.reporting.evidence import read_run_config
from harness.results import (
    MetricValue,
    PredictionRecord,
    RunResults,
    as_replicates,
    pairing_problem,
    read_predictions,
    read_results,
)

#: significance level when neither the caller nor run A's config gives one
DEFAULT_ALPHA = 0.05

#: (strategy, suite) -> (outputs, {metric: per-example scores})
Outputs = dict[tuple[str, str], list[PredictionRecord]]


@dataclass(frozen=True)
class CellDifference:
    """One cell of the comparison: B − A on the suite's primary metric."""

    strategy: str
    suite: str
    metric: str
    #: "compared", "only in A", "only in B", or why it could not be compared
    status: str
    a: tuple[float, float, float] | None = None  # value, CI low, CI high
    b: tuple[float, float, float] | None = None
    difference: float | None = None
    ci95: tuple[float, float] | None = None
    p_value: float | None = None
    #: Holm-corrected p-value over all tested cells
    p_adjusted: float | None = None
    #: the test of `harness.analysis`: "mcnemar", "paired-bootstrap", "replicate-t" or
    #: "ci-based"
    test: str = ""
    n_paired: int = 0
    #: training replicates (seeds) of B's and A's cell in the test
    replicates: tuple[int, int] = (1, 1)
    significant: bool = False
    note: str = ""
    #: whether training-seed variance entered the test (more than one replicate)
    training_variance_measured: bool = False


@dataclass
class RunComparison:
    """Two runs, cell by cell."""

    run_a: str
    run_b: str
    cells: list[CellDifference]
    notes: list[str] = field(default_factory=list)
    #: significance level of the Holm-corrected p-values
    alpha: float = DEFAULT_ALPHA

    def significant(self) -> list[CellDifference]:
        return [c for c in self.cells if c.significant]

    def to_json(self) -> dict[str, Any]:
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "significance": self.alpha,
            "cells": [asdict(c) for c in self.cells],
            "notes": self.notes,
        }


def read_outputs(run_dir: Path) -> Outputs:
    """Each cell's prediction records from predictions.jsonl ({} when absent)."""
    path = Path(run_dir) / "predictions.jsonl"
    if not path.is_file():
        return {}
    return read_predictions(path)


def compare_runs(
    run_a: Path,
    run_b: Path,
    metrics: Mapping[str, type[Metric]],
    *,
    alpha: float | None = None,
) -> RunComparison:
    """Compare two run folders cell by cell (see the module docstring).

    `alpha` defaults to run A's `gate.alpha`, else 0.05.
    """
    a, b = read_results(run_a), read_results(run_b)
    outputs_a, outputs_b = read_outputs(run_a), read_outputs(run_b)
    config = read_run_config(run_a)
    if alpha is None:
        gate = config.get("gate")
        alpha = (
            float((gate or {}).get("alpha") or DEFAULT_ALPHA)
            if isinstance(gate, dict)
            else DEFAULT_ALPHA
        )
    resamples = int(config.get("bootstrap_resamples") or 1000)
    notes = _suite_notes(a, b)
    keys = list(dict.fromkeys([(c.strategy, c.suite) for c in a.cells + b.cells]))
    cells: list[CellDifference] = []
    for strategy, suite_name in keys:
        suite = a.suite(suite_name) or b.suite(suite_name)
        assert suite is not None
        metric = suite.primary_metric
        cell_a, cell_b = a.cell(strategy, suite_name), b.cell(strategy, suite_name)
        base = CellDifference(strategy, suite_name, metric, "compared")
        if cell_a is None or cell_b is None:
            status = "only in B" if cell_a is None else "only in A"
            cells.append(_with(base, status=status))
            continue
        if not cell_a.has_figures or not cell_b.has_figures:
            status = f"not compared: {cell_a.status} in A, {cell_b.status} in B"
            cells.append(_with(base, status=status))
            continue
        va, vb = cell_a.metrics.get(metric), cell_b.metrics.get(metric)
        if va is None or vb is None or math.isnan(va.value) or math.isnan(vb.value):
            cells.append(_with(base, status=f"not compared: no {metric} value"))
            continue
        base = _with(base, a=_triple(va), b=_triple(vb), difference=vb.value - va.value)
        pa, pb = outputs_a.get((strategy, suite_name)), outputs_b.get((strategy, suite_name))
        why = _why_not_paired(pa, pb, metric, metrics)
        if why:
            d = compare_summaries(vb, va)
            cells.append(_with(base, ci95=d.ci95, p_value=d.p_value, test=d.test, note=why))
            continue
        assert pa is not None and pb is not None
        d = compare_cells(
            metrics[metric](),
            as_replicates(pb, metric),
            as_replicates(pa, metric),
            n_resamples=resamples,
        )
        cells.append(
            _with(
                base,
                ci95=d.ci95,
                p_value=d.p_value,
                test=d.test,
                n_paired=d.n_examples,
                replicates=d.replicates,
                training_variance_measured=d.training_variance_measured,
            )
        )
    return RunComparison(str(run_a), str(run_b), _holm(cells, alpha), notes, alpha)


def _with(cell: CellDifference, **changes: Any) -> CellDifference:
    from dataclasses import replace

    return replace(cell, **changes)


def _triple(value: MetricValue) -> tuple[float, float, float]:
    return (value.value, value.ci95[0], value.ci95[1])


def _why_not_paired(
    a: list[PredictionRecord] | None,
    b: list[PredictionRecord] | None,
    metric: str,
    metrics: Mapping[str, type[Metric]],
) -> str:
    """Why this cell cannot get a paired test ("" when it can)."""
    if a is None or b is None:
        return "CI-based: no predictions.jsonl lines for this cell"
    if metric not in metrics:
        return f"CI-based: metric {metric!r} is not registered (load its plugin)"
    problem = pairing_problem(a, b, metric, ("A", "B"))
    return f"CI-based: {problem}" if problem else ""


def _holm(cells: list[CellDifference], alpha: float) -> list[CellDifference]:
    """Holm-correct the p-values; significant = corrected p < alpha."""
    adjusted = holm([math.nan if c.p_value is None else c.p_value for c in cells])
    return [
        c if math.isnan(p) else _with(c, p_adjusted=p, significant=p < alpha)
        for c, p in zip(cells, adjusted, strict=True)
    ]


def _suite_notes(a: RunResults, b: RunResults) -> list[str]:
    notes = []
    if a.model != b.model:
        notes.append(f"The model differs: A {a.model}, B {b.model}.")
    for suite in a.suites:
        other = b.suite(suite.name)
        if other is None:
            notes.append(f"Suite {suite.name} is only in A.")
        elif suite.content_hash and other.content_hash and suite.content_hash != other.content_hash:
            notes.append(
                f"Suite {suite.name} changed between the runs (content hash differs); "
                "examples are matched by id."
            )
        elif other.primary_metric != suite.primary_metric:
            notes.append(
                f"Suite {suite.name}: primary metric {suite.primary_metric} in A, "
                f"{other.primary_metric} in B; A's is compared."
            )
    notes += [f"Suite {s.name} is only in B." for s in b.suites if a.suite(s.name) is None]
    return notes


def _fmt(v: tuple[float, float, float] | None) -> str:
    return "—" if v is None else f"{v[0]:.3f}\n[{v[1]:.3f}, {v[2]:.3f}]"


def print_comparison(comparison: RunComparison, console: Console) -> None:
    """The comparison as a table, then the significant cells in one line."""
    grid = Table(
        title=f"Compare A {comparison.run_a} → B {comparison.run_b}",
        caption="Δ = B − A on the suite's primary metric. p: paired test on the same examples "
        "(ci-based without paired data: normal approximation from both 95% CIs), "
        f"Holm-corrected over all tested cells (raw p in brackets). * = significant "
        f"(p < {comparison.alpha:g}).",
        title_justify="left",
        show_lines=True,
    )
    for title in ("strategy", "suite", "metric", "A", "B", "Δ B − A", "p (Holm)", "test"):
        grid.add_column(
            title, justify="left" if title in ("strategy", "suite", "test") else "right"
        )
    for c in comparison.cells:
        style = "bold red" if c.significant else ""
        if c.difference is None:
            grid.add_row(c.strategy, c.suite, c.metric, _fmt(c.a), _fmt(c.b), "—", "—", c.status)
            continue
        delta = f"{c.difference:+.3f}{'*' if c.significant else ''}"
        if c.ci95 is not None:
            delta += f"\n[{c.ci95[0]:+.3f}, {c.ci95[1]:+.3f}]"
        p = "—"
        if c.p_adjusted is not None and c.p_value is not None:
            p = f"{format_p(c.p_adjusted)}\n({format_p(c.p_value)})"
        test = c.test + (f"\nn={c.n_paired}" if c.n_paired else "")
        grid.add_row(
            c.strategy,
            c.suite,
            c.metric,
            _fmt(c.a),
            _fmt(c.b),
            Text(delta, style=style),
            Text(p, style=style),
            test,
        )
    console.print(grid)
    for note in comparison.notes + sorted({c.note for c in comparison.cells if c.note}):
        console.print(f"note: {note}", highlight=False)
    significant = comparison.significant()
    compared = sum(1 for c in comparison.cells if c.difference is not None)
    if not significant:
        console.print(f"No significant difference in {compared} compared cells.", highlight=False)
        return
    listed = "; ".join(
        f"{c.strategy} · {c.suite} ({c.metric} {c.a[0]:.3f} → {c.b[0]:.3f}"
        + f", p={format_p(c.p_adjusted)} Holm, {describe_test(c.test, c.n_paired, c.replicates)}"
        + ")"
        for c in significant
        if c.a is not None and c.b is not None
    )
    console.print(
        Text.assemble(
            (f"{len(significant)} of {compared} cells differ significantly: ", "bold red"),
            listed,
        )
    )
