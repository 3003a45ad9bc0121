"""Payloads of the lifecycle hooks: one frozen dataclass per event."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.results import Cell, RunResults


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    out_dir: Path
    model: str
    strategies: tuple[str, ...]
    suites: tuple[str, ...]


@dataclass(frozen=True)
class AdaptStarted:
    run_id: str
    strategy: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class AdaptFinished:
    run_id: str
    strategy: str
    targets: tuple[str, ...]
    seconds: float
    #: None when adaptation succeeded
    error: str | None


@dataclass(frozen=True)
class CellStarted:
    run_id: str
    strategy: str
    suite: str


@dataclass(frozen=True)
class CellFinished:
    run_id: str
    cell: Cell


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    out_dir: Path
    results: RunResults
