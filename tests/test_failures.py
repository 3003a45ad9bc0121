"""Failures stay small: a hang, a wrong-sized answer, a raising metric or reporter fails
its own part of the run, and the run folder with everything else is kept."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from harness.cli import main
from harness.config import parse_config
from harness.errors import InputError
from harness.plugin_manager import load_plugins
from harness.runner import Runner, RunOutcome, make_plan
from tests.plugins import fragile
from tests.suite_factory import write_suite

REPO = Path(__file__).resolve().parents[1]
METRICS = ["accuracy", "broken_score", "broken_aggregate"]


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_suite(
        tmp_path_factory.mktemp("suites"), name="toy", yaml_overrides={"metrics": METRICS}
    )


@pytest.fixture(scope="module")
def run(
    tiny_model: Path, suite: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunOutcome, str]]:
    plugins = load_plugins(extra=[("fragile", fragile)])
    config = parse_config(
        {
            "model": str(tiny_model),
            "suites": [str(suite)],
            "strategies": [
                "zero-shot",
                {"name": "hangs-adapting", "timeout": {"adapt": 0.5}},
                {"name": "hangs-predicting", "timeout": 0.5},
                "short-scores",
            ],
            "reporters": ["broken", "markdown"],
            "out": str(tmp_path_factory.mktemp("runs") / "run"),
            "bootstrap_resamples": 100,
        },
        "test config",
    )
    messages = io.StringIO()
    runner = Runner(make_plan(config, plugins), plugins, console=Console(file=messages))
    try:
        yield runner.run(), messages.getvalue()
    finally:
        fragile.RELEASE.set()  # the abandoned threads finish and end


def _cell(outcome: RunOutcome, strategy: str) -> dict:  # type: ignore[type-arg]
    data = json.loads((outcome.run_dir / "results.json").read_text())
    return next(c for c in data["cells"] if c["strategy"] == strategy)


def test_a_raising_reporter_fails_only_its_output(run) -> None:  # type: ignore[no-untyped-def]
    outcome, messages = run
    assert outcome.exit_code == 1
    assert (outcome.run_dir / "results.json").is_file()
    assert (outcome.run_dir / "predictions.jsonl").is_file()
    assert (outcome.run_dir / "report.md").is_file()  # the next reporter still ran
    lines = [line for line in messages.splitlines() if "broken" in line]
    assert lines == ["error: reporter 'broken' failed: RuntimeError: out of ink"]
    assert "Traceback" not in messages


def test_a_raising_metric_fails_only_that_metric(run) -> None:  # type: ignore[no-untyped-def]
    outcome, _ = run
    cell = _cell(outcome, "zero-shot")
    assert cell["status"] == "ok" and cell["error"] is None
    assert set(cell["metrics"]) == {"accuracy"}
    errors = cell["metric_errors"]
    assert set(errors) == {"broken_score", "broken_aggregate"}
    assert (
        "ArithmeticError" in errors["broken_score"] and "score exploded" in errors["broken_score"]
    )
    assert "aggregate exploded" in errors["broken_aggregate"]
    lines = (outcome.run_dir / "predictions.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert all(set(r["scores"]) == {"accuracy"} for r in records if r["strategy"] == "zero-shot")
    report = (outcome.run_dir / "report.md").read_text()
    assert "zero-shot · toy: metric 'broken_score' failed" in report


def test_a_hung_adaptation_times_out(run) -> None:  # type: ignore[no-untyped-def]
    outcome, _ = run
    cell = _cell(outcome, "hangs-adapting")
    assert cell["status"] == "failed"
    assert cell["error"] == "timed out after 0.5 s adapting 'hangs-adapting'"


def test_a_hung_cell_times_out(run) -> None:  # type: ignore[no-untyped-def]
    outcome, _ = run
    cell = _cell(outcome, "hangs-predicting")
    assert cell["status"] == "failed"
    assert cell["error"] == "timed out after 0.5 s evaluating 'hangs-predicting' on 'toy'"


def test_an_answer_of_the_wrong_length_fails_the_cell(run) -> None:  # type: ignore[no-untyped-def]
    outcome, _ = run
    cell = _cell(outcome, "short-scores")
    assert cell["status"] == "failed"
    assert "'short-scores'" in cell["error"]
    assert "_ShortPredictor.score() returned 3 items for 4 requests" in cell["error"]


def test_report_command_survives_a_raising_reporter(
    run,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcome, _ = run
    (outcome.run_dir / "report.md").unlink()
    args = ["-p", "tests.plugins.fragile", "report", str(outcome.run_dir)]
    code = main([*args, "--reporter", "broken", "--reporter", "markdown"])
    assert code == 1
    assert (outcome.run_dir / "report.md").is_file()
    err = capsys.readouterr().err
    assert "error: reporter 'broken' failed: RuntimeError: out of ink" in err
    assert "Traceback" not in err


def test_timeouts_in_the_run_config() -> None:
    config = parse_config(
        {
            "adapt_timeout": 7200,
            "strategies": [
                "zero-shot",
                {"name": "few-shot", "k": 2, "timeout": 60},
                {"name": "lora", "timeout": {"cell": None}},
            ],
        },
        "test config",
    )
    assert (config.adapt_timeout, config.cell_timeout) == (7200, 3600)
    zero, few, lora = config.strategies
    assert few.settings == {"k": 2}
    assert zero.timeouts(config.adapt_timeout, config.cell_timeout) == (7200, 3600)
    assert few.timeouts(config.adapt_timeout, config.cell_timeout) == (60, 60)
    assert lora.timeouts(config.adapt_timeout, config.cell_timeout) == (7200, None)
    # what config.yaml keeps reads back to the same limits
    again = parse_config(config.model_dump(mode="json"), "config.yaml")
    assert again.strategies[2].timeouts(7200, 3600) == (7200, None)
    assert parse_config({}, "empty").adapt_timeout is None


@pytest.mark.parametrize("timeout", [0, -1, {"adapt": 0}, {"never": 1}, "soon"])
def test_bad_timeouts_are_rejected(timeout: object) -> None:
    with pytest.raises(InputError) as e:
        parse_config({"strategies": [{"name": "few-shot", "timeout": timeout}]}, "test config")
    assert all(p.field.startswith("strategies.0.timeout") for p in e.value.problems)


@pytest.mark.slow
def test_a_cell_timed_out_inside_native_code_still_exits_1(
    tiny_model: Path, tmp_path: Path
) -> None:
    """The abandoned call is still inside torch when the program ends: the exit code is
    the run's (1: a cell failed), not an abort at interpreter shutdown (134)."""
    config = tmp_path / "run.yaml"
    config.write_text(
        json.dumps(
            {
                "model": str(tiny_model),
                "suites": [str(write_suite(tmp_path / "suites", name="toy"))],
                "strategies": ["zero-shot", {"name": "spinning", "timeout": {"cell": 1}}],
                "reporters": ["markdown"],
                "bootstrap_resamples": 100,
            }
        ),
        encoding="utf-8",
    )
    env = dict(os.environ, HARNESS_CACHE_DIR=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    args = ["--plugin", "tests.plugins.spinning", "run", str(config), "--out", "run"]
    result = subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert "terminate called" not in result.stderr
    cells = json.loads((tmp_path / "run" / "results.json").read_text())["cells"]
    spinning = next(c for c in cells if c["strategy"] == "spinning")
    assert spinning["status"] == "failed" and "timed out after 1 s" in spinning["error"]
