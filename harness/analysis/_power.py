"""Power: the smallest difference a paired comparison of n examples would detect."""

from __future__ import annotations

import math

import numpy as np

#: share of examples on which two systems disagree, assumed when nothing was observed:
#: two different adaptations of one model typically flip 10-30% of a suite's answers;
#: a quarter is also the per-example SD of differences 0.5 for a non-binary metric
DEFAULT_DISCORDANCE = 0.25


def discordance_rate(a_scores: np.ndarray, b_scores: np.ndarray) -> float:
    """Share of examples where exactly one of two paired 0/1 score arrays is 1."""
    a, b = np.asarray(a_scores), np.asarray(b_scores)
    return float(np.mean(a != b)) if a.size else math.nan


def minimum_detectable_difference(
    n: int,
    *,
    discordance: float | None = None,
    sd_difference: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """The smallest true difference a two-sided paired test on `n` examples detects with
    probability `power` at level `alpha`.

    - Binary metric, `discordance` (the observed share ψ of examples on which the two
      systems disagree): the McNemar power formula in its normal approximation (Connor
      1987), solved for the difference δ: `sqrt(n)·δ = z(1-α/2)·sqrt(ψ) + z(power)·
      sqrt(ψ - δ²)`. inf when no δ ≤ ψ qualifies (too few examples).
    - Otherwise, `sd_difference` (the SD of per-example differences): the paired t
      formula `δ = (t(1-α/2, n-1) + t(power, n-1)) · sd / sqrt(n)`.
    - Neither observed: the binary formula with `DEFAULT_DISCORDANCE`.

    Training variance is not included: with replicates, the seed term adds to the
    variance of the difference and the detectable difference grows.
    """
    from scipy.optimize import brentq
    from scipy.stats import norm, t

    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power must be between 0 and 1")
    if n < 2:
        return math.inf
    if sd_difference is not None and discordance is None:
        quantiles = float(t.ppf(1 - alpha / 2, n - 1) + t.ppf(power, n - 1))
        return quantiles * sd_difference / math.sqrt(n)
    psi = DEFAULT_DISCORDANCE if discordance is None else discordance
    if not 0 <= psi <= 1:
        raise ValueError(f"discordance must be a share between 0 and 1, got {psi}")
    if psi == 0:
        return 0.0
    z_alpha, z_power = float(norm.ppf(1 - alpha / 2)), float(norm.ppf(power))

    def excess(delta: float) -> float:
        return math.sqrt(n) * delta - z_alpha * math.sqrt(psi) - z_power * math.sqrt(psi - delta**2)

    if excess(psi) < 0:
        return math.inf
    return float(brentq(excess, 0.0, psi))
