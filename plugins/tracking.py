"""Tracking reporters: a harness run as one MLflow run, or one Weights & Biases run.

Both log every cell's metrics with their 95% CI bounds, the paired difference to
zero-shot with its CI and p-value, and the cell's costs, under the key
`<suite>/<strategy>/<name>`; both attach report.html and results.json. Settings come from
the run config's `tracking:` section (kept in the run folder's config.yaml, so `harness
report` logs the same way), else from the services' own environment variables.

The client packages are optional extras (`pip install 'harness[mlflow]'`,
`'harness[wandb]'`) and imported when a reporter renders, so `harness plugins` lists both
without them; a missing package or an unreachable service fails that reporter alone.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import InputError, Problem
from harness.reporting.base import ReportContext, Reporter
from harness.results import RunResults

#: files of the run folder attached to the tracked run, when present
ARTIFACTS = ("report.html", "results.json", "report.md", "manifest.json")


class MlflowSettings(BaseModel):
    """`tracking.mlflow` in the run config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tracking_uri: str | None = Field(
        None, description="default: MLFLOW_TRACKING_URI, else MLflow's own default"
    )
    experiment: str | None = Field(
        None, description="default: MLFLOW_EXPERIMENT_NAME, else 'harness'"
    )
    nested_runs: bool = Field(
        False, description="also one nested run per cell, with its metrics unprefixed"
    )


class WandbSettings(BaseModel):
    """`tracking.wandb` in the run config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str | None = Field(None, description="default: WANDB_PROJECT, else 'harness'")
    entity: str | None = Field(None, description="default: WANDB_ENTITY, else your default")
    mode: str | None = Field(
        None, pattern="^(online|offline|disabled)$", description="default: WANDB_MODE"
    )
    dir: str | None = Field(None, description="where W&B writes its files; default: run folder")


SettingsT = TypeVar("SettingsT", bound=BaseModel)


def _settings(run_dir: Path, name: str, model: type[SettingsT]) -> SettingsT:
    """The reporter's section of the run config kept in the run folder (defaults if none)."""
    config = run_dir / "config.yaml"
    data: Any = {}
    if config.is_file():
        loaded = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        data = (loaded.get("tracking") or {}).get(name) or {}
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise InputError(
            [
                Problem(
                    str(config),
                    ".".join(("tracking", name, *(str(p) for p in err["loc"]))),
                    err["msg"],
                    "see docs/tracking.md",
                )
                for err in e.errors()
            ]
        ) from None


_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./ ]")


def _key(*parts: str) -> str:
    # MLflow allows letters, digits, _ - . / and spaces in metric names
    return "/".join(_UNSAFE.sub("_", p) for p in parts)


def cell_metrics(results: RunResults) -> dict[tuple[str, str], dict[str, float]]:
    """For each (strategy, suite) cell: its figures by name, finite values only.

    `<metric>`, `<metric>.ci_low`, `<metric>.ci_high`; `delta/<metric>` with `.ci_low`,
    `.ci_high`, `.p_value`; `cost/<name>` for each cost of the cell.
    """
    out: dict[tuple[str, str], dict[str, float]] = {}
    for cell in results.cells:
        if cell.status == "failed":
            continue
        figures: dict[str, float] = {}
        for name, metric in cell.metrics.items():
            figures[name] = metric.value
            figures[f"{name}.ci_low"], figures[f"{name}.ci_high"] = metric.ci95
        for name, delta in cell.delta_vs_zero_shot.items():
            figures[f"delta/{name}"] = delta.value
            figures[f"delta/{name}.ci_low"], figures[f"delta/{name}.ci_high"] = delta.ci95
            figures[f"delta/{name}.p_value"] = delta.p_value
        if cell.cost is not None:
            for name, value in cell.cost.model_dump().items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    figures[f"cost/{name}"] = float(value)
        out[(cell.strategy, cell.suite)] = {
            k: float(v) for k, v in figures.items() if math.isfinite(float(v))
        }
    return out


def flat_metrics(results: RunResults) -> dict[str, float]:
    """Every figure of the run under `<suite>/<strategy>/<name>`."""
    return {
        _key(suite, strategy, name): value
        for (strategy, suite), figures in cell_metrics(results).items()
        for name, value in figures.items()
    }


def run_tags(results: RunResults, run_dir: Path) -> dict[str, str]:
    """What identifies the run: its id, model, seed, harness version and git commit."""
    manifest: dict[str, Any] = {}
    if (run_dir / "manifest.json").is_file():
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    tags = {
        "harness.run_id": results.run_id,
        "harness.model": results.model,
        "harness.seed": str(results.seed),
        "harness.version": results.harness_version,
    }
    if manifest.get("git_commit"):
        tags["harness.git_commit"] = str(manifest["git_commit"])
    return tags


