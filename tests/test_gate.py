"""The regression gate: `harness baseline save` and `harness check` on real runs.

Four real runs of the tiny model on two toy suites (toy-colours: 12 test examples,
target; toy-sums: 10, forgetting), with the `tuned` test strategy
(tests/plugins/degrading.py) answering right except on a chosen number of examples:

- base: tuned right everywhere (the baseline);
- regression: 8 of 12 toy-colours examples wrong (McNemar p = 2 * 0.5**8 ≈ 0.008);
- noise: 1 of 12 wrong (drop 0.083 > 0.02, but p = 1);
- forgetting: 7 of 10 toy-sums examples wrong, with a `gate:` section in its config.
"""

from __future__ import annotations

import json
import math
import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.baseline import load_stored_run
from harness.cli import main
from harness.config import parse_config
from harness.errors import InputError
from harness.gate import GateCheck, GateConfig, GateReport, compare
from harness.plugin_manager import load_plugins
from harness.results import Cell, MetricValue, RunResults, SuiteInfo

PLUGIN = ["--plugin", "tests.plugins.degrading"]
RUNS = {
    "base": "[zero-shot, {name: tuned}]",
    "regression": "[{name: tuned, wrong: 8, suites: [toy-colours]}]",
    "noise": "[zero-shot, {name: tuned, wrong: 1, suites: [toy-colours]}]",
    "forgetting": "[zero-shot, {name: tuned, wrong: 7, suites: [toy-sums]}]",
}
FORGETTING_GATE = "gate: {max_drop: 0.9, forgetting_budget: 0.01, bootstrap_resamples: 200}"


