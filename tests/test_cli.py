"""The command line: exit codes 0 / 1 / 2, messages without tracebacks, nothing written
on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main


def _run_args(tiny_model: Path, toy_suites: dict[str, Path], out: Path, *extra: str) -> list[str]:
    suites = ",".join(str(p) for p in toy_suites.values())
    return ["run", "--model", str(tiny_model), "--suites", suites, "--out", str(out), *extra]


def test_run_ok_exits_0_and_report_rerenders(
    tiny_model: Path,
    toy_suites: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    code = main(
        _run_args(
            tiny_model, toy_suites, out, "--strategies", "zero-shot", "--max-test-examples", "5"
        )
    )
    assert code == 0
    assert f"Run folder: {out}" in capsys.readouterr().out
    assert json.loads((out / "results.json").read_text())["suites"][0]["n_test"] == 5
    (out / "report.md").unlink()
    assert main(["report", str(out)]) == 0
    assert "toy-colours" in (out / "report.md").read_text()
    assert "Quality" in capsys.readouterr().out


def test_failed_cells_exit_1(tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = _run_args(
        tiny_model,
        toy_suites,
        out,
        "--strategies",
        "zero-shot,broken-adapt",
        "--max-test-examples",
        "4",
    )
    assert main(["--plugin", "tests.plugins.failing", *args]) == 1
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert {c["status"] for c in cells if c["strategy"] == "broken-adapt"} == {"failed"}
    assert {c["status"] for c in cells if c["strategy"] == "zero-shot"} == {"ok"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"--strategies": "zero-shot,no-such-strategy"}, "unknown strategy 'no-such-strategy'"),
        ({"--suites": "no-such-suite"}, "no suite named 'no-such-suite'"),
        ({"--model": "/nonexistent/model/folder"}, "[model]"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    tiny_model: Path,
    toy_suites: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, str],
    expected: str,
) -> None:
    out = tmp_path / "run"
    args = _run_args(tiny_model, toy_suites, out, "--strategies", "zero-shot")
    for flag, value in change.items():
        args[args.index(flag) + 1] = value
    assert main(args) == 2
    err = capsys.readouterr().err
    assert expected in err and "fix:" in err and "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir() if p.name != "harness-cache"] == []


def test_bad_config_file_exits_2_with_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("model: x\nseed: 1\nstrategy: [zero-shot]\n")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:3" in err and "unknown field 'strategy'" in err


def test_report_of_a_folder_without_results_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "no results.json" in capsys.readouterr().err


def test_unknown_plugin_module_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--plugin", "no_such_module_anywhere", "plugins"]) == 2
    assert "cannot import 'no_such_module_anywhere'" in capsys.readouterr().err


def test_suites_lists_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suites"]) == 0
    assert "harness suites" in capsys.readouterr().out


def test_console_script_bad_input_has_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "--model",
            str(tmp_path / "nope"),
            "--suites",
            "x",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "error:" in result.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name != "harness-cache"] == []


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--strategies", "zero-shot,no-such-strategy", "--strategies [strategies[1].name]"),
        ("--suites", "no-such-suite", "--suites [suites]"),
        ("--reporter", "no-such-reporter", "--reporter [reporters[0]]"),
    ],
)
def test_a_bad_flag_value_is_blamed_on_the_flag_not_the_config(
    tiny_model: Path,
    toy_suites: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    value: str,
    expected: str,
) -> None:
    config = tmp_path / "run.yaml"
    suites = [str(p) for p in toy_suites.values()]
    config.write_text(json.dumps({"model": str(tiny_model), "suites": suites}))
    args = ["run", str(config), "--out", str(tmp_path / "run"), flag, value]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert expected in err and str(config) not in err
    assert not (tmp_path / "run").exists()


def test_a_bad_setting_of_a_config_entry_kept_by_strategies_names_the_config(
    tiny_model: Path,
    toy_suites: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "run.yaml"
    suites = [str(p) for p in toy_suites.values()]
    strategies = ["zero-shot", {"name": "few-shot", "k": -1}]
    config.write_text(
        json.dumps({"model": str(tiny_model), "suites": suites, "strategies": strategies})
    )
    args = ["run", str(config), "--out", str(tmp_path / "run"), "--strategies", "few-shot"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{config}" in err and "k must be at least 1" in err and "--strategies" not in err
