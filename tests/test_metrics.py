"""Built-in metrics against independent implementations written here."""

from __future__ import annotations

import collections
import math
import re
import string
import subprocess
import sys

import numpy as np
import pytest
from rouge_score import rouge_scorer
from sklearn.metrics import precision_recall_fscore_support

from harness.metrics import (
    BLEU,
    BUILTIN_METRICS,
    TASKS,
    Accuracy,
    ExactMatch,
    ExampleOutput,
    MacroF1,
    MacroPrecision,
    MacroRecall,
    Metric,
    Perplexity,
    Rouge1,
    Rouge2,
    RougeL,
    SupportsResampledAggregate,
    TokenF1,
)


def out(prediction: str, *references: str, **kwargs: object) -> ExampleOutput:
    return ExampleOutput(
        example_id=f"{prediction}|{references}",
        prediction=prediction,
        references=references,
        **kwargs,
    )


def evaluate(metric: Metric, outputs: list[ExampleOutput]) -> float:
    scores = np.array([metric.score(o) for o in outputs])
    return metric.aggregate(outputs, scores)


# --- the registry tuple ---------------------------------------------------------------


def test_builtin_metrics_names_and_contract() -> None:
    names = [m.name for m in BUILTIN_METRICS]
    assert names == [
        "accuracy", "macro_precision", "macro_recall", "macro_f1", "exact_match",
        "token_f1", "rouge1", "rouge2", "rougeL", "bleu", "perplexity", "recall_at_k", "mrr",
    ]  # fmt: skip
    for cls in BUILTIN_METRICS:
        assert issubclass(cls, Metric)
        assert cls.__doc__ and "\n" not in cls.__doc__.strip()
        assert cls.tasks and cls.tasks <= set(TASKS)
        cls()  # concrete
    assert Perplexity.needs_reference_logprob and not Perplexity.higher_is_better
    assert [m.name for m in BUILTIN_METRICS if m.needs_reference_logprob] == ["perplexity"]


def test_importing_metrics_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, harness.metrics; "
        "heavy = ('sklearn', 'rouge_score', 'nltk', 'scipy', 'sacrebleu'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# --- accuracy and macro metrics -------------------------------------------------------


def test_accuracy_hand_computed() -> None:
    outputs = [out("pos", "pos"), out(" neg\n", "neg"), out("neg", "pos"), out("pos", "neg")]
    assert [Accuracy().score(o) for o in outputs] == [1.0, 1.0, 0.0, 0.0]
    assert evaluate(Accuracy(), outputs) == 0.5
    assert Accuracy().score(out("pos")) == 0.0  # no reference: cannot be right


def test_macro_metrics_hand_computed() -> None:
    # labels a, b, c:  a: tp 1, predicted 2, true 2 -> P 1/2, R 1/2, F 1/2
    #                  b: tp 1, predicted 2, true 1 -> P 1/2, R 1,   F 2/3
    #                  c: tp 0, predicted 0, true 1 -> P 0,   R 0,   F 0
    outputs = [out("a", "a"), out("b", "a"), out("b", "b"), out("a", "c")]
    assert evaluate(MacroPrecision(), outputs) == pytest.approx(1 / 3)
    assert evaluate(MacroRecall(), outputs) == pytest.approx(1 / 2)
    assert evaluate(MacroF1(), outputs) == pytest.approx((1 / 2 + 2 / 3 + 0) / 3)
    assert [MacroF1().score(o) for o in outputs] == [1.0, 0.0, 1.0, 0.0]


def test_macro_label_set_includes_predicted_only_labels() -> None:
    # "z" never occurs as a reference; it is a label (with P = R = F = 0), so macro F1 is
    # (2/3 + 0) / 2, not 2/3 as it would be over the reference labels only.
    outputs = [out("a", "a"), out("z", "a")]
    assert evaluate(MacroF1(), outputs) == pytest.approx(1 / 3)
    assert evaluate(MacroPrecision(), outputs) == pytest.approx(1 / 2)
    assert evaluate(MacroRecall(), outputs) == pytest.approx(1 / 4)


