"""The run folder: user files are never deleted, one run per out folder, and every kind of
stop (error, SIGTERM, SIGKILL) leaves no staging behind. Real `harness run` processes on
the demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.run_folder import (
    MARKER,
    FolderLock,
    RunFolder,
    StagedDir,
    foreign_entries,
    remove_stale_scratch,
)
from tests.plugins.waiting import READY_ENV

REPO = Path(__file__).resolve().parents[1]
QUICK = ("--suites", "demo-tickets-intent", "--strategies", "zero-shot", "--max-test-examples", "3")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["HARNESS_CACHE_DIR"] = str(tmp_path / "harness-cache")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _harness(
    tmp_path: Path, *args: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "run", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd or tmp_path,
        env=_env(tmp_path, **env),
    )


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` with its bytes (None for folders), hidden ones included."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _assert_clean_refusal(result: subprocess.CompletedProcess[str], *names: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for name in names:
        assert name in result.stderr.replace("\n", "")


@pytest.fixture
def user_files(tmp_path: Path) -> Path:
    """A folder of the user's: a file, a hidden file and a subfolder."""
    folder = tmp_path / "work"
    (folder / "data").mkdir(parents=True)
    (folder / "notes.txt").write_text("my notes\n")
    (folder / ".env").write_text("SECRET=1\n")
    (folder / "data" / "table.csv").write_text("a,b\n1,2\n")
    return folder


# -- refused before any work -----------------------------------------------------------


@pytest.mark.parametrize("out", [".", "{cwd}", "..", "/"])
def test_out_current_folder_or_above_is_refused_and_untouched(
    tmp_path: Path, user_files: Path, out: str
) -> None:
    before = _snapshot(tmp_path)
    result = _harness(tmp_path, *QUICK, "--out", out.format(cwd=user_files), cwd=user_files)
    _assert_clean_refusal(result, "[out]")
    assert any(
        words in result.stderr
        for words in ("the current folder", "a parent of the current folder", "root")
    )
    assert _snapshot(tmp_path) == before


def test_user_folder_with_files_is_refused_and_untouched(tmp_path: Path, user_files: Path) -> None:
    before = _snapshot(tmp_path)
    result = _harness(tmp_path, *QUICK, "--out", str(user_files))
    _assert_clean_refusal(result, str(user_files), "did not write")
    assert _snapshot(tmp_path) == before


def test_out_in_config_is_checked_too(tmp_path: Path, user_files: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        f"suites: [demo-tickets-intent]\nstrategies: [zero-shot]\nout: {user_files}\n"
    )
    before = _snapshot(user_files)
    result = _harness(tmp_path, str(config))
    _assert_clean_refusal(result, str(user_files))
    assert _snapshot(user_files) == before


