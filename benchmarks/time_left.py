"""How good is the progress display's time left? Told against what actually happened.

Runs the built-in demo (every built-in strategy on the demo lab, or `--strategies`)
from an empty cache with the local executor and, after each unit, reads the estimate
the progress display shows then. When the run is over, each estimate is set against
the time that was really left. Prints one line per unit (elapsed, estimate, actual,
error) and the median absolute error of the estimates that were complete (not `at
least`) and of all of them.

    python -m benchmarks.time_left [--strategies zero-shot,lora,rag] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from harness.config import RunConfig, StrategyEntry, load_config
from harness.demo import DEMO_CONFIG
from harness.executors import Executor, UnitContext, UnitResult, WorkUnit, make_executor
from harness.plugin_manager import load_plugins
from harness.progress import Estimate
from harness.runner import Runner, make_plan


class EstimateLog:
    """An executor that notes the display's estimate each time a unit's result is in."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.name = inner.name
        self.loads_model_in_driver = inner.loads_model_in_driver
        self.told: list[tuple[str, float, Estimate | None]] = []
        self.start = 0.0

    def execute(
        self,
        units: Sequence[WorkUnit],
        context: UnitContext,
        on_result: Callable[[WorkUnit, UnitResult], None],
        console: Console,
    ) -> None:
        def record(unit: WorkUnit, result: UnitResult) -> None:
            on_result(unit, result)  # the display counts the unit here
            estimate = context.progress.estimator.estimate() if context.progress else None
            self.told.append((unit.label, time.perf_counter() - self.start, estimate))

        self.start = time.perf_counter()
        self.inner.execute(units, context, record, console)
        self.end = time.perf_counter() - self.start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", help="comma-separated (default: the demo's)")
    parser.add_argument("--work-dir", type=Path, help="default: a temporary folder")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="harness-bench-time-left-"))
    config = load_config(DEMO_CONFIG)
    data = config.model_dump() | {
        "out": str(work / "run"),
        "cache_dir": str(work / "cache"),
        "reporters": [],
    }
    if args.strategies:
        data["strategies"] = [
            StrategyEntry(name=n.strip()).model_dump() for n in args.strategies.split(",")
        ]
    config = RunConfig.model_validate(data)
    plugins = load_plugins()
    log = EstimateLog(make_executor(config.executor))
    Runner(make_plan(config, plugins), plugins, executor=log).run()

    print(f"\n{'after unit':<40} {'elapsed':>8} {'told':>16} {'actual':>8} {'error':>7}")
    complete, every, seconds_off = [], [], []
    for label, at, estimate in log.told[:-1]:  # the last one says "done"
        actual = log.end - at
        if estimate is None:
            print(f"{label:<40} {at:8.1f} {'(estimating)':>16} {actual:8.1f}")
            continue
        error = (estimate.seconds - actual) / actual if actual > 0 else 0.0
        told = f"{'≥' if estimate.at_least else '≈'}{estimate.seconds:.1f}"
        print(f"{label:<40} {at:8.1f} {told:>16} {actual:8.1f} {error:+7.0%}")
        every.append(abs(error))
        if not estimate.at_least:
            complete.append(abs(error))
            seconds_off.append(abs(estimate.seconds - actual))
    print(f"\nunits: {len(log.told)}; run (units only): {log.end:.1f} s")
    if complete:
        print(
            f"median |error| of complete estimates: {statistics.median(complete):.0%} "
            f"({len(complete)} estimates; median {statistics.median(seconds_off):.1f} s off)"
        )
    if every:
        print(f"median |error| of all estimates: {statistics.median(every):.0%}")
    print(f"run folder under {work}")


if __name__ == "__main__":
    main()
