"""The plugin authors' test kit checks real strategies and catches contract violations."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness_plugins.prompting import FewShot, ZeroShot

from harness import AdaptContext, Predictor, Strategy
from harness.testing import check_strategy


class PeeksAtTest(Strategy):
    name = "peeks"

    def adapt(self, context: AdaptContext) -> Predictor:
        _ = context.targets[0].test  # not allowed while adapting
        return context.upstream


class ReturnsNothing(Strategy):
    name = "nothing"

    def adapt(self, context: AdaptContext) -> Predictor:
        return None  # type: ignore[return-value]


@pytest.mark.parametrize("strategy", [ZeroShot(), FewShot()], ids=["zero-shot", "few-shot"])
def test_builtin_strategies_conform(strategy: Strategy, tiny_model: Path, tmp_path: Path) -> None:
    report = check_strategy(strategy, tmp_path, model=tiny_model)
    assert report.suites == ("toy-colours", "toy-echo", "toy-sums") and report.examples == 12


def test_third_party_example_conforms(tiny_model: Path, tmp_path: Path) -> None:
    harness_label_hint = pytest.importorskip("harness_label_hint")
    assert check_strategy(harness_label_hint.LabelHint(), tmp_path, model=tiny_model).examples == 12


def test_reading_the_test_split_while_adapting_is_caught(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="read the test split of 'toy-colours'"):
        check_strategy(PeeksAtTest(), tmp_path, model=tiny_model)


def test_returning_something_else_than_a_predictor_is_caught(
    tiny_model: Path, tmp_path: Path
) -> None:
    with pytest.raises(AssertionError, match=r"expected a harness\.Predictor"):
        check_strategy(ReturnsNothing(), tmp_path, model=tiny_model)
