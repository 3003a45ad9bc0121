"""A strategy whose predictions spin in native code (torch matrix products) for half a
minute: once its cell times out, the abandoned call is still inside torch."""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from harness import AdaptContext, Predictor, PromptedPredictor, Strategy, hookimpl
from harness.models.base import (
    ContinuationScore,
    GenerationRequest,
    ProgressCallback,
    ScoreRequest,
)
from harness.strategy import RequestBatch


def _spin(seconds: float = 30.0) -> None:
    matrix = torch.randn(256, 256)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        matrix = torch.tanh(matrix @ matrix)


class _Spinning(PromptedPredictor):
    def score(
        self,
        requests: Sequence[ScoreRequest],
        progress: ProgressCallback | None = None,
        *,
        batch: RequestBatch | None = None,
    ) -> list[list[ContinuationScore]]:
        _spin()
        return super().score(requests, progress, batch=batch)

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        progress: ProgressCallback | None = None,
        *,
        batch: RequestBatch | None = None,
    ) -> list[str]:
        _spin()
        return super().generate(requests, progress, batch=batch)


class Spinning(Strategy):
    name = "spinning"

    def adapt(self, context: AdaptContext) -> Predictor:
        return _Spinning(context.upstream)


@hookimpl
def harness_register_strategies(registry):  # type: ignore[no-untyped-def]
    registry.add(Spinning)
