"""A strategy whose process dies once: the first evaluation SIGKILLs its own process.

Whether it has died already is marked by a file (the `marker` setting), so a retried
unit (a new worker process) goes on as zero-shot. With the marker file present from
the start it never dies, which gives the reference run to compare with.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from harness import AdaptContext, Predictor, PromptedPredictor, Strategy, hookimpl


@dataclass(frozen=True)
class DiesOnceSettings:
    marker: str = field(default="", metadata={"help": "file that says it died already"})


class _DiesOnFirstPrompt(PromptedPredictor):
    def __init__(self, inner: Predictor, marker: Path) -> None:
        super().__init__(inner)
        self.marker = marker

    def prompts(self, suite, examples):  # type: ignore[no-untyped-def]
        if not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)  # mid-unit: adapted, evaluating
        return super().prompts(suite, examples)


class DiesOnce(Strategy):
    """Zero-shot prompts, after killing its own process the first time it evaluates."""

    name = "dies-once"
    settings_class = DiesOnceSettings

    def adapt(self, context: AdaptContext) -> Predictor:
        return _DiesOnFirstPrompt(context.upstream, Path(self.settings.marker))


@hookimpl
def harness_register_strategies(registry):  # type: ignore[no-untyped-def]
    registry.add(DiesOnce)
