"""Metrics: per-example scores and their aggregate over a test split.

A metric sees one `ExampleOutput` per test example. `score` gives the per-example
value written to predictions.jsonl; `aggregate` turns a (possibly resampled) list of
outputs into the figure reported in results.json. Corpus-level metrics (macro F1,
perplexity, BLEU) override `aggregate`; mean-of-scores metrics keep the default. The
bootstrap in `harness.analysis` resamples examples and calls `aggregate` again, so a
metric's confidence interval is always computed the same way as its value.
"""

from __future__ import annotations

import functools
import math
import re
import string
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

TASKS = ("classification", "multiple-choice", "generation")


@dataclass(frozen=True)
class ExampleOutput:
    """What a predictor produced for one test example, with what the metrics need."""

    example_id: str
    prediction: str
    references: tuple[str, ...]
    #: classification / multiple choice: the candidates scored, and their log-likelihoods
    candidates: tuple[str, ...] = ()
    candidate_logprobs: tuple[float, ...] = ()
    #: sum of log p(reference | prompt) over the reference tokens, and their count
    reference_logprob: float | None = None
    reference_tokens: int | None = None
    #: ids of the knowledge documents that answer the example (the suite's
    #: `fields.gold_documents`); empty when the suite names none
    gold_documents: tuple[str, ...] = ()
    #: ids of the documents the predictor put in the prompt, best first (RAG); None when
    #: the predictor retrieves nothing
    retrieved: tuple[str, ...] | None = None


class Metric(ABC):
    """A named metric. Register subclasses through `harness_register_metrics`."""

    name: ClassVar[str]
    #: tasks this metric applies to (a subset of `TASKS`)
    tasks: ClassVar[frozenset[str]] = frozenset(TASKS)
    higher_is_better: ClassVar[bool] = True
    #: whether the evaluator must score the reference's log-likelihood for this metric
    needs_reference_logprob: ClassVar[bool] = False
    #: whether the metric needs the examples' gold document ids (`fields.gold_documents`);
    #: a suite that lists it without them fails validation
    needs_gold_documents: ClassVar[bool] = False

    @abstractmethod
    def score(self, output: ExampleOutput) -> float:
        """The per-example value (for example 1.0 / 0.0 for a correct / wrong label)."""

    def aggregate(self, outputs: Sequence[ExampleOutput], scores: np.ndarray) -> float:
        """The split-level value from per-example `scores` (aligned with `outputs`)."""
        return float(np.mean(scores)) if len(scores) else float("nan")


@runtime_checkable
class SupportsResampledAggregate(Protocol):
    """A corpus-level metric that can aggregate many bootstrap resamples at once.

    `harness.analysis` uses `aggregate_resamples` instead of calling `aggregate` once per
    resample when a metric provides it. Row `r` of the result must equal
    `aggregate([outputs[i] for i in indices[r]], scores[indices[r]])`.
    """

    def aggregate_resamples(
        self, outputs: Sequence[ExampleOutput], scores: np.ndarray, indices: np.ndarray
    ) -> np.ndarray:
        """The aggregate of each row of `indices` (shape `(n_resamples, n)`)."""
        ...


# --- classification ---------------------------------------------------------------


def _label(text: str) -> str:
    return text.strip()


def _is_correct(output: ExampleOutput) -> bool:
    return bool(output.references) and _label(output.prediction) == _label(output.references[0])


class Accuracy(Metric):
    """Share of examples whose prediction equals the first reference (whitespace-stripped)."""

    name = "accuracy"
    tasks = frozenset(TASKS)

    def score(self, output: ExampleOutput) -> float:
        return float(_is_correct(output))