def test_out_that_is_a_file_exits_2(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("keep me\n")
    result = _harness(tmp_path, *QUICK, "--out", str(a_file))
    _assert_clean_refusal(result, str(a_file), "is a file")
    assert a_file.read_text() == "keep me\n"
    assert _hidden(tmp_path) == []


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder where no one may create anything."""
    if os.geteuid() == 0:
        # root writes through permission bits; /proc refuses new folders even to root
        yield Path("/proc")
        return
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def test_out_in_a_read_only_folder_exits_2(tmp_path: Path, read_only_folder: Path) -> None:
    out = read_only_folder / f"harness-test-{os.getpid()}" / "run"
    result = _harness(tmp_path, *QUICK, "--out", str(out))
    _assert_clean_refusal(result, str(out), "cannot be created")
    assert not out.parent.exists()


def test_cache_dir_that_is_a_file_exits_2(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("keep me\n")
    out = tmp_path / "run"
    result = _harness(tmp_path, *QUICK, "--out", str(out), "--cache-dir", str(a_file))
    _assert_clean_refusal(result, str(a_file), "[cache_dir]")
    assert a_file.read_text() == "keep me\n"
    assert not out.exists() and _hidden(tmp_path) == []


def test_cache_dir_from_environment_that_is_a_file_exits_2(tmp_path: Path) -> None:
    a_file = tmp_path / "cache-file"
    a_file.write_text("")
    result = _harness(tmp_path, *QUICK, "--out", "run", HARNESS_CACHE_DIR=str(a_file))
    _assert_clean_refusal(result, str(a_file), "[cache_dir]")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache-file"]


# -- replacing an earlier run ----------------------------------------------------------


@pytest.mark.slow
def test_an_earlier_run_folder_is_replaced_and_a_user_file_in_it_protects_it(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    first = _harness(tmp_path, *QUICK, "--out", str(out))
    assert first.returncode == 0, first.stderr
    first_id = json.loads((out / "results.json").read_text())["run_id"]
    assert "results.json" in json.loads((out / MARKER).read_text())["entries"]

    second = _harness(tmp_path, *QUICK, "--out", str(out))
    assert second.returncode == 0, second.stderr
    assert json.loads((out / "results.json").read_text())["run_id"] != first_id
    assert _hidden(tmp_path) == []  # nothing moved aside, no staging, no lock file

    (out / "my-notes.md").write_text("mine\n")
    before = _snapshot(out)
    third = _harness(tmp_path, *QUICK, "--out", str(out))
    _assert_clean_refusal(third, str(out), "my-notes.md")
    assert _snapshot(out) == before


def test_run_folders_are_recognised_by_marker_or_legacy_files(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    for name in ("config.yaml", "manifest.json"):
        (legacy / name).write_text("{}")
    (legacy / "results.json").write_text('{"schema_version": 1, "run_id": "x", "cells": []}')
    assert foreign_entries(legacy) == []
    (legacy / "results.json").write_text("[]")
    assert foreign_entries(legacy) is None

    marked = tmp_path / "marked"
    marked.mkdir()
    (marked / "custom-report.txt").write_text("from a reporter plugin")
    (marked / MARKER).write_text(json.dumps({"format": 1, "entries": ["custom-report.txt"]}))
    assert foreign_entries(marked) == []
    (marked / "user.txt").write_text("")
    assert foreign_entries(marked) == ["user.txt"]


# -- leftovers of dead processes -------------------------------------------------------


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_staging_is_removed_and_a_moved_aside_run_is_put_back(tmp_path: Path) -> None:
    dead = _dead_pid()
    out = tmp_path / "run"
    stale = tmp_path / f".run.staging-{dead}-0badc0de"
    (stale / "artifacts").mkdir(parents=True)
    aside = tmp_path / f".run.old-{dead}-0badc0de"
    aside.mkdir()
    (aside / MARKER).write_text(json.dumps({"format": 1, "entries": []}))
    live = tmp_path / f".other.staging-{os.getpid()}-0badc0de"
    live.mkdir()
    other_dead = tmp_path / f".other.staging-{dead}-0badc0de"
    other_dead.mkdir()

    folder = RunFolder.claim(out, tmp_path / "cache")
    folder.discard()

    assert not stale.exists() and not other_dead.exists()
    assert (out / MARKER).is_file()  # the run being replaced when its process died
    assert live.is_dir()  # a live process's staging is never touched
    assert _hidden(tmp_path) == [live.name]


def test_training_temp_folders_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f"harness-train-{_dead_pid()}-abc"
    (dead / "checkpoint-1").mkdir(parents=True)
    live = tmp_path / f"harness-train-{os.getpid()}-abc"
    live.mkdir()
    unrelated = tmp_path / "harness-train-abc"
    unrelated.mkdir()
    assert remove_stale_scratch(tmp_path) == [dead]
    assert not dead.exists() and live.is_dir() and unrelated.is_dir()


def test_staged_dir_replaces_by_moving_aside(tmp_path: Path) -> None:
    final = tmp_path / "baseline"
    final.mkdir()
    (final / "old.txt").write_text("old")
    staged = StagedDir(final)
    (staged.path / "new.txt").write_text("new")
    assert staged.commit() == final
    assert [p.name for p in final.iterdir()] == ["new.txt"]
    assert _hidden(tmp_path) == []


def test_lock_is_exclusive_and_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "run"
    lock = FolderLock.try_acquire(out)
    assert lock is not None
    assert FolderLock.try_acquire(out) is None  # another open file: flock keeps it out
    lock.release()
    again = FolderLock.try_acquire(out)
    assert again is not None
    again.release()
    assert _hidden(tmp_path) == []


# -- stops: SIGTERM, SIGKILL, a second run ---------------------------------------------


def _start_waiting_run(tmp_path: Path, out: Path) -> tuple[subprocess.Popen[str], Path]:
    """A real `harness run` stopped inside its adaptation, its staging folder written."""
    ready = tmp_path / "waiting.ready"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "--plugin",
            "tests.plugins.waiting",
            "run",
            *QUICK[:2],
            "--strategies",
            "waiting",
            "--max-test-examples",
            "3",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path, **{READY_ENV: str(ready)}),
    )
    deadline = time.monotonic() + 300  # a safety net for a hung run, not a timing check
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate()
            pytest.fail(f"the run never started adapting: {err}")
        time.sleep(0.1)
    staging = Path(ready.read_text()).parents[2]
    assert staging.parent == out.parent and staging.name.startswith(f".{out.name}.staging-")
    return process, staging


@pytest.mark.slow
def test_sigterm_removes_staging_and_exits_143(tmp_path: Path) -> None:
    out = tmp_path / "run"
    process, staging = _start_waiting_run(tmp_path, out)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 143, err
    assert "terminated: nothing was written" in err
    assert "Traceback" not in err
    assert not staging.exists() and not out.exists()
    assert _hidden(tmp_path) == []


@pytest.mark.slow
def test_sigkill_leftovers_are_removed_by_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    process, staging = _start_waiting_run(tmp_path, out)
    process.kill()
    process.communicate(timeout=300)
    assert staging.is_dir()  # SIGKILL leaves no chance to clean up
    live = tmp_path / f".run.staging-{os.getpid()}-0badc0de"  # as if another run's, alive
    live.mkdir()
    live.joinpath("keep").write_text("")

    result = _harness(tmp_path, *QUICK, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / "results.json").is_file()
    assert not staging.exists()
    assert _hidden(tmp_path) == [live.name]


@pytest.mark.slow
def test_a_second_run_on_the_same_out_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    process, staging = _start_waiting_run(tmp_path, out)
    try:
        second = _harness(tmp_path, *QUICK, "--out", str(out))
        _assert_clean_refusal(second, str(out), "another harness run is writing")
        assert staging.is_dir()  # the first run's staging is untouched
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=300)
    assert process.returncode == 143
    assert _hidden(tmp_path) == []
