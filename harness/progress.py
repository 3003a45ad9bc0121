"""What a run is doing, and how long it has left.

Three parts, in the order a run uses them:

- `PhaseReporter`: what a strategy tells the display while it adapts, through
  `AdaptContext.progress` (`phase("indexing", total=3)`, `advance(1)`,
  `update(12, loss=1.9)`). Outside a run it does nothing, so a strategy calls it
  unconditionally.
- `TimeLeft`: the estimate of the time left for the whole run, from the plan's work
  units (which adapt, which suites they evaluate and how many examples each) and what
  the finished units took: adaptation time per kind of row, evaluation time per example
  per suite, and, for a unit training now, its seconds per step so far.
- `RunProgress`: the display. On a terminal, a live view with one line per row at work
  (its phase: loading, training with steps and loss, indexing, evaluating a suite) and
  one line for the run (cells done, elapsed, time left). Elsewhere (a CI log, a file),
  one line when a unit starts and one when it ends, with its phases and the time left:
  a log never holds a redrawn bar.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column

if TYPE_CHECKING:
    from harness.executors.base import UnitResult, WorkUnit


class PhaseReporter:
    """What a strategy tells the run's progress display while it adapts.

    `phase(name, total=None)` starts a phase ("loading", "training", "indexing", or any
    short name) of `total` steps (None: unknown); `advance(n)` and `update(completed)`
    move it on; keyword figures (`loss=1.93`) are shown beside it and the last value of
    each is kept. This base class does nothing: it is what a strategy gets outside a run.
    Calls are cheap and thread-safe; a strategy may call them as often as it likes.
    """

    def phase(self, name: str, total: int | None = None) -> None:
        """Start the phase `name` of `total` steps (None when not known)."""

    def advance(self, n: int = 1, **figures: float) -> None:
        """`n` more steps of the current phase done; `figures` shown beside it."""

    def update(self, completed: int, **figures: float) -> None:
        """`completed` steps of the current phase done; `figures` shown beside it."""


@contextmanager
def library_bars_off() -> Iterator[None]:
    """transformers' (and, when loaded, datasets') own progress bars off meanwhile: harness
    draws its own, and a library's bar would break its display or fill a log."""
    from transformers.utils import logging as hf_logging

    datasets = sys.modules.get("datasets")
    hf_was_on = hf_logging.is_progress_bar_enabled()
    ds_was_on = datasets is not None and datasets.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    if datasets is not None:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if hf_was_on:
            hf_logging.enable_progress_bar()
        if ds_was_on and datasets is not None:
            datasets.enable_progress_bars()


# -- the estimate ------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitWork:
    """What the estimate knows of a unit before it runs."""

    key: str
    #: rows whose adaptation takes about as long: the row without its target suffix
    #: (`lora[r=8]`), then the chain of strategy names (`lora`)
    kinds: tuple[str, ...]
    adapts: bool
    #: examples to evaluate, per suite, in order
    suites: tuple[tuple[str, int], ...]
    #: train examples times epochs its training goes through (0 for prompting): what a
    #: kind of training never timed is estimated from, at the pace of those timed
    train_work: float = 0.0
    #: the cache key of what its last training link produces ("" when nothing trains):
    #: a unit whose training another unit of the run already did loads it instead
    trained_key: str = ""

    @classmethod
    def of(cls, unit: WorkUnit) -> UnitWork:
        limit = unit.run.config.max_test_examples
        return cls(
            key=unit.label,
            kinds=(unit.row.row.split("@")[0], "+".join(link.name for link in unit.row.chain)),
            adapts=bool(unit.to_compute),
            suites=tuple((s.name, len(s.test[:limit])) for s in unit.to_compute),
            train_work=_train_work(unit),
            trained_key=next(
                (
                    key
                    for link, key in reversed(
                        list(zip(unit.row.chain, unit.adapt_keys, strict=False))
                    )
                    if link.needs_train_split == "targets"
                ),
                "",
            ),
        )


def _train_work(unit: WorkUnit) -> float:
    """Examples times epochs of the unit's training links, from the settings they share
    with `harness.training.TrainSettings` (0 when none trains)."""
    total = 0.0
    for link in unit.row.chain:
        if link.needs_train_split != "targets":
            continue
        settings = link.settings
        try:
            steps = int(getattr(settings, "max_steps", 0) or 0)
            if steps > 0:
                batch = int(getattr(settings, "batch_size", 1) or 1)
                total += steps * batch * int(getattr(settings, "gradient_accumulation", 1) or 1)
                continue
            cap = getattr(settings, "max_train_examples", None)
            n = sum(
                len(t.train) if cap is None else min(int(cap), len(t.train))
                for t in unit.row.targets
            )
            replay = float(getattr(settings, "replay_fraction", 0.0) or 0.0)
            epochs = float(getattr(settings, "epochs", 1.0) or 1.0)
            total += n / max(1.0 - replay, 0.05) * epochs
        except (TypeError, ValueError):  # settings of another shape: count the data once
            total += sum(len(t.train) for t in unit.row.targets)
    return total


