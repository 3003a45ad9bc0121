"""The run folder: where a run may write, one run at a time, and nothing left behind.

A run is written into a hidden staging folder beside its out folder and renamed into
place only when complete. Before any work starts, the out folder and the cache folder
are checked: harness never deletes or overwrites what it did not write. An OS lock on
`.<name>.harness-lock` beside the out folder keeps a second run off the same out folder; the OS
drops it with the process, so a killed run never blocks the next one.

Hidden folders and temp folders carry their owner's pid in their name, so that the
leftovers of a killed run (SIGKILL leaves no chance to clean up) are recognised and
removed by the next run, never those of a live one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

from harness.errors import InputError

#: the file harness writes in every run folder: what makes a folder recognisably a run's
MARKER = ".harness-run"
#: what a run folder of a harness older than the marker always holds
_LEGACY_RUN_FILES = ("results.json", "manifest.json", "config.yaml")
#: top-level names harness itself writes in a run folder (a later `harness report` may add)
_RUN_ENTRIES = frozenset(
    {
        MARKER,
        *_LEGACY_RUN_FILES,
        "predictions.jsonl",
        "report.md",
        "report.html",
        "plots",
        "artifacts",
    }
)


def artifacts_dir(run_dir: Path, row: str) -> Path:
    """The folder of a row's artifacts in a run folder: `artifacts/<row>`, the row name
    made one plain folder name (a sweep value such as a path may hold '/' or '..')."""
    name = re.sub(r"[/\\\x00-\x1f]", "_", row)
    return Path(run_dir) / "artifacts" / ("_" if name in ("", ".", "..") else name)


#: prefix of the temp folders that training checkpoints into (in the system temp folder)
TRAIN_SCRATCH_PREFIX = "harness-train-"
_HIDDEN = re.compile(r"^\.(?P<name>.+)\.(?P<kind>staging|old)-(?P<pid>\d+)-[0-9a-f]+$")
_SCRATCH = re.compile(rf"^{re.escape(TRAIN_SCRATCH_PREFIX)}(?P<pid>\d+)-")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that a run cleans up exactly as on Ctrl-C."""


# -- staging ---------------------------------------------------------------------------


