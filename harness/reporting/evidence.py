"""What reporters read from a run folder besides results.json.

Everything a report shows comes from the run folder's files, so `harness report RUN_DIR`
re-renders it: per-example records from `predictions.jsonl` (for paired tests, with the
registered metrics that score them), the `decision:` constraints (its alpha defaulting
to the gate's), `bootstrap_resamples` and strategy chains from `config.yaml`, and loss
curves that
training strategies saved under `artifacts/<row>/` (`loss.jsonl` lines such as
`{"step": 10, "loss": 1.9}` or `{"step": 10, "eval_loss": 2.1}`, or the Hugging Face
Trainer's `trainer_state.json`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.analysis import DEFAULT_RESAMPLES
from harness.metrics import Metric
from harness.reporting.recommend import (
    DecisionConstraints,
    PairedData,
    Recommendation,
    knowledge_in_context_by_name,
    recommend,
)
from harness.results import RunResults, read_predictions
from harness.run_folder import artifacts_dir

#: row -> {"train": [(step, loss)], "eval": [(step, loss)]}
LossCurves = dict[str, dict[str, list[tuple[float, float]]]]


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """The run's resolved `config.yaml` ({} when absent or unreadable)."""
    try:
        data = yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def read_constraints(run_dir: Path) -> tuple[DecisionConstraints, str | None]:
    """The `decision:` section of the run config, and a note when it could not be used.

    Its `alpha`, when unset, is the gate's (`gate.alpha`), so that a decision and
    `harness check` judge significance at the same level.
    """
    config = read_run_config(run_dir)
    raw = config.get("decision")
    constraints, note = DecisionConstraints(), None
    if raw is not None:
        try:
            constraints = DecisionConstraints.model_validate(raw)
        except ValidationError as e:
            note = f"config.yaml `decision:` ignored: {e.errors()[0]['msg']}"
    gate = config.get("gate")
    gate_alpha = gate.get("alpha") if isinstance(gate, dict) else None
    if constraints.alpha is None and isinstance(gate_alpha, int | float) and 0 < gate_alpha < 1:
        constraints = constraints.model_copy(update={"alpha": float(gate_alpha)})
    return constraints, note


def read_paired_data(run_dir: Path, metrics: Mapping[str, type[Metric]]) -> PairedData:
    """Each cell's prediction records, the metrics that score them, and the run's
    `bootstrap_resamples`, for the recommendation's paired tests."""
    path = Path(run_dir) / "predictions.jsonl"
    resamples = read_run_config(run_dir).get("bootstrap_resamples")
    n_resamples = resamples if isinstance(resamples, int) and resamples > 0 else DEFAULT_RESAMPLES
    records = read_predictions(path) if path.is_file() else {}
    return PairedData(records, metrics, n_resamples=n_resamples)


def registered_metrics() -> dict[str, type[Metric]]:
    """The metrics of the installed plugins ({} when they cannot be loaded: every test is
    then CI-based)."""
    try:
        from harness.plugin_manager import load_plugins

        return dict(load_plugins().metrics.as_dict())
    except Exception:  # a broken plugin must not break the report
        return {}


def knowledge_in_context_lookup(run_dir: Path) -> Callable[[str], bool]:
    """Whether a row's strategy keeps its knowledge in context (RAG) rather than weights.

    Read from the `knowledge_in_context` class attribute of each strategy in the row's
    chain (via the plugin registry); a row whose strategies do not say falls back to its
    name containing `rag`.
    """
    chains: dict[str, list[str]] = {}
    for entry in read_run_config(run_dir).get("strategies") or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            row = entry.get("label") or entry["name"]
            chains[str(row)] = [part.strip() for part in entry["name"].split("+")]
    declared: dict[str, bool] = {}
    try:
        from harness.plugin_manager import load_plugins

        registry = load_plugins().strategies
        for name in {n for chain in chains.values() for n in chain}:
            value = getattr(registry.get(name), "knowledge_in_context", None)
            if isinstance(value, bool):
                declared[name] = value
    except Exception:  # a broken plugin must not break the report: fall back to names
        declared = {}

    def lookup(row: str) -> bool:
        chain = chains.get(row, [row])
        if any(declared.get(name) for name in chain):
            return True
        if all(name in declared for name in chain):
            return False
        return knowledge_in_context_by_name(row)

    return lookup


