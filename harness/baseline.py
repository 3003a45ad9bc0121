"""Baselines: the stored figures that `harness check` gates a new run against.

A baseline is a folder holding a run's `results.json`, `predictions.jsonl` and
`manifest.json` (default `baselines/NAME/` in the current folder), written by
`harness baseline save RUN_DIR`. Anything that holds a `results.json` can serve as one:
a baseline folder, a run folder, or a bare `results.json` kept in the repository. Without
`predictions.jsonl` the gate cannot pair examples and falls back to a CI-based rule.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from harness import __version__
from harness.errors import InputError
from harness.results import (
    SCHEMA_VERSION,
    PredictionRecord,
    RunResults,
    StagedDir,
    read_predictions,
)

BASELINE_FILES = ("results.json", "predictions.jsonl", "manifest.json")
DEFAULT_BASELINE_ROOT = Path("baselines")
DEFAULT_BASELINE_NAME = "default"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass
class StoredRun:
    """A finished run's figures, read from a run folder, a baseline folder or a results.json.

    `predictions` (per strategy × suite) are read from predictions.jsonl on first use.
    """

    source: Path
    results_path: Path
    results: RunResults
    predictions_path: Path | None
    _predictions: dict[tuple[str, str], list[PredictionRecord]] | None = field(
        default=None, repr=False
    )

    @property
    def folder(self) -> Path:
        """The folder holding results.json (and config.yaml, for a run folder)."""
        return self.results_path.parent

    def predictions(self, strategy: str, suite: str) -> list[PredictionRecord] | None:
        """The stored per-example outputs of one cell; None when there is no predictions.jsonl."""
        if self.predictions_path is None:
            return None
        if self._predictions is None:
            self._predictions = read_predictions(self.predictions_path)
        return self._predictions.get((strategy, suite), [])


def load_stored_run(path: Path, what: str = "baseline") -> StoredRun:
    """Read a baseline folder, a run folder or a bare results.json.

    `what` ("baseline" or "run") words the messages. A missing file, unreadable JSON, or a
    results schema other than this harness's raises `InputError` (exit 2).
    """
    path = Path(path)
    if path.is_dir():
        results_path = path / "results.json"
    elif path.is_file():
        results_path = path
    else:
        raise InputError.single(path, "", f"no such {what}", _fix_missing(what))
    if not results_path.is_file():
        raise InputError.single(
            path, "", f"no results.json in this {what} folder", _fix_missing(what)
        )
    try:
        data = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError.single(
            results_path, "", f"unreadable {what} results: {e}", _fix_missing(what)
        ) from None
    if not isinstance(data, dict) or "cells" not in data:
        raise InputError.single(
            results_path, "", f"not a harness results.json ({what})", _fix_missing(what)
        )
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        fix = (
            "re-create the baseline with this harness: run its config again, then "
            "`harness baseline save RUN_DIR`"
            if what == "baseline"
            else "re-run with this harness version"
        )
        raise InputError.single(
            results_path,
            "schema_version",
            f"this {what} was written with results schema version {version!r}; harness "
            f"{__version__} reads schema version {SCHEMA_VERSION}, so the figures are not "
            "comparable",
            fix,
        )
    try:
        results = RunResults.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError.single(
            results_path, where, f"malformed {what} results: {first['msg']}", _fix_missing(what)
        ) from None
    # predictions.jsonl belongs to a results.json only when they share a run/baseline folder
    predictions = results_path.parent / "predictions.jsonl"
    has_predictions = results_path.name == "results.json" and predictions.is_file()
    return StoredRun(path, results_path, results, predictions if has_predictions else None)


def _fix_missing(what: str) -> str:
    if what == "baseline":
        return (
            "pass a baseline folder, a run folder or a results.json; save one with "
            "`harness baseline save RUN_DIR`"
        )
    return "pass the folder of a finished run"


@dataclass(frozen=True)
class SavedBaseline:
    """Where a baseline was saved, which files it holds, and what to know about it."""

    path: Path
    run_id: str
    files: tuple[str, ...]
    replaced: bool
    warnings: tuple[str, ...]


def save_baseline(
    run_dir: Path, name: str = DEFAULT_BASELINE_NAME, root: Path = DEFAULT_BASELINE_ROOT
) -> SavedBaseline:
    """Copy a finished run's results, predictions and manifest to `root/name/`.

    An existing baseline of that name is replaced; the folder appears only when complete.
    """
    if not _NAME.fullmatch(name):
        raise InputError.single(
            "--name",
            "name",
            f"bad baseline name {name!r}",
            "use letters, digits, '.', '_' or '-' (no slashes), starting with a letter or digit",
        )
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError.single(
            run_dir, "", "not a run folder", "pass the folder `harness run` printed"
        )
    stored = load_stored_run(run_dir, "run")
    warnings = []
    if stored.predictions_path is None:
        warnings.append(
            "no predictions.jsonl: `harness check` will compare CI-based only, without paired tests"
        )
    failed = [f"{c.strategy} · {c.suite}" for c in stored.results.cells if c.status == "failed"]
    if failed:
        warnings.append(
            f"{len(failed)} cell(s) did not finish ok and cannot gate later runs: "
            + ", ".join(failed)
        )
    target = Path(root) / name
    replaced = target.exists()
    staged = StagedDir(target)
    copied = []
    try:
        for file_name in BASELINE_FILES:
            source = run_dir / file_name
            if source.is_file():
                shutil.copy2(source, staged.path / file_name)
                copied.append(file_name)
        path = staged.commit()
    except BaseException:
        staged.discard()
        raise
    return SavedBaseline(path, stored.results.run_id, tuple(copied), replaced, tuple(warnings))
