"""Comparisons over several strata (suites): the mean over strata of each one's difference.

A decision over several target suites ranks rows by the mean of their primary metrics,
so the quantity tested is `mean_k (A_k − B_k)`. Each stratum keeps its own pairing and its
own metric; strata are resampled independently of each other:

- either side has more than one training replicate: `"replicate-t"`. Replicate i of a
  side is the same trained system on every stratum (one seed), so the seed term is the
  between-replicate variance of each replicate's mean over strata; the example term of
  stratum k is the bootstrap variance of its paired difference of replicate-averaged
  metrics, divided by K²; Welch–Satterthwaite degrees of freedom over all the terms;
- one replicate each: `"paired-bootstrap"`, stratified: the examples of each stratum are
  resampled within it (seed `seed + k` for stratum k), and the mean over strata of the
  resampled differences is the bootstrap distribution;
- only values and 95% CIs: `"ci-based"` on the means (their standard errors combined as
  for independent strata).

With one stratum every function here gives exactly the two-cell result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

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
from harness.analysis._comparison import (
    _Z95,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Comparison,
    Summary,
    TestName,
    VarianceComponent,
    compare_cells,
    compare_summaries,
    satterthwaite_t,
)
from harness.analysis._pairing import CellOutputs, PairedCells, pair
from harness.analysis._power import discordance_rate, minimum_detectable_difference
from harness.metrics import Metric

#: one stratum of a comparison: its metric, then cell A and cell B on its examples
Stratum = tuple[Metric, CellOutputs, CellOutputs]


def compare_strata(
    strata: Sequence[Stratum],
    *,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> Comparison:
    """The mean over strata of (metric of A − metric of B), tested (see the module doc).

    Each stratum is paired by example id (`ValueError` as for `pair`); a side must have
    the same number of replicates in every stratum (`ValueError` otherwise), replicate i
    being the same training seed everywhere.
    """
    if not strata:
        raise ValueError("a comparison over strata needs at least one stratum")
    if len(strata) == 1:
        ((metric, a, b),) = strata
        return compare_cells(metric, a, b, seed=seed, n_resamples=n_resamples)
    paired = [pair(a, b) for _, a, b in strata]
    sizes = {(len(p.a), len(p.b)) for p in paired}
    if len(sizes) > 1:
        raise ValueError("a side has a different number of training replicates per stratum")
    (size,) = sizes
    metrics = [metric for metric, _, _ in strata]
    n = sum(len(p.example_ids) for p in paired)
    if any(not p.example_ids for p in paired):
        test: TestName = "replicate-t" if max(size) > 1 else "paired-bootstrap"
        return Comparison(
            math.nan, NAN_CI, math.nan, test, max(size) > 1, n, size, strata=len(strata)
        )
    if max(size) > 1:
        return _replicate_t(metrics, paired, size, seed, n_resamples)
    return _stratified_bootstrap(metrics, paired, seed, n_resamples)


def _replicate_t(
    metrics: Sequence[Metric],
    paired: Sequence[PairedCells],
    size: tuple[int, int],
    seed: int,
    n_resamples: int,
) -> Comparison:
    k = len(paired)
    # each replicate's mean over strata: one value per trained system
    per_stratum = [
        [
            [metric.aggregate(r.outputs, r.scores) for r in side]
            for metric, side in zip(metrics, sides, strict=True)
        ]
        for sides in ([p.a for p in paired], [p.b for p in paired])
    ]
    qualities = [np.mean(values, axis=0) for values in per_stratum]
    difference = float(qualities[0].mean() - qualities[1].mean())
    components = [
        VarianceComponent(float(np.var(q, ddof=1)) / q.size, q.size - 1)
        for q in qualities
        if q.size > 1
    ]
    for j, (metric, p) in enumerate(zip(metrics, paired, strict=True)):
        resampled = resampled_values(
            metric, [(r.outputs, r.scores) for r in (*p.a, *p.b)], seed + j, n_resamples
        )
        gap = np.mean(resampled[: size[0]], axis=0) - np.mean(resampled[size[0] :], axis=0)
        components.append(VarianceComponent(finite_variance(gap) / k**2, len(p.example_ids) - 1))
    result = satterthwaite_t(difference, components)
    n = sum(len(p.example_ids) for p in paired)
    return Comparison(
        difference, result.ci95, result.p_value, "replicate-t", True, n, size, result.df, k
    )


def _stratified_bootstrap(
    metrics: Sequence[Metric], paired: Sequence[PairedCells], seed: int, n_resamples: int
) -> Comparison:
    k = len(paired)
    observed = 0.0
    total = np.zeros(n_resamples)
    for j, (metric, p) in enumerate(zip(metrics, paired, strict=True)):
        (ra,), (rb,) = p.a, p.b
        observed += metric.aggregate(ra.outputs, ra.scores) - metric.aggregate(
            rb.outputs, rb.scores
        )
        resampled_a, resampled_b = resampled_values(
            metric, [(ra.outputs, ra.scores), (rb.outputs, rb.scores)], seed + j, n_resamples
        )
        total += resampled_a - resampled_b
    difference, resampled = observed / k, total / k
    n = sum(len(p.example_ids) for p in paired)
    return Comparison(
        difference,
        percentile_ci(resampled),
        bootstrap_p(resampled, difference),
        "paired-bootstrap",
        False,
        n,
        strata=k,
    )


@dataclass(frozen=True)
class _Mean:
    value: float
    ci95: tuple[float, float]
    training_variance_measured: bool


def compare_summaries_over_strata(strata: Sequence[tuple[Summary, Summary]]) -> Comparison:
    """The mean over strata of A − B from each stratum's values and 95% CIs (`"ci-based"`).

    Each side's mean has standard error `sqrt(sum se_k²) / K` (strata independent, each
    se_k its CI half-width / 1.96); the two means are then compared as by
    `compare_summaries`. One stratum gives exactly `compare_summaries`.
    """
    if not strata:
        raise ValueError("a comparison over strata needs at least one stratum")
    if len(strata) == 1:
        ((a, b),) = strata
        return compare_summaries(a, b)
    means = [_mean_summary([pair_[i] for pair_ in strata]) for i in (0, 1)]
    return replace(compare_summaries(means[0], means[1]), strata=len(strata))


def _mean_summary(summaries: Sequence[Summary]) -> _Mean:
    k = len(summaries)
    value = sum(s.value for s in summaries) / k
    se = math.sqrt(sum(((s.ci95[1] - s.ci95[0]) / (2 * _Z95)) ** 2 for s in summaries)) / k
    measured = any(getattr(s, "training_variance_measured", False) for s in summaries)
    return _Mean(value, (value - _Z95 * se, value + _Z95 * se), measured)


def detectable_difference(
    strata: Sequence[Stratum], *, alpha: float, power: float = 0.8
) -> float | None:
    """The smallest true difference in the mean over strata that a paired test on these
    examples detects with probability `power` at `alpha` (`minimum_detectable_difference`).

    - One stratum, one replicate each, 0/1 scores of a plain-mean metric: from the
      observed discordance of the two cells (McNemar's power).
    - Otherwise, from the SD of per-example differences of the replicate-averaged
      scores: the mean over K strata has standard error `sqrt(sum sd_k² / n_k) / K`,
      passed as the SD of N = sum n_k examples.

    Two cells that agree on every example say nothing about the spread: then the
    default discordance (`DEFAULT_DISCORDANCE`) is assumed. None when a metric is not
    the mean of its per-example scores (corpus-level metrics such as macro F1: no
    per-example formula applies) or there are no examples.
    Training-seed variance is not included.
    """
    if not strata or not all(is_plain_mean(metric) for metric, _, _ in strata):
        return None
    paired = [pair(a, b) for _, a, b in strata]
    n = sum(len(p.example_ids) for p in paired)
    if any(not p.example_ids for p in paired):
        return None
    if len(paired) == 1 and len(paired[0].a) == len(paired[0].b) == 1:
        (ra,), (rb,) = paired[0].a, paired[0].b
        if is_binary(ra.scores) and is_binary(rb.scores):
            psi = discordance_rate(ra.scores, rb.scores)
            # identical answers everywhere tell nothing about the spread: assume the default
            observed = psi if psi > 0 else None
            return minimum_detectable_difference(n, discordance=observed, alpha=alpha, power=power)
    k = len(paired)
    variance = 0.0
    for p in paired:
        gap = np.mean([r.scores for r in p.a], axis=0) - np.mean([r.scores for r in p.b], axis=0)
        sd = float(np.std(gap, ddof=1)) if gap.size > 1 else 0.0
        variance += sd**2 / gap.size
    if variance == 0:
        return minimum_detectable_difference(n, alpha=alpha, power=power)
    sd_total = math.sqrt(variance) / k * math.sqrt(n)
    return minimum_detectable_difference(n, sd_difference=sd_total, alpha=alpha, power=power)