def decide(
    run_dir: Path, results: RunResults, metrics: Mapping[str, type[Metric]] | None = None
) -> Recommendation:
    """The recommendation for a run, from its files; `metrics` score the per-example
    records (default: the installed plugins' metrics)."""
    constraints, note = read_constraints(run_dir)
    recommendation = recommend(
        results,
        constraints,
        read_paired_data(run_dir, registered_metrics() if metrics is None else metrics),
        knowledge_in_context_lookup(run_dir),
    )
    if note:
        recommendation = replace(recommendation, notes=(*recommendation.notes, note))
    return recommendation


def cell_warnings(results: RunResults) -> list[str]:
    """What a reader must know before trusting a cell's figures, one line each.

    Every reporter shows these lines: truncated prompts (the model saw only the end of
    them), generated answers that mapped to no label, metrics that failed while the rest
    of the cell was computed, and rows that ran on a model of their own.
    """
    lines = []
    for cell in results.cells:
        where = f"{cell.strategy} · {cell.suite}"
        suite = results.suite(cell.suite)
        total = f" of {suite.n_test}" if suite else ""
        truncated = cell.cost.truncated_examples
        if truncated:
            lines.append(
                f"{where}: {truncated}{total} prompts were longer than the model's context "
                "and were cut from the left to fit (the text right after the leading special "
                "tokens was lost: for few-shot, the first demonstrations)"
            )
        failures = cell.cost.parse_failures
        if failures:
            lines.append(
                f"{where}: {failures}{total} generated answers mapped to no label and were "
                "counted wrong (the backend has no log-likelihoods, so the answer was "
                "generated and matched to the labels)"
            )
        lines += [f"{where}: metric {m!r} failed: {e}" for m, e in cell.metric_errors.items()]
    lines += _other_models(results)
    return lines


def _other_models(results: RunResults) -> list[str]:
    """One line per row that ran on a model other than the run's base model."""
    lines = []
    seen: set[str] = set()
    base = results.model
    for cell in results.cells:
        if cell.model and cell.model != base and cell.strategy not in seen:
            seen.add(cell.strategy)
            lines.append(
                f"{cell.strategy}: ran on model {cell.model}, not the run's base model "
                f"{base}; its differences are against the base model's zero-shot row"
            )
    return lines


def read_loss_curves(run_dir: Path, strategies: list[str]) -> LossCurves:
    """Training and eval loss per step, for rows whose artifacts include a loss log."""
    curves: LossCurves = {}
    for row in strategies:
        root = artifacts_dir(Path(run_dir), row)
        if not root.is_dir():
            continue
        records: list[dict[str, Any]] = []
        for path in sorted(root.rglob("loss.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(item, dict):
                    records.append(item)
        for path in sorted(root.rglob("trainer_state.json")):
            try:
                history = json.loads(path.read_text(encoding="utf-8")).get("log_history", [])
            except (OSError, json.JSONDecodeError, AttributeError):
                continue
            records += [h for h in history if isinstance(h, dict)]
        found: dict[str, list[tuple[float, float]]] = {}
        for item in records:
            step = item.get("step")
            for key, kind in (("loss", "train"), ("eval_loss", "eval")):
                value = item.get(key)
                if isinstance(step, int | float) and isinstance(value, int | float):
                    found.setdefault(kind, []).append((float(step), float(value)))
        if found:
            curves[row] = {k: sorted(set(v)) for k, v in found.items()}
    return curves
