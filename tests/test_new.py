"""`harness new`: generated plugin packages install, pass their own tests, and run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main


def test_generated_packages_install_pass_their_tests_and_run(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    for kind in ("strategy", "metric", "reporter"):
        assert main(["new", kind, f"my-{kind}", "--dir", str(tmp_path / "src")]) == 0
    packages = sorted((tmp_path / "src").iterdir())
    assert [p.name for p in packages] == [
        "harness-my-metric",
        "harness-my-reporter",
        "harness-my-strategy",
    ]
    for package in packages:
        assert {p.name for p in package.iterdir()} == {
            "pyproject.toml",
            "README.md",
            "tests",
            f"{package.name.replace('-', '_')}.py",
        }
    # installed into a folder of their own, put on the path: the test venv stays as it is
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), *map(str, packages)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    env = os.environ | {"PYTHONPATH": str(site), "HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    for package in packages:
        tested = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            cwd=package, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert tested.returncode == 0, tested.stdout + tested.stderr
    config = tmp_path / "run.yaml"
    config.write_text(
        json.dumps(
            {
                "model": str(tiny_model),
                "suites": [{"name": str(toy_suites["toy-echo"]), "metrics": ["+my-metric"]}],
                "strategies": ["zero-shot", {"name": "my-strategy", "instruction": "Be brief."}],
                "max_test_examples": 3,
                "bootstrap_resamples": 100,
            }
        )
    )
    ran = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(config), "--out", str(tmp_path / "run"),
         "--reporter", "my-reporter"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = (tmp_path / "run" / "my-reporter.txt").read_text().splitlines()
    assert [line.split("\t")[:2] for line in lines] == [
        ["zero-shot", "toy-echo"],
        ["my-strategy", "toy-echo"],
    ]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert all("my-metric" in cell["metrics"] for cell in results["cells"])


@pytest.mark.parametrize(
    ("args", "message"),
    [(["strategy", "Bad Name"], "is not a plugin name"), (["metric", "ok"], "already exists")],
)
def test_bad_names_and_existing_folders_are_refused(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "harness-ok").mkdir()
    assert main(["new", *args, "--dir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("under", ["", "sub"])
def test_a_dir_that_is_a_file_is_refused_without_a_traceback(
    under: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    target = blocker / under if under else blocker
    assert main(["new", "strategy", "ok", "--dir", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"{target} [--dir]" in err and "is a file, not a folder" in err
    assert "Traceback" not in err and blocker.read_text() == ""
