"""A content-addressed cache for what is expensive to rebuild.

Adapted artifacts (adapters, fine-tuned models, retrieval indexes) and a cell's
predictions are stored under a key that hashes everything they depend on: base model
files, strategy names and settings, data, seed, and library versions. An entry appears
only by an atomic rename of a completely written folder, so an interrupted write leaves
nothing that a later run would trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, is_dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

CACHE_ENV = "HARNESS_CACHE_DIR"
VERSIONED_PACKAGES = ("harness", "torch", "transformers", "peft", "trl", "sentence-transformers")


def default_cache_dir() -> Path:
    """$HARNESS_CACHE_DIR, else the user's cache folder (e.g. ~/.cache/harness)."""
    from_env = os.environ.get(CACHE_ENV)
    if from_env:
        return Path(from_env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("harness"))


def library_versions() -> dict[str, str | None]:
    """Versions that change what a cached artifact means."""
    out: dict[str, str | None] = {}
    for package in VERSIONED_PACKAGES:
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def _canonical(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__qualname__, **_canonical(asdict(value))}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def content_key(*parts: Any) -> str:
    """SHA-256 of a canonical JSON rendering of `parts` (dataclasses, dicts, paths...)."""
    text = json.dumps(_canonical(list(parts)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class Cache:
    """Folders of cached entries, `ROOT/KIND/KEY/`.

    `enabled=False` (`--no-cache`) makes every lookup miss, so everything is rebuilt,
    and the fresh results replace the old entries.
    """

    def __init__(self, root: Path, *, enabled: bool = True) -> None:
        self.root = Path(root)
        self.enabled = enabled

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def get(self, kind: str, key: str) -> Path | None:
        """The entry's folder when it exists (and the cache is enabled), else None."""
        path = self.path(kind, key)
        return path if self.enabled and path.is_dir() else None

    @contextlib.contextmanager
    def put(self, kind: str, key: str) -> Iterator[Path]:
        """Yield an empty folder to write the entry into; publish it only on success."""
        parent = self.root / kind
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:16]}.", dir=parent))
        try:
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        final = self.path(kind, key)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
