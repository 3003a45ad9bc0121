"""From a predictor and a suite's test examples to per-example outputs and scores.

Classification and multiple choice are scored by log-likelihood over the candidates (the
label set or the example's choices), so there are no parse failures; on a backend without
log-likelihoods, by generating and mapping the text to a candidate
(`harness.label_mapping`), an unmapped output counting wrong and as a parse failure.
Generation tasks are scored by the generated text. Metrics then score every output, and
`harness.analysis` adds CIs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass

import numpy as np

from harness.analysis import CellEstimate, Replicate, estimate_cell
from harness.label_mapping import map_to_label
from harness.metrics import ExampleOutput, Metric
from harness.models.base import (
    GenerationRequest,
    ProgressCallback,
    ScoreRequest,
    capabilities_of,
)
from harness.strategy import Predictor, RequestBatch, call_with_batch
from harness.suites import Example, Suite


@dataclass(frozen=True)
class SuitePredictions:
    """The outputs of one predictor on one suite, aligned with the examples."""

    prompts: list[str]
    outputs: list[ExampleOutput]
    #: classification outputs generated and mapped to no label (None: scored by
    #: log-likelihood, or a generation task)
    parse_failures: int | None = None


def predict(
    predictor: Predictor,
    suite: Suite,
    examples: Sequence[Example],
    *,
    reference_logprob: bool = False,
    progress: ProgressCallback | None = None,
) -> SuitePredictions:
    """Run `predictor` on `examples` of `suite`."""
    batch = RequestBatch(suite, tuple(examples))
    prompts = predictor.prompts(suite, examples)
    _check_count(predictor, "prompts", prompts, len(examples), "examples")
    retrieved = [predictor.retrieved_documents(suite, example) for example in examples]
    if suite.task in ("classification", "multiple-choice") and not (
        capabilities_of(predictor.model).loglikelihood
    ):
        return _classify_by_generation(predictor, suite, examples, prompts, retrieved, progress)
    if suite.task in ("classification", "multiple-choice"):
        candidates = [suite.candidates(example) for example in examples]
        requests = [
            ScoreRequest(prompt, tuple(suite.answer(c) for c in cands))
            for prompt, cands in zip(prompts, candidates, strict=True)
        ]
        scores = call_with_batch(predictor.score, requests, progress, batch)
        _check_count(predictor, "score", scores, len(requests), "requests")
        outputs = []
        for example, cands, row, docs in zip(examples, candidates, scores, retrieved, strict=True):
            logprobs = tuple(s.logprob for s in row)
            best = int(np.argmax(logprobs))
            gold = cands.index(example.references[0])
            outputs.append(
                ExampleOutput(
                    example_id=example.id,
                    prediction=cands[best],
                    references=example.references,
                    candidates=cands,
                    candidate_logprobs=logprobs,
                    reference_logprob=row[gold].logprob,
                    reference_tokens=row[gold].n_tokens,
                    gold_documents=example.gold_documents,
                    retrieved=docs,
                )
            )
        return SuitePredictions(prompts, outputs)

    spec = suite.spec.generation
    texts = call_with_batch(
        predictor.generate,
        [GenerationRequest(p, spec.max_new_tokens, spec.stop) for p in prompts],
        progress,
        batch,
    )
    _check_count(predictor, "generate", texts, len(prompts), "requests")
    ref_scores = None
    if reference_logprob:
        ref_scores = call_with_batch(
            predictor.score,
            [
                ScoreRequest(p, (suite.answer(e.references[0]),))
                for p, e in zip(prompts, examples, strict=True)
            ],
            None,
            batch,
        )
        _check_count(predictor, "score", ref_scores, len(prompts), "requests")
    outputs = [
        ExampleOutput(
            example_id=example.id,
            prediction=text.strip(),
            references=example.references,
            reference_logprob=ref_scores[i][0].logprob if ref_scores else None,
            reference_tokens=ref_scores[i][0].n_tokens if ref_scores else None,
            gold_documents=example.gold_documents,
            retrieved=retrieved[i],
        )
        for i, (example, text) in enumerate(zip(examples, texts, strict=True))
    ]
    return SuitePredictions(prompts, outputs)


def _classify_by_generation(
    predictor: Predictor,
    suite: Suite,
    examples: Sequence[Example],
    prompts: list[str],
    retrieved: list[tuple[str, ...] | None],
    progress: ProgressCallback | None,
) -> SuitePredictions:
    """Generate an answer per example and map it to a candidate; unmapped ones are wrong."""
    spec = suite.spec.generation
    texts = predictor.generate(
        [GenerationRequest(p, spec.max_new_tokens, spec.stop) for p in prompts], progress
    )
    _check_count(predictor, "generate", texts, len(prompts), "requests")
    outputs, failures = [], 0
    for example, text, docs in zip(examples, texts, retrieved, strict=True):
        cands = suite.candidates(example)
        label = map_to_label(text, cands, [suite.answer(c) for c in cands])
        failures += label is None
        outputs.append(
            ExampleOutput(
                example_id=example.id,
                # an unmapped output keeps its text, which is no candidate: scored wrong
                prediction=label if label is not None else text.strip(),
                references=example.references,
                gold_documents=example.gold_documents,
                retrieved=docs,
            )
        )
    return SuitePredictions(prompts, outputs, failures)


def _check_count(predictor: Predictor, method: str, got: Sized, asked: int, what: str) -> None:
    """A predictor must answer each request once, in order; anything else is its bug."""
    if len(got) != asked:
        raise ValueError(
            f"{type(predictor).__name__}.{method}() returned {len(got)} items for {asked} {what}"
        )


def score_outputs(
    outputs: Sequence[ExampleOutput],
    metrics: Mapping[str, Metric],
    errors: dict[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Per-example scores of every metric.

    With `errors`, a metric that raises is left out and its error recorded there, so the
    other metrics keep their scores; without it, the error propagates.
    """
    scores = {}
    for name, metric in metrics.items():
        try:
            scores[name] = np.array([metric.score(o) for o in outputs], dtype=float)
        except Exception as e:
            if errors is None:
                raise
            errors[name] = f"{type(e).__name__} while scoring examples: {e}"
    return scores


def estimate(
    replicates: Sequence[tuple[Sequence[ExampleOutput], Mapping[str, np.ndarray]]],
    metrics: Mapping[str, Metric],
    *,
    seed: int,
    n_resamples: int,
    errors: dict[str, str] | None = None,
) -> dict[str, CellEstimate]:
    """Each metric's value with its 95% CI, over a cell's replicates (one per seed).

    One replicate: the metric and its seeded example bootstrap CI. Several: their mean,
    between-seed SD and a CI over seeds and examples (`harness.analysis.estimate_cell`).
    Metrics without scores are skipped. With `errors`, a metric whose `aggregate` raises
    is left out and its error recorded there; without it, the error propagates.
    """
    estimates = {}
    for name, metric in metrics.items():
        if any(name not in scores for _, scores in replicates):
            continue
        cell = [Replicate(outputs, scores[name]) for outputs, scores in replicates]
        try:
            estimates[name] = estimate_cell(metric, cell, seed=seed, n_resamples=n_resamples)
        except Exception as e:
            if errors is None:
                raise
            errors[name] = f"{type(e).__name__} while computing the value and CI: {e}"
    return estimates
