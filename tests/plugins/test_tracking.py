"""The tracking reporters on a real run: MLflow into a local store read back with MLflow's
own client, W&B in offline mode writing its run folder; each fails alone when its package
or service is missing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness_plugins.tracking import flat_metrics

from harness.cli import main
from harness.results import read_results

mlflow = pytest.importorskip("mlflow")
wandb = pytest.importorskip("wandb")


@pytest.fixture(scope="module")
def run_dir(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    root = tmp_path_factory.mktemp("tracking")
    config = root / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": str(tiny_model),
                "suites": [str(p) for p in toy_suites.values()],
                "strategies": ["zero-shot", "few-shot"],
                "out": str(root / "run"),
                "reporters": ["html"],
            }
        )
    )
    assert main(["run", str(config)]) == 0
    return root / "run"


def _with_tracking(run_dir: Path, tmp_path: Path, tracking: dict[str, Any]) -> Path:
    """A copy of the run whose config.yaml carries a `tracking:` section."""
    copy = Path(shutil.copytree(run_dir, tmp_path / "run"))
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["tracking"] = tracking
    (copy / "config.yaml").write_text(yaml.safe_dump(config))
    return copy


def test_every_figure_goes_to_one_mlflow_run_with_tags_and_artifacts(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow 3 keeps the file store for existing users behind this switch; it needs no server
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    copy = _with_tracking(run_dir, tmp_path, {"mlflow": {"tracking_uri": uri, "nested_runs": True}})
    assert main(["report", str(copy), "--reporter", "mlflow"]) == 0

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("harness")
    runs = client.search_runs([experiment.experiment_id])
    results = read_results(copy)
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.info.status == "FINISHED" and parent.info.run_name == results.run_id
    assert parent.data.tags["harness.run_id"] == results.run_id
    assert parent.data.tags["harness.model"] == results.model
    assert parent.data.tags["harness.version"] == results.harness_version
    expected = flat_metrics(results)
    assert parent.data.metrics == pytest.approx(expected)
    # the figures the report shows: a metric with its CI bounds, a delta with its p-value
    suite = results.suites[0]
    key = f"{suite.name}/few-shot/{suite.primary_metric}"
    cell = results.cell("few-shot", suite.name)
    assert cell is not None
    metric, delta = cell.metrics[suite.primary_metric], cell.delta_vs_zero_shot
    assert parent.data.metrics[key] == pytest.approx(metric.value)
    assert parent.data.metrics[key + ".ci_low"] == pytest.approx(metric.ci95[0])
    assert f"{suite.name}/few-shot/delta/{suite.primary_metric}.p_value" in expected
    assert delta[suite.primary_metric].p_value == pytest.approx(
        parent.data.metrics[f"{suite.name}/few-shot/delta/{suite.primary_metric}.p_value"]
    )
    assert f"{suite.name}/few-shot/cost/eval_seconds" in parent.data.metrics
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.html", "results.json"} <= artifacts
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == len([c for c in results.cells if c.status != "failed"])


def test_wandb_offline_writes_its_run_folder_with_every_figure(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_SILENT", "true")
    for variable in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        monkeypatch.setenv(variable, str(tmp_path / variable.lower()))  # not the user's
    wandb_dir = tmp_path / "wandb-files"
    copy = _with_tracking(
        run_dir, tmp_path, {"wandb": {"mode": "offline", "project": "p", "dir": str(wandb_dir)}}
    )
    assert main(["report", str(copy), "--reporter", "wandb"]) == 0
    (folder,) = (wandb_dir / "wandb").glob("offline-run-*")
    (log,) = folder.glob("run-*.wandb")
    # read the run's transaction log back with W&B's own reader
    wandb_cli = Path(sys.executable).parent / "wandb"
    out = subprocess.run(
        [str(wandb_cli), "leet", "inspect", "--json", str(log)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    summary: dict[str, Any] = {}
    for record in records:
        if record["type"] == "summary":
            summary.update(record["summary"]["update"])
    results = read_results(copy)
    expected = flat_metrics(results)
    assert {k: summary[k] for k in expected} == pytest.approx(expected)
    (run,) = [r["run"] for r in records if r["type"] == "run"]
    assert run["display_name"] == results.run_id
    assert run["config"]["update"]["run_id"] == results.run_id
    assert run["config"]["update"]["model"] == results.model
    (artifact,) = [r["artifact"] for r in records if r["type"] == "artifact"]
    files = {entry["path"] for entry in artifact["manifest"]["contents"]}
    assert {"report.html", "results.json"} <= files
    assert [r["exit"]["exit_code"] for r in records if r["type"] == "exit"] == [0]


def test_a_missing_package_fails_only_its_reporter(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    copy = _with_tracking(run_dir, tmp_path, {})
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what `import mlflow` meets uninstalled
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    code = main(["report", str(copy), "--reporter", "mlflow", "--reporter", "markdown"])
    assert code != 0
    out = " ".join("".join(capsys.readouterr()).split())  # the console wraps long lines
    assert "pip install 'harness[mlflow]'" in out
    assert (copy / "report.md").is_file(), "the other reporter still ran"


def test_an_unreachable_server_fails_only_its_reporter(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # nothing listens on port 9 of this machine; no retries, so the failure is quick
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    copy = _with_tracking(run_dir, tmp_path, {"mlflow": {"tracking_uri": "http://127.0.0.1:9"}})
    (copy / "report.md").unlink(missing_ok=True)
    code = main(["report", str(copy), "--reporter", "mlflow", "--reporter", "markdown"])
    out = " ".join("".join(capsys.readouterr()).split())
    assert code != 0 and "reporter 'mlflow' failed" in out
    assert (copy / "report.md").is_file()


def test_bad_settings_name_the_config_field(run_dir: Path, tmp_path: Path, capsys) -> None:
    copy = _with_tracking(run_dir, tmp_path, {"wandb": {"mode": "sometimes"}})
    assert main(["report", str(copy), "--reporter", "wandb"]) != 0
    assert "tracking.wandb.mode" in " ".join("".join(capsys.readouterr()).split())
