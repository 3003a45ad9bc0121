"""Curves and their plateau, learning vs forgetting: hand-computed values."""

from __future__ import annotations

import math

import pytest

from harness.analysis import (
    Comparison,
    CurvePoint,
    Replicate,
    TradeoffPoint,
    build_curve,
    compare_cells,
    match_by_gain,
    matched_gain,
    mean_estimate,
    pareto_frontier,
    plateau,
)
from harness.metrics import Accuracy, ExampleOutput


def comparison(difference: float, p: float) -> Comparison:
    return Comparison(difference, (difference - 0.1, difference + 0.1), p, "mcnemar", False, 40)


def test_plateau_is_the_first_point_no_later_point_beats() -> None:
    # j minus i: point 2 beats 0 and 1 (p 0.001); nothing beats 2; 3 is no better than 2
    table = {
        (1, 0): comparison(0.05, 0.30),
        (2, 0): comparison(0.20, 0.001),
        (3, 0): comparison(0.21, 0.001),
        (2, 1): comparison(0.15, 0.001),
        (3, 1): comparison(0.16, 0.001),
        (3, 2): comparison(0.01, 0.80),
    }
    index, steps = plateau(4, lambda j, i: table[(j, i)])
    assert index == 2
    # point 0 is tested against 3 later points, Holm: 0.001 * 3 = 0.003, 0.001 * 2, 0.30 * 1
    first = {(s.earlier, s.later): s.p_adjusted for s in steps if s.earlier == 0}
    assert first == {(0, 1): pytest.approx(0.30), (0, 2): pytest.approx(0.003), (0, 3): 0.003}
    assert [(s.earlier, s.later) for s in steps][-1] == (2, 3)


def test_holm_can_keep_a_point_on_the_plateau() -> None:
    # alone p = 0.03 would be significant; with two later points Holm makes it 0.06
    table = {
        (1, 0): comparison(0.1, 0.03),
        (2, 0): comparison(0.1, 0.04),
        (2, 1): comparison(0.0, 1),
    }
    assert plateau(3, lambda j, i: table[(j, i)])[0] == 0


def test_lower_is_better_and_improvements_only() -> None:
    # a significant *worsening* does not move the plateau
    worse = {(1, 0): comparison(-0.3, 0.001)}
    assert plateau(2, lambda j, i: worse[(j, i)])[0] == 0
    assert plateau(2, lambda j, i: worse[(j, i)], higher_is_better=False)[0] == 1
    assert plateau(0, lambda j, i: worse[(j, i)]) == (None, ())


def replicate(correct: set[int], n: int = 40) -> Replicate:
    outputs = [ExampleOutput(f"e{i}", "yes" if i in correct else "no", ("yes",)) for i in range(n)]
    return Replicate(outputs, [1.0 if i in correct else 0.0 for i in range(n)])


def test_a_curve_from_real_paired_tests() -> None:
    cells = {
        "sft[n=10]": replicate(set(range(10))),
        "sft[n=100]": replicate(set(range(30))),
        "sft[n=300]": replicate(set(range(30))),
    }
    points = [
        CurvePoint(300, "sft[n=300]", 0.75, (0.6, 0.9)),
        CurvePoint(10, "sft[n=10]", 0.25, (0.1, 0.4)),
        CurvePoint(100, "sft[n=100]", 0.75, (0.6, 0.9)),
    ]
    curve = build_curve(
        "max_train_examples",
        "suite",
        "accuracy",
        points,
        lambda a, b: compare_cells(Accuracy(), cells[a.row], cells[b.row]),
        title="data-efficiency curve",
        base="sft",
    )
    assert [p.x for p in curve.points] == [10, 100, 300]
    assert curve.plateau == 1 and not curve.still_improving
    # 20 discordant pairs, all for the later point: exact McNemar p = 2 * 0.5**20
    step = next(s for s in curve.steps if (s.earlier, s.later) == (0, 1))
    assert step.result.p_value == pytest.approx(2 * 0.5**20)
    assert step.p_adjusted == pytest.approx(2 * 2 * 0.5**20)
    assert "stops improving significantly at max_train_examples=100" in curve.describe()