@pytest.mark.parametrize("seed", range(5))
def test_accuracy_and_macro_metrics_match_sklearn_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = ["alpha", "beta", "gamma", "delta", "rare"]
    n = int(rng.integers(5, 300))
    y_true = [labels[i] for i in rng.choice(5, n, p=[0.4, 0.3, 0.2, 0.09, 0.01])]
    y_pred = [t if rng.random() < 0.6 else labels[rng.integers(0, 5)] for t in y_true]
    outputs = [out(p, t) for p, t in zip(y_pred, y_true, strict=True)]

    assert evaluate(Accuracy(), outputs) == pytest.approx(
        sum(p == t for p, t in zip(y_pred, y_true, strict=True)) / n
    )
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="macro", zero_division=0
    )
    assert evaluate(MacroPrecision(), outputs) == pytest.approx(precision, rel=1e-12)
    assert evaluate(MacroRecall(), outputs) == pytest.approx(recall, rel=1e-12)
    assert evaluate(MacroF1(), outputs) == pytest.approx(f1, rel=1e-12)


@pytest.mark.parametrize("metric", [MacroPrecision(), MacroRecall(), MacroF1(), Perplexity()])
def test_vectorised_resample_aggregate_equals_aggregate_per_row(metric: Metric) -> None:
    rng = np.random.default_rng(7)
    n = 60
    outputs = [
        out(
            str(rng.integers(0, 4)), str(rng.integers(0, 3)),
            reference_logprob=float(-rng.uniform(0, 30)), reference_tokens=int(rng.integers(1, 9)),
        )
        for _ in range(n)
    ]  # fmt: skip
    scores = np.array([metric.score(o) for o in outputs])
    indices = rng.integers(0, n, size=(200, n))
    indices[0] = 0  # a resample holding a single example (hence a single label)
    assert isinstance(metric, SupportsResampledAggregate)
    vectorised = metric.aggregate_resamples(outputs, scores, indices)
    one_by_one = [metric.aggregate([outputs[i] for i in row], scores[row]) for row in indices]
    np.testing.assert_allclose(vectorised, one_by_one, rtol=1e-12)


def test_empty_aggregates_are_nan() -> None:
    for cls in BUILTIN_METRICS:
        assert math.isnan(cls().aggregate([], np.array([])))


# --- SQuAD v1.1 exact match and F1 ------------------------------------------------------
# Transcribed from the official SQuAD v1.1 evaluate script (evaluate-v1.1.py).


def official_normalize_answer(s: str) -> str:
    def remove_articles(text: str) -> str:
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text: str) -> str:
        return " ".join(text.split())

    def remove_punc(text: str) -> str:
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text: str) -> str:
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def official_f1_score(prediction: str, ground_truth: str) -> float:
    prediction_tokens = official_normalize_answer(prediction).split()
    ground_truth_tokens = official_normalize_answer(ground_truth).split()
    common = collections.Counter(prediction_tokens) & collections.Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def official_exact_match_score(prediction: str, ground_truth: str) -> bool:
    return official_normalize_answer(prediction) == official_normalize_answer(ground_truth)


def official_metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


SQUAD_CASES = [
    ("Denver Broncos", ("Denver Broncos", "The Denver Broncos")),
    ("the Denver Broncos!", ("Denver Broncos",)),
    ("THE  theater", ("theater",)),  # "the" inside a word stays
    ("an apple a day", ("apple day", "an apple")),
    ("Santa Clara, California", ("Levi's Stadium", "Santa Clara")),
    ("31–24", ("31-24", "31–24")),  # en dash is not ASCII punctuation: kept
    ("", ("something",)),
    ("", ("",)),  # v1.1: both empty scores F1 0 (no shared token), EM 1
    ("a", ("the",)),
    ("1,000 people", ("1000 people", "one thousand")),
    ("gold gold gold", ("gold", "golden gold")),
    ("Über café", ("über CAFÉ",)),
]


@pytest.mark.parametrize(("prediction", "references"), SQUAD_CASES)
def test_exact_match_and_f1_match_official_script(
    prediction: str, references: tuple[str, ...]
) -> None:
    output = out(prediction, *references)
    assert ExactMatch().score(output) == float(
        official_metric_max_over_ground_truths(official_exact_match_score, prediction, references)
    )
    assert TokenF1().score(output) == pytest.approx(
        official_metric_max_over_ground_truths(official_f1_score, prediction, references),
        rel=1e-15,
    )


