"""The results contract: `results.json` and its companions in a run folder.

`results.json` is read by CI scripts and other tools; fields may be added, never changed
in meaning (see docs/results.md). `schema_version` changes only when that rule breaks.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import InputError

SCHEMA_VERSION = 1
Status = Literal["ok", "failed", "skipped", "cached"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class MetricValue(_Model):
    value: float
    ci95: tuple[float, float]


class Delta(_Model):
    value: float
    ci95: tuple[float, float]
    p_value: float
    #: which paired test gave the p-value: "mcnemar" or "paired-bootstrap"
    test: str = ""


class Cost(_Model):
    adapt_seconds: float = 0.0
    eval_seconds: float = 0.0
    trainable_params: int = 0
    peak_memory_mb: float = 0.0
    prompt_tokens_mean: float = 0.0


class SuiteInfo(_Model):
    name: str
    version: str
    role: str
    task: str
    primary_metric: str
    n_test: int
    higher_is_better: bool = True
    content_hash: str = ""


class Cell(_Model):
    strategy: str
    suite: str
    status: Status
    error: str | None = None
    metrics: dict[str, MetricValue] = Field(default_factory=dict)
    delta_vs_zero_shot: dict[str, Delta] = Field(default_factory=dict)
    cost: Cost = Field(default_factory=Cost)


class RunResults(_Model):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    harness_version: str
    model: str
    seed: int
    suites: list[SuiteInfo]
    cells: list[Cell]
    started_at: str = ""
    finished_at: str = ""

    def cell(self, strategy: str, suite: str) -> Cell | None:
        return next((c for c in self.cells if c.strategy == strategy and c.suite == suite), None)

    def strategies(self) -> list[str]:
        return list(dict.fromkeys(c.strategy for c in self.cells))

    def suite(self, name: str) -> SuiteInfo | None:
        return next((s for s in self.suites if s.name == name), None)


def read_results(run_dir: Path) -> RunResults:
    """Read `RUN_DIR/results.json`, with a clear error when it is missing or foreign."""
    path = Path(run_dir) / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError.single(
            path, "", "no results.json here", "pass the folder of a finished run"
        ) from None
    except (OSError, json.JSONDecodeError) as e:
        raise InputError.single(path, "", f"unreadable results: {e}", "re-run harness") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        raise InputError.single(
            path,
            "schema_version",
            f"schema version {version!r}, this harness reads {SCHEMA_VERSION}",
            "use the harness version that wrote it, or re-run",
        )
    return RunResults.model_validate(data)


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


class StagedDir:
    """A run folder written in a hidden sibling and renamed into place when complete.

    An interrupted or failed run never leaves a half-written folder that looks finished.
    """

    def __init__(self, final: Path) -> None:
        self.final = Path(final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.", dir=self.final.parent))

    def commit(self) -> Path:
        if self.final.exists():
            shutil.rmtree(self.final)
        os.replace(self.path, self.final)
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