class _MacroAverage(Metric):
    """Corpus-level macro average of one of precision / recall / F1 over the label set.

    The label set is the union of the true labels (`references[0]`) and the predicted
    labels of the outputs aggregated, as scikit-learn does when `labels` is not given:
    a label the model predicts but that never occurs in the data counts (with precision
    0), so inventing labels is penalised; a label absent from both is ignored. Per-label
    values with a zero denominator count as 0 (`zero_division=0`). The per-example score
    is 1.0 / 0.0 for a correct / wrong label, for predictions.jsonl only.
    """

    tasks = frozenset({"classification", "multiple-choice"})
    #: position in scikit-learn's (precision, recall, fscore, support)
    _which: ClassVar[int]

    def score(self, output: ExampleOutput) -> float:
        return float(_is_correct(output))

    def aggregate(self, outputs: Sequence[ExampleOutput], scores: np.ndarray) -> float:
        if not outputs:
            return float("nan")
        from sklearn.metrics import precision_recall_fscore_support

        y_true, y_pred = _true_and_predicted(outputs)
        values = precision_recall_fscore_support(
            y_true,
            y_pred,
            labels=sorted(set(y_true) | set(y_pred)),
            average="macro",
            zero_division=0,
        )
        return float(values[self._which])

    def aggregate_resamples(
        self, outputs: Sequence[ExampleOutput], scores: np.ndarray, indices: np.ndarray
    ) -> np.ndarray:
        """Vectorised `aggregate`: per-resample confusion counts via one `bincount`.

        scikit-learn takes ~2.6 ms a call on 1,000 examples, so 1,000 resamples that way
        would take seconds per metric and cell.
        """
        n_resamples = indices.shape[0]
        if not outputs:
            return np.full(n_resamples, np.nan)
        y_true, y_pred = _true_and_predicted(outputs)
        labels = sorted(set(y_true) | set(y_pred))
        code = {label: i for i, label in enumerate(labels)}
        true_codes = np.array([code[label] for label in y_true])
        pred_codes = np.array([code[label] for label in y_pred])
        correct = (true_codes == pred_codes).astype(np.float64)

        n_labels = len(labels)
        size = n_resamples * n_labels
        offsets = (np.arange(n_resamples) * n_labels)[:, None]
        true_bins = (offsets + true_codes[indices]).ravel()
        n_true = np.bincount(true_bins, minlength=size).reshape(n_resamples, n_labels)
        n_pred = np.bincount((offsets + pred_codes[indices]).ravel(), minlength=size).reshape(
            n_resamples, n_labels
        )
        n_hit = np.bincount(true_bins, weights=correct[indices].ravel(), minlength=size).reshape(
            n_resamples, n_labels
        )
        present = (n_true + n_pred) > 0
        if self._which == 0:
            denominator = n_pred
        elif self._which == 1:
            denominator = n_true
        else:
            n_hit, denominator = 2 * n_hit, n_true + n_pred
        per_label = np.divide(n_hit, denominator, out=np.zeros(n_hit.shape), where=denominator > 0)
        return (per_label * present).sum(axis=1) / present.sum(axis=1)


def _true_and_predicted(outputs: Sequence[ExampleOutput]) -> tuple[list[str], list[str]]:
    y_true = [_label(o.references[0]) if o.references else "" for o in outputs]
    y_pred = [_label(o.prediction) for o in outputs]
    return y_true, y_pred


class MacroPrecision(_MacroAverage):
    """Precision averaged over labels with equal weight (corpus-level)."""

    name = "macro_precision"
    _which = 0


class MacroRecall(_MacroAverage):
    """Recall averaged over labels with equal weight (corpus-level)."""

    name = "macro_recall"
    _which = 1


class MacroF1(_MacroAverage):
    """F1 averaged over labels with equal weight (corpus-level)."""

    name = "macro_f1"
    _which = 2