class StagedDir:
    """A folder written in a hidden sibling and renamed into place when complete.

    An interrupted or failed write never leaves a half-written folder that looks
    finished. Replacing an existing folder moves it aside first, so the old one is
    removed only once the new one is in place.
    """

    def __init__(self, final: Path) -> None:
        self.final = Path(final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.path = _hidden_sibling(self.final, "staging")
        self.path.mkdir()

    def commit(self) -> Path:
        """Put the staged folder in place of the final one; return the final path."""
        aside = _hidden_sibling(self.final, "old") if self.final.exists() else None
        if aside is not None:
            os.replace(self.final, aside)
        os.replace(self.path, self.final)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _hidden_sibling(final: Path, kind: str) -> Path:
    """`.<name>.<kind>-<pid>-<random>` beside `final`: the pid tells whether it is stale."""
    return final.parent / f".{final.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


class RunFolder(StagedDir):
    """A run's staged folder, claimed with `claim()`: checked, locked, cleaned around.

    `commit()` writes the marker and puts the run in place; `discard()` removes the
    staging. Either releases the lock and removes the out folder's parents that the
    claim created, when they are still empty.
    """

    def __init__(self, final: Path, lock: FolderLock, created: list[Path]) -> None:
        super().__init__(final)
        self._lock = lock
        self._created = created

    @classmethod
    def claim(cls, out: Path, cache_dir: Path | None = None) -> RunFolder:
        """Check `out` (and `cache_dir`), lock it, clean leftovers, and stage the run.

        Raises `InputError` for an out folder harness may not write, or one that
        another run is writing, and for an unusable cache folder; then nothing is written.
        """
        out = Path(out)
        check_out_dir(out)
        created = _make_dirs(out.parent, out)
        try:
            lock = FolderLock.acquire(out)
        except BaseException:
            _remove_empty(created)
            raise
        try:
            check_out_dir(out)  # again: the folder may have changed before the lock was ours
            if cache_dir is not None:
                check_cache_dir(cache_dir, out)
            remove_stale(out.parent, held=lock)
            remove_stale_scratch()
            return cls(out, lock, created)
        except BaseException:
            lock.release()
            _remove_empty(created)
            raise

    def commit(self) -> Path:
        check_out_dir(self.final)  # again: the user may have put files there meanwhile
        entries = sorted(p.name for p in self.path.iterdir())
        (self.path / MARKER).write_text(
            json.dumps({"format": 1, "entries": entries}, indent=2) + "\n", encoding="utf-8"
        )
        try:
            return super().commit()
        finally:
            self._lock.release()

    def discard(self) -> None:
        try:
            super().discard()
        finally:
            self._lock.release()
            _remove_empty(self._created)


# -- checks ----------------------------------------------------------------------------


def check_out_dir(out: Path) -> None:
    """Refuse an out folder that harness may not replace; `InputError` says why."""
    out = Path(out)
    where = str(out)
    if out.is_symlink():
        _refuse(where, "is a symbolic link", "pass the folder it points to, or a new folder")
    resolved = out.resolve()
    cwd, home = Path.cwd().resolve(), Path.home().resolve()
    protected = {cwd, *cwd.parents, home, *home.parents, Path(resolved.anchor)}
    if resolved in protected or os.path.ismount(resolved):
        _refuse(
            where,
            f"is {_describe_protected(resolved, cwd, home)}; a run replaces its out folder",
            "pass a new folder for the run, e.g. --out reports/my-run",
        )
    for parent in resolved.parents:
        if parent.exists() and not parent.is_dir():
            _refuse(where, f"{parent} is a file, not a folder", "pass a path inside a folder")
    if out.exists() and not out.is_dir():
        _refuse(where, "is a file, not a folder", "pass a folder path that is not a file")
    if out.is_dir():
        foreign = foreign_entries(out)
        if foreign is None:
            _refuse(
                where,
                "is a folder with files that harness did not write (not a harness run folder)",
                "pass a new or empty folder; harness replaces only its own run folders",
            )
        elif foreign:
            _refuse(
                where,
                "is a harness run folder, but also holds files harness did not write: "
                + ", ".join(foreign),
                "move those files out of it, or pass another folder",
            )


def foreign_entries(folder: Path) -> list[str] | None:
    """What in `folder` harness did not write: None when it is not a harness run folder.

    A run folder holds the marker listing its entries (or, from a harness older than
    the marker, results.json, manifest.json and config.yaml); an empty folder holds
    nothing foreign.
    """
    try:
        names = sorted(p.name for p in folder.iterdir())
    except OSError as e:
        _refuse(str(folder), f"cannot be read: {e.strerror}", "pass a folder you can read")
    if not names:
        return []
    known = set(_RUN_ENTRIES)
    marker = folder / MARKER
    if marker.is_file():
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
            known.update(str(e) for e in data["entries"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
    elif not _is_legacy_run(folder):
        return None
    return [name for name in names if name not in known]


def _is_legacy_run(folder: Path) -> bool:
    if not all((folder / name).is_file() for name in _LEGACY_RUN_FILES):
        return False
    try:
        data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"schema_version", "run_id", "cells"} <= data.keys()


def check_cache_dir(cache_dir: Path, out: Path | None = None) -> None:
    """Refuse a cache folder that is a file, cannot be written, or overlaps the out folder."""
    where = str(cache_dir)
    fix = "pass a writable folder with --cache-dir, cache_dir: or $HARNESS_CACHE_DIR"
    cache_dir = Path(cache_dir)
    if cache_dir.exists() and not cache_dir.is_dir():
        _refuse(where, "the cache folder is a file, not a folder", fix, field="cache_dir")
    if out is not None:
        a, b = cache_dir.resolve(), Path(out).resolve()
        if a == b or a in b.parents or b in a.parents:
            _refuse(
                where,
                f"the cache folder and the out folder {out} contain one another",
                "keep the cache and the run folders apart",
                field="cache_dir",
            )
    # the folder, or the nearest one that exists: the cache is created only when written
    existing = next(p for p in (cache_dir, *cache_dir.absolute().parents) if p.exists())
    if not existing.is_dir():
        _refuse(where, f"{existing} is a file, not a folder", fix, field="cache_dir")
    try:
        # a real write: permission bits say nothing for root or read-only file systems
        fd, probe = tempfile.mkstemp(prefix=".harness-write-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        _refuse(where, f"the cache folder cannot be written: {e.strerror}", fix, field="cache_dir")


def _refuse(where: str, message: str, fix: str, field: str = "out") -> NoReturn:
    raise InputError.single(where, field, message, fix)


def _describe_protected(path: Path, cwd: Path, home: Path) -> str:
    if path == Path(path.anchor):
        return "the file system's root"
    if path == cwd:
        return "the current folder"
    if path in cwd.parents:
        return "a parent of the current folder"
    if path == home:
        return "the home folder"
    if path in home.parents:
        return "a parent of the home folder"
    return "a mount point"


def _make_dirs(folder: Path, out: Path) -> list[Path]:
    """Create `folder` and its missing parents; return those created, deepest first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        _remove_empty(missing)
        _refuse(
            str(out),
            f"its folder cannot be created: {e.strerror}",
            "pass an out folder in a place you can write",
        )
    return missing


def _remove_empty(folders: Iterable[Path]) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


# -- lock ------------------------------------------------------------------------------


class FolderLock:
    """An exclusive OS lock on `.<name>.harness-lock` beside a folder, held by one process.

    The lock file is removed on release; the lock is taken on an open file that is
    checked to still be the one at the path, so removal never lets two runs in.
    """

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def path_for(cls, folder: Path) -> Path:
        return folder.parent / f".{folder.name}.harness-lock"

    @classmethod
    def try_acquire(cls, folder: Path) -> FolderLock | None:
        """The lock, or None when another process holds it."""
        try:
            import fcntl
        except ImportError:  # no flock (Windows): runs are not kept apart
            return cls(cls.path_for(folder), None)
        path = cls.path_for(folder)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    return None
                raise
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return cls(path, fd)
            os.close(fd)  # the holder removed it as we opened it: take the new one

    @classmethod
    def acquire(cls, folder: Path) -> FolderLock:
        """The lock, or an `InputError` naming the folder when another run writes it."""
        try:
            lock = cls.try_acquire(folder)
        except OSError as e:
            _refuse(
                str(folder),
                f"cannot write beside it ({cls.path_for(folder).parent}): {e.strerror}",
                "pass an out folder in a place you can write",
            )
        if lock is None:
            _refuse(
                str(folder),
                "another harness run is writing this folder now",
                "wait for it to finish, or pass another --out",
            )
        return lock

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # while still locked, so that no one else locks this file
        os.close(self._fd)
        self._fd = None


# -- leftovers of dead runs ------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (a process of another user counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(parent: Path, held: FolderLock | None = None) -> list[Path]:
    """Remove hidden staging folders in `parent` left by runs that were killed.

    A folder counts as stale only when its owner's pid is gone and no run holds the
    lock of its out folder. A run folder moved aside while being replaced is put back
    when the replacement never arrived. Returns what was removed or put back.
    """
    cleaned: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return cleaned
    for entry in entries:
        match = _HIDDEN.match(entry.name)
        if match is None or pid_alive(int(match["pid"])) or not entry.is_dir():
            continue
        final = parent / match["name"]
        mine = held is not None and held.path == FolderLock.path_for(final)
        try:
            lock = None if mine else FolderLock.try_acquire(final)
        except OSError:
            continue
        if not mine and lock is None:
            continue
        try:
            if match["kind"] == "old" and not final.exists():
                os.replace(entry, final)
            else:
                shutil.rmtree(entry, ignore_errors=True)
            cleaned.append(entry)
        finally:
            if lock is not None:
                lock.release()
    return cleaned


def train_scratch_prefix() -> str:
    """The prefix of a training temp folder: it names this process, for `remove_stale_scratch`."""
    return f"{TRAIN_SCRATCH_PREFIX}{os.getpid()}-"


def remove_stale_scratch(temp_dir: Path | None = None) -> list[Path]:
    """Remove training temp folders of processes that are gone (killed while training)."""
    temp_dir = Path(temp_dir or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(temp_dir.iterdir())
    except OSError:
        return removed
    uid = os.getuid() if hasattr(os, "getuid") else None
    for entry in entries:
        match = _SCRATCH.match(entry.name)
        if match is None or pid_alive(int(match["pid"])):
            continue
        try:
            if not entry.is_dir() or (uid is not None and entry.stat().st_uid != uid):
                continue
        except OSError:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed
