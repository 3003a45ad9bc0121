"""The built-in reporters."""

from __future__ import annotations

from harness_plugins.tracking import MlflowReporter, WandbReporter

from harness import hookimpl
from harness.registry import Registry
from harness.reporting.html import HtmlReporter
from harness.reporting.markdown import MarkdownReporter
from harness.reporting.terminal import TerminalReporter


@hookimpl
def harness_register_reporters(registry: Registry) -> None:
    registry.add(TerminalReporter)
    registry.add(MarkdownReporter)
    registry.add(HtmlReporter)
    # the tracking clients are optional: imported when these render, not here
    registry.add(MlflowReporter)
    registry.add(WandbReporter)
