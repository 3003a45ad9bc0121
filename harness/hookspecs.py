"""The hooks harness calls: the only contract plugin authors get.

Two kinds, by lifecycle stage:

* Registration hooks, called once when plugins load. Each receives a registry and adds
  classes to it; the registry rejects duplicate names and wrong types with a message
  naming the plugin. Every implementation is called; return values are ignored.
* Lifecycle hooks, called during a run with one frozen dataclass payload each (fields may
  be added in later versions, never removed or changed in meaning). They observe; they
  cannot change the run. An exception in one is reported with the plugin's name and
  fails the run.

Implement them with `harness.hookimpl` in a module or object named by an entry point in
the `harness` group. Each hook's docstring says since which version it exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from harness.events import (
        AdaptFinished,
        AdaptStarted,
        CellFinished,
        CellStarted,
        RunFinished,
        RunStarted,
    )
    from harness.models.backend import Backend
    from harness.registry import Registry

PROJECT = "harness"
hookspec = pluggy.HookspecMarker(PROJECT)

# -- registration --------------------------------------------------------------------


@hookspec
def harness_register_strategies(registry: Registry) -> None:
    """Add `harness.Strategy` subclasses: `registry.add(MyStrategy)`.

    Names must be unique across all plugins. Since 0.1.0.
    """


@hookspec
def harness_register_metrics(registry: Registry) -> None:
    """Add `harness.Metric` subclasses: `registry.add(MyMetric)`. Since 0.1.0."""


@hookspec
def harness_register_suites(registry: Registry) -> None:
    """Add suite files: `registry.add(Path("my_suite/suite.yaml"))`.

    Only the YAML is read when listing; data is read when a run uses the suite.
    Since 0.1.0.
    """


@hookspec
def harness_register_reporters(registry: Registry) -> None:
    """Add `harness.Reporter` subclasses: `registry.add(MyReporter)`. Since 0.1.0."""


@hookspec
def harness_register_backends(registry: Registry[type[Backend]]) -> None:
    """Add `harness.Backend` subclasses: `registry.add(MyBackend)`.

    A backend loads models by name (`model: {backend: NAME, name: ..., ...settings}` in
    a run config) and declares its `Capabilities`; names must be unique across all
    plugins. The built-in `hf` (transformers, local weights) and `openai` (OpenAI-
    compatible servers) backends come in through this hook too. Since 0.2.0.
    """


# -- lifecycle -----------------------------------------------------------------------


@hookspec
def harness_run_start(event: RunStarted) -> None:
    """A run is about to start: its id, output folder, and plan of cells. Since 0.1.0."""


@hookspec
def harness_adapt_start(event: AdaptStarted) -> None:
    """A strategy is about to adapt the base model to some target suites. Since 0.1.0."""


@hookspec
def harness_adapt_end(event: AdaptFinished) -> None:
    """A strategy finished adapting (or failed to) for some target suites. Since 0.1.0."""


@hookspec
def harness_cell_start(event: CellStarted) -> None:
    """A cell (strategy × suite) is about to be evaluated. Since 0.1.0."""


@hookspec
def harness_cell_end(event: CellFinished) -> None:
    """A cell finished: its status, metrics or error. Since 0.1.0."""


@hookspec
def harness_run_end(event: RunFinished) -> None:
    """A run finished and its results are written. Since 0.1.0."""
