"""The results contract: `results.json` and its companions in a run folder.

`results.json` is read by CI scripts and other tools; fields may be added, never changed
in meaning (see docs/results.md). `schema_version` changes only when that rule breaks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.analysis import Replicate
from harness.errors import InputError
from harness.metrics import ExampleOutput
from harness.run_folder import StagedDir as StagedDir  # where it lived before

SCHEMA_VERSION = 1
Status = Literal["ok", "failed", "skipped", "cached"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class MetricValue(_Model):
    #: the metric; with several replicates, the mean of the replicates' values
    value: float
    #: 95% CI: over test examples for one replicate; over seeds and examples for several
    ci95: tuple[float, float]
    #: between-seed standard deviation of the replicates' values (several replicates only)
    seed_sd: float | None = None
    #: each replicate's value, in the order of the cell's `seeds` (several replicates only)
    replicate_values: list[float] | None = None


class Delta(_Model):
    value: float
    ci95: tuple[float, float]
    p_value: float
    #: which paired test gave the p-value: "mcnemar", "paired-bootstrap", "replicate-t"
    #: (either side has several training replicates) or "ci-based"
    test: str = ""
    #: whether the test accounts for training variance (both sides deterministic, or
    #: replicated); False when a seed-dependent side was adapted once
    training_variance_measured: bool | None = None


class Cost(_Model):
    adapt_seconds: float = 0.0
    eval_seconds: float = 0.0
    trainable_params: int = 0
    peak_memory_mb: float = 0.0
    prompt_tokens_mean: float = 0.0
    #: test examples whose prompt was cut to fit the model's context (None: the backend
    #: does not report truncation)
    truncated_examples: int | None = None


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
    #: metrics that raised, with the error; they are absent from `metrics`
    metric_errors: dict[str, str] = Field(default_factory=dict)
    delta_vs_zero_shot: dict[str, Delta] = Field(default_factory=dict)
    cost: Cost = Field(default_factory=Cost)
    #: the seeds of a seed-dependent row (training, sampled demonstrations): one per
    #: replicate; empty for rows whose result does not depend on the seed (zero-shot)
    seeds: list[int] = Field(default_factory=list)

    @property
    def training_variance_measured(self) -> bool:
        """False for a seed-dependent row adapted with one seed only."""
        return len(self.seeds) != 1

    @property
    def has_figures(self) -> bool:
        """Whether the cell has metrics: computed now ("ok") or reused ("cached")."""
        return self.status in ("ok", "cached")


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


# -- predictions.jsonl ---------------------------------------------------------------


@dataclass(frozen=True)
class PredictionRecord:
    """One line of predictions.jsonl: a cell's output on one example, with its scores."""

    strategy: str
    suite: str
    prompt: str
    output: ExampleOutput
    scores: dict[str, float]
    #: the replicate's seed, for rows evaluated with several seeds (None otherwise)
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        o = self.output
        line: dict[str, Any] = {
            "strategy": self.strategy,
            "suite": self.suite,
            "example_id": o.example_id,
            **({"seed": self.seed} if self.seed is not None else {}),
            "prompt": self.prompt,
            "prediction": o.prediction,
            "reference": list(o.references),
            "scores": self.scores,
        }
        if o.candidates:
            line["candidate_logprobs"] = dict(zip(o.candidates, o.candidate_logprobs, strict=True))
        if o.reference_logprob is not None:
            line["reference_logprob"] = o.reference_logprob
            line["reference_tokens"] = o.reference_tokens
        if o.gold_documents:
            line["gold_documents"] = list(o.gold_documents)
        if o.retrieved is not None:
            line["retrieved"] = list(o.retrieved)
        return line

    @classmethod
    def from_json(cls, line: Mapping[str, Any]) -> PredictionRecord:
        logprobs = line.get("candidate_logprobs") or {}
        reference_logprob = line.get("reference_logprob")
        reference_tokens = line.get("reference_tokens")
        retrieved = line.get("retrieved")
        output = ExampleOutput(
            example_id=str(line["example_id"]),
            prediction=str(line["prediction"]),
            references=tuple(str(r) for r in line["reference"]),
            candidates=tuple(str(c) for c in logprobs),
            candidate_logprobs=tuple(float(v) for v in logprobs.values()),
            reference_logprob=None if reference_logprob is None else float(reference_logprob),
            reference_tokens=None if reference_tokens is None else int(reference_tokens),
            gold_documents=tuple(str(d) for d in line.get("gold_documents") or ()),
            retrieved=None if retrieved is None else tuple(str(d) for d in retrieved),
        )
        scores = {str(k): float(v) for k, v in dict(line["scores"]).items()}
        seed = line.get("seed")
        return cls(
            str(line["strategy"]),
            str(line["suite"]),
            str(line.get("prompt", "")),
            output,
            scores,
            None if seed is None else int(seed),
        )


