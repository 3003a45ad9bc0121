"""Multiple-comparison control for verdicts that look at several comparisons at once."""

from __future__ import annotations

import math
from collections.abc import Sequence


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm (1979) step-down adjusted p-values, in the order given.

    The k-th smallest of m p-values is multiplied by m - k + 1, made non-decreasing and
    capped at 1; rejecting where the adjusted p-value is below alpha controls the
    family-wise error rate at alpha. nan p-values (no test) stay nan and do not count in m.
    """
    tested = sorted(
        (i for i, p in enumerate(p_values) if not math.isnan(p)), key=p_values.__getitem__
    )
    adjusted = [math.nan] * len(p_values)
    m = len(tested)
    running = 0.0
    for rank, i in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def holm_significant(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Which comparisons stay significant at family-wise level `alpha` after Holm."""
    return [not math.isnan(p) and p < alpha for p in holm(p_values)]
