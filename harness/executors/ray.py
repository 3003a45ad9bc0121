"""The Ray executor: each work unit is a Ray task, on a local or remote cluster.

Units are submitted longest first (training on the most suites first, prompting last),
each asking for the resources of its kind; a task whose worker process dies is retried up to
`max_retries` times, and a unit that still fails fails its own cells only. The driver
replays each unit's lifecycle events and cache notes when its result arrives, shows
progress per unit, and on Ctrl-C cancels every task still running.

Workers read and write the run's cache folder (`cache_root`, the same path on every
node: a shared filesystem on a multi-node cluster). The driver also stores each
computed cell it receives that its own cache lacks, so a later run on the driver
reuses it even without a shared filesystem.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import ray
from rich.console import Console
from rich.markup import escape

from harness.backends import ResolvedModel
from harness.cache import Cache, content_key
from harness.config import ExecutorConfig
from harness.executors.base import UnitContext, UnitResult, WorkUnit
from harness.executors.unit import run_unit, store_cell, warm_up
from harness.models.base import LanguageModel

#: GPUs a prompting unit asks for when the cluster has GPUs and none are configured
PROMPTING_GPU_SHARE = 0.25
#: seconds between checks for finished tasks (a Ctrl-C is handled at the next check)
_POLL_SECONDS = 0.5
#: how long Ctrl-C waits for cancelled tasks to stop before the run folder is removed
_CANCEL_WAIT_SECONDS = 30.0


class RayExecutor:
    """Runs units as Ray tasks; see the module docstring."""

    name = "ray"
    loads_model_in_driver = False

    def __init__(self, config: ExecutorConfig) -> None:
        self.config = config

    def execute(
        self,
        units: Sequence[WorkUnit],
        context: UnitContext,
        on_result: Callable[[WorkUnit, UnitResult], None],
        console: Console,
    ) -> None:
        # fully cached units need no model: they are read here, in plan order
        for unit in units:
            if not unit.to_compute:
                on_result(unit, run_unit(unit, context))
        # longest first: training on most suites (multi-task with replay), then per-target
        # training, then prompting; the short units fill the gaps at the end
        remote = sorted((u for u in units if u.to_compute), key=lambda u: -u.training_suites)
        if not remote:
            return
        started_here = self._connect()
        try:
            self._run_remote(remote, context, on_result, console)
        finally:
            if started_here:
                ray.shutdown()

    def _connect(self) -> bool:
        """Join the configured cluster, or start a local one; True when started here."""
        if ray.is_initialized():
            return False
        # a local cluster listens on loopback only; a configured address is joined as is
        ray.init(
            address=self.config.address,
            _node_ip_address="127.0.0.1" if self.config.address is None else None,
            include_dashboard=False,
            # workers' output would tear through the progress display; errors come back
            # in the units' results
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
        return True

    def resources(self, unit: WorkUnit, cluster_gpus: float) -> dict[str, Any]:
        """The task options of one unit: its CPUs, GPUs and retries."""
        gpus = self.config.gpus_per_unit
        if gpus is None:
            gpus = (1.0 if unit.trains else PROMPTING_GPU_SHARE) if cluster_gpus > 0 else 0.0
        return {
            "num_cpus": self.config.cpus_per_unit,
            "num_gpus": gpus,
            "max_retries": self.config.max_retries,
            "name": f"harness: {unit.label}",
        }

    def _run_remote(
        self,
        units: list[WorkUnit],
        context: UnitContext,
        on_result: Callable[[WorkUnit, UnitResult], None],
        console: Console,
    ) -> None:
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
        threads = max(1, int(self.config.cpus_per_unit))
        pending: dict[Any, WorkUnit] = {
            _remote_unit.options(**self.resources(unit, cluster_gpus)).remote(unit, threads): unit
            for unit in units
        }
        if context.progress is not None:
            # units at once: the cluster's CPUs (or GPUs) over what each unit asks for
            per_unit = max(self.config.cpus_per_unit, 1e-9)
            slots = float(ray.cluster_resources().get("CPU", 1)) / per_unit
            if self.config.gpus_per_unit and cluster_gpus:
                slots = min(slots, cluster_gpus / self.config.gpus_per_unit)
            context.progress.parallel = max(1, int(slots))
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_SECONDS)
                for ref in ready:
                    unit = pending.pop(ref)
                    result = self._collect(ref, unit)
                    self._replay(unit, result, context, console)
                    on_result(unit, result)
        except BaseException:
            # Ctrl-C, or an error in the driver: nothing may go on writing for this run
            for ref in pending:
                ray.cancel(ref, force=True)
            # cancelling is asynchronous: wait until the tasks have stopped, so that none
            # writes into the run folder after the driver removed its staging
            if pending:
                ray.wait(list(pending), num_returns=len(pending), timeout=_CANCEL_WAIT_SECONDS)
            raise

    def _collect(self, ref: Any, unit: WorkUnit) -> UnitResult:
        try:
            result: UnitResult = ray.get(ref)
        except ray.exceptions.RayError as e:
            first_line = str(e).strip().splitlines()[0] if str(e).strip() else ""
            tries = self.config.max_retries + 1
            return UnitResult.failed(
                unit,
                f"{type(e).__name__} while running {unit.label!r} on Ray "
                f"({tries} attempt{'s' if tries > 1 else ''}): {first_line}",
            )
        return result

    def _replay(
        self,
        unit: WorkUnit,
        result: UnitResult,
        context: UnitContext,
        console: Console,
    ) -> None:
        """The unit's hooks and cache notes in the driver, and its cells in the driver's
        cache when the worker's cache is not the driver's."""
        for hook, event in result.events:
            context.notify(hook, event)
        for note in result.cache_notes:
            console.print(f"[yellow]{escape(str(note))}[/yellow]", highlight=False)
        for suite, run in result.runs.items():
            key = unit.cell_keys.get(suite)
            if (
                key is not None
                and run.status == "ok"
                and not run.metric_errors
                and not context.cache.path("predictions", key).is_dir()
            ):
                store_cell(context.cache, key, suite, run)


# -- in the worker ---------------------------------------------------------------------

#: the models this worker process loaded, by their identity (backend, settings, code)
_MODELS: dict[str, LanguageModel] = {}


def _worker_model(model: ResolvedModel) -> LanguageModel:
    """A model loaded through its backend once per worker process (as the driver loads it)."""
    key = content_key("model", model.identity())
    if key not in _MODELS:
        _MODELS.clear()  # one model per worker process at a time
        loaded = model.load()
        warm_up(loaded)
        _MODELS[key] = loaded
    return _MODELS[key]


def _run_on_worker(unit: WorkUnit, threads: int) -> UnitResult:
    """One unit in a Ray worker: hooks are recorded for the driver to replay."""
    import torch

    torch.set_num_threads(threads)
    events: list[tuple[str, Any]] = []
    context = UnitContext(
        base_model=lambda: _worker_model(unit.run.base),
        row_model=lambda row: _worker_model(row.model or unit.run.base),
        cache=Cache(unit.run.cache_root, enabled=unit.run.cache_enabled),
        notify=lambda hook, event: events.append((hook, event)),
    )
    result = run_unit(unit, context)
    result.events = events
    return result


_remote_unit = ray.remote(_run_on_worker)