@dataclass(frozen=True)
class Estimate:
    """Seconds left; `at_least` when some of the work has no measure yet."""

    seconds: float
    at_least: bool

    def describe(self) -> str:
        """`about 3 min left`, `at least 40 s left`."""
        return f"{'at least' if self.at_least else 'about'} {duration(self.seconds)} left"


@dataclass
class _Live:
    """The unit at work now: its adaptation phase or the suite it evaluates."""

    started: float
    adapt_done: bool = False
    phase_total: int | None = None
    phase_started: float = 0.0
    phase_done: int = 0
    evaluating: str | None = None
    eval_started: float = 0.0
    eval_done: int = 0
    suites_done: set[str] = field(default_factory=set)


class TimeLeft:
    """The time left for a run, from its units and what the finished ones took.

    Each unit not finished costs its adaptation (the mean of finished units of its
    kind, or the projection of one of its kind at work now) plus its examples times the
    seconds per example measured on each suite (on any suite when that one has none
    yet). A unit at work now costs what is left of it: its current phase projected from
    its steps so far. The sum is divided among `parallel` workers. Work of a kind never
    measured makes the estimate a lower bound; before anything is measured there is none.
    """

    def __init__(
        self,
        work: Sequence[UnitWork],
        parallel: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.work: dict[str, UnitWork] = {}
        trained: set[str] = set()
        for w in work:
            if not w.adapts:
                continue
            if w.trained_key and w.trained_key in trained:
                # an earlier unit trains it (`lora` before `lora+rag`): loading, not training
                w = dataclasses.replace(w, train_work=0.0)
            trained.add(w.trained_key)
            self.work[w.key] = w
        self.parallel = parallel
        self.clock = clock
        self._finished: set[str] = set()
        self._live: dict[str, _Live] = {}
        self._adapt_seconds: dict[str, list[float]] = {}
        #: (seconds, train work) of each training adaptation timed; seconds of the others
        self._train_measures: list[tuple[float, float]] = []
        self._prompt_measures: list[float] = []
        self._suite_seconds: dict[str, tuple[float, int]] = {}

    @property
    def units_left(self) -> int:
        return len(self.work) - len(self._finished)

    # events of a unit at work in this process
    def started(self, key: str) -> None:
        self._live[key] = _Live(started=self.clock())

    def phase(self, key: str, total: int | None) -> None:
        if live := self._live.get(key):
            live.phase_total, live.phase_started, live.phase_done = total, self.clock(), 0

    def step(self, key: str, completed: int) -> None:
        if live := self._live.get(key):
            live.phase_done = completed

    def evaluating(self, key: str, suite: str) -> None:
        if live := self._live.get(key):
            if not live.adapt_done and (work := self.work.get(key)):
                # the adaptation is over: a measure for the units of its kind
                self._measure_adapt(work, self.clock() - live.started)
            live.adapt_done = True
            if live.evaluating is not None:
                live.suites_done.add(live.evaluating)
            live.evaluating, live.eval_started, live.eval_done = suite, self.clock(), 0

    def evaluated_examples(self, key: str, done: int) -> None:
        if live := self._live.get(key):
            live.eval_done = done

    # what a finished unit took, wherever it ran
    def finished(self, key: str, adapt_seconds: float, eval_seconds: dict[str, float]) -> None:
        """Unit `key` is done: its adaptation and per-suite evaluation times are measures."""
        live = self._live.pop(key, None)
        work = self.work.get(key)
        if work is None or key in self._finished:
            return
        self._finished.add(key)
        if live is None or not live.adapt_done:  # else measured when evaluation began
            self._measure_adapt(work, adapt_seconds)
        sizes = dict(work.suites)
        for suite, seconds in eval_seconds.items():
            if sizes.get(suite):
                total, n = self._suite_seconds.get(suite, (0.0, 0))
                self._suite_seconds[suite] = (total + seconds, n + sizes[suite])

    def _measure_adapt(self, work: UnitWork, seconds: float) -> None:
        for kind in work.kinds:
            self._adapt_seconds.setdefault(kind, []).append(seconds)
        if work.train_work > 0:
            self._train_measures.append((seconds, work.train_work))
        else:
            self._prompt_measures.append(seconds)

    def estimate(self) -> Estimate | None:
        """Seconds left for the whole run; None before anything is measured."""
        if not self.work or self.units_left == 0:
            return Estimate(0.0, False) if self.work else None
        if not self._adapt_seconds and not self._suite_seconds and not self._measured_live():
            return None
        unknown = False
        total = 0.0
        for key, work in self.work.items():
            if key in self._finished:
                continue
            seconds, known = self._unit_left(work, self._live.get(key))
            total += seconds
            unknown |= not known
        workers = max(1, min(self.parallel, self.units_left))
        return Estimate(total / workers, unknown)

    def _measured_live(self) -> bool:
        return any(live.phase_done > 0 or live.eval_done > 0 for live in self._live.values())

    def _unit_left(self, work: UnitWork, live: _Live | None) -> tuple[float, bool]:
        now = self.clock()
        known = True
        seconds = 0.0
        if live is None or not live.adapt_done:
            adapt = self._adapt_left(work, live, now)
            if adapt is None:
                known = False
            else:
                seconds += adapt
        for suite, n in work.suites:
            if live is not None and suite in live.suites_done:
                continue
            if live is not None and live.evaluating == suite:
                done = live.eval_done
                if done > 0:
                    seconds += (now - live.eval_started) / done * max(n - done, 0)
                    continue
                n = max(n - done, 0)
            rate = self._rate(suite)
            if rate is None:
                known = False
            else:
                seconds += n * rate
        return seconds, known

    def _adapt_left(self, work: UnitWork, live: _Live | None, now: float) -> float | None:
        """Seconds left of the unit's adaptation; None when nothing measures it."""
        if live is not None and live.phase_total and live.phase_done > 0:
            per_step = (now - live.phase_started) / live.phase_done
            return per_step * max(live.phase_total - live.phase_done, 0)
        expected = self._expected_adapt(work)
        if expected is None:
            return None
        return max(expected - (now - live.started), 0.0) if live is not None else expected

    def _expected_adapt(self, work: UnitWork) -> float | None:
        """What the unit's adaptation takes: as timed on its kind, or as projected for one
        of its kind at work now; else, for training, its train work at the pace of the
        training timed so far, and for prompting, the mean of the prompting timed."""
        for kind in work.kinds:
            if seen := self._adapt_seconds.get(kind):
                return sum(seen) / len(seen)
            for key, live in self._live.items():
                other = self.work.get(key)
                if other is not None and kind in other.kinds:
                    projected = self._projected_adapt(live)
                    if projected is not None:
                        return projected
        if work.train_work > 0:
            measures = list(self._train_measures)
            for key, live in self._live.items():
                other = self.work.get(key)
                projected = self._projected_adapt(live)
                if other is not None and other.train_work > 0 and projected is not None:
                    measures.append((projected, other.train_work))
            if not measures:
                return None
            return sum(s for s, _ in measures) / sum(w for _, w in measures) * work.train_work
        if self._prompt_measures:
            return sum(self._prompt_measures) / len(self._prompt_measures)
        return None

    def _projected_adapt(self, live: _Live) -> float | None:
        """The whole adaptation of a unit at work now, from its steps so far."""
        if live.adapt_done or not (live.phase_total and live.phase_done):
            return None
        now = self.clock()
        per_step = (now - live.phase_started) / live.phase_done
        return (now - live.started) + per_step * (live.phase_total - live.phase_done)

    def _rate(self, suite: str) -> float | None:
        """Seconds per example on `suite`, else on every suite measured so far."""
        if suite in self._suite_seconds:
            seconds, n = self._suite_seconds[suite]
            return seconds / n
        now = self.clock()
        live = [
            (now - u.eval_started) / u.eval_done
            for u in self._live.values()
            if u.evaluating == suite and u.eval_done > 0
        ]
        if live:  # the pace of a unit evaluating it now
            return sum(live) / len(live)
        if self._suite_seconds:
            seconds = sum(s for s, _ in self._suite_seconds.values())
            n = sum(n for _, n in self._suite_seconds.values())
            return seconds / n
        return None


def duration(seconds: float) -> str:
    """`12 s`, `3 min`, `1 h 05 min`: what a person reads at a glance."""
    if seconds < 60:
        return f"{max(1, math.ceil(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


# -- the display -------------------------------------------------------------------------


@dataclass
class _Phase:
    name: str
    total: int | None
    started: float
    #: what the phase works on (the suite being evaluated)
    subject: str = ""
    completed: int = 0
    figures: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def detail(self) -> str:
        figures = " ".join(f"{k} {_figure(v)}" for k, v in self.figures.items())
        return " ".join(part for part in (self.subject, figures) if part)

    @property
    def worth_telling(self) -> bool:
        """Steps, figures, or a tenth of a second or more."""
        return bool(self.total or self.figures or self.seconds >= 0.1)

    def summary(self) -> str:
        """`training 40/40, loss 0.412, 19.4 s`."""
        parts = [f"{self.name} {self.completed}/{self.total}" if self.total else self.name]
        parts += [f"{k} {_figure(v)}" for k, v in self.figures.items()]
        return ", ".join([*parts, f"{self.seconds:.1f} s"])


def _steps(total: object) -> int | None:
    """A phase's step count as a strategy gave it: a positive whole number, else unknown."""
    try:
        steps = int(total)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return steps if steps > 0 else None


def _figure(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class UnitProgress(PhaseReporter):
    """The `PhaseReporter` of one unit at work in this process."""

    def __init__(self, display: RunProgress, unit: WorkUnit) -> None:
        self.display = display
        self.key = unit.label
        self.phases: list[_Phase] = []
        self._task: TaskID | None = None

    @property
    def current(self) -> _Phase | None:
        return self.phases[-1] if self.phases else None

    def phase(self, name: str, total: int | None = None) -> None:
        total = _steps(total)
        with self.display.lock:
            self._close_phase()
            self.phases.append(_Phase(str(name), total, self.display.clock()))
            self.display.estimator.phase(self.key, total)
            self.display.show(self, refresh=True)

    def advance(self, n: int = 1, **figures: float) -> None:
        current = self.current
        if current is None:
            self.phase("adapting")
            current = self.current
        assert current is not None
        self.update(current.completed + n, **figures)

    def update(self, completed: int, **figures: float) -> None:
        with self.display.lock:
            current = self.current
            if current is None:
                self.phases.append(_Phase("adapting", None, self.display.clock()))
                current = self.phases[-1]
            current.completed = _steps(completed) or 0
            current.figures.update(figures)
            self.display.estimator.step(self.key, current.completed)
            self.display.show(self)

    # the unit's own evaluation steps (not part of the strategies' API)
    def evaluating(self, suite: str, total: int) -> None:
        with self.display.lock:
            self._close_phase()
            self.phases.append(_Phase("evaluating", total, self.display.clock(), suite))
            self.display.estimator.evaluating(self.key, suite)
            self.display.show(self, refresh=True)

    def evaluated(self, n: int) -> None:
        with self.display.lock:
            current = self.current
            if current is None or current.name != "evaluating":
                return
            current.completed += n
            self.display.estimator.evaluated_examples(self.key, current.completed)
            self.display.show(self)

    def _close_phase(self) -> None:
        current = self.current
        if current is not None and not current.seconds:
            current.seconds = self.display.clock() - current.started

    def close(self) -> None:
        with self.display.lock:
            self._close_phase()

    def summary(self) -> str:
        """`training 40 steps, loss 0.41 19.4 s; evaluating 3 suites 2.1 s`."""
        parts = [p.summary() for p in self.phases if p.worth_telling and p.name != "evaluating"]
        evaluations = [p for p in self.phases if p.name == "evaluating"]
        if evaluations:
            n = len(evaluations)
            seconds = sum(p.seconds for p in evaluations)
            parts.append(f"evaluating {n} suite{'s' if n > 1 else ''} {seconds:.1f} s")
        return "; ".join(parts)


class RunProgress:
    """The run's progress display (see the module docstring); a context manager."""

    def __init__(
        self,
        console: Console,
        units: Sequence[WorkUnit],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.clock = clock
        self.lock = threading.RLock()
        work = [UnitWork.of(u) for u in units]
        self.estimator = TimeLeft(work, clock=clock)
        self.units_total = len(self.estimator.work)
        self.cells_total = sum(len(w.suites) for w in self.estimator.work.values())
        self.cells_done = 0
        self.units_done = 0
        self.started = clock()
        self.live = console.is_terminal and not console.is_dumb_terminal
        self._reporters: dict[str, UnitProgress] = {}
        self._progress: Progress | None = None
        self._run_task: TaskID | None = None
        #: when the run line's time left was last computed
        self._left_at = 0.0

    @property
    def parallel(self) -> int:
        return self.estimator.parallel

    @parallel.setter
    def parallel(self, workers: int) -> None:
        """How many units run at once (the executor says so)."""
        self.estimator.parallel = max(1, workers)

    def __enter__(self) -> RunProgress:
        if self.live and self.units_total:
            self._progress = Progress(
                # row, phase, bar, steps, what it works on or its figures, elapsed
                TextColumn(
                    "{task.description}",
                    table_column=Column(ratio=2, no_wrap=True, overflow="ellipsis"),
                ),
                TextColumn("{task.fields[phase]}", table_column=Column(no_wrap=True)),
                BarColumn(bar_width=10),
                MofNCompleteColumn(),
                TextColumn(
                    "{task.fields[detail]}",
                    table_column=Column(ratio=3, no_wrap=True, overflow="ellipsis"),
                ),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
                expand=True,
            )
            self._progress.start()
            self._run_task = self._progress.add_task(
                "[bold]run[/bold]", total=self.cells_total, phase="cells", detail="estimating"
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    @contextmanager
    def unit(self, unit: WorkUnit) -> Iterator[UnitProgress]:
        """The reporter of `unit` while it works in this process."""
        reporter = UnitProgress(self, unit)
        with self.lock:
            self._reporters[reporter.key] = reporter
            self.estimator.started(reporter.key)
            if self._progress is not None:
                reporter._task = self._progress.add_task(
                    escape(reporter.key), total=None, phase="starting", detail=""
                )
            elif self.units_total:
                self.console.print(
                    f"[dim]…[/dim] {escape(reporter.key)} "
                    f"[dim]({self.units_done + 1}/{self.units_total})[/dim]",
                    highlight=False,
                    soft_wrap=True,
                )
        try:
            yield reporter
        finally:
            reporter.close()
            with self.lock:
                if self._progress is not None and reporter._task is not None:
                    self._progress.remove_task(reporter._task)
                # a strategy abandoned at its timeout may still report: nothing to draw
                reporter._task = None

    def show(self, reporter: UnitProgress, refresh: bool = False) -> None:
        """Redraw `reporter`'s line (a new phase is drawn at once)."""
        if self._progress is None or reporter._task is None:
            return
        current = reporter.current
        if current is None:
            return
        self._progress.update(
            reporter._task,
            total=current.total,
            completed=current.completed,
            phase=escape(current.name),
            detail=escape(current.detail()),
        )
        now = self.clock()
        if self._run_task is not None and (refresh or now - self._left_at >= 0.5):
            self._left_at = now
            self._progress.update(self._run_task, detail=self._left(elapsed=False))
        if refresh:
            self._progress.refresh()

    def finished(self, unit: WorkUnit, result: UnitResult) -> None:
        """A unit's result reached the driver: count its cells, measure, tell the time left."""
        with self.lock:
            key = unit.label
            if key not in self.estimator.work:
                return
            runs = result.runs.values()
            # the time this run spent, not what a cached artifact once took to produce
            adapt_seconds = max(
                (
                    r.cost.adapt_seconds - float(getattr(r.cost, "cache_saved_seconds", 0.0))
                    for r in runs
                ),
                default=0.0,
            )
            self.estimator.finished(
                key, adapt_seconds, {s: r.cost.eval_seconds for s, r in result.runs.items()}
            )
            self.units_done += 1
            self.cells_done += len(result.runs)
            left = self._left()
            if self._progress is not None and self._run_task is not None:
                self._progress.update(
                    self._run_task, completed=self.cells_done, detail=self._left(elapsed=False)
                )
            # one line per unit, kept above a live display, the record in a log
            reporter = self._reporters.pop(key, None)
            failed = sum(r.status == "failed" for r in runs)
            mark = "[red]✗[/red]" if failed else "[green]✓[/green]"
            what = reporter.summary() if reporter is not None else ""
            where = f" on {result.worker}" if reporter is None and result.worker else ""
            detail = f", {failed} failed cell{'s' if failed > 1 else ''}" if failed else ""
            if result.not_applicable is not None:  # its cells are skipped, with the reason
                mark, detail = "[dim]–[/dim]", ", skipped: does not apply"
            # not wrapped by rich: a log keeps each line whole
            self.console.print(
                f"{mark} {escape(key)}: {result.seconds:.1f} s{escape(where)}{detail}"
                + (f" [dim]({escape(what)})[/dim]" if what else "")
                + f" [dim]· {self.units_done}/{self.units_total} units · {left}[/dim]",
                highlight=False,
                soft_wrap=not self.live,
            )

    def _left(self, elapsed: bool = True) -> str:
        """`2 min elapsed, about 3 min left` (without the elapsed part on the live line,
        which has its own column)."""
        estimate = self.estimator.estimate()
        if estimate is None:
            left = "estimating the time left"
        elif estimate.seconds == 0 and not estimate.at_least:
            left = "done"
        else:
            left = estimate.describe()
        if not elapsed:
            return left
        return f"{duration(self.clock() - self.started)} elapsed, {left}"
