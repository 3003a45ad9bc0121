"""The progress display: the time-left estimate on planned work, and real runs showing
each row's phases (loading, training with steps and loss, indexing, evaluating, a
third-party strategy's own phase) in a log and on a terminal."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from harness import AdaptContext, Predictor, Strategy, hookimpl
from harness.config import RunConfig, StrategyEntry
from harness.plugin_manager import load_plugins
from harness.progress import Estimate, PhaseReporter, TimeLeft, UnitWork, duration
from harness.registry import Registry
from harness.runner import Runner, RunOutcome, make_plan
from tests.test_rag import write_knowledge_suite

FAST_LORA = {"max_steps": 6, "batch_size": 4, "learning_rate": 5e-3}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _unit(key: str, kind: str, suites: dict[str, int], train_work: float = 0.0) -> UnitWork:
    return UnitWork(
        key=key,
        kinds=(kind, kind),
        adapts=True,
        suites=tuple(suites.items()),
        train_work=train_work,
    )


# -- the estimate ------------------------------------------------------------------------


def test_nothing_measured_gives_no_estimate() -> None:
    estimate = TimeLeft([_unit("zero-shot", "zero-shot", {"a": 10})], clock=Clock())
    assert estimate.estimate() is None


def test_finished_units_measure_the_rest() -> None:
    clock = Clock()
    left = TimeLeft(
        [
            _unit("zero-shot", "zero-shot", {"a": 10, "b": 20}),
            _unit("lora · seed 0", "lora", {"a": 10, "b": 20}, train_work=100),
            _unit("lora · seed 1", "lora", {"a": 10, "b": 20}, train_work=100),
        ],
        clock=clock,
    )
    left.finished("zero-shot", 0.0, {"a": 1.0, "b": 4.0})  # 0.1 s and 0.2 s per example
    # lora has never been measured: its evaluation is known, its training is not
    first = left.estimate()
    assert first == Estimate(pytest.approx(2 * (1.0 + 4.0)), at_least=True)
    left.finished("lora · seed 0", 30.0, {"a": 1.0, "b": 4.0})
    assert left.estimate() == Estimate(pytest.approx(30.0 + 5.0), at_least=False)
    left.finished("lora · seed 1", 30.0, {"a": 1.0, "b": 4.0})
    assert left.estimate() == Estimate(0.0, at_least=False)


def test_a_training_unit_is_projected_from_its_steps() -> None:
    clock = Clock()
    left = TimeLeft(
        [
            _unit("sft · seed 0", "sft", {"a": 10}, train_work=50),
            _unit("sft · seed 1", "sft", {"a": 10}, train_work=50),
        ],
        clock=clock,
    )
    left.started("sft · seed 0")
    left.phase("sft · seed 0", total=100)
    clock.now = 10.0
    left.step("sft · seed 0", 25)  # 0.4 s per step: 30 s to go
    estimate = left.estimate()
    assert estimate is not None
    # seed 0: 30 s of training left; seed 1: the same 40 s training; evaluation unknown
    assert estimate.seconds == pytest.approx(30.0 + 40.0)
    assert estimate.at_least
    # training took 40 s; evaluating: the suite's own pace so far
    clock.now = 40.0
    left.evaluating("sft · seed 0", "a")
    clock.now = 42.0
    left.evaluated_examples("sft · seed 0", 5)  # 0.4 s per example
    estimate = left.estimate()
    assert estimate is not None and not estimate.at_least
    assert estimate.seconds == pytest.approx(5 * 0.4 + 40.0 + 10 * 0.4)


def test_a_kind_never_timed_is_estimated_from_the_others() -> None:
    left = TimeLeft(
        [
            _unit("zero-shot", "zero-shot", {"a": 10}),
            _unit("few-shot", "few-shot", {"a": 10}),
            _unit("sft", "sft", {"a": 10}, train_work=200),
            _unit("multitask", "multitask", {"a": 10}, train_work=500),
        ]
    )
    left.finished("zero-shot", 1.0, {"a": 2.0})
    left.finished("sft", 40.0, {"a": 2.0})
    # few-shot: as the prompting timed (1 s); multitask: 500 examples x epochs at sft's
    # 0.2 s each (100 s); each evaluation 2 s
    assert left.estimate() == Estimate(pytest.approx(1.0 + 100.0 + 2 * 2.0), at_least=False)


def test_parallel_workers_share_the_work() -> None:
    units = [_unit(f"u{i}", "zero-shot", {"a": 10}) for i in range(4)]
    one, four = TimeLeft(units, parallel=1), TimeLeft(units, parallel=4)
    for left in (one, four):
        left.finished("u0", 2.0, {"a": 8.0})
    a, b = one.estimate(), four.estimate()
    assert a is not None and b is not None
    assert a.seconds == pytest.approx(3 * 10.0)
    assert b.seconds == pytest.approx(10.0)  # three units left on four workers: one round


def test_durations_read_at_a_glance() -> None:
    assert [duration(s) for s in (0.2, 42, 150, 3 * 3600 + 300)] == [
        "1 s",
        "42 s",
        "2 min",
        "3 h 05 min",
    ]
    assert Estimate(90, at_least=True).describe() == "at least 2 min left"


def test_the_base_reporter_does_nothing_outside_a_run() -> None:
    reporter = PhaseReporter()
    reporter.phase("training", total=3)
    reporter.advance(1, loss=1.0)
    reporter.update(3)
    assert AdaptContext.__dataclass_fields__["progress"].default_factory is PhaseReporter  # type: ignore[misc]


# -- real runs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CrunchSettings:
    steps: int = 3


class Crunch(Strategy):
    """A third-party strategy that reports a phase of its own."""

    name = "crunch"
    settings_class = CrunchSettings

    def adapt(self, context: AdaptContext) -> Predictor:
        steps = self.settings.steps
        context.progress.phase("crunching", total=steps)
        for i in range(steps):
            context.progress.advance(1, widgets=float(i + 1))
        return context.upstream


class Careless(Strategy):
    """Reports what a careless plugin might: odd totals, steps and figures."""

    name = "careless"

    def adapt(self, context: AdaptContext) -> Predictor:
        context.progress.phase("thinking", total=2.7)  # type: ignore[arg-type]
        context.progress.update("x", note="text")  # type: ignore[arg-type]
        context.progress.advance(5, rate=0.123456789)
        context.progress.phase("waiting", total=-3)
        context.progress.update(10**30)
        return context.upstream


class CrunchPlugin:
    @hookimpl
    def harness_register_strategies(self, registry: Registry) -> None:
        registry.add(Crunch)
        registry.add(Careless)


def _run(tiny_model: Path, suites: list[Path], out: Path, console: Console) -> RunOutcome:
    plugins = load_plugins(extra=[("crunch", CrunchPlugin())])
    config = RunConfig(
        model=str(tiny_model),
        suites=[str(s) for s in suites],
        strategies=[
            StrategyEntry(name="zero-shot"),
            StrategyEntry(name="lora", settings=FAST_LORA),
            StrategyEntry(name="rag"),
            StrategyEntry(name="crunch"),
            StrategyEntry(name="careless"),
        ],
        out=str(out),
        bootstrap_resamples=100,
        reporters=[],
        max_test_examples=4,
    )
    outcome = Runner(make_plan(config, plugins), plugins, console=console).run()
    assert outcome.exit_code == 0, [c.error for c in outcome.results.cells if c.error]
    return outcome


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_knowledge_suite(tmp_path_factory.mktemp("knowledge") / "facts")


def test_a_log_gets_a_line_per_unit_with_its_phases_and_the_time_left(
    tiny_model: Path, toy_suites: dict[str, Path], knowledge: Path, tmp_path: Path
) -> None:
    log = io.StringIO()
    console = Console(file=log, width=80)  # not a terminal: a CI log, a file
    _run(tiny_model, [knowledge, toy_suites["toy-colours"]], tmp_path / "run", console)
    lines = log.getvalue().splitlines()
    done = {line.split(":")[0][2:]: line for line in lines if line.startswith("✓ ")}
    assert set(done) == {"zero-shot", "lora@facts", "lora@toy-colours", "rag", "crunch", "careless"}
    # one line each, never wrapped: a log keeps a unit's line whole
    assert all(line.startswith(("✓ ", "… ")) for line in lines), lines
    assert re.search(r"training 6/6, loss [\d.]+", done["lora@facts"])
    assert "loading" in done["lora@facts"]
    assert "indexing 2/2" in done["rag"]  # one index per target suite
    assert "crunching 3/3, widgets 3" in done["crunch"]
    assert "evaluating 2 suites" in done["zero-shot"]
    # every unit says how far the run is and what is left of it
    units = [re.search(r"(\d)/6 units · .* elapsed, (.*)$", done[k]) for k in done]
    assert all(units), done
    assert sorted(int(m.group(1)) for m in units if m) == [1, 2, 3, 4, 5, 6]
    assert any("left" in m.group(2) for m in units if m)
    assert done["careless"].endswith("done")  # the last unit: nothing left
    # odd reports from a plugin are shown as well as they can be, never fail the row
    assert "thinking 5/2, note text, rate 0.1235" in done["careless"]
    # a unit's start line comes before its finish line
    assert lines.index("… lora@facts (2/6)") < lines.index(done["lora@facts"])


def test_a_terminal_shows_each_row_phase_live(
    tiny_model: Path, toy_suites: dict[str, Path], knowledge: Path, tmp_path: Path
) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    _run(tiny_model, [knowledge, toy_suites["toy-colours"]], tmp_path / "run", console)
    drawn = screen.getvalue()
    # each phase is drawn when it starts, with its steps
    for phase in ("loading", "training", "indexing", "evaluating", "crunching"):
        assert phase in drawn, phase
    assert re.search(r"training\s+\S*\s+\d+/6", drawn)
    assert re.search(r"loss [\d.]+", drawn)
    assert re.search(r"(about|at least) \d+ (s|min) left", drawn)
    # the finished units stay on the screen above the live lines
    assert "✓ lora@facts" in drawn and "✓ crunch" in drawn
