"""Paired comparisons of two cells: one typed result, whichever test applies.

`compare_cells` chooses the test from the data:

- either cell has more than one training replicate: `"replicate-t"`, a t-test whose
  variance adds each replicated side's between-seed variance of the metric to the
  example-bootstrap variance of the paired difference, with Welch–Satterthwaite degrees
  of freedom;
- one replicate each, 0/1 per-example scores of a plain-mean metric: `"mcnemar"`, the
  exact McNemar test on the discordant pairs;
- otherwise: `"paired-bootstrap"`, the two-sided paired example bootstrap.

`compare_summaries` is the fallback when only each cell's value and 95% CI are known:
`"ci-based"`, a normal approximation from the two intervals, as for independent samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from harness.analysis._bootstrap import (
    NAN_CI,
    bootstrap_p,
    finite_variance,
    is_binary,
    is_plain_mean,
    percentile_ci,
    resampled_values,
)
from harness.analysis._pairing import CellOutputs, PairedCells, pair
from harness.metrics import Metric

#: the names of the tests, the same in results.json, the gate, compare and the reports
TestName = Literal["mcnemar", "paired-bootstrap", "replicate-t", "ci-based"]
TEST_NAMES: tuple[TestName, ...] = ("mcnemar", "paired-bootstrap", "replicate-t", "ci-based")

#: the default seed and size of the example bootstrap of a comparison
DEFAULT_SEED = 0
DEFAULT_RESAMPLES = 1000

#: the significance level when no configuration gives one (`gate.alpha`, `decision.alpha`)
DEFAULT_ALPHA = 0.05

_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Comparison:
    """A minus B: the difference, its 95% CI, the two-sided p-value and how they were got."""

    difference: float
    ci95: tuple[float, float]
    p_value: float
    test: TestName
    #: whether the between-seed (training) variance entered the CI and p-value: only when a
    #: side has more than one training replicate. When False, a trained system is treated
    #: as fixed and a re-run with another training seed may well differ "significantly".
    training_variance_measured: bool
    #: examples compared pairwise (0 for the CI-based test)
    n_examples: int = 0
    #: training replicates of A and of B
    replicates: tuple[int, int] = (1, 1)
    #: degrees of freedom of the replicate t-test (None for the other tests)
    df: float | None = None
    #: strata (suites) whose differences are averaged (`compare_strata`); 1 for two cells
    strata: int = 1

    def significant(self, alpha: float) -> bool:
        """Whether the p-value is below `alpha` (never for an n/a p-value)."""
        return not math.isnan(self.p_value) and self.p_value < alpha


@dataclass(frozen=True)
class VarianceComponent:
    """One independent term of the variance of an estimate, and its degrees of freedom."""

    variance: float
    df: float


@dataclass(frozen=True)
class TResult:
    """A t statistic's two-sided p-value and 95% CI around the estimate."""

    p_value: float
    ci95: tuple[float, float]
    df: float


class Summary(Protocol):
    """What is left of a cell without per-example outputs: its value and 95% CI."""

    @property
    def value(self) -> float: ...

    @property
    def ci95(self) -> tuple[float, float]: ...


def satterthwaite_t(estimate: float, components: Sequence[VarianceComponent]) -> TResult:
    """Test `estimate` = 0 with variance the sum of `components` (Welch–Satterthwaite df).

    The standard error is `sqrt(sum of variances)`; the degrees of freedom are
    `(sum v)^2 / sum(v^2 / df)` over the components with positive variance (Satterthwaite
    1946, Welch 1947). A zero standard error gives p = 1 for a zero estimate, else 0.
    """
    from scipy.stats import t

    used = [c for c in components if c.variance > 0 and c.df > 0 and math.isfinite(c.variance)]
    if math.isnan(estimate) or any(math.isnan(c.variance) for c in components):
        return TResult(math.nan, NAN_CI, math.nan)
    if not used:
        return TResult(1.0 if estimate == 0 else 0.0, (estimate, estimate), math.inf)
    variance = sum(c.variance for c in used)
    df = variance**2 / sum(c.variance**2 / c.df for c in used)
    se = math.sqrt(variance)
    half = float(t.ppf(0.975, df)) * se
    p_value = float(2 * t.sf(abs(estimate) / se, df))
    return TResult(min(1.0, p_value), (estimate - half, estimate + half), df)