# --- generation: SQuAD v1.1 exact match and token F1 -------------------------------

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def squad_normalize(text: str) -> str:
    """SQuAD v1.1 official answer normalisation.

    Lower-case, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace.
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _token_f1(prediction: str, reference: str) -> float:
    # As in the official v1.1 script: no shared token (including both empty) scores 0.
    prediction_tokens = squad_normalize(prediction).split()
    reference_tokens = squad_normalize(reference).split()
    n_same = sum((Counter(prediction_tokens) & Counter(reference_tokens)).values())
    if n_same == 0:
        return 0.0
    precision = n_same / len(prediction_tokens)
    recall = n_same / len(reference_tokens)
    return 2 * precision * recall / (precision + recall)


class ExactMatch(Metric):
    """1.0 when the SQuAD-normalised prediction equals a normalised reference."""

    name = "exact_match"
    tasks = frozenset({"generation"})

    def score(self, output: ExampleOutput) -> float:
        prediction = squad_normalize(output.prediction)
        return max(
            (float(prediction == squad_normalize(r)) for r in output.references), default=0.0
        )


class TokenF1(Metric):
    """SQuAD v1.1 token-overlap F1, best over the references."""

    name = "token_f1"
    tasks = frozenset({"generation"})

    def score(self, output: ExampleOutput) -> float:
        return max((_token_f1(output.prediction, r) for r in output.references), default=0.0)


# --- generation: ROUGE -------------------------------------------------------------

_ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


@functools.lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    # rouge_score (and nltk under it) takes ~1 s to import: only when ROUGE is used.
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(_ROUGE_TYPES), use_stemmer=True)


@functools.lru_cache(maxsize=8192)
def _best_rouge(prediction: str, references: tuple[str, ...]) -> dict[str, float]:
    # One scorer call yields all three types; the cache lets rouge1/2/L share it.
    best = dict.fromkeys(_ROUGE_TYPES, 0.0)
    scorer = _rouge_scorer()
    for reference in references:
        scores = scorer.score(target=reference, prediction=prediction)
        for rouge_type in _ROUGE_TYPES:
            best[rouge_type] = max(best[rouge_type], scores[rouge_type].fmeasure)
    return best


class _Rouge(Metric):
    """ROUGE F-measure (rouge_score, Porter stemming), best over the references."""

    tasks = frozenset({"generation"})

    def score(self, output: ExampleOutput) -> float:
        return _best_rouge(output.prediction, tuple(output.references))[self.name]


class Rouge1(_Rouge):
    """ROUGE-1 F-measure: unigram overlap, best over the references."""

    name = "rouge1"


class Rouge2(_Rouge):
    """ROUGE-2 F-measure: bigram overlap, best over the references."""

    name = "rouge2"


class RougeL(_Rouge):
    """ROUGE-L F-measure: longest common subsequence, best over the references."""

    name = "rougeL"


# --- generation: corpus BLEU -------------------------------------------------------
#
# The pattern for corpus metrics: each example contributes sufficient statistics (here
# n-gram matches and totals and the two lengths); the corpus value is a function of
# their sum. `aggregate` sums the examples' statistics; `aggregate_resamples` sums them
# for 1,000 bootstrap resamples at once with one matrix product (resample counts x
# statistics), so the interval costs about as much as the value.

#: columns of a BLEU statistics row: hypothesis length, reference length, then
#: matching n-grams and hypothesis n-grams for n = 1..4 (sacrebleu's order)
_BLEU_ORDER = 4
_LOG_ZERO = -9999999999.0  # sacrebleu's log(0), so that values match it exactly


@functools.lru_cache(maxsize=1)
def _sacrebleu() -> Any:
    from sacrebleu.metrics import BLEU as SacreBLEU

    return SacreBLEU()  # 13a tokenisation, exp smoothing: sacrebleu's corpus defaults


@functools.lru_cache(maxsize=65536)
def bleu_statistics(prediction: str, references: tuple[str, ...]) -> tuple[int, ...]:
    """sacrebleu's sufficient statistics of one example (10 counts; see `_BLEU_ORDER`)."""
    if not references:
        references = ("",)
    rows = _sacrebleu()._extract_corpus_statistics([prediction], [[r] for r in references])
    return tuple(int(x) for x in rows[0])


