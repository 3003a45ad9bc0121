"""The values an executor works on, and the contract every executor keeps.

A run is planned into `WorkUnit`s: one row's adaptation with one replicate seed, plus
that replicate's predictions on every suite the row evaluates. A unit is a plain,
picklable value: it carries everything it needs (the row's strategies and suites, the
cache keys the driver computed, where the cache is) and depends on other units only
through the cache. Running one gives a `UnitResult`: per suite, the predictions, scores
and costs, or the error that failed the cell. The driver (`harness.runner.Runner`)
turns results into cells, deltas, results.json and reports; executors only decide
where and in which order units run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from harness.backends import ResolvedModel
from harness.cache import Cache, CacheNote
from harness.config import RunConfig
from harness.metrics import ExampleOutput, Metric
from harness.models.base import LanguageModel
from harness.results import Cost, PredictionRecord, Status
from harness.suites import Suite

if TYPE_CHECKING:
    from rich.console import Console

    from harness.progress import RunProgress
    from harness.runner import PlannedStrategy


@dataclass(frozen=True)
class RunSettings:
    """What every unit of a run shares: the model, run-wide settings, where to write."""

    run_id: str
    #: the base model's name (hub id, local folder, or served model id)
    model: str
    #: the base model with its configured backend (what a worker loads it through)
    base: ResolvedModel
    config: RunConfig
    #: the metric objects of the run, by name
    metrics: Mapping[str, Metric]
    #: the run's forgetting suites (replay data for multi-task training)
    forgetting: tuple[Suite, ...]
    #: the staged run folder (artifacts/ is written under it)
    run_dir: Path
    #: the cache folder and whether lookups may hit
    cache_root: Path
    cache_enabled: bool


@dataclass(frozen=True)
class WorkUnit:
    """One row adapted with one seed, and its predictions on every suite it evaluates."""

    row: PlannedStrategy
    seed: int
    #: the suites the row is evaluated on, in plan order
    suites: tuple[Suite, ...]
    #: those whose predictions for this seed are already cached (not computed again)
    cached: frozenset[str]
    #: the cache key of the chain up to each link (`AdaptContext.cache_key`)
    adapt_keys: tuple[str, ...]
    #: the predictions cache key of each suite to compute
    cell_keys: Mapping[str, str]
    run: RunSettings

    @property
    def label(self) -> str:
        """`row` or `row · seed N` for a replicated row."""
        return f"{self.row.row} · seed {self.seed}" if self.row.replicated else self.row.row

    @property
    def to_compute(self) -> tuple[Suite, ...]:
        """The suites this unit predicts; the others come from the cache."""
        return tuple(s for s in self.suites if s.name not in self.cached)

    @property
    def first_replicate(self) -> bool:
        """The first seed's unit announces the row's cells (`harness_cell_start`)."""
        return self.seed == self.row.seeds[0]

    @property
    def trains(self) -> bool:
        """Whether the row trains weights on its targets: the long units of a run."""
        return any(link.needs_train_split == "targets" for link in self.row.chain)

    @property
    def training_suites(self) -> int:
        """How many suites the unit trains on (0 for prompting): its expected length."""
        if not self.trains:
            return 0
        replay = any(link.uses_forgetting_data for link in self.row.chain)
        return len(self.row.targets) + (len(self.run.forgetting) if replay else 0)


@dataclass
class CellRun:
    """One replicate of a cell: what one seed's predictor did on one suite."""

    seed: int
    status: Status
    error: str | None
    prompts: list[str]
    outputs: list[ExampleOutput]
    scores: dict[str, np.ndarray]
    cost: Cost
    metric_errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def failure(cls, seed: int, error: str | None, cost: Cost) -> CellRun:
        return cls(seed, "failed", error, [], [], {}, cost)

    def records(self, row: str, suite: str, with_seed: bool = False) -> list[PredictionRecord]:
        """The replicate's predictions.jsonl lines (tagged with its seed when replicated)."""
        return [
            PredictionRecord(
                row,
                suite,
                prompt,
                output,
                {name: float(values[i]) for name, values in self.scores.items()},
                self.seed if with_seed else None,
            )
            for i, (prompt, output) in enumerate(zip(self.prompts, self.outputs, strict=True))
        ]


@dataclass
class UnitResult:
    """What a unit gives back: a `CellRun` per computed suite, and what happened."""

    #: per suite name, for the suites the unit computed (cached ones are read by the driver)
    runs: dict[str, CellRun] = field(default_factory=dict)
    #: why the row does not apply to its targets (its cells are skipped), or None
    not_applicable: str | None = None
    #: lifecycle events (hook name, payload) raised where the unit ran, in order; a
    #: remote executor replays them in the driver
    events: list[tuple[str, Any]] = field(default_factory=list)
    #: cache entries the unit discarded, and why
    cache_notes: list[CacheNote] = field(default_factory=list)
    #: wall seconds of the unit, and where it ran (host:pid)
    seconds: float = 0.0
    worker: str = ""

    @classmethod
    def failed(cls, unit: WorkUnit, error: str) -> UnitResult:
        """Every computed cell of `unit` failed with `error` (the unit itself could not run)."""
        return cls(
            runs={s.name: CellRun.failure(unit.seed, error, Cost()) for s in unit.to_compute}
        )


@dataclass
class UnitContext:
    """What a unit uses from the process it runs in.

    `base_model` loads (once per process) and returns the shared base model; `notify`
    fires a lifecycle hook (or records it, in a remote worker); `progress`, when given,
    is the driver's progress display (a unit run in this process shows its phases);
    `row_model`, when given, returns the model a row runs on (its own `model:`, loaded
    once per process, or the base model; without it a row's own model is loaded through
    its backend for each unit).
    """

    base_model: Callable[[], LanguageModel]
    cache: Cache
    notify: Callable[[str, Any], None]
    progress: RunProgress | None = None
    row_model: Callable[[PlannedStrategy], LanguageModel] | None = None

    def model_for(self, row: PlannedStrategy) -> LanguageModel:
        """The model `row` runs on: its own (`model:` in its entry) or the base model."""
        if self.row_model is not None:
            return self.row_model(row)
        if row.model is None:
            return self.base_model()
        return row.model.load()


class Executor(Protocol):
    """Runs work units and hands each result to the driver as it arrives.

    `context` is the driver's own (its shared model, cache, hooks and progress display);
    `on_result(unit, result)` must be called exactly once per unit, from the driver's
    thread, in any order. An executor never raises for a failing unit (its cells fail);
    KeyboardInterrupt stops it, with nothing left running.
    """

    name: str
    #: whether units need the base model loaded in the driver (loading it before the
    #: run starts makes a bad model fail before anything is written)
    loads_model_in_driver: bool

    def execute(
        self,
        units: Sequence[WorkUnit],
        context: UnitContext,
        on_result: Callable[[WorkUnit, UnitResult], None],
        console: Console,
    ) -> None: ...