def mcnemar_p(a_scores: np.ndarray, b_scores: np.ndarray) -> float:
    """Two-sided exact McNemar p-value for paired 0/1 scores (binomial test on the
    discordant pairs; 1 when there are none)."""
    only_a = int(np.count_nonzero((a_scores == 1.0) & (b_scores == 0.0)))
    only_b = int(np.count_nonzero((a_scores == 0.0) & (b_scores == 1.0)))
    if only_a + only_b == 0:
        return 1.0
    from scipy.stats import binomtest  # ~0.6 s to import: only when a comparison runs

    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def compare_cells(
    metric: Metric,
    a: CellOutputs,
    b: CellOutputs,
    *,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> Comparison:
    """Metric of cell A minus metric of cell B on the same examples, tested.

    `a` and `b` are a `Replicate` each, or a sequence of replicates (one per training
    seed, all on the same examples). The outputs are paired by example id (`pair`: a
    `ValueError` when the example sets differ or an id repeats), so their order does not
    matter. A cell's value is the mean over its replicates of the metric.
    """
    paired = pair(a, b)
    sizes = (len(paired.a), len(paired.b))
    if max(sizes) > 1:
        return _replicate_t(metric, paired, seed, n_resamples)
    (ra,), (rb,) = paired.a, paired.b
    mcnemar = is_plain_mean(metric) and is_binary(ra.scores) and is_binary(rb.scores)
    test: TestName = "mcnemar" if mcnemar else "paired-bootstrap"
    n = len(paired.example_ids)
    if n == 0:
        return Comparison(math.nan, NAN_CI, math.nan, test, False)
    difference = metric.aggregate(ra.outputs, ra.scores) - metric.aggregate(rb.outputs, rb.scores)
    resampled_a, resampled_b = resampled_values(
        metric, [(ra.outputs, ra.scores), (rb.outputs, rb.scores)], seed, n_resamples
    )
    resampled = resampled_a - resampled_b
    p_value = mcnemar_p(ra.scores, rb.scores) if mcnemar else bootstrap_p(resampled, difference)
    return Comparison(difference, percentile_ci(resampled), p_value, test, False, n)


def _replicate_t(metric: Metric, paired: PairedCells, seed: int, n_resamples: int) -> Comparison:
    n = len(paired.example_ids)
    sizes = (len(paired.a), len(paired.b))
    if n == 0:
        return Comparison(math.nan, NAN_CI, math.nan, "replicate-t", True, 0, sizes)
    values = [
        np.array([metric.aggregate(r.outputs, r.scores) for r in side], dtype=np.float64)
        for side in (paired.a, paired.b)
    ]
    difference = float(values[0].mean() - values[1].mean())
    components = [
        VarianceComponent(float(np.var(v, ddof=1)) / v.size, v.size - 1)
        for v in values
        if v.size > 1
    ]
    resampled = resampled_values(
        metric, [(r.outputs, r.scores) for r in (*paired.a, *paired.b)], seed, n_resamples
    )
    mean_a = np.mean(resampled[: sizes[0]], axis=0)
    mean_b = np.mean(resampled[sizes[0] :], axis=0)
    components.append(VarianceComponent(finite_variance(mean_a - mean_b), n - 1))
    result = satterthwaite_t(difference, components)
    return Comparison(
        difference, result.ci95, result.p_value, "replicate-t", True, n, sizes, result.df
    )


def compare_summaries(a: Summary, b: Summary) -> Comparison:
    """A minus B from the two values and 95% CIs alone (`"ci-based"`).

    Each interval's half-width / 1.96 is taken as its standard error and the two as
    independent: pairing would only shrink the variance of the difference, so this errs
    on the side of "not significant". The p-value is the two-sided normal tail.
    Training variance counts as measured when either summary says so (an attribute
    `training_variance_measured`, as a replicate-aware `CellEstimate` has).
    """
    measured = any(getattr(s, "training_variance_measured", False) for s in (a, b))
    difference = a.value - b.value
    figures = [a.value, b.value, *a.ci95, *b.ci95]
    if not all(math.isfinite(v) for v in figures):
        return Comparison(difference, NAN_CI, math.nan, "ci-based", measured)
    se = math.hypot(
        (a.ci95[1] - a.ci95[0]) / (2 * _Z95),
        (b.ci95[1] - b.ci95[0]) / (2 * _Z95),
    )
    if se == 0:
        p_value = 1.0 if difference == 0 else 0.0
    else:
        p_value = math.erfc(abs(difference) / se / math.sqrt(2))
    ci = (difference - _Z95 * se, difference + _Z95 * se)
    return Comparison(difference, ci, p_value, "ci-based", measured)
