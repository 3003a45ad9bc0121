"""A strategy that raises while adapting, and one that raises while predicting."""

from __future__ import annotations

from harness import AdaptContext, Predictor, PromptedPredictor, Strategy, hookimpl


class BrokenAdapt(Strategy):
    """Raises in adapt."""

    name = "broken-adapt"

    def adapt(self, context: AdaptContext) -> Predictor:
        raise RuntimeError("adapter exploded")


class _BrokenPrompts(PromptedPredictor):
    def prompts(self, suite, examples):  # type: ignore[no-untyped-def]
        if suite.task == "generation":
            raise ValueError("cannot prompt generation suites")
        return super().prompts(suite, examples)


class BrokenOnGeneration(Strategy):
    """Fails only the cells of generation suites."""

    name = "broken-on-generation"

    def adapt(self, context: AdaptContext) -> Predictor:
        return _BrokenPrompts(context.upstream)


@hookimpl
def harness_register_strategies(registry):  # type: ignore[no-untyped-def]
    registry.add(BrokenAdapt)
    registry.add(BrokenOnGeneration)
