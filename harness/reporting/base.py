"""The reporter contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic import BaseModel
    from rich.console import Console

    from harness.metrics import Metric
    from harness.results import RunResults


@dataclass(frozen=True)
class ReportContext:
    """What a reporter renders: a run's results, its folders, and the console.

    During `harness run`, reporters render before the run folder is published: they
    write into `run_dir` (a hidden staging folder, renamed to `final_dir` once every
    reporter has finished, so that a half-written run is never visible) and name
    `final_dir` in anything they print or link. With `harness report` both are the
    run's folder.
    """

    results: RunResults
    #: the folder to write files into (and to read the run's files from)
    run_dir: Path
    console: Console
    #: the registered metrics, which score the per-example records of the paired tests
    #: (None: the reporter loads the installed plugins' metrics itself)
    metrics: Mapping[str, type[Metric]] | None = None
    #: where the run folder is once published: the path to print or link (defaults to
    #: `run_dir` when not given). Since 0.2.0.
    final_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.final_dir is None:
            object.__setattr__(self, "final_dir", self.run_dir)


class Reporter(ABC):
    """Turns results into a view. Register subclasses via `harness_register_reporters`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: the schema of the reporter's section of the run config's `tracking:` mapping
    #: (`tracking: {NAME: {...}}`), checked when the run is planned; None: it takes none.
    #: Since 0.2.0.
    settings: ClassVar[type[BaseModel] | None] = None

    @abstractmethod
    def render(self, context: ReportContext) -> None:
        """Print to `context.console` and/or write files into `context.run_dir`.

        Name `context.final_dir` in printed paths and links. Called once per run, after
        results.json and predictions.jsonl are written; an exception loses only this
        reporter's output and makes the run exit 1.
        """
