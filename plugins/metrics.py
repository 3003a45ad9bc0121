"""The built-in metrics."""

from __future__ import annotations

from harness import hookimpl
from harness.metrics import BUILTIN_METRICS
from harness.registry import Registry


@hookimpl
def harness_register_metrics(registry: Registry) -> None:
    for metric in BUILTIN_METRICS:
        registry.add(metric)
