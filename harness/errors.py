"""Errors that reach the user.

Bad input (a suite, a run config, a flag) is reported as a list of `Problem`s, each
naming the file, the line where known, the field and the fix; the CLI prints them all
and exits with code 2, without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the user's input, and how to fix it."""

    file: str
    field: str
    message: str
    fix: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" [{self.field}]" if self.field else ""
        return f"{where}{field}: {self.message} (fix: {self.fix})"


class HarnessError(Exception):
    """Base class of every error harness raises on purpose."""


class InputError(HarnessError):
    """The user's input is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(
        cls, file: str | Path, field: str, message: str, fix: str, line: int | None = None
    ) -> InputError:
        return cls([Problem(str(file), field, message, fix, line)])


class PluginError(HarnessError):
    """A plugin failed to load or registered something invalid; names the plugin."""


class NotApplicable(HarnessError, ValueError):
    """A strategy does not apply to a row's target suites (e.g. RAG with no corpus).

    Raised from `Strategy.adapt`: the row's cells are marked "skipped" with this message,
    not "failed", and the run's exit code is unaffected.
    """
