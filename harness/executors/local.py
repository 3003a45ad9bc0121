"""The default executor: every unit in this process, one after the other, in plan order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Console

from harness.executors.base import UnitContext, UnitResult, WorkUnit
from harness.executors.unit import run_unit


class LocalExecutor:
    """Runs units in the driver, sharing its base model (loaded once) and progress bars."""

    name = "local"
    loads_model_in_driver = True

    def execute(
        self,
        units: Sequence[WorkUnit],
        context: UnitContext,
        on_result: Callable[[WorkUnit, UnitResult], None],
        console: Console,
    ) -> None:
        #: rows found not to apply to their targets: their other seeds are not tried
        not_applicable: dict[str, str] = {}
        for unit in units:
            if unit.row.row in not_applicable:
                on_result(unit, UnitResult(not_applicable=not_applicable[unit.row.row]))
                continue
            result = run_unit(unit, context)
            if result.not_applicable is not None:
                not_applicable[unit.row.row] = result.not_applicable
            on_result(unit, result)
