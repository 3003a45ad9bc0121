"""Sweep curves and learning vs forgetting, assembled from constructed results."""

from __future__ import annotations

import math

import pytest

from harness.reporting.learning import build_learning, learning_html, learning_markdown
from harness.reporting.recommend import PairedData
from harness.results import Cell, Cost, Delta, MetricValue, RunResults, SuiteInfo

SUITES = [
    SuiteInfo(
        name="t",
        version="1",
        role="target",
        task="classification",
        primary_metric="accuracy",
        n_test=100,
    ),
    SuiteInfo(
        name="f",
        version="1",
        role="forgetting",
        task="generation",
        primary_metric="exact_match",
        n_test=100,
    ),
]
ZERO = {"t": 0.2, "f": 1.0}


def cell(row: str, suite: str, value: float, trainable: int) -> Cell:
    metric = SUITES[0].primary_metric if suite == "t" else SUITES[1].primary_metric
    delta = value - ZERO[suite]
    return Cell(
        strategy=row,
        suite=suite,
        status="ok",
        metrics={metric: MetricValue(value=value, ci95=(value - 0.05, value + 0.05))},
        delta_vs_zero_shot={}
        if row == "zero-shot"
        else {metric: Delta(value=delta, ci95=(delta - 0.07, delta + 0.07), p_value=0.001)},
        cost=Cost(trainable_params=trainable),
    )


def results() -> RunResults:
    rows = {
        "zero-shot": (0.2, 1.0, 0),
        "sft[max_train_examples=10]": (0.5, 0.9, 1000),
        "sft[max_train_examples=100]": (0.8, 0.8, 1000),
        "lora[r=4]": (0.78, 0.5, 40),
    }
    cells = [cell(row, s, v, n) for row, (t, f, n) in rows.items() for s, v in (("t", t), ("f", f))]
    return RunResults(
        run_id="r", harness_version="x", model="m", seed=0, suites=SUITES, cells=cells
    )


CONFIG = {
    "strategies": [
        {"name": "zero-shot", "label": None, "settings": {}},
        {"name": "sft", "label": None, "settings": {}, "sweep": {"max_train_examples": [10, 100]}},
        {"name": "lora", "label": None, "settings": {}, "sweep": {"r": [4]}},
    ]
}


def test_curve_and_tradeoff_from_results() -> None:
    learning = build_learning(results(), CONFIG, PairedData())
    (curve,) = learning.curves  # a one-point sweep draws no curve
    assert (curve.title, curve.base, curve.suite) == ("data-efficiency curve", "sft", "t")
    assert [p.x for p in curve.points] == [10, 100]
    # CI-based: 0.3 apart, each CI ±0.05: z = 0.3 / (sqrt(2) * 0.05 / 1.96) > 8
    assert curve.plateau == 1 and curve.still_improving
    points = {p.row: (p.gain, p.drop) for p in learning.points}
    assert points == {
        "sft[max_train_examples=10]": (pytest.approx(0.3), pytest.approx(0.1)),
        "sft[max_train_examples=100]": (pytest.approx(0.6), pytest.approx(0.2)),
        "lora[r=4]": (pytest.approx(0.58), pytest.approx(0.5)),
    }
    assert learning.frontier == (True, True, False)
    (matched,) = learning.matched
    assert (matched.a, matched.b, matched.verdict()) == ("sft", "lora", "sft")
    (pair,) = matched.pairs  # sft[max_train_examples=10] has no lora row within 0.05
    assert (pair.a.row, pair.b.row) == ("sft[max_train_examples=100]", "lora[r=4]")
    assert pair.result.difference == pytest.approx(-0.3)
    se = math.hypot(0.05, 0.05) / 1.959963984540054
    assert pair.result.p_value == pytest.approx(math.erfc(0.3 / se / math.sqrt(2)))
    assert matched.unmatched == ("sft[max_train_examples=10]",)
    markdown = "\n".join(learning_markdown(learning))
    assert (
        "## Learning vs forgetting" in markdown
        and "At matched gain (within 0.05), sft forgets less" in markdown
    )
    assert "still improving at the last point (max_train_examples=100" in markdown
    assert any("<h2>Sweep curves</h2>" in s for s in learning_html(learning))


def test_no_sweep_and_no_training_adds_nothing() -> None:
    plain = RunResults(
        run_id="r",
        harness_version="x",
        model="m",
        seed=0,
        suites=SUITES,
        cells=[cell("zero-shot", s, ZERO[s], 0) for s in ZERO],
    )
    learning = build_learning(plain, {"strategies": [{"name": "zero-shot"}]}, PairedData())
    assert learning.empty and learning_markdown(learning) == [] and learning_html(learning) == []
