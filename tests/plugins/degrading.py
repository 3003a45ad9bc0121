"""A controllable "tuned model" for the regression-gate tests.

`tuned` answers every classification / multiple-choice test example correctly (it lifts
the reference's log-likelihood above the other candidates the real model scored), except
the first `wrong` examples of each suite in `suites` (all suites when empty), where it
lifts a wrong candidate instead. Changing `wrong` between two runs degrades exactly the
chosen suites by a known number of examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from harness import AdaptContext, Example, Predictor, PromptedPredictor, Strategy, Suite, hookimpl
from harness.models.base import ContinuationScore, ProgressCallback, ScoreRequest


@dataclass(frozen=True)
class TunedSettings:
    wrong: int = field(default=0, metadata={"help": "test examples answered wrong per suite"})
    suites: tuple[str, ...] = field(default=(), metadata={"help": "suites to degrade (all)"})


class _TunedPredictor(PromptedPredictor):
    def __init__(self, inner: Predictor, settings: TunedSettings) -> None:
        super().__init__(inner)
        self.settings = settings
        self._answers: dict[str, tuple[str, bool]] = {}

    def prompts(self, suite: Suite, examples: Sequence[Example]) -> list[str]:
        prompts = self.inner.prompts(suite, examples)
        degrade = not self.settings.suites or suite.name in self.settings.suites
        self._answers = {
            prompt: (suite.answer(example.references[0]), degrade and i < self.settings.wrong)
            for i, (prompt, example) in enumerate(zip(prompts, examples, strict=True))
        }
        return prompts

    def score(
        self, requests: Sequence[ScoreRequest], progress: ProgressCallback | None = None
    ) -> list[list[ContinuationScore]]:
        rows = self.inner.score(requests, progress)
        out = []
        for request, row in zip(requests, rows, strict=True):
            gold, wrong = self._answers.get(request.prompt, ("", False))
            if len(row) < 2 or gold not in request.continuations:
                out.append(row)
                continue
            index = request.continuations.index(gold)
            if wrong:
                index = (index + 1) % len(row)
            top = max(s.logprob for s in row) + 10.0
            out.append([replace(s, logprob=top) if i == index else s for i, s in enumerate(row)])
        return out


class Tuned(Strategy):
    """Right on every example except the first `wrong` of the chosen suites."""

    name = "tuned"
    settings_class = TunedSettings

    def adapt(self, context: AdaptContext) -> Predictor:
        return _TunedPredictor(context.upstream, self.settings)


@hookimpl
def harness_register_strategies(registry):  # type: ignore[no-untyped-def]
    registry.add(Tuned)
