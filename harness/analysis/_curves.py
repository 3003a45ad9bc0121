"""Quality against a swept setting (data size, k, rank, learning rate), and where it stops
improving.

A curve is a list of points in increasing order of the setting, each with its value and
95% CI (over training replicates where there are several). Its *plateau* is the first
point after which no later point is significantly better: for point i, every later
point j is compared with it (j minus i, the paired test of `compare`), Holm-corrected
over those later points; the plateau is the smallest i with no significant improvement.
With no test able to separate any two points the plateau is the first point; with a
curve that keeps improving it is the last.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.analysis._comparison import DEFAULT_ALPHA, Comparison
from harness.analysis._multiplicity import holm


@dataclass(frozen=True)
class CurvePoint:
    """One point of a curve: the setting's value, the row that measured it, the metric."""

    x: float
    row: str
    value: float
    ci95: tuple[float, float]
    n_replicates: int = 1


@dataclass(frozen=True)
class Step:
    """A later point compared with an earlier one: `later` minus `earlier`, tested."""

    earlier: int
    later: int
    result: Comparison
    #: the Holm-adjusted p-value over the later points compared with `earlier`
    p_adjusted: float


@dataclass(frozen=True)
class Curve:
    """A swept setting's curve on one suite's primary metric, with its plateau."""

    setting: str
    suite: str
    metric: str
    points: tuple[CurvePoint, ...]
    #: index of the first point after which no later point is significantly better
    plateau: int | None
    #: the comparisons that decided the plateau, in the order they were made
    steps: tuple[Step, ...] = ()
    higher_is_better: bool = True
    alpha: float = DEFAULT_ALPHA
    #: the curve's name (`data-efficiency curve`) and the row it sweeps (`sft`)
    title: str = ""
    base: str = ""

    @property
    def plateau_point(self) -> CurvePoint | None:
        return None if self.plateau is None else self.points[self.plateau]

    @property
    def still_improving(self) -> bool:
        """Whether every earlier point has a significantly better later one: the curve
        had not levelled off within the swept range."""
        last = len(self.points) - 1
        return self.plateau is not None and last > 0 and self.plateau == last

    def describe(self) -> str:
        """One sentence: where the curve stops improving significantly."""
        point = self.plateau_point
        if point is None:
            return f"{self.title or self.setting}: no points"
        x = _number(point.x)
        if len(self.points) == 1:
            return f"one point only ({self.setting}={x}): no curve to judge"
        if self.still_improving:
            return (
                f"still improving at the last point ({self.setting}={x}, {self.metric} "
                f"{point.value:.3f}): every earlier point is significantly worse than a later one"
            )
        return (
            f"stops improving significantly at {self.setting}={x} ({self.metric} "
            f"{point.value:.3f} [{point.ci95[0]:.3f}, {point.ci95[1]:.3f}]): no later point "
            f"is significantly better (Holm-corrected, alpha {self.alpha:g})"
        )


def plateau(
    n: int,
    compare: Callable[[int, int], Comparison],
    *,
    alpha: float = DEFAULT_ALPHA,
    higher_is_better: bool = True,
) -> tuple[int | None, tuple[Step, ...]]:
    """The first of `n` ordered points after which no later point is significantly
    better, and the comparisons made. `compare(j, i)` is point j minus point i."""
    steps: list[Step] = []
    for i in range(n):
        later = [compare(j, i) for j in range(i + 1, n)]
        adjusted = holm([c.p_value for c in later])
        better = False
        for offset, (result, p) in enumerate(zip(later, adjusted, strict=True)):
            steps.append(Step(i, i + 1 + offset, result, p))
            improves = result.difference > 0 if higher_is_better else result.difference < 0
            better = better or (not math.isnan(p) and p < alpha and improves)
        if not better:
            return i, tuple(steps)
    return None, tuple(steps)


def build_curve(
    setting: str,
    suite: str,
    metric: str,
    points: Sequence[CurvePoint],
    compare: Callable[[CurvePoint, CurvePoint], Comparison],
    *,
    alpha: float = DEFAULT_ALPHA,
    higher_is_better: bool = True,
    title: str = "",
    base: str = "",
) -> Curve:
    """A curve over `points` (sorted here by x), with its plateau; `compare(a, b)` tests
    a's metric minus b's on the same examples (the analysis core's paired tests)."""
    ordered = tuple(sorted(points, key=lambda p: p.x))
    index, steps = plateau(
        len(ordered),
        lambda j, i: compare(ordered[j], ordered[i]),
        alpha=alpha,
        higher_is_better=higher_is_better,
    )
    return Curve(
        setting, suite, metric, ordered, index, steps, higher_is_better, alpha, title, base
    )


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
