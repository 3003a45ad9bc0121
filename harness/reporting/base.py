"""The reporter contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rich.console import Console

    from harness.metrics import Metric
    from harness.results import RunResults


@dataclass(frozen=True)
class ReportContext:
    """What a reporter renders: a run's results, its folder, and the console."""

    results: RunResults
    run_dir: Path
    console: Console
    #: the registered metrics, which score the per-example records of the paired tests
    #: (None: the reporter loads the installed plugins' metrics itself)
    metrics: Mapping[str, type[Metric]] | None = None


class Reporter(ABC):
    """Turns results into a view. Register subclasses via `harness_register_reporters`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def render(self, context: ReportContext) -> None:
        """Print to `context.console` and/or write files into `context.run_dir`."""
