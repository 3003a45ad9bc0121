"""A content-addressed cache for what is expensive to rebuild.

Adapted artifacts (adapters, fine-tuned models, retrieval indexes) and a cell's
predictions are stored under a key that hashes everything they depend on: base model
files, strategy names and settings, the plugin code that produced them, data, seed, and
library versions. An entry appears only by an atomic rename of a completely written
folder, so an interrupted write leaves nothing that a later run would trust. Each entry
carries a manifest of its files' sizes and SHA-256 sums, checked on every read: an entry
that was cut short, altered, or written without a manifest is discarded and rebuilt, and
the discard is reported as a `CacheNote`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, is_dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

CACHE_ENV = "HARNESS_CACHE_DIR"
VERSIONED_PACKAGES = ("harness", "torch", "transformers", "peft", "trl", "sentence-transformers")
#: the file inside every entry that lists its other files with their size and SHA-256
MANIFEST = ".harness-manifest.json"
MANIFEST_FORMAT = 1
_CHUNK = 1 << 20


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


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks (weights can be gigabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _entry_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).as_posix() != MANIFEST
    )


def write_manifest(folder: Path) -> None:
    """Record the size and SHA-256 of every file of `folder` in its manifest."""
    files = {
        p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": file_sha256(p)}
        for p in _entry_files(folder)
    }
    text = json.dumps({"format": MANIFEST_FORMAT, "files": files}, indent=1, sort_keys=True)
    (folder / MANIFEST).write_text(text, encoding="utf-8")


def verify_entry(folder: Path) -> str | None:
    """Why `folder` does not match its manifest, or None when every file does."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest.get("format") != MANIFEST_FORMAT or not isinstance(files, dict):
            return "its checksum manifest has an unknown format"
        expected = {str(name): (int(v["size"]), str(v["sha256"])) for name, v in files.items()}
    except FileNotFoundError:
        return "it has no checksum manifest (written by an older harness, or tampered with)"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "its checksum manifest is unreadable"
    present = {p.relative_to(folder).as_posix(): p for p in _entry_files(folder)}
    if extra := sorted(set(present) - set(expected)):
        return f"{extra[0]} is not in its checksum manifest"
    # sizes first: a cut-short file is found without reading anything
    for name, (size, _) in expected.items():
        if name not in present:
            return f"{name} is missing"
        if (actual := present[name].stat().st_size) != size:
            return f"{name} has {actual} bytes, {size} expected"
    for name, (_, sha256) in expected.items():
        if file_sha256(present[name]) != sha256:
            return f"{name} differs from its checksum"
    return None


@dataclass(frozen=True)
class CacheNote:
    """A cache entry that was discarded on reading, and why."""

    kind: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"cache: discarded {self.kind} entry {self.key[:12]}: {self.reason}; recomputing"


class Cache:
    """Folders of cached entries, `ROOT/KIND/KEY/`.

    `enabled=False` (`--no-cache`) makes every lookup miss, so everything is rebuilt,
    and the fresh results replace the old entries. Entries that fail verification are
    removed; each removal is kept in `notes` and passed to `on_note`.
    """

    def __init__(
        self,
        root: Path,
        *,
        enabled: bool = True,
        on_note: Callable[[CacheNote], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.enabled = enabled
        self.on_note = on_note
        self.notes: list[CacheNote] = []

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def get(self, kind: str, key: str) -> Path | None:
        """The entry's folder when it exists, is verified and the cache is enabled, else None.

        Every file is checked against the entry's manifest (size, then SHA-256); an entry
        that fails is discarded, so the caller rebuilds it as on any miss.
        """
        path = self.path(kind, key)
        if not self.enabled or not path.is_dir():
            return None
        if (problem := verify_entry(path)) is not None:
            self.discard(kind, key, problem)
            return None
        return path

    def discard(self, kind: str, key: str, reason: str) -> None:
        """Remove an entry that must not be used, and note why."""
        path = self.path(kind, key)
        # moved aside first: a concurrent reader sees the entry whole or not at all
        aside = path.with_name(f".discarded-{key[:16]}.{os.getpid()}.{os.urandom(4).hex()}")
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, aside)
            shutil.rmtree(aside, ignore_errors=True)
        note = CacheNote(kind, key, reason)
        self.notes.append(note)
        if self.on_note is not None:
            self.on_note(note)

    @contextlib.contextmanager
    def put(self, kind: str, key: str) -> Iterator[Path]:
        """Yield an empty folder to write the entry into; publish it only on success.

        Publishers of the same key may race (runs sharing a cache, Ray workers): the same
        key means the same inputs, so when a whole entry is already in place (another
        publisher's) it stands and this one is dropped, and a reader never sees an entry
        removed under it. With the cache disabled (`--no-cache`) the new entry replaces
        the old one: moved aside, put in place, then removed.
        """
        parent = self.root / kind
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:16]}.", dir=parent))
        try:
            yield staging
            write_manifest(staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        final = self.path(kind, key)
        if self.enabled and final.is_dir() and verify_entry(final) is None:
            shutil.rmtree(staging, ignore_errors=True)
            return
        aside = final.with_name(f".replaced-{key[:16]}.{os.getpid()}.{os.urandom(4).hex()}")
        with contextlib.suppress(FileNotFoundError):
            os.replace(final, aside)
        try:
            os.replace(staging, final)
        except OSError:  # another publisher's entry went in meanwhile: it stands
            shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(aside, ignore_errors=True)