def bleu_from_statistics(stats: np.ndarray) -> np.ndarray:
    """Corpus BLEU (0-100, sacrebleu's formula) of each row of summed statistics.

    `stats` has shape `(..., 10)`; the result has the leading shape. Equal to
    `sacrebleu.corpus_bleu` on the examples whose statistics were summed.
    """
    stats = np.asarray(stats, dtype=np.float64)
    sys_len, ref_len = stats[..., 0], stats[..., 1]
    correct = stats[..., 2 : 2 + _BLEU_ORDER]
    total = stats[..., 2 + _BLEU_ORDER : 2 + 2 * _BLEU_ORDER]
    with np.errstate(divide="ignore", invalid="ignore"):
        brevity = np.where(
            sys_len < ref_len,
            np.where(sys_len > 0, np.exp(1 - ref_len / np.where(sys_len > 0, sys_len, 1)), 0.0),
            1.0,
        )
        log_sum = np.zeros(sys_len.shape)
        smooth = np.ones(sys_len.shape)
        active = np.ones(sys_len.shape, dtype=bool)
        for n in range(_BLEU_ORDER):
            c, t = correct[..., n], total[..., n]
            active &= t > 0  # sacrebleu stops at the first order without n-grams
            missing = active & (c == 0)
            smooth = np.where(missing, smooth * 2, smooth)
            precision = np.where(missing, 100.0 / (smooth * t), 100.0 * c / t)
            log_sum += np.where(active, np.log(np.where(active, precision, 1.0)), _LOG_ZERO)
        score = brevity * np.exp(log_sum / _BLEU_ORDER)
    return np.where(correct.sum(axis=-1) > 0, score, 0.0)


# The split-level value is corpus BLEU of the summed n-gram statistics, as sacrebleu
# reports it, not a mean of sentence scores; the per-example score in predictions.jsonl
# is sentence BLEU (effective order).
class BLEU(Metric):
    """Corpus BLEU as sacrebleu reports it (13a tokens, exp smoothing, 0-100)."""

    name = "bleu"
    tasks = frozenset({"generation"})

    def score(self, output: ExampleOutput) -> float:
        from sacrebleu.metrics import BLEU as SacreBLEU

        row = bleu_statistics(output.prediction, tuple(output.references))
        result = SacreBLEU.compute_bleu(
            list(row[2 : 2 + _BLEU_ORDER]),
            list(row[2 + _BLEU_ORDER :]),
            row[0],
            row[1],
            smooth_method="exp",
            effective_order=True,
        )
        return float(result.score)

    def statistics(self, outputs: Sequence[ExampleOutput]) -> np.ndarray:
        """The `(len(outputs), 10)` statistics matrix."""
        return np.array(
            [bleu_statistics(o.prediction, tuple(o.references)) for o in outputs],
            dtype=np.float64,
        ).reshape(len(outputs), 2 + 2 * _BLEU_ORDER)

    def aggregate(self, outputs: Sequence[ExampleOutput], scores: np.ndarray) -> float:
        if not outputs:
            return float("nan")
        return float(bleu_from_statistics(self.statistics(outputs).sum(axis=0)))

    def aggregate_resamples(
        self, outputs: Sequence[ExampleOutput], scores: np.ndarray, indices: np.ndarray
    ) -> np.ndarray:
        """Vectorised `aggregate`: resample counts (one `bincount`) times the statistics."""
        n_resamples, n = indices.shape[0], len(outputs)
        if not outputs:
            return np.full(n_resamples, np.nan)
        offsets = (np.arange(n_resamples) * n)[:, None]
        counts = np.bincount((offsets + indices).ravel(), minlength=n_resamples * n)
        summed = counts.reshape(n_resamples, n).astype(np.float64) @ self.statistics(outputs)
        return bleu_from_statistics(summed)


# --- perplexity --------------------------------------------------------------------


def _perplexity(logprob: float, n_tokens: float) -> float:
    if n_tokens <= 0:
        return float("nan")
    try:
        return math.exp(-logprob / n_tokens)
    except OverflowError:
        return math.inf


def _reference_logprobs(outputs: Sequence[ExampleOutput]) -> tuple[np.ndarray, np.ndarray]:
    for o in outputs:
        if o.reference_logprob is None or o.reference_tokens is None:
            raise ValueError(
                f"perplexity needs reference_logprob and reference_tokens; example "
                f"{o.example_id!r} has none (the evaluator must score the reference)"
            )
    logprobs = np.array([o.reference_logprob for o in outputs], dtype=np.float64)
    n_tokens = np.array([o.reference_tokens for o in outputs], dtype=np.float64)
    return logprobs, n_tokens