def test_mean_estimate_combines_independent_cis() -> None:
    value, (lo, hi) = mean_estimate([(0.2, (0.1, 0.3)), (0.4, (0.3, 0.5))])
    # se_k = 0.1 / 1.96 each; se of the mean = sqrt(2) * 0.1 / 1.96 / 2
    assert value == pytest.approx(0.3)
    assert hi - value == pytest.approx(math.sqrt(2) * 0.1 / 2)
    assert value - lo == pytest.approx(math.sqrt(2) * 0.1 / 2)


def test_pareto_frontier_of_gain_and_drop() -> None:
    points = [(0.8, 0.5), (0.8, 0.2), (0.5, 0.1), (0.4, 0.3), (0.9, 0.6), (math.nan, 0.0)]
    # (0.8, 0.5) is beaten by (0.8, 0.2); (0.4, 0.3) by (0.5, 0.1)
    assert pareto_frontier(points) == [False, True, True, False, True, False]
    assert pareto_frontier([(0.5, 0.1), (0.5, 0.1)]) == [True, True]  # equal: neither beats


def point(
    row: str, family: str, gain: float, drop: float, targets: tuple[str, ...] = ("t",)
) -> TradeoffPoint:
    return TradeoffPoint(
        row, family, targets, gain, (gain - 0.05, gain + 0.05), drop, (drop - 0.05, drop + 0.05)
    )


def test_matching_pairs_nearest_gain_on_the_same_targets() -> None:
    lora = [
        point("lora[a]", "lora", 0.50, 0.4),
        point("lora[b]", "lora", 0.80, 0.6),
        point("lora[c]", "lora", 0.5, 0.1, ("u",)),
    ]
    sft = [
        point("sft[a]", "sft", 0.48, 0.1),
        point("sft[b]", "sft", 0.53, 0.2),
        point("sft[c]", "sft", 0.62, 0.2),
    ]
    pairs, unmatched = match_by_gain(lora, sft, tolerance=0.05)
    assert [(p.row, q.row) for p, q in pairs] == [("lora[a]", "sft[a]")]
    assert unmatched == ["lora[b]", "lora[c]"]


def test_matched_gain_pairs_in_both_directions() -> None:
    # sft[a] -> lora[x] (0.01 apart); lora[y] -> sft[a] (0.03 apart): two pairs, not one
    lora = [point("lora[x]", "lora", 0.51, 0.1), point("lora[y]", "lora", 0.53, 0.8)]
    sft = [point("sft[a]", "sft", 0.50, 0.1), point("sft[b]", "sft", 0.9, 0.5)]
    result = matched_gain(lora, sft, lambda p, q: comparison(p.drop - q.drop, 0.01), tolerance=0.05)
    assert [(p.a.row, p.b.row) for p in result.pairs] == [
        ("lora[x]", "sft[a]"),
        ("lora[y]", "sft[a]"),
    ]
    assert result.unmatched == ("sft[b]",)


def test_matched_gain_says_who_forgets_less_with_holm() -> None:
    lora = [point("lora[a]", "lora", 0.50, 0.4), point("lora[b]", "lora", 0.80, 0.6)]
    sft = [point("sft[a]", "sft", 0.52, 0.1), point("sft[b]", "sft", 0.79, 0.2)]
    p_values = {"lora[a]": 0.02, "lora[b]": 0.02}

    def drops(p: TradeoffPoint, q: TradeoffPoint) -> Comparison:
        return comparison(p.drop - q.drop, p_values[p.row])

    result = matched_gain(lora, sft, drops, tolerance=0.05)
    assert (result.a, result.b) == ("lora", "sft")
    assert [pair.p_adjusted for pair in result.pairs] == [pytest.approx(0.04), pytest.approx(0.04)]
    assert [pair.less_forgetful(0.05) for pair in result.pairs] == ["sft[a]", "sft[b]"]
    assert result.verdict() == "sft"
    # at alpha 0.03 Holm's 0.04 is not significant: no winner
    assert matched_gain(lora, sft, drops, tolerance=0.05, alpha=0.03).verdict() == "none"
    # one pair at 0.03 and one at 0.9: Holm 0.06 and 0.9, no winner
    p_values.update({"lora[a]": 0.03, "lora[b]": 0.9})
    assert matched_gain(lora, sft, drops, tolerance=0.05).verdict() == "none"