def test_squad_metrics_hand_computed() -> None:
    # "the cat sat" vs "a cat sat down": tokens [cat, sat] vs [cat, sat, down]
    output = out("the cat sat", "a cat sat down")
    assert ExactMatch().score(output) == 0.0
    assert TokenF1().score(output) == pytest.approx(2 * 1 * (2 / 3) / (1 + 2 / 3))
    assert ExactMatch().score(out("The Cat, sat.", "cat sat")) == 1.0
    assert ExactMatch().score(out("anything")) == 0.0  # no references


def test_squad_metrics_match_official_script_on_random_strings() -> None:
    rng = np.random.default_rng(3)
    vocab = ["the", "a", "an", "Cat", "cat.", "dog,", "  ", "theory", "An", "'s", "x-y", "9"]

    def text() -> str:
        return " ".join(vocab[i] for i in rng.integers(0, len(vocab), rng.integers(0, 6)))

    for _ in range(300):
        prediction = text()
        references = tuple(text() for _ in range(rng.integers(1, 4)))
        output = out(prediction, *references)
        assert ExactMatch().score(output) == float(
            official_metric_max_over_ground_truths(
                official_exact_match_score, prediction, references
            )
        )
        assert TokenF1().score(output) == pytest.approx(
            official_metric_max_over_ground_truths(official_f1_score, prediction, references),
            rel=1e-15,
        )


# --- ROUGE ------------------------------------------------------------------------------
# Independent n-gram / LCS ROUGE. On words of at most three letters rouge_score's Porter
# stemming is a no-op (it only stems longer tokens), so the two must agree exactly.

SHORT_WORDS = ["cat", "dog", "sun", "red", "big", "run", "map", "cup", "hat", "box"]


def _tokens(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def _f(overlap: int, n_prediction: int, n_reference: int) -> float:
    if overlap == 0:
        return 0.0
    precision, recall = overlap / n_prediction, overlap / n_reference
    return 2 * precision * recall / (precision + recall)


def independent_rouge_n(prediction: str, reference: str, n: int) -> float:
    def ngrams(tokens: list[str]) -> collections.Counter[tuple[str, ...]]:
        return collections.Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))

    p, r = ngrams(_tokens(prediction)), ngrams(_tokens(reference))
    return _f(sum((p & r).values()), sum(p.values()), sum(r.values()))


def independent_rouge_l(prediction: str, reference: str) -> float:
    p, r = _tokens(prediction), _tokens(reference)
    lcs = [[0] * (len(r) + 1) for _ in range(len(p) + 1)]
    for i, pi in enumerate(p):
        for j, rj in enumerate(r):
            lcs[i + 1][j + 1] = lcs[i][j] + 1 if pi == rj else max(lcs[i][j + 1], lcs[i + 1][j])
    return _f(lcs[-1][-1], len(p), len(r))


ROUGE_IMPLEMENTATIONS = [
    (Rouge1(), lambda p, r: independent_rouge_n(p, r, 1)),
    (Rouge2(), lambda p, r: independent_rouge_n(p, r, 2)),
    (RougeL(), independent_rouge_l),
]


@pytest.mark.parametrize(("metric", "reference_impl"), ROUGE_IMPLEMENTATIONS)
def test_rouge_matches_independent_implementation(metric: Metric, reference_impl) -> None:
    rng = np.random.default_rng(11)

    def text() -> str:
        return " ".join(SHORT_WORDS[i] for i in rng.integers(0, 6, rng.integers(0, 12)))

    outputs = [out(text(), *(text() for _ in range(rng.integers(1, 4)))) for _ in range(150)]
    expected = [max(reference_impl(o.prediction, r) for r in o.references) for o in outputs]
    scores = [metric.score(o) for o in outputs]
    np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=0)
    assert evaluate(metric, outputs) == pytest.approx(np.mean(expected), rel=1e-12)


def test_rouge_hand_computed_with_stemming() -> None:
    # stems: running -> run, cats -> cat, runs -> run; prediction [run, cat],
    # reference [the, cat, run]: unigram overlap 2 -> P 1, R 2/3, F 0.8; no shared bigram;
    # LCS 1 ("cat" or "run") -> P 1/2, R 1/3, F 0.4
    output = out("Running cats!", "The cat runs.")
    assert Rouge1().score(output) == pytest.approx(0.8)
    assert Rouge2().score(output) == 0.0
    assert RougeL().score(output) == pytest.approx(0.4)
    # best over references
    assert Rouge1().score(out("red hat", "blue box", "red hat")) == 1.0
    assert Rouge1().score(out("red hat")) == 0.0


