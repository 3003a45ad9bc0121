"""Executors: where a run's work units run.

    plan -> work units (`WorkUnit`, plain values) -> executor -> `UnitResult`s -> assembly

`LocalExecutor` (the default) runs them one after another in this process; `RayExecutor`
runs each as a Ray task on a local or remote cluster (`executor: {name: ray}` in the run
config, `--executor ray`). Both call `run_unit`, so results are the same.
"""

from __future__ import annotations

from harness.config import ExecutorConfig
from harness.errors import InputError
from harness.executors.base import (
    CellRun,
    Executor,
    RunSettings,
    UnitContext,
    UnitResult,
    WorkUnit,
)
from harness.executors.local import LocalExecutor
from harness.executors.unit import run_unit

__all__ = [
    "CellRun",
    "Executor",
    "LocalExecutor",
    "RunSettings",
    "UnitContext",
    "UnitResult",
    "WorkUnit",
    "make_executor",
    "run_unit",
]


def make_executor(config: ExecutorConfig, source: str = "run config") -> Executor:
    """The executor the run config names; Ray without Ray installed is an input error."""
    if config.name == "ray":
        try:
            from harness.executors.ray import RayExecutor
        except ImportError as e:
            raise InputError.single(
                source,
                "executor.name",
                f"the Ray executor needs Ray, which is not installed ({e})",
                "pip install 'harness[ray]', or use executor: {name: local} (--executor local)",
            ) from None
        return RayExecutor(config)
    return LocalExecutor()
