"""One cell's value over training replicates: mean, between-seed SD and a 95% CI."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.analysis._bootstrap import NAN_CI, bootstrap_ci, finite_variance, resampled_values
from harness.analysis._comparison import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    VarianceComponent,
    satterthwaite_t,
)
from harness.analysis._pairing import CellOutputs, Replicate, pair
from harness.metrics import Metric


@dataclass(frozen=True)
class CellEstimate:
    """A cell's metric value and 95% CI, over its training replicates.

    With one replicate: the metric and its example-bootstrap percentile CI (the trained
    system treated as fixed: `training_variance_measured` is False, `seed_sd` None).
    With R > 1: the mean over replicates, their SD, and a t interval whose variance adds
    the seed term `seed_sd**2 / R` to the example-bootstrap variance of the
    replicate-averaged metric, with Welch–Satterthwaite degrees of freedom.
    """

    value: float
    ci95: tuple[float, float]
    n_replicates: int
    #: SD of the metric between training seeds (None with one replicate)
    seed_sd: float | None
    training_variance_measured: bool
    #: the metric of each replicate, in the order given
    replicate_values: tuple[float, ...] = ()
    #: degrees of freedom of the t interval (None with one replicate)
    df: float | None = None


def estimate_cell(
    metric: Metric,
    cell: CellOutputs,
    *,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> CellEstimate:
    """The value and 95% CI of one cell from its replicates (see `CellEstimate`).

    The replicates must cover the same examples (`ValueError` otherwise); their order
    of outputs does not matter.
    """
    replicates = pair(cell, cell).a
    if len(replicates) == 1:
        (only,) = replicates
        estimate = bootstrap_ci(
            metric, only.outputs, only.scores, seed=seed, n_resamples=n_resamples
        )
        return CellEstimate(estimate.value, estimate.ci95, 1, None, False, (estimate.value,))
    return _over_replicates(metric, replicates, seed, n_resamples)


def _over_replicates(
    metric: Metric, replicates: Sequence[Replicate], seed: int, n_resamples: int
) -> CellEstimate:
    r = len(replicates)
    values = np.array([metric.aggregate(x.outputs, x.scores) for x in replicates])
    n = len(replicates[0].outputs)
    if n == 0:
        return CellEstimate(math.nan, NAN_CI, r, math.nan, True, tuple(values.tolist()))
    value = float(values.mean())
    seed_sd = float(np.std(values, ddof=1))
    resampled = resampled_values(
        metric, [(x.outputs, x.scores) for x in replicates], seed, n_resamples
    )
    example_variance = finite_variance(np.mean(resampled, axis=0))
    result = satterthwaite_t(
        value,
        [VarianceComponent(seed_sd**2 / r, r - 1), VarianceComponent(example_variance, n - 1)],
    )
    # satterthwaite_t centres its interval on the estimate: the CI is value ± t·se
    return CellEstimate(value, result.ci95, r, seed_sd, True, tuple(values.tolist()), result.df)
