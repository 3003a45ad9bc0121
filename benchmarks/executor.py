"""Local executor against Ray on the demo matrix: wall time, ratio, and where it goes.

Runs the built-in demo (`harness run` with no config: every built-in strategy on the
demo lab) twice, each from an empty cache: with the local executor (one process, torch
with --threads threads) and with Ray on a local cluster (--workers workers, one CPU and
one torch thread per unit). Prints both wall times, their ratio, and each unit's share
of the summed unit time (the figures docs/scaling.md scales to a large run).

    python -m benchmarks.executor [--threads 2] [--workers 2] [--work-dir DIR]

The two runs must agree on every cell's figures up to float summation order (the thread
counts differ); the script says when they do not.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from harness.config import ExecutorConfig, RunConfig, load_config
from harness.demo import DEMO_CONFIG
from harness.executors import Executor, UnitContext, UnitResult, WorkUnit, make_executor
from harness.plugin_manager import load_plugins
from harness.runner import Runner, RunOutcome, make_plan


class TimedExecutor:
    """An executor that records each unit's wall seconds as its result comes back."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.name = inner.name
        self.loads_model_in_driver = inner.loads_model_in_driver
        self.seconds: dict[str, float] = {}

    def execute(
        self,
        units: Sequence[WorkUnit],
        context: UnitContext,
        on_result: Callable[[WorkUnit, UnitResult], None],
        console: Console,
    ) -> None:
        def record(unit: WorkUnit, result: UnitResult) -> None:
            self.seconds[unit.label] = result.seconds
            on_result(unit, result)

        self.inner.execute(units, context, record, console)


def run_demo(
    work: Path, name: str, executor: ExecutorConfig
) -> tuple[float, RunOutcome, TimedExecutor]:
    config = load_config(DEMO_CONFIG)
    config = RunConfig.model_validate(
        config.model_dump()
        | {
            "out": str(work / name),
            "cache_dir": str(work / f"cache-{name}"),
            "reporters": ["markdown"],
            "executor": executor,
        }
    )
    plugins = load_plugins()
    timed = TimedExecutor(make_executor(config.executor))
    start = time.perf_counter()
    outcome = Runner(make_plan(config, plugins), plugins, executor=timed).run()
    return time.perf_counter() - start, outcome, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the local run")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers (CPUs)")
    parser.add_argument("--work-dir", type=Path, help="default: a temporary folder")
    args = parser.parse_args()
    import ray
    import torch

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="harness-bench-executor-"))
    torch.set_num_threads(args.threads)
    local_s, local, local_units = run_demo(work, "local", ExecutorConfig(name="local"))
    ray.init(
        num_cpus=args.workers,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )
    try:
        ray_s, on_ray, ray_units = run_demo(
            work, "ray", ExecutorConfig(name="ray", cpus_per_unit=1)
        )
    finally:
        ray.shutdown()

    print(f"\nlocal ({args.threads} torch threads): {local_s:7.1f} s")
    print(f"ray ({args.workers} workers x 1 thread): {ray_s:7.1f} s")
    print(f"ratio local / ray: {local_s / ray_s:.2f}")
    total_local = sum(local_units.seconds.values())
    total_ray = sum(ray_units.seconds.values())
    print(f"\n{'unit':<42} {'local s':>8} {'share':>6} {'ray s':>8} {'share':>6}")
    for label in sorted(local_units.seconds, key=local_units.seconds.__getitem__, reverse=True):
        a, b = local_units.seconds[label], ray_units.seconds.get(label, 0.0)
        print(f"{label:<42} {a:8.1f} {a / total_local:6.1%} {b:8.1f} {b / total_ray:6.1%}")
    print(f"{'sum of units':<42} {total_local:8.1f} {'':>6} {total_ray:8.1f}")

    differ = [
        (a.strategy, a.suite)
        for a, b in zip(local.results.cells, on_ray.results.cells, strict=True)
        if a.status != b.status
        or any(
            abs(a.metrics[m].value - b.metrics[m].value) > 1e-6 for m in a.metrics if m in b.metrics
        )
    ]
    print(f"\ncells that differ: {differ or 'none'}; run folders under {work}")


if __name__ == "__main__":
    main()