def test_rouge_matches_rouge_score_called_directly() -> None:
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    pairs = [
        (
            "The quick brown foxes were jumping over lazy dogs.",
            "A quick brown fox jumps over the lazy dog.",
        ),
        (
            "Police arrested two men after the robbery.",
            "Two men were arrested by police following a robbery.",
        ),
    ]
    for prediction, reference in pairs:
        direct = scorer.score(reference, prediction)
        for metric in (Rouge1(), Rouge2(), RougeL()):
            assert metric.score(out(prediction, reference)) == direct[metric.name].fmeasure


# --- perplexity ----------------------------------------------------------------------


def test_perplexity_per_example_and_token_weighted() -> None:
    outputs = [
        out("x", "r1", reference_logprob=-2.0, reference_tokens=1),
        out("y", "r2", reference_logprob=-12.0, reference_tokens=4),
    ]
    metric = Perplexity()
    assert metric.score(outputs[0]) == pytest.approx(math.exp(2.0))
    assert metric.score(outputs[1]) == pytest.approx(math.exp(3.0))
    # corpus-level: exp(14 / 5), not the mean of the per-example perplexities
    assert evaluate(metric, outputs) == pytest.approx(math.exp(14 / 5))


def test_perplexity_edge_cases() -> None:
    metric = Perplexity()
    assert math.isnan(metric.score(out("x", "", reference_logprob=0.0, reference_tokens=0)))
    assert metric.score(out("x", "r", reference_logprob=-1e6, reference_tokens=1)) == math.inf
    with pytest.raises(ValueError, match="reference_logprob"):
        metric.score(out("x", "r"))


# --- corpus BLEU -------------------------------------------------------------------------


def _random_generations(seed: int, n: int) -> list[ExampleOutput]:
    rng = np.random.default_rng(seed)
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "fast", "slow", "red", ",", "."]

    def text(low: int, high: int) -> str:
        return " ".join(rng.choice(words, size=int(rng.integers(low, high))))

    return [
        out(text(0, 10), *(text(1, 10) for _ in range(int(rng.integers(1, 4))))) for _ in range(n)
    ]


def _sacrebleu_corpus(outputs: list[ExampleOutput]) -> float:
    import sacrebleu

    k = max(len(o.references) for o in outputs)
    streams = [
        [o.references[j] if j < len(o.references) else None for o in outputs] for j in range(k)
    ]
    return sacrebleu.corpus_bleu([o.prediction for o in outputs], streams).score


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bleu_equals_sacrebleu_corpus_and_sentence_scores(seed: int) -> None:
    import sacrebleu

    outputs = _random_generations(seed, 40)
    assert evaluate(BLEU(), outputs) == pytest.approx(_sacrebleu_corpus(outputs), abs=1e-9)
    for o in outputs[:10]:
        expected = sacrebleu.sentence_bleu(o.prediction, list(o.references)).score
        assert BLEU().score(o) == pytest.approx(expected, abs=1e-9)


def test_bleu_hand_computed() -> None:
    # identical texts: every precision 100%, no brevity penalty
    assert evaluate(BLEU(), [out("the cat sat on the mat", "the cat sat on the mat")]) == (
        pytest.approx(100.0)
    )
    # no shared token at all scores 0
    assert evaluate(BLEU(), [out("dog", "the cat sat on the mat")]) == 0.0
    # corpus BLEU pools n-grams: not the mean of the sentence scores
    outputs = [out("the cat sat on the mat", "the cat sat on the mat"), out("a", "the dog ran")]
    assert evaluate(BLEU(), outputs) != pytest.approx(np.mean([BLEU().score(o) for o in outputs]))


def test_bleu_resamples_sum_statistics_and_equal_aggregate_per_row() -> None:
    metric = BLEU()
    outputs = _random_generations(3, 50)
    scores = np.array([metric.score(o) for o in outputs])
    indices = np.random.default_rng(0).integers(0, 50, size=(300, 50))
    indices[0] = 4  # a resample holding a single example
    assert isinstance(metric, SupportsResampledAggregate)
    vectorised = metric.aggregate_resamples(outputs, scores, indices)
    one_by_one = [metric.aggregate([outputs[i] for i in row], scores[row]) for row in indices]
    np.testing.assert_allclose(vectorised, one_by_one, rtol=1e-12, atol=1e-12)
    assert _sacrebleu_corpus([outputs[i] for i in indices[7]]) == pytest.approx(vectorised[7])