def records_by_seed(
    records: Sequence[PredictionRecord],
) -> dict[int | None, list[PredictionRecord]]:
    """One cell's records grouped by replicate seed, in seed order (None: not replicated)."""
    by_seed: dict[int | None, list[PredictionRecord]] = {}
    for record in records:
        by_seed.setdefault(record.seed, []).append(record)
    return dict(sorted(by_seed.items(), key=lambda kv: -1 if kv[0] is None else kv[0]))


def as_replicates(records: Sequence[PredictionRecord], metric: str) -> list[Replicate]:
    """One cell's records as analysis replicates of `metric`: one per seed, in seed order.

    Records without a seed (a row evaluated once) make a single replicate.
    """
    return [
        Replicate([r.output for r in group], [r.scores[metric] for r in group])
        for group in records_by_seed(records).values()
    ]


def pairing_problem(
    a: Sequence[PredictionRecord],
    b: Sequence[PredictionRecord],
    metric: str,
    names: tuple[str, str] = ("A", "B"),
) -> str:
    """Why two cells' records cannot be paired by example for `metric` ("" when they can).

    Each side's replicates (one per seed) must cover the same examples, once each, and
    both sides the same ones.
    """
    sides = []
    for records in (a, b):
        groups = [[r.output.example_id for r in g] for g in records_by_seed(records).values()]
        if any(len(set(ids)) != len(ids) for ids in groups):
            return "an example id repeats in predictions.jsonl"
        if any(set(ids) != set(groups[0]) for ids in groups):
            return "the replicates of one side scored different examples"
        sides.append(set(groups[0]) if groups else set())
    only_a, only_b = sides[0] - sides[1], sides[1] - sides[0]
    if only_a or only_b:
        return (
            f"the examples differ ({len(only_a)} only in {names[0]}, {len(only_b)} only in "
            f"{names[1]}; e.g. --max-test-examples changed)"
        )
    if any(metric not in r.scores for r in [*a, *b]):
        return f"predictions.jsonl has no per-example {metric} scores"
    return ""


def write_predictions(path: Path, records: Iterable[PredictionRecord]) -> None:
    with Path(path).open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")


def read_predictions(path: Path) -> dict[tuple[str, str], list[PredictionRecord]]:
    """predictions.jsonl grouped by (strategy, suite), in file order.

    A malformed line raises `InputError` naming the file and line.
    """
    path = Path(path)
    grouped: dict[tuple[str, str], list[PredictionRecord]] = {}
    with path.open(encoding="utf-8") as f:
        for number, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                record = PredictionRecord.from_json(json.loads(text))
            except json.JSONDecodeError as e:
                raise InputError.single(
                    path,
                    "",
                    f"invalid JSON: {e.msg}",
                    "pass predictions.jsonl as harness wrote it",
                    number,
                ) from None
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise InputError.single(
                    path,
                    "",
                    f"malformed prediction record ({type(e).__name__}: {e})",
                    "pass predictions.jsonl as harness wrote it",
                    number,
                ) from None
            grouped.setdefault((record.strategy, record.suite), []).append(record)
    return grouped
