"""Registries handed to the registration hooks; they remember who added what."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from harness.errors import PluginError

T = TypeVar("T")


@dataclass(frozen=True)
class Provenance:
    """Which plugin, from which distribution, provided something."""

    plugin: str
    package: str
    version: str


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    item: T
    provenance: Provenance


class Registry(Generic[T]):
    """Named items of one kind; `add` rejects duplicates and wrong types."""

    def __init__(self, kind: str, base: type | None) -> None:
        self.kind = kind
        self._base = base
        self._entries: dict[str, Entry[T]] = {}
        self._current: Provenance | None = None

    def _name_of(self, item: Any) -> str:
        if isinstance(item, Path):
            from harness.suites import read_suite_spec

            return read_suite_spec(item).name
        if not isinstance(item, type) or (self._base and not issubclass(item, self._base)):
            expected = self._base.__name__ if self._base else "a class"
            raise PluginError(
                f"plugin {self._who()} registered {item!r} as a {self.kind}; "
                f"expected a subclass of {expected}"
            )
        name = getattr(item, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(
                f"plugin {self._who()}: {self.kind} {item.__name__} has no `name` class attribute"
            )
        return name

    def _who(self) -> str:
        return repr(self._current.plugin) if self._current else "<direct>"

    def add(self, item: T) -> None:
        """Register `item` under its name."""
        name = self._name_of(item)
        if name in self._entries:
            other = self._entries[name].provenance
            raise PluginError(
                f"plugin {self._who()} registered {self.kind} {name!r}, already registered by "
                f"plugin {other.plugin!r} ({other.package} {other.version}); rename one or "
                f"block a plugin with --block-plugin"
            )
        provenance = self._current or Provenance("<direct>", "", "")
        self._entries[name] = Entry(name, item, provenance)

    def get(self, name: str) -> T | None:
        entry = self._entries.get(name)
        return entry.item if entry else None

    def __getitem__(self, name: str) -> T:
        return self._entries[name].item

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[n] for n in self.names()]

    def as_dict(self) -> dict[str, T]:
        return {n: e.item for n, e in self._entries.items()}
