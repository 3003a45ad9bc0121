"""label-hint: a third-party harness strategy that tells the model which answers exist."""

from __future__ import annotations

from dataclasses import dataclass, field

import harness
from harness import AdaptContext, Example, Predictor, PromptedPredictor, Strategy, Suite


@dataclass(frozen=True)
class LabelHintSettings:
    prefix: str = field(default="Answer with one of:", metadata={"help": "text before the labels"})


class LabelHintPredictor(PromptedPredictor):
    def __init__(self, inner: Predictor, prefix: str) -> None:
        super().__init__(inner)
        self.prefix = prefix

    def prompt(self, suite: Suite, example: Example) -> str:
        prompt = self.inner.prompt(suite, example)
        candidates = suite.candidates(example)
        if not candidates:  # generation: nothing to hint
            return prompt
        return f"{self.prefix} {', '.join(candidates)}.\n{prompt}"


class LabelHint(Strategy):
    """Prepends the list of valid labels (or choices) to every prompt."""

    name = "label-hint"
    settings_class = LabelHintSettings

    def adapt(self, context: AdaptContext) -> Predictor:
        return LabelHintPredictor(context.upstream, self.settings.prefix)


@harness.hookimpl
def harness_register_strategies(registry):
    registry.add(LabelHint)