def _artifacts(run_dir: Path) -> list[Path]:
    return [run_dir / name for name in ARTIFACTS if (run_dir / name).is_file()]


class MlflowReporter(Reporter):
    """Logs the run to MLflow: one run, tagged; every figure; the report as artifacts."""

    name: ClassVar[str] = "mlflow"
    description: ClassVar[str] = (
        "one MLflow run per harness run: metrics with CIs and deltas, costs, the report "
        "(extra: harness[mlflow])"
    )
    settings: ClassVar[type[BaseModel] | None] = MlflowSettings

    def render(self, context: ReportContext) -> None:
        settings = _settings(context.run_dir, "mlflow", MlflowSettings)
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as e:
            raise RuntimeError(
                f"the mlflow package is not installed ({e}): pip install 'harness[mlflow]'"
            ) from None
        from mlflow.entities import Metric, Param

        results = context.results
        uri = settings.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        client = MlflowClient(tracking_uri=uri)  # None: MLflow's own default
        experiment_name = (
            settings.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "harness"
        )
        experiment = client.get_experiment_by_name(experiment_name)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else client.create_experiment(experiment_name)
        )
        tags = run_tags(results, context.run_dir)
        run = client.create_run(experiment_id, run_name=results.run_id, tags=tags)
        run_id = run.info.run_id
        status = "FAILED"
        try:
            params = {
                "model": results.model,
                "seed": str(results.seed),
                "strategies": ",".join(results.strategies()),
                "suites": ",".join(s.name for s in results.suites),
            }
            metrics = flat_metrics(results)
            _log_batches(
                client,
                run_id,
                [Metric(k, v, 0, 0) for k, v in metrics.items()],
                [Param(k, v[:6000]) for k, v in params.items()],
            )
            if settings.nested_runs:
                for (strategy, suite), figures in cell_metrics(results).items():
                    child = client.create_run(
                        experiment_id,
                        run_name=f"{strategy} · {suite}",
                        tags={
                            **tags,
                            "mlflow.parentRunId": run_id,
                            "harness.strategy": strategy,
                            "harness.suite": suite,
                        },
                    )
                    _log_batches(
                        client,
                        child.info.run_id,
                        [Metric(_key(k), v, 0, 0) for k, v in figures.items()],
                        [],
                    )
                    client.set_terminated(child.info.run_id, "FINISHED")
            for path in _artifacts(context.run_dir):
                client.log_artifact(run_id, str(path))
            status = "FINISHED"
        finally:
            client.set_terminated(run_id, status)
        context.console.print(
            f"[dim]mlflow:[/dim] run {run_id} in experiment {experiment_name!r}"
            f" at {client.tracking_uri}",
            highlight=False,
        )


def _log_batches(client: Any, run_id: str, metrics: list[Any], params: list[Any]) -> None:
    # MLflow takes at most 1000 metrics and 100 params per call
    for start in range(0, max(len(metrics), 1), 1000):
        batch_params = params if start == 0 else []
        client.log_batch(run_id, metrics=metrics[start : start + 1000], params=batch_params)


class WandbReporter(Reporter):
    """Logs the run to Weights & Biases (online or offline): one run, its summary holds
    every figure, the report files as an artifact."""

    name: ClassVar[str] = "wandb"
    description: ClassVar[str] = (
        "one W&B run per harness run, offline too: metrics with CIs and deltas, costs, the "
        "report (extra: harness[wandb])"
    )
    settings: ClassVar[type[BaseModel] | None] = WandbSettings

    def render(self, context: ReportContext) -> None:
        settings = _settings(context.run_dir, "wandb", WandbSettings)
        try:
            import wandb
        except ImportError as e:
            raise RuntimeError(
                f"the wandb package is not installed ({e}): pip install 'harness[wandb]'"
            ) from None
        results = context.results
        tags = run_tags(results, context.run_dir)
        directory = Path(settings.dir) if settings.dir else context.run_dir
        directory.mkdir(parents=True, exist_ok=True)
        run = wandb.init(
            project=settings.project or os.environ.get("WANDB_PROJECT") or "harness",
            entity=settings.entity,
            mode=settings.mode,  # None: WANDB_MODE, else W&B's default
            dir=str(directory),
            name=results.run_id,
            config={k.removeprefix("harness."): v for k, v in tags.items()},
            tags=[results.run_id],
            reinit="create_new",
        )
        exit_code = 1
        try:
            run.summary.update(flat_metrics(results))
            name = re.sub(r"[^A-Za-z0-9_\-.]", "_", f"harness-{results.run_id}")
            artifact = wandb.Artifact(name, "report")
            for path in _artifacts(context.run_dir):
                artifact.add_file(str(path))
            run.log_artifact(artifact)
            exit_code = 0
        finally:
            run.finish(exit_code=exit_code)
        context.console.print(f"[dim]wandb:[/dim] run {run.id} in {run.dir}", highlight=False)
