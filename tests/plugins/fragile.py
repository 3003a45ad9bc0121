"""Plugins that fail in the ways a run must survive: hangs, wrong answers, raising
metrics and a raising reporter. `RELEASE.set()` lets the hung threads finish."""

from __future__ import annotations

import threading

import numpy as np

from harness import AdaptContext, Metric, Predictor, PromptedPredictor, Reporter, Strategy, hookimpl

#: the hanging strategies wait on this; tests set it when they are done
RELEASE = threading.Event()


class HangsAdapting(Strategy):
    """Never finishes adapting (until released)."""

    name = "hangs-adapting"

    def adapt(self, context: AdaptContext) -> Predictor:
        RELEASE.wait()
        return context.upstream


class _HangingPredictor(PromptedPredictor):
    def score(self, requests, progress=None):  # type: ignore[no-untyped-def]
        RELEASE.wait()
        return super().score(requests, progress)


class HangsPredicting(Strategy):
    """Adapts at once, then never finishes scoring (until released)."""

    name = "hangs-predicting"

    def adapt(self, context: AdaptContext) -> Predictor:
        return _HangingPredictor(context.upstream)


class _ShortPredictor(PromptedPredictor):
    def score(self, requests, progress=None):  # type: ignore[no-untyped-def]
        return super().score(requests, progress)[:-1]


class ShortScores(Strategy):
    """Answers one score request fewer than it was asked."""

    name = "short-scores"

    def adapt(self, context: AdaptContext) -> Predictor:
        return _ShortPredictor(context.upstream)


class BrokenScore(Metric):
    """Raises on every example."""

    name = "broken_score"

    def score(self, output):  # type: ignore[no-untyped-def]
        raise ArithmeticError("score exploded")


class BrokenAggregate(Metric):
    """Scores fine, raises when aggregating (value and bootstrap CI)."""

    name = "broken_aggregate"

    def score(self, output):  # type: ignore[no-untyped-def]
        return 1.0

    def aggregate(self, outputs, scores: np.ndarray) -> float:  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("aggregate exploded")


class BrokenReporter(Reporter):
    """Raises while rendering."""

    name = "broken"

    def render(self, context):  # type: ignore[no-untyped-def]
        raise RuntimeError("out of ink")


@hookimpl
def harness_register_strategies(registry):  # type: ignore[no-untyped-def]
    registry.add(HangsAdapting)
    registry.add(HangsPredicting)
    registry.add(ShortScores)


@hookimpl
def harness_register_metrics(registry):  # type: ignore[no-untyped-def]
    registry.add(BrokenScore)
    registry.add(BrokenAggregate)


@hookimpl
def harness_register_reporters(registry):  # type: ignore[no-untyped-def]
    registry.add(BrokenReporter)
