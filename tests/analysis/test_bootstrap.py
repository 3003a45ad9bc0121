"""The example bootstrap: confidence intervals, and the single-replicate paired tests."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from scipy.stats import binomtest

from harness.analysis import (
    Comparison,
    Estimate,
    Replicate,
    _bootstrap,
    bootstrap_ci,
    compare_cells,
)
from harness.metrics import (
    Accuracy,
    ExampleOutput,
    MacroF1,
    Metric,
    Perplexity,
    TokenF1,
)


def paired_difference(
    metric: Metric,
    a: Sequence[ExampleOutput],
    a_scores: np.ndarray,
    b: Sequence[ExampleOutput],
    b_scores: np.ndarray,
    *,
    seed: int,
) -> Comparison:
    """A minus B, one replicate each."""
    return compare_cells(metric, Replicate(a, a_scores), Replicate(b, b_scores), seed=seed)


class OneByOne(Metric):
    """Delegates to another metric but overrides `aggregate`: forces the generic path."""

    tasks = frozenset({"generation"})

    def __init__(self, inner: Metric) -> None:
        self.inner = inner

    def score(self, output: ExampleOutput) -> float:
        return self.inner.score(output)

    def aggregate(self, outputs: Sequence[ExampleOutput], scores: np.ndarray) -> float:
        return self.inner.aggregate(outputs, scores)


def labelled(n: int, accuracy: float, seed: int, n_labels: int = 3) -> list[ExampleOutput]:
    rng = np.random.default_rng(seed)
    outputs = []
    for i in range(n):
        truth = str(rng.integers(0, n_labels))
        guess = truth if rng.random() < accuracy else str(rng.integers(0, n_labels))
        outputs.append(
            ExampleOutput(
                example_id=f"q{i}", prediction=guess, references=(truth,),
                reference_logprob=float(-rng.uniform(0, 20)),
                reference_tokens=int(rng.integers(1, 10)),
            )
        )  # fmt: skip
    return outputs


def same_examples(
    base: Sequence[ExampleOutput], other: Sequence[ExampleOutput]
) -> list[ExampleOutput]:
    """`other`'s predictions on `base`'s examples (ids and references)."""
    return [
        ExampleOutput(x.example_id, y.prediction, x.references)
        for x, y in zip(base, other, strict=True)
    ]


def scored(metric: Metric, outputs: Sequence[ExampleOutput]) -> np.ndarray:
    return np.array([metric.score(o) for o in outputs])


# --- bootstrap_ci ------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [Accuracy(), MacroF1(), Perplexity(), TokenF1()])
def test_ci_contains_value(metric: Metric) -> None:
    outputs = labelled(300, 0.7, seed=1)
    estimate = bootstrap_ci(metric, outputs, scored(metric, outputs), seed=0)
    assert isinstance(estimate, Estimate)
    assert estimate.value == metric.aggregate(outputs, scored(metric, outputs))
    low, high = estimate.ci95
    assert low <= estimate.value <= high
    assert low < high


def test_ci_narrows_with_n() -> None:
    metric = Accuracy()
    widths = []
    for n in (100, 400, 1600):
        outputs = labelled(n, 0.7, seed=n)
        low, high = bootstrap_ci(metric, outputs, scored(metric, outputs), seed=0).ci95
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    # and roughly like 1/sqrt(n): a 4x larger sample halves the width
    assert widths[1] / widths[0] == pytest.approx(0.5, abs=0.15)


def test_ci_width_matches_normal_approximation_for_accuracy() -> None:
    metric = Accuracy()
    outputs = labelled(2000, 0.7, seed=5)
    scores = scored(metric, outputs)
    low, high = bootstrap_ci(metric, outputs, scores, seed=0).ci95
    p = scores.mean()
    assert high - low == pytest.approx(2 * 1.96 * math.sqrt(p * (1 - p) / len(scores)), rel=0.15)


def test_bootstrap_is_deterministic_per_seed() -> None:
    metric = MacroF1()
    outputs = labelled(200, 0.6, seed=2)
    scores = scored(metric, outputs)
    first = bootstrap_ci(metric, outputs, scores, seed=42)
    assert bootstrap_ci(metric, outputs, scores, seed=42) == first
    assert bootstrap_ci(metric, outputs, scores, seed=43).ci95 != first.ci95


@pytest.mark.parametrize("metric", [Accuracy(), TokenF1(), MacroF1(), Perplexity()])
def test_fast_paths_equal_generic_path(metric: Metric) -> None:
    outputs = labelled(150, 0.6, seed=3)
    scores = scored(metric, outputs)
    fast = bootstrap_ci(metric, outputs, scores, seed=9, n_resamples=300)
    generic = bootstrap_ci(OneByOne(metric), outputs, scores, seed=9, n_resamples=300)
    assert fast.value == generic.value
    # the same resampled indices; only float rounding may differ (sklearn vs numpy)
    assert fast.ci95 == pytest.approx(generic.ci95, rel=1e-12)
    if isinstance(metric, Accuracy | TokenF1):
        assert fast.ci95 == generic.ci95


def test_chunked_resampling_is_consistent(monkeypatch: pytest.MonkeyPatch) -> None:
    metric = Accuracy()
    outputs = labelled(100, 0.6, seed=4)
    scores = scored(metric, outputs)
    whole = bootstrap_ci(metric, outputs, scores, seed=1)
    monkeypatch.setattr(_bootstrap, "_CHUNK_CELLS", 100 * 7)  # 7 resamples per chunk
    assert bootstrap_ci(metric, outputs, scores, seed=1) == whole


def test_empty_input_is_nan() -> None:
    estimate = bootstrap_ci(Accuracy(), [], np.array([]), seed=0)
    assert math.isnan(estimate.value) and all(math.isnan(x) for x in estimate.ci95)
    for metric in (Accuracy(), MacroF1(), TokenF1()):
        diff = paired_difference(metric, [], np.array([]), [], np.array([]), seed=0)
        assert math.isnan(diff.difference) and math.isnan(diff.p_value)
        assert all(math.isnan(x) for x in diff.ci95)


def test_scores_must_align_with_outputs() -> None:
    outputs = labelled(5, 0.5, seed=0)
    with pytest.raises(ValueError, match="scores"):
        bootstrap_ci(Accuracy(), outputs, np.zeros(4), seed=0)


@pytest.mark.parametrize("metric", [Accuracy(), MacroF1()])
def test_bootstrap_takes_the_vectorised_path(metric: Metric) -> None:
    # Speed is measured by benchmarks; here: the fast paths never fall back to one
    # `aggregate` call per resample (the value itself is the one call).
    outputs = labelled(300, 0.7, seed=6)
    scores = scored(metric, outputs)
    calls = []
    aggregate = metric.aggregate

    def counting(*args: object) -> float:
        calls.append(1)
        return aggregate(*args)  # type: ignore[arg-type]

    metric.aggregate = counting  # type: ignore[method-assign]
    bootstrap_ci(metric, outputs, scores, seed=0, n_resamples=1000)
    assert len(calls) == 1


# --- paired comparisons of one replicate each ----------------------------------------


@pytest.mark.parametrize("metric", [Accuracy(), MacroF1(), TokenF1(), Perplexity()])
def test_identical_systems_differ_by_zero_with_p_one(metric: Metric) -> None:
    outputs = labelled(200, 0.6, seed=7)
    scores = scored(metric, outputs)
    diff = paired_difference(metric, outputs, scores, outputs, scores, seed=0)
    assert isinstance(diff, Comparison) and not diff.training_variance_measured
    assert diff.difference == 0.0
    assert diff.ci95 == (0.0, 0.0)
    assert diff.p_value == 1.0


def test_strong_difference_mcnemar() -> None:
    metric = Accuracy()
    good, bad = labelled(300, 0.95, seed=8), labelled(300, 0.3, seed=9)
    bad = same_examples(good, bad)
    diff = paired_difference(metric, good, scored(metric, good), bad, scored(metric, bad), seed=0)
    assert diff.test == "mcnemar"
    assert diff.difference > 0.3
    assert diff.p_value < 0.01
    assert 0 < diff.ci95[0] <= diff.difference <= diff.ci95[1]


def test_mcnemar_p_value_matches_scipy() -> None:
    rng = np.random.default_rng(10)
    a_scores = (rng.random(120) < 0.65).astype(float)
    b_scores = np.where(rng.random(120) < 0.8, a_scores, 1 - a_scores)
    outputs = labelled(120, 0.5, seed=10)
    a_only = int(np.sum((a_scores == 1) & (b_scores == 0)))
    b_only = int(np.sum((a_scores == 0) & (b_scores == 1)))
    expected = binomtest(a_only, a_only + b_only, p=0.5, alternative="two-sided").pvalue
    diff = paired_difference(Accuracy(), outputs, a_scores, outputs, b_scores, seed=0)
    assert diff.test == "mcnemar"
    assert diff.p_value == pytest.approx(expected, rel=1e-12)
    assert diff.difference == pytest.approx(a_scores.mean() - b_scores.mean())


def test_non_binary_scores_use_paired_bootstrap() -> None:
    rng = np.random.default_rng(12)
    outputs = labelled(200, 0.5, seed=12)
    base = rng.random(200)
    # a is b plus a consistent small improvement: a paired test sees it clearly
    diff = paired_difference(TokenF1(), outputs, base + 0.05, outputs, base, seed=0)
    assert diff.test == "paired-bootstrap"
    assert diff.difference == pytest.approx(0.05)
    assert diff.p_value < 0.01
    # pure noise: no evidence of a difference
    noise = paired_difference(TokenF1(), outputs, rng.random(200), outputs, rng.random(200), seed=0)
    assert noise.ci95[0] < 0 < noise.ci95[1]
    assert noise.p_value > 0.05


def test_macro_metric_uses_paired_bootstrap() -> None:
    metric = MacroF1()
    good, bad = labelled(300, 0.95, seed=13), labelled(300, 0.3, seed=14)
    bad = same_examples(good, bad)
    diff = paired_difference(metric, good, scored(metric, good), bad, scored(metric, bad), seed=0)
    assert diff.test == "paired-bootstrap"
    assert diff.p_value < 0.01
    assert diff.difference == pytest.approx(
        metric.aggregate(good, scored(metric, good)) - metric.aggregate(bad, scored(metric, bad))
    )


def test_paired_difference_aligns_by_id_and_is_deterministic() -> None:
    metric = Accuracy()
    a, b = labelled(100, 0.8, seed=15), labelled(100, 0.6, seed=16)
    b = same_examples(a, b)
    in_order = paired_difference(metric, a, scored(metric, a), b, scored(metric, b), seed=3)
    shuffled = b[::-1]
    assert (
        paired_difference(metric, a, scored(metric, a), shuffled, scored(metric, shuffled), seed=3)
        == in_order
    )


def test_paired_difference_rejects_different_examples() -> None:
    metric = Accuracy()
    a = labelled(10, 0.8, seed=17)
    b = [ExampleOutput(f"other{i}", o.prediction, o.references) for i, o in enumerate(a)]
    with pytest.raises(ValueError, match="different examples"):
        paired_difference(metric, a, scored(metric, a), b, scored(metric, b), seed=0)
    with pytest.raises(ValueError, match="different examples"):
        paired_difference(metric, a, scored(metric, a), a[:-1], scored(metric, a[:-1]), seed=0)
    duplicated = [*a[:-1], a[0]]
    with pytest.raises(ValueError, match="repeat"):
        paired_difference(
            metric, a, scored(metric, a), duplicated, scored(metric, duplicated), seed=0
        )
