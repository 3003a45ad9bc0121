"""Throwaway strategies for the reporting tests: an oracle that knows the answers.

`oracle` scores the gold answer highest (and generates it), so its cells are perfect;
with `degrade: SUITE` it picks a wrong answer on that one suite only, so two runs that
differ in that setting differ in exactly one cell. `oracle-rag` is the same oracle
declaring that its knowledge lives in context (`knowledge_in_context = True`);
`oracle-tuned` is adapted per target suite, so a run with two targets has a row for each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness import AdaptContext, Example, Predictor, PromptedPredictor, Strategy, Suite, hookimpl
from harness.models.base import (
    ContinuationScore,
    GenerationRequest,
    ProgressCallback,
    ScoreRequest,
)


@dataclass(frozen=True)
class OracleSettings:
    degrade: str = field(default="", metadata={"help": "suite on which to answer wrongly"})


class _OraclePredictor(PromptedPredictor):
    def __init__(self, inner: Predictor, degrade: str) -> None:
        super().__init__(inner)
        self.degrade = degrade
        self.gold: dict[str, tuple[str, bool]] = {}  # prompt -> (gold answer, degraded)

    def prompts(self, suite: Suite, examples: Sequence[Example]) -> list[str]:
        prompts = self.inner.prompts(suite, examples)
        for prompt, example in zip(prompts, examples, strict=True):
            self.gold[prompt] = (suite.answer(example.references[0]), suite.name == self.degrade)
        return prompts

    def score(
        self, requests: Sequence[ScoreRequest], progress: ProgressCallback | None = None
    ) -> list[list[ContinuationScore]]:
        rows = []
        for request in requests:
            gold, degraded = self.gold[request.prompt]
            good = [(c == gold) != degraded for c in request.continuations]
            rows.append([ContinuationScore(0.0 if g else -9.0, 1) for g in good])
        if progress:
            progress(len(requests))
        return rows

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback | None = None
    ) -> list[str]:
        out = []
        for request in requests:
            gold, degraded = self.gold[request.prompt]
            out.append("nothing" if degraded else gold)
        if progress:
            progress(len(requests))
        return out


class Oracle(Strategy):
    """Knows every answer (a test double, not a strategy)."""

    name = "oracle"
    settings_class = OracleSettings

    def adapt(self, context: AdaptContext) -> Predictor:
        return _OraclePredictor(context.upstream, self.settings.degrade)


class OracleRag(Oracle):
    """The oracle, declaring its knowledge in context."""

    name = "oracle-rag"
    knowledge_in_context = True


class OracleTuned(Oracle):
    """The oracle, adapted to one target suite at a time (one row per target)."""

    name = "oracle-tuned"
    scope = "per-target"


@hookimpl
def harness_register_strategies(registry):  # type: ignore[no-untyped-def]
    registry.add(Oracle)
    registry.add(OracleRag)
    registry.add(OracleTuned)