@pytest.fixture(scope="module")
def runs(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The four run folders, and the baseline saved from `base` (key "baseline")."""
    root = tmp_path_factory.mktemp("gate")
    folders = {}
    for name, strategies in RUNS.items():
        config = root / f"{name}.yaml"
        config.write_text(
            textwrap.dedent(
                f"""\
                model: {tiny_model}
                suites: [{toy_suites["toy-colours"]}, {toy_suites["toy-sums"]}]
                strategies: {strategies}
                bootstrap_resamples: 200
                reporters: []
                """
            )
            + (FORGETTING_GATE + "\n" if name == "forgetting" else "")
        )
        folders[name] = root / "reports" / name
        assert main([*PLUGIN, "run", str(config), "--out", str(folders[name])]) == 0
    baselines = root / "baselines"
    save = ["baseline", "save", str(folders["base"]), "--name", "main", "--root", str(baselines)]
    assert main(save) == 0
    folders["baseline"] = baselines / "main"
    return folders


def gate(run: Path, baseline: Path, **config: object) -> GateReport:
    return compare(
        load_stored_run(run, "run"),
        load_stored_run(baseline, "baseline"),
        GateConfig.model_validate({"bootstrap_resamples": 200, **config}),
        load_plugins().metrics.as_dict(),
    )


def check_of(report: GateReport, strategy: str, suite: str, metric: str = "accuracy") -> GateCheck:
    (found,) = [
        c for c in report.checks if (c.strategy, c.suite, c.metric) == (strategy, suite, metric)
    ]
    return found


def check_args(run: Path, baseline: Path, *extra: str) -> list[str]:
    return [*PLUGIN, "check", str(run), "--baseline", str(baseline), "--resamples", "200", *extra]


def test_baseline_save_into_a_root_that_is_a_file_exits_2(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    for root in (blocker, blocker / "baselines"):
        assert main(["baseline", "save", str(runs["base"]), "--root", str(root)]) == 2
        err = capsys.readouterr().err
        assert f"{root} [--root]" in err and "is a file, not a folder" in err
        assert "Traceback" not in err
    assert blocker.read_text() == ""


def test_baseline_save_copies_the_contract_files(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(p.name for p in runs["baseline"].iterdir())
    assert files == ["manifest.json", "predictions.jsonl", "results.json"]
    assert main(["baseline", "save", str(runs["base"]), "--name", "../x"]) == 2
    assert "bad baseline name" in capsys.readouterr().err


def test_same_figures_pass(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(check_args(runs["base"], runs["baseline"])) == 0
    out = capsys.readouterr().out
    assert "gate passed" in out
    report = gate(runs["base"], runs["baseline"])
    assert {c.verdict for c in report.checks} == {"pass"}
    assert len(report.checks) == 4  # 2 strategies × 2 suites × primary metric
    tuned = check_of(report, "tuned", "toy-colours")
    assert (tuned.baseline, tuned.value, tuned.drop, tuned.test) == (1.0, 1.0, 0.0, "mcnemar")
    assert tuned.p_value == 1.0 and tuned.reason == "unchanged"


def test_significant_regression_fails_with_junit_and_markdown(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit, markdown = tmp_path / "ci" / "gate.xml", tmp_path / "ci" / "gate.md"
    args = check_args(
        runs["regression"],
        runs["baseline"],
        "--metric",
        "macro_f1",
        "--junit",
        str(junit),
        "--markdown",
        str(markdown),
    )
    assert main(args) == 1
    assert "gate failed: 2 regressions" in capsys.readouterr().out

    report = gate(runs["regression"], runs["baseline"], metrics=["macro_f1"])
    accuracy = check_of(report, "tuned", "toy-colours")
    assert accuracy.verdict == "fail" and accuracy.test == "mcnemar"
    assert accuracy.baseline == 1.0 and accuracy.value == pytest.approx(4 / 12)
    assert accuracy.p_value == pytest.approx(2 * 0.5**8) and accuracy.n_matched == 12
    assert "significant" in accuracy.reason and "McNemar on 12 matched" in accuracy.reason
    macro_f1 = check_of(report, "tuned", "toy-colours", "macro_f1")
    assert macro_f1.verdict == "fail" and macro_f1.test == "paired-bootstrap"
    assert check_of(report, "tuned", "toy-sums").verdict == "pass"
    # zero-shot is in the baseline only: reported, not silently ignored
    assert check_of(report, "zero-shot", "toy-colours").verdict == "removed"
    assert any("'zero-shot' is in the baseline but not in the run" in n for n in report.notes)

    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and root.get("failures") == "2"
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"tuned", "zero-shot"}
    cases = {c.get("name"): c for c in suites["tuned"].iter("testcase")}
    assert set(cases) == {
        "toy-colours / accuracy",
        "toy-colours / macro_f1",
        "toy-sums / accuracy",
    }
    failure = cases["toy-colours / accuracy"].find("failure")
    assert failure is not None
    message = failure.get("message", "")
    assert "1.000 -> 0.333" in message and "drop +0.667" in message
    assert "allowed 0.020" in message and "p=0.008" in message
    assert cases["toy-sums / accuracy"].find("failure") is None
    assert all(c.find("skipped") is not None for c in suites["zero-shot"].iter("testcase"))

    text = markdown.read_text()
    assert text.startswith("## harness check: failed (2 regressions)")
    assert "| tuned | toy-colours | accuracy | 1.000 | 0.333 | +0.667 | 0.020 |" in text


def test_non_significant_drop_above_threshold_passes_and_says_why(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(check_args(runs["noise"], runs["baseline"])) == 0
    assert "pass-not-significant" in capsys.readouterr().out
    check = check_of(gate(runs["noise"], runs["baseline"]), "tuned", "toy-colours")
    assert check.verdict == "pass-not-significant"
    assert check.drop == pytest.approx(1 / 12) and check.drop > check.threshold == 0.02
    assert check.p_value == 1.0 and check.test == "mcnemar"
    assert "but not significant" in check.reason and "could be noise" in check.reason


def test_forgetting_budget_breach_fails_from_the_runs_gate_config(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # no flags: the thresholds come from the `gate:` section in the run's config.yaml
    assert main(check_args(runs["forgetting"], runs["baseline"])) == 1
    capsys.readouterr()
    config = GateConfig(max_drop=0.9, forgetting_budget=0.01, bootstrap_resamples=200)
    report = gate(runs["forgetting"], runs["baseline"], **config.model_dump())
    sums = check_of(report, "tuned", "toy-sums")
    assert sums.role == "forgetting" and sums.verdict == "fail"
    assert sums.drop == pytest.approx(0.7) and sums.threshold == 0.01
    assert sums.threshold_source == "forgetting budget"
    assert sums.reason.startswith("forgetting budget breached")
    assert sums.p_value == pytest.approx(2 * 0.5**7)
    # the same drop under the target threshold would have passed
    assert check_of(report, "tuned", "toy-colours").verdict == "pass"
    relaxed = gate(runs["forgetting"], runs["baseline"], max_drop=0.9)
    assert check_of(relaxed, "tuned", "toy-sums").verdict == "pass"


def test_bare_results_json_baseline_falls_back_to_ci(runs: dict[str, Path], tmp_path: Path) -> None:
    kept = tmp_path / "repo" / "results.json"
    kept.parent.mkdir()
    shutil.copy(runs["baseline"] / "results.json", kept)
    report = gate(runs["regression"], kept)
    accuracy = check_of(report, "tuned", "toy-colours")
    assert accuracy.verdict == "fail" and accuracy.test == "ci-based" and accuracy.n_matched == 0
    assert accuracy.p_value is not None and accuracy.p_value < 0.001
    assert "the baseline has no predictions.jsonl" in accuracy.reason
    assert any("every comparison is CI-based" in n for n in report.notes)


def test_different_examples_fall_back_to_ci_and_are_reported(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    # a baseline scored on fewer test examples (as with --max-test-examples)
    baseline = tmp_path / "fewer"
    shutil.copytree(runs["baseline"], baseline)
    lines = (baseline / "predictions.jsonl").read_text().splitlines()
    kept = [line for line in lines if json.loads(line)["example_id"] != "c39"]
    (baseline / "predictions.jsonl").write_text("\n".join(kept) + "\n")
    check = check_of(gate(runs["noise"], baseline), "tuned", "toy-colours")
    assert check.test == "ci-based"
    assert "1 only in the run, 0 only in the baseline" in check.reason


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("version", "0", "suite 'toy-sums' is version 0 in the baseline and 2 in the run"),
        ("content_hash", "0" * 64, "suite 'toy-sums' (version 2 in both) has different content"),
    ],
)
def test_stale_baseline_exits_2(
    runs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    field: str,
    value: str,
    expected: str,
) -> None:
    stale = tmp_path / "stale"
    shutil.copytree(runs["baseline"], stale)
    data = json.loads((stale / "results.json").read_text())
    (suite,) = [s for s in data["suites"] if s["name"] == "toy-sums"]
    suite[field] = value
    (stale / "results.json").write_text(json.dumps(data))
    junit = tmp_path / "gate.xml"
    assert main(check_args(runs["base"], stale, "--junit", str(junit))) == 2
    err = capsys.readouterr().err
    assert "baseline is stale" in err and expected in err and "fix:" in err
    assert "Traceback" not in err and not junit.exists()


def test_baseline_from_another_schema_version_exits_2(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old"
    shutil.copytree(runs["baseline"], old)
    data = json.loads((old / "results.json").read_text())
    data["schema_version"] = 99
    (old / "results.json").write_text(json.dumps(data))
    assert main(check_args(runs["base"], old)) == 2
    err = capsys.readouterr().err
    assert "baseline was written with results schema version 99" in err
    assert "reads schema version 1" in err and "re-create the baseline" in err


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (("--metric", "bleu"), "no suite of the run or the baseline reports metric 'bleu'"),
        (("--max-drop", "-1"), "greater than or equal to 0"),
        (("--strategies", "nope"), "strategy 'nope' is in neither the run nor the baseline"),
        (("--junit", "{file}/gate.xml"), "is a file, not a folder"),
        (("--markdown", "{file}/gate.md"), "is a file, not a folder"),
        (("--junit", "{folder}"), "[--junit]: is a folder, not a file"),
    ],
)
def test_bad_gate_input_exits_2(
    runs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    expected: str,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    extra = tuple(e.format(file=blocker, folder=tmp_path) for e in extra)
    assert main(check_args(runs["base"], runs["baseline"], *extra)) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("gate_section", "extra", "expected"),
    [
        ("", ("--metric", "bleu"), "--metric [metrics.bleu]: no suite"),
        ("", ("--strategies", "nope"), "--strategies [strategies]: strategy 'nope'"),
        ("strategies: [nope]", (), "gate.yaml [gate.strategies]: strategy 'nope'"),
        ("suites: {nosuite: {max_drop: 0.1}}", (), "gate.yaml [gate.suites.nosuite]: suite"),
        ("metrics: {bleu: 0.1}", (), "gate.yaml [gate.metrics.bleu]: no suite"),
    ],
)
def test_a_bad_gate_setting_names_the_flag_or_the_file_that_set_it(
    runs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    gate_section: str,
    extra: tuple[str, ...],
    expected: str,
) -> None:
    config = tmp_path / "gate.yaml"
    config.write_text(f"gate: {{{gate_section}}}\n", encoding="utf-8")
    args = [*check_args(runs["base"], runs["baseline"], *extra), "--config", str(config)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert expected in err and "\n  - gate " not in err


def test_missing_baseline_exits_2(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(check_args(runs["base"], tmp_path / "nowhere")) == 2
    assert "no such baseline" in capsys.readouterr().err


def test_fail_on_missing_turns_removed_into_failures(runs: dict[str, Path]) -> None:
    report = gate(runs["regression"], runs["baseline"], fail_on_missing=True)
    zero_shot = check_of(report, "zero-shot", "toy-sums")
    assert zero_shot.verdict == "fail" and "fail_on_missing" in zero_shot.reason
    # the other way round, zero-shot is new in the run: reported, and passes
    reverse = gate(runs["base"], runs["regression"])
    assert check_of(reverse, "zero-shot", "toy-sums").verdict == "new"


# -- without run folders ---------------------------------------------------------------


def _stored(tmp_path: Path, name: str, value: float, ci: tuple[float, float]) -> Path:
    results = RunResults(
        run_id=name,
        harness_version="0.1.0",
        model="m",
        seed=0,
        suites=[
            SuiteInfo(
                name="lm",
                version="1",
                role="forgetting",
                task="generation",
                primary_metric="perplexity",
                n_test=100,
                higher_is_better=False,
            )
        ],
        cells=[
            Cell(
                strategy="lora",
                suite="lm",
                status="ok",
                metrics={"perplexity": MetricValue(value=value, ci95=ci)},
            )
        ],
    )
    path = tmp_path / name / "results.json"
    path.parent.mkdir()
    path.write_text(results.model_dump_json())
    return path


def test_lower_is_better_an_increase_is_a_drop(tmp_path: Path) -> None:
    low = _stored(tmp_path, "low", 10.0, (9.8, 10.2))
    high = _stored(tmp_path, "high", 12.0, (11.8, 12.2))
    worse = check_of(gate(high, low, metrics={"perplexity": 0.5}), "lora", "lm", "perplexity")
    assert worse.drop == pytest.approx(2.0) and not worse.higher_is_better
    assert worse.verdict == "fail" and worse.test == "ci-based"
    assert worse.threshold_source == "gate.metrics.perplexity"
    better = check_of(gate(low, high, metrics={"perplexity": 0.5}), "lora", "lm", "perplexity")
    assert better.drop == pytest.approx(-2.0) and better.verdict == "pass"
    assert better.reason == "improved by 2.000"
    assert worse.p_value is not None and not math.isnan(worse.p_value)


def test_gate_section_of_a_run_config_is_validated() -> None:
    config = parse_config(
        {"gate": {"max_drop": 0.05, "metrics": ["macro_f1"], "suites": {"x": {"max_drop": 0}}}},
        "run.yaml",
    )
    assert config.gate is not None and config.gate.metrics == {"macro_f1": None}
    with pytest.raises(InputError) as caught:
        parse_config({"gate": {"max_dorp": 0.05, "alpha": 2}}, "run.yaml")
    fields = {p.field for p in caught.value.problems}
    assert fields == {"gate.max_dorp", "gate.alpha"}


def test_thresholds_first_match_wins() -> None:
    config = GateConfig(
        max_drop=0.02,
        forgetting_budget=0.01,
        metrics={"perplexity": 0.5, "macro_f1": None},
        suites={"a": {"max_drop": 0.1, "metrics": {"macro_f1": 0.2}}},
    )

    def suite(name: str, role: str) -> SuiteInfo:
        return SuiteInfo(
            name=name, version="1", role=role, task="t", primary_metric="accuracy", n_test=1
        )

    assert config.threshold(suite("a", "target"), "macro_f1") == (
        0.2,
        "gate.suites.a.metrics.macro_f1",
    )
    assert config.threshold(suite("a", "target"), "accuracy")[0] == 0.1
    assert config.threshold(suite("b", "forgetting"), "perplexity")[0] == 0.5
    assert config.threshold(suite("b", "forgetting"), "macro_f1") == (0.01, "forgetting budget")
    assert config.threshold(suite("b", "target"), "accuracy") == (0.02, "max drop")
    assert config.gated_metrics(suite("b", "target"), ["accuracy", "macro_f1", "x"]) == [
        "accuracy",
        "macro_f1",
    ]


def test_a_cell_that_failed_in_the_run_fails_the_gate(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(runs["noise"], broken)
    data = json.loads((broken / "results.json").read_text())
    (cell,) = [c for c in data["cells"] if (c["strategy"], c["suite"]) == ("tuned", "toy-sums")]
    cell.update(status="failed", error="RuntimeError while adapting: boom", metrics={})
    (broken / "results.json").write_text(json.dumps(data))
    assert main(check_args(broken, runs["baseline"])) == 1
    capsys.readouterr()
    check = check_of(gate(broken, runs["baseline"]), "tuned", "toy-sums")
    assert check.verdict == "fail" and "failed in the run: RuntimeError" in check.reason
