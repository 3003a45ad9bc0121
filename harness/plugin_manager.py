"""Loading plugins and calling their hooks: the core's only door to pluggy.

Loading is deterministic: harness's own entry points (the built-ins) first, then every
other distribution's in the `harness` entry-point group, sorted by name; blocked names
are skipped; `check_pending` makes a misspelled hook fail loudly. Nothing is loaded at
import time: `load_plugins()` builds a fresh manager each call.
"""

from __future__ import annotations

import difflib
import functools
import os
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import pluggy

from harness import hookspecs
from harness.errors import PluginError
from harness.metrics import Metric
from harness.models.backend import Backend
from harness.registry import Provenance, Registry
from harness.reporting.base import Reporter
from harness.strategy import Strategy

ENTRY_POINT_GROUP = "harness"
BLOCK_ENV = "HARNESS_BLOCK_PLUGINS"


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not load or register, and why."""

    plugin: str
    package: str
    version: str
    error: str

    def __str__(self) -> str:
        source = f" ({self.package} {self.version})" if self.package else ""
        return f"plugin {self.plugin!r}{source} failed: {self.error}"


@dataclass
class Plugins:
    """The loaded plugins: what they registered, and the lifecycle hooks to call."""

    manager: pluggy.PluginManager
    strategies: Registry[type[Strategy]]
    metrics: Registry[type[Metric]]
    suites: Registry[Path]
    reporters: Registry[type[Reporter]]
    provenance: dict[str, Provenance]
    blocked: tuple[str, ...] = ()
    #: model backends by name (`hf`, `openai`, ...)
    backends: Registry[type[Backend]] = field(default_factory=lambda: Registry("backend", Backend))
    failures: list[PluginFailure] = field(default_factory=list)
    #: errors raised by lifecycle hooks during a run (reported, never fatal)
    hook_errors: list[PluginFailure] = field(default_factory=list)

    def raise_for_failures(self) -> None:
        """Refuse to go on with a plugin that failed to load, naming it and the way out."""
        if self.failures:
            lines = [str(f) for f in self.failures]
            names = ",".join(f.plugin for f in self.failures)
            lines.append(f"fix the plugin, or block it: --block-plugin {names}")
            raise PluginError("\n".join(lines))

    def notify(self, hook_name: str, event: Any) -> None:
        """Call lifecycle hook `hook_name` on every plugin; a raising plugin is recorded."""
        hook = getattr(self.manager.hook, hook_name)
        for impl in hook.get_hookimpls():
            try:
                impl.function(event=event)
            except Exception as e:
                self.hook_errors.append(self._failure(impl.plugin_name, f"{hook_name}: {e!r}"))

    def _failure(self, plugin: str, error: str) -> PluginFailure:
        p = self.provenance.get(plugin, Provenance(plugin, "", ""))
        return PluginFailure(plugin, p.package, p.version, error)


def _sorted_entry_points() -> list[EntryPoint]:
    eps = list(entry_points(group=ENTRY_POINT_GROUP))

    def key(ep: EntryPoint) -> tuple[int, str]:
        dist = ep.dist.name if ep.dist else ""
        return (0 if dist == "harness" else 1, ep.name)

    return sorted(eps, key=key)


def blocked_from_env() -> tuple[str, ...]:
    """Plugin names blocked through the HARNESS_BLOCK_PLUGINS environment variable."""
    return tuple(n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip())


def load_plugins(
    *,
    block: Iterable[str] = (),
    extra: Iterable[tuple[str, object]] = (),
    use_entry_points: bool = True,
) -> Plugins:
    """Load every plugin and collect what it registers.

    `block` names plugins (entry-point names) not to load; `extra` adds plugin objects
    directly, as (name, module-or-object) pairs, after the entry points.
    """
    blocked = tuple(dict.fromkeys([*block, *blocked_from_env()]))
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    provenance: dict[str, Provenance] = {}
    failures: list[PluginFailure] = []

    def fail(name: str, error: str) -> None:
        p = provenance.get(name, Provenance(name, "", ""))
        failures.append(PluginFailure(name, p.package, p.version, error))

    candidates: list[tuple[str, Callable[[], object], Provenance]] = []
    if use_entry_points:
        for ep in _sorted_entry_points():
            dist = ep.dist
            prov = Provenance(ep.name, dist.name if dist else "", dist.version if dist else "")
            candidates.append((ep.name, ep.load, prov))
    for name, obj in extra:
        candidates.append((name, functools.partial(_identity, obj), Provenance(name, "", "")))

    for name, load, prov in candidates:
        provenance[name] = prov
        if name in blocked:
            manager.set_blocked(name)
            continue
        if manager.has_plugin(name) or manager.is_blocked(name):
            fail(name, "another plugin already has this name")
            continue
        try:
            plugin = load()
            manager.register(plugin, name=name)
        except Exception as e:
            fail(name, f"could not load: {_short(e)}")
            continue
        for function in _unmarked_hooks(plugin):
            fail(
                name,
                f"function {function!r} is named like a hook but is not marked with "
                "@harness.hookimpl, so harness would never call it; add the decorator "
                "(or rename the function if it is not a hook)",
            )
    # what pluggy's check_pending does, but reporting every misspelled hook of every plugin
    hook_names = sorted(n for n in vars(hookspecs) if n.startswith("harness_"))
    for name in dir(manager.hook):
        caller = getattr(manager.hook, name)
        if name.startswith("_") or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if not impl.opts.get("optionalhook"):
                close = difflib.get_close_matches(name, hook_names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                fail(impl.plugin_name, f"implements unknown hook {name!r}{hint}")
                if manager.get_plugin(impl.plugin_name) is not None:
                    manager.unregister(name=impl.plugin_name)

    plugins = Plugins(
        manager=manager,
        strategies=Registry("strategy", Strategy),
        metrics=Registry("metric", Metric),
        suites=Registry("suite", None),
        reporters=Registry("reporter", Reporter),
        provenance=provenance,
        blocked=blocked,
        failures=failures,
    )
    for hook_name, registry in (
        ("harness_register_strategies", plugins.strategies),
        ("harness_register_metrics", plugins.metrics),
        ("harness_register_suites", plugins.suites),
        ("harness_register_reporters", plugins.reporters),
        ("harness_register_backends", plugins.backends),
    ):
        # called one plugin at a time so that each item is attributed to its plugin and
        # one broken plugin is reported by name without hiding the others
        for impl in getattr(manager.hook, hook_name).get_hookimpls():  # registration order
            registry._current = provenance.get(
                impl.plugin_name, Provenance(impl.plugin_name, "", "")
            )
            try:
                impl.function(registry=registry)
            except Exception as e:
                fail(impl.plugin_name, f"{hook_name}: {_short(e)}")
            finally:
                registry._current = None
    return plugins


def _unmarked_hooks(plugin: object) -> list[str]:
    """Functions of a plugin named `harness_*` that pluggy will not see as hooks."""
    marker = f"{hookspecs.PROJECT}_impl"  # the attribute `harness.hookimpl` sets
    names = []
    for attr in dir(plugin):
        if not attr.startswith("harness_"):
            continue
        value = getattr(plugin, attr, None)
        if callable(value) and not isinstance(value, type) and not hasattr(value, marker):
            names.append(attr)
    return names


def _identity(obj: object) -> object:
    return obj


def _short(e: BaseException) -> str:
    last = traceback.extract_tb(e.__traceback__)[-1:] if e.__traceback__ else []
    where = f" at {Path(last[0].filename).name}:{last[0].lineno}" if last else ""
    return f"{type(e).__name__}: {e}{where}"
