"""harness: prompt, few-shot, fine-tune or RAG? Decide with evidence.

The public API for plugin authors: `hookimpl` to implement hooks, `Strategy` and
`Predictor` to write a strategy, `Metric` and `Reporter` for metrics and reporters,
`Backend` and `Capabilities` for model backends, `PhaseReporter` for what a strategy
tells the progress display.
Heavy libraries (torch, transformers) are imported only when a run needs them.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("harness")

from harness.metrics import ExampleOutput, Metric  # noqa: E402
from harness.models.backend import Backend  # noqa: E402
from harness.models.base import Capabilities  # noqa: E402
from harness.progress import PhaseReporter  # noqa: E402
from harness.reporting.base import ReportContext, Reporter  # noqa: E402
from harness.strategy import (  # noqa: E402
    AdaptContext,
    NoSettings,
    Predictor,
    PromptedPredictor,
    RequestBatch,
    Strategy,
)
from harness.suites import Example, Suite  # noqa: E402

__all__ = [
    "AdaptContext",
    "Backend",
    "Capabilities",
    "Example",
    "ExampleOutput",
    "Metric",
    "NoSettings",
    "PhaseReporter",
    "Predictor",
    "PromptedPredictor",
    "ReportContext",
    "Reporter",
    "RequestBatch",
    "Strategy",
    "Suite",
    "__version__",
    "hookimpl",
]
