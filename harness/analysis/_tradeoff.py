"""Learning against forgetting: each trained row's gain on its target and its mean drop
on the forgetting suites, the Pareto frontier of the two, and matched-gain comparisons.

A row is a point (gain, drop), both in primary-metric units oriented so that larger
is the bigger effect: gain is how much it beats zero-shot on its targets (their mean),
drop how much it loses to zero-shot on the forgetting suites (their mean). A point is on
the frontier when no other point has at least its gain and at most its drop, one of
them strictly. "At equal gain, which forgets less?" pairs each point of one strategy
with the point of another of nearest gain on the same targets, within a tolerance, and
tests the difference of their drops with the analysis core's paired test (Holm over the
pairs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.analysis._comparison import _Z95, DEFAULT_ALPHA, Comparison
from harness.analysis._multiplicity import holm


@dataclass(frozen=True)
class TradeoffPoint:
    """One trained row: its gain on its targets and its drop on the forgetting suites."""

    row: str
    #: the strategy the row belongs to (`lora`, `sft`): matched-gain pairs cross families
    family: str
    targets: tuple[str, ...]
    gain: float
    gain_ci: tuple[float, float]
    drop: float
    drop_ci: tuple[float, float]


def mean_estimate(
    estimates: Sequence[tuple[float, tuple[float, float]]],
) -> tuple[float, tuple[float, float]]:
    """The mean of K values and a 95% CI from their CIs, taken as independent normal
    estimates (standard error `sqrt(sum se_k²) / K`, each se_k its half-width / 1.96)."""
    if not estimates:
        return math.nan, (math.nan, math.nan)
    k = len(estimates)
    value = sum(v for v, _ in estimates) / k
    se = math.sqrt(sum(((hi - lo) / (2 * _Z95)) ** 2 for _, (lo, hi) in estimates)) / k
    return value, (value - _Z95 * se, value + _Z95 * se)


def pareto_frontier(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For each (gain, drop), whether no other point has gain >= and drop <= with one
    strict: more learning for no more forgetting. nan points are never on it."""

    def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])

    finite = [all(math.isfinite(v) for v in p) for p in points]
    return [
        finite[i] and not any(finite[j] and dominates(points[j], p) for j in range(len(points)))
        for i, p in enumerate(points)
    ]


@dataclass(frozen=True)
class MatchedPair:
    """Two rows of different strategies with nearly the same gain: drop of `a` minus
    drop of `b`, tested (negative: `a` forgets less)."""

    a: TradeoffPoint
    b: TradeoffPoint
    result: Comparison
    #: Holm-adjusted over every pair of the comparison
    p_adjusted: float

    def less_forgetful(self, alpha: float) -> str | None:
        """The row that forgets significantly less, or None when they cannot be told apart."""
        p = self.p_adjusted
        if math.isnan(p) or p >= alpha or self.result.difference == 0:
            return None
        return self.a.row if self.result.difference < 0 else self.b.row


@dataclass(frozen=True)
class MatchedGain:
    """Strategy `a` against strategy `b` at matched gain."""

    a: str
    b: str
    tolerance: float
    pairs: tuple[MatchedPair, ...]
    #: rows of either strategy with no row of the other within the tolerance
    unmatched: tuple[str, ...] = ()
    alpha: float = DEFAULT_ALPHA

    def verdict(self) -> str:
        """Which strategy forgets less at equal gain: `a`, `b`, `mixed` or `none`
        (no pair separates them) — `none` also when there is no pair."""
        winners = {p.less_forgetful(self.alpha) for p in self.pairs} - {None}
        families = {self.a if w in {q.a.row for q in self.pairs} else self.b for w in winners}
        if not families:
            return "none"
        return families.pop() if len(families) == 1 else "mixed"


def match_by_gain(
    a: Sequence[TradeoffPoint], b: Sequence[TradeoffPoint], tolerance: float
) -> tuple[list[tuple[TradeoffPoint, TradeoffPoint]], list[str]]:
    """Each point of `a` with the point of `b` of nearest gain on the same targets, when
    within `tolerance` (ties: the first in `b`); and the rows of `a` left unmatched."""
    pairs, unmatched = [], []
    for p in a:
        candidates = [
            q
            for q in b
            if q.targets == p.targets
            and math.isfinite(q.gain)
            and math.isfinite(p.gain)
            and abs(q.gain - p.gain) <= tolerance + 1e-12
        ]
        if not candidates:
            unmatched.append(p.row)
            continue
        pairs.append((p, min(candidates, key=lambda q: abs(q.gain - p.gain))))
    return pairs, unmatched


def matched_gain(
    a: Sequence[TradeoffPoint],
    b: Sequence[TradeoffPoint],
    compare_drops: Callable[[TradeoffPoint, TradeoffPoint], Comparison],
    *,
    tolerance: float,
    alpha: float = DEFAULT_ALPHA,
) -> MatchedGain:
    """Pair each point of `a` with `b`'s point of nearest gain and each point of `b` with
    `a`'s (`match_by_gain`, duplicates once), and test each pair's drop difference with
    `compare_drops(p, q)` (drop of p minus drop of q, p from `a`), Holm-corrected over
    the pairs. `unmatched` lists the rows of either side without a partner."""
    # both directions, so that the pairing does not depend on which strategy comes first
    forward, unmatched_a = match_by_gain(a, b, tolerance)
    backward, unmatched_b = match_by_gain(b, a, tolerance)
    pairs = list(dict.fromkeys([*forward, *((p, q) for q, p in backward)]))
    unmatched = [*unmatched_a, *unmatched_b]
    results = [compare_drops(p, q) for p, q in pairs]
    adjusted = holm([r.p_value for r in results])
    return MatchedGain(
        a[0].family if a else "",
        b[0].family if b else "",
        tolerance,
        tuple(
            MatchedPair(p, q, r, adj)
            for (p, q), r, adj in zip(pairs, results, adjusted, strict=True)
        ),
        tuple(unmatched),
        alpha,
    )
