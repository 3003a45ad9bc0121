"""Registries handed to the registration hooks; they remember who added what."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
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
        self._identities: dict[type, dict[str, str]] = {}

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

    def identity(self, item: type) -> dict[str, str]:
        """`code_identity` of a registered class (or of an unregistered one), computed once."""
        if item not in self._identities:
            entry = self._entries.get(getattr(item, "name", ""))
            provenance = entry.provenance if entry and entry.item is item else None
            self._identities[item] = code_identity(item, provenance or Provenance("", "", ""))
        return self._identities[item]


# -- code identity, for cache keys ---------------------------------------------------


def code_identity(item: type, provenance: Provenance) -> dict[str, str]:
    """What identifies the code behind `item`, so that changed code misses the cache.

    The distribution's name and version, plus a SHA-256 of the source where a version
    says nothing: a module loaded from a file outside any distribution (`--plugin`) is
    hashed by its file; an editable install (a development checkout) by every .py file
    of its packages, since its strategies call into the rest of it.
    """
    out = {"class": f"{item.__module__}.{item.__qualname__}"}
    if provenance.package:
        out["package"], out["version"] = provenance.package, provenance.version
        if _is_editable(provenance.package):
            out["source"] = _digest(_distribution_sources(provenance.package, item))
    else:
        out["source"] = _digest(_module_file(item))
    return out


def _is_editable(package: str) -> bool:
    try:
        text = distribution(package).read_text("direct_url.json")
        return bool(text and json.loads(text).get("dir_info", {}).get("editable"))
    except (PackageNotFoundError, ValueError, AttributeError):
        return False


def _module_file(item: type) -> list[tuple[str, bytes]]:
    module = sys.modules.get(item.__module__)
    path = getattr(module, "__file__", None)
    if path and Path(path).is_file():
        return [(Path(path).name, Path(path).read_bytes())]
    try:  # defined where no file says what it is (an interactive session)
        return [(item.__qualname__, inspect.getsource(item).encode())]
    except (OSError, TypeError):
        return [(item.__qualname__, b"")]


def _distribution_sources(package: str, item: type) -> list[tuple[str, bytes]]:
    """The .py files of the top-level packages a distribution's entry points import."""
    tops = {ep.value.split(":")[0].split(".")[0] for ep in distribution(package).entry_points}
    tops.add(item.__module__.split(".")[0])
    files: list[tuple[str, bytes]] = []
    for top in sorted(tops):
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue
        if spec.submodule_search_locations:
            for location in spec.submodule_search_locations:
                root = Path(location)
                for path in sorted(root.rglob("*.py")):
                    files.append((f"{top}/{path.relative_to(root).as_posix()}", path.read_bytes()))
        elif spec.origin and Path(spec.origin).is_file():
            files.append((top, Path(spec.origin).read_bytes()))
    return files


def _digest(files: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()
