"""The plugin authors' test kit checks real strategies and catches contract violations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from harness_plugins.prompting import FewShot, ZeroShot

from harness import (
    AdaptContext,
    Example,
    ExampleOutput,
    Metric,
    Predictor,
    ReportContext,
    Reporter,
    Strategy,
    Suite,
)
from harness.metrics import BLEU, BUILTIN_METRICS, Accuracy
from harness.testing import check_metric, check_reporter, check_strategy


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


class PerTargetZeroShot(ZeroShot):
    name = "per-target-zero-shot"
    scope = "per-target"

    def adapt(self, context: AdaptContext) -> Predictor:
        assert context.cache is not None and len(context.cache_key) == 64
        assert len(context.targets) == 1
        return super().adapt(context)


class OnePromptShort(Predictor):
    def prompts(self, suite: Suite, examples: Sequence[Example]) -> list[str]:
        return super().prompts(suite, examples)[:-1]


class TooFewScores(Predictor):
    def score(self, requests: Sequence[Any], progress: Any = None, **kwargs: Any) -> Any:
        return super().score(requests, progress)[:-1]


class Wraps(Strategy):
    name = "wraps"

    def __init__(self, predictor_class: type[Predictor]) -> None:
        super().__init__()
        self.predictor_class = predictor_class

    def adapt(self, context: AdaptContext) -> Predictor:
        return self.predictor_class(context.upstream.model)


def test_per_target_strategies_adapt_once_per_target_with_a_real_cache(
    tiny_model: Path, tmp_path: Path
) -> None:
    report = check_strategy(PerTargetZeroShot(), tmp_path, model=tiny_model)
    assert report.adaptations == (("toy-colours",), ("toy-echo",))
    assert report.suites == ("toy-colours", "toy-sums", "toy-echo")


@pytest.mark.parametrize(
    ("predictor", "message"),
    [
        (OnePromptShort, r"OnePromptShort\.prompts\(\) returned 3 items for 4 examples of 'toy-"),
        (TooFewScores, r"TooFewScores\.score\(\) returned 3 items for 4 requests on 'toy-"),
    ],
)
def test_predictor_violations_name_the_method_and_the_counts(
    predictor: type[Predictor], message: str, tiny_model: Path, tmp_path: Path
) -> None:
    with pytest.raises(AssertionError, match=message):
        check_strategy(Wraps(predictor), tmp_path, model=tiny_model)


@pytest.mark.parametrize("metric", BUILTIN_METRICS, ids=lambda m: m.name)
def test_builtin_metrics_conform(metric: type[Metric]) -> None:
    report = check_metric(metric)
    assert report.metric == metric.name and report.examples > 0


class WrongResamples(BLEU):
    name = "wrong_resamples"

    def aggregate_resamples(self, outputs: Any, scores: Any, indices: Any) -> Any:
        return super().aggregate_resamples(outputs, scores, indices) + 1.0


class NotAFloat(Accuracy):
    name = "not_a_float"

    def score(self, output: ExampleOutput) -> float:
        return "1"  # type: ignore[return-value]


def test_metric_violations_are_named() -> None:
    with pytest.raises(AssertionError, match=r"WrongResamples\.aggregate_resamples\(\) differs"):
        check_metric(WrongResamples)
    with pytest.raises(AssertionError, match=r"NotAFloat\.score\(\) returned 24 non-numbers"):
        check_metric(NotAFloat)


class WritesElsewhere(Reporter):
    name = "elsewhere"

    def render(self, context: ReportContext) -> None:
        (context.run_dir.parent / "stray.txt").write_text("oops")


def test_reporters_conform_and_stray_files_are_caught(tiny_model: Path, tmp_path: Path) -> None:
    from harness.reporting.markdown import MarkdownReporter

    report = check_reporter(MarkdownReporter, tmp_path / "a", model=tiny_model)
    assert report.files == ("report.md",)
    with pytest.raises(AssertionError, match=r"WritesElsewhere\.render\(\) wrote 1 files outside"):
        check_reporter(WritesElsewhere, tmp_path / "b", model=tiny_model)