class Perplexity(Metric):
    """Token-weighted perplexity of the reference: exp(-Σ log p / Σ tokens) over examples."""

    name = "perplexity"
    tasks = frozenset({"generation", "classification"})
    higher_is_better = False
    needs_reference_logprob = True

    def score(self, output: ExampleOutput) -> float:
        logprobs, n_tokens = _reference_logprobs([output])
        return _perplexity(logprobs[0], n_tokens[0])

    def aggregate(self, outputs: Sequence[ExampleOutput], scores: np.ndarray) -> float:
        if not outputs:
            return float("nan")
        logprobs, n_tokens = _reference_logprobs(outputs)
        return _perplexity(float(np.sum(logprobs)), float(np.sum(n_tokens)))

    def aggregate_resamples(
        self, outputs: Sequence[ExampleOutput], scores: np.ndarray, indices: np.ndarray
    ) -> np.ndarray:
        """Vectorised `aggregate`."""
        if not outputs:
            return np.full(indices.shape[0], np.nan)
        logprobs, n_tokens = _reference_logprobs(outputs)
        total_logprob = logprobs[indices].sum(axis=1)
        total_tokens = n_tokens[indices].sum(axis=1)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            values = np.exp(-total_logprob / total_tokens)
        return np.where(total_tokens > 0, values, np.nan)


# --- retrieval ---------------------------------------------------------------------


def recall_at_k(retrieved: Sequence[str], gold: Sequence[str]) -> float:
    """Share of the gold documents among the retrieved ones (nan without gold ids)."""
    gold_set = set(gold)
    if not gold_set:
        return math.nan
    return len(gold_set & set(retrieved)) / len(gold_set)


def reciprocal_rank(retrieved: Sequence[str], gold: Sequence[str]) -> float:
    """1 / rank of the first gold document retrieved; 0 when none is (nan without gold)."""
    gold_set = set(gold)
    if not gold_set:
        return math.nan
    return next((1.0 / rank for rank, d in enumerate(retrieved, 1) if d in gold_set), 0.0)


class _RetrievalMetric(Metric):
    """Scores the documents a retrieving predictor put in the prompt against the gold ids.

    An example scores nan when the predictor retrieves nothing (`retrieved` is None:
    zero-shot, few-shot, fine-tuned rows) or names no gold document; the aggregate is
    the mean over the examples that score, nan when none does.
    """

    needs_gold_documents = True

    def score(self, output: ExampleOutput) -> float:
        if output.retrieved is None or not output.gold_documents:
            return math.nan
        return self._score(output.retrieved, output.gold_documents)

    @abstractmethod
    def _score(self, retrieved: Sequence[str], gold: Sequence[str]) -> float: ...

    def aggregate(self, outputs: Sequence[ExampleOutput], scores: np.ndarray) -> float:
        scored = scores[~np.isnan(scores)]
        return float(np.mean(scored)) if scored.size else math.nan

    def aggregate_resamples(
        self, outputs: Sequence[ExampleOutput], scores: np.ndarray, indices: np.ndarray
    ) -> np.ndarray:
        """Vectorised `aggregate`: the mean of the non-nan scores of each resample."""
        values = scores[indices]
        present = ~np.isnan(values)
        counts = present.sum(axis=1)
        totals = np.where(present, values, 0.0).sum(axis=1)
        return np.divide(totals, counts, out=np.full(len(counts), np.nan), where=counts > 0)


class RecallAtK(_RetrievalMetric):
    """Share of an example's gold documents among the k retrieved (k: the strategy's)."""

    name = "recall_at_k"

    def _score(self, retrieved: Sequence[str], gold: Sequence[str]) -> float:
        return recall_at_k(retrieved, gold)


class MeanReciprocalRank(_RetrievalMetric):
    """Mean of 1 / rank of the first gold document retrieved (0 when none in the top k)."""

    name = "mrr"

    def _score(self, retrieved: Sequence[str], gold: Sequence[str]) -> float:
        return reciprocal_rank(retrieved, gold)


BUILTIN_METRICS: tuple[type[Metric], ...] = (
    Accuracy,
    MacroPrecision,
    MacroRecall,
    MacroF1,
    ExactMatch,
    TokenF1,
    Rouge1,
    Rouge2,
    RougeL,
    BLEU,
    Perplexity,
    RecallAtK,
    MeanReciprocalRank,
)
