"""`harness compare`: two real runs that differ in one cell on purpose; only that cell is
reported as significantly different, with a paired test, and without paired data the CI
rule still finds it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from harness.cli import main

PLUGIN = "tests.reporting.plugins_for_compare"


def _run(root: Path, name: str, model: Path, suites: dict[str, Path], tuned: dict) -> Path:
    config = root / f"{name}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": str(model),
                "suites": [str(p) for p in suites.values()],
                "strategies": ["zero-shot", {"name": "oracle", "label": "tuned", **tuned}],
                "out": str(root / name),
                "reporters": [],
                "bootstrap_resamples": 200,
            }
        )
    )
    assert main(["--plugin", PLUGIN, "run", str(config)]) == 0
    return root / name


@pytest.fixture(scope="module")
def runs(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """Run A, and run B where `tuned` answers the forgetting suite toy-sums wrongly."""
    root = tmp_path_factory.mktemp("compare")
    before = _run(root, "before", tiny_model, toy_suites, {})
    after = _run(root, "after", tiny_model, toy_suites, {"degrade": "toy-sums"})
    return before, after


def _significant(path: Path) -> list[tuple[str, str]]:
    data = json.loads(path.read_text())
    return [(c["strategy"], c["suite"]) for c in data["cells"] if c["significant"]]


def test_only_the_changed_cell_is_significant(
    runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = runs
    out = tmp_path / "compare.json"
    assert main(["--plugin", PLUGIN, "compare", str(before), str(after), "--json", str(out)]) == 0
    assert _significant(out) == [("tuned", "toy-sums")]
    cells = {(c["strategy"], c["suite"]): c for c in json.loads(out.read_text())["cells"]}
    changed = cells[("tuned", "toy-sums")]
    assert changed["test"] == "mcnemar" and changed["n_paired"] == 10
    assert changed["difference"] == pytest.approx(-1.0)
    assert changed["p_adjusted"] < 0.05 and changed["p_value"] <= changed["p_adjusted"]
    assert len(cells) == 6 and all(c["status"] == "compared" for c in cells.values())
    # unchanged cells: identical predictions, so no difference at all
    for key, cell in cells.items():
        if key != ("tuned", "toy-sums"):
            assert cell["difference"] == 0.0 and cell["p_value"] == 1.0, key
    printed = capsys.readouterr().out
    assert "1 of 6 cells differ significantly" in printed and "tuned · toy-sums" in printed


def test_without_predictions_the_ci_rule_still_finds_only_that_cell(
    runs: tuple[Path, Path], tmp_path: Path
) -> None:
    before, after = runs
    bare = shutil.copytree(after, tmp_path / "bare")
    (bare / "predictions.jsonl").unlink()
    out = tmp_path / "compare.json"
    assert main(["compare", str(before), str(bare), "--json", str(out)]) == 0
    assert _significant(out) == [("tuned", "toy-sums")]
    cells = json.loads(out.read_text())["cells"]
    assert {c["test"] for c in cells} == {"ci-based"}
    assert all("no predictions.jsonl" in c["note"] for c in cells)


def test_compare_of_a_folder_without_results_exits_2(
    runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", str(runs[0]), str(tmp_path)]) == 2
    assert "no results.json" in capsys.readouterr().err


@pytest.mark.parametrize("alpha", ["0", "1", "2", "-0.1", "five"])
def test_compare_refuses_an_alpha_outside_0_1(
    runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], alpha: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["compare", str(runs[0]), str(runs[1]), "--alpha", alpha])
    assert stopped.value.code == 2
    assert "argument --alpha: must be a significance level between 0 and 1" in (
        capsys.readouterr().err
    )


def test_compare_json_into_a_file_path_that_cannot_be_written_exits_2(
    runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    for target, message in ((blocker / "x.json", "is a file, not a folder"), (tmp_path, "folder")):
        assert main(["compare", str(runs[0]), str(runs[1]), "--json", str(target)]) == 2
        err = capsys.readouterr().err
        assert f"{target} [--json]" in err and message in err and "Traceback" not in err
    # missing folders are created
    out = tmp_path / "new" / "folder" / "compare.json"
    assert main(["compare", str(runs[0]), str(runs[1]), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["cells"]
