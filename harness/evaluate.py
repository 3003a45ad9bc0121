"""From a predictor and a suite's test examples to per-example outputs and scores.

Classification and multiple choice are scored by log-likelihood over the candidates (the
label set or the example's choices), so there are no parse failures; generation tasks by
the generated text. Metrics then score every output, and `harness.analysis` adds CIs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.analysis import Estimate, bootstrap_ci
from harness.metrics import ExampleOutput, Metric
from harness.models.base import GenerationRequest, ProgressCallback, ScoreRequest
from harness.strategy import Predictor
from harness.suites import Example, Suite


@dataclass(frozen=True)
class SuitePredictions:
    """The outputs of one predictor on one suite, aligned with the examples."""

    prompts: list[str]
    outputs: list[ExampleOutput]


def predict(
    predictor: Predictor,
    suite: Suite,
    examples: Sequence[Example],
    *,
    reference_logprob: bool = False,
    progress: ProgressCallback | None = None,
) -> SuitePredictions:
    """Run `predictor` on `examples` of `suite`."""
    prompts = predictor.prompts(suite, examples)
    retrieved = [predictor.retrieved_documents(suite, example) for example in examples]
    if suite.task in ("classification", "multiple-choice"):
        candidates = [suite.candidates(example) for example in examples]
        requests = [
            ScoreRequest(prompt, tuple(suite.answer(c) for c in cands))
            for prompt, cands in zip(prompts, candidates, strict=True)
        ]
        scores = predictor.score(requests, progress)
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
    texts = predictor.generate(
        [GenerationRequest(p, spec.max_new_tokens, spec.stop) for p in prompts], progress
    )
    ref_scores = None
    if reference_logprob:
        ref_scores = predictor.score(
            [
                ScoreRequest(p, (suite.answer(e.references[0]),))
                for p, e in zip(prompts, examples, strict=True)
            ]
        )
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


def score_outputs(
    outputs: Sequence[ExampleOutput], metrics: Mapping[str, Metric]
) -> dict[str, np.ndarray]:
    """Per-example scores of every metric."""
    return {
        name: np.array([metric.score(o) for o in outputs], dtype=float)
        for name, metric in metrics.items()
    }


def estimate(
    outputs: Sequence[ExampleOutput],
    scores: Mapping[str, np.ndarray],
    metrics: Mapping[str, Metric],
    *,
    seed: int,
    n_resamples: int,
) -> dict[str, Estimate]:
    """Each metric's value with a seeded 95% bootstrap CI."""
    return {
        name: bootstrap_ci(metric, outputs, scores[name], seed=seed, n_resamples=n_resamples)
        for name, metric in metrics.items()
    }
