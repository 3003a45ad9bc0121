"""The same pair of cells gets the same p-value, test and formatted p in the run's deltas
(results.json), the recommendation, `harness compare` and the gate (`harness check`);
replicated rows are compared with the replicate-aware test everywhere, and a single-seed
row is flagged in every view of the decision.

One real run has a `zero-shot` row and a `tuned` row (the oracle of the compare tests,
answering the forgetting suite wrongly). A second run folder is the same run with the
`tuned` row replaced by the zero-shot row's predictions and figures, so comparing
`tuned` across the two folders (compare, gate) compares the very cells the run's delta
compares: tuned minus zero-shot on the same examples.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from harness.analysis import describe_test, format_p
from harness.baseline import load_stored_run
from harness.cli import main
from harness.gate import GateConfig, compare
from harness.plugin_manager import load_plugins
from harness.reporting.compare import compare_runs
from harness.reporting.evidence import decide
from harness.results import read_results

PLUGIN = "tests.reporting.plugins_for_compare"


@pytest.fixture(scope="module")
def run_and_twin(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("views")
    config = root / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": str(tiny_model),
                "suites": [str(p) for p in toy_suites.values()],
                "strategies": [
                    "zero-shot",
                    {"name": "oracle", "label": "tuned", "degrade": "toy-sums"},
                ],
                "out": str(root / "run"),
                "reporters": [],
                "seed": 7,  # comparisons do not depend on the run's seed
            }
        )
    )
    assert main(["--plugin", PLUGIN, "run", str(config)]) == 0
    run = root / "run"
    twin = shutil.copytree(run, root / "twin")
    _replace_tuned_by_zero_shot(twin)
    return run, twin


def _replace_tuned_by_zero_shot(folder: Path) -> None:
    lines = [json.loads(x) for x in (folder / "predictions.jsonl").read_text().splitlines()]
    zero = [x for x in lines if x["strategy"] == "zero-shot"]
    lines = [x for x in lines if x["strategy"] != "tuned"] + [
        {**x, "strategy": "tuned"}
        for x in reversed(zero)  # another order: pairing is by id
    ]
    (folder / "predictions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    results = json.loads((folder / "results.json").read_text())
    zero_cells = {c["suite"]: c for c in results["cells"] if c["strategy"] == "zero-shot"}
    for cell in results["cells"]:
        if cell["strategy"] == "tuned":
            cell["metrics"] = zero_cells[cell["suite"]]["metrics"]
            cell["delta_vs_zero_shot"] = {}
    (folder / "results.json").write_text(json.dumps(results))


def test_deltas_compare_and_gate_agree(run_and_twin: tuple[Path, Path]) -> None:
    run, twin = run_and_twin
    metrics = load_plugins().metrics.as_dict()
    results = json.loads((run / "results.json").read_text())
    primary = {s["name"]: s["primary_metric"] for s in results["suites"]}
    deltas = {
        c["suite"]: c["delta_vs_zero_shot"][primary[c["suite"]]]
        for c in results["cells"]
        if c["strategy"] == "tuned"
    }
    compared = {c.suite: c for c in compare_runs(twin, run, metrics).cells if c.strategy == "tuned"}
    gate = compare(
        load_stored_run(run, "run"),
        load_stored_run(twin, "baseline"),
        GateConfig(metrics=["macro_f1"]),
        metrics,
    )
    checked = {c.suite: c for c in gate.checks if c.strategy == "tuned" and c.metric != "macro_f1"}

    # the recommendation: one decision per target suite, tuned against zero-shot
    recommendation = decide(run, read_results(run), metrics)
    decided = {
        d.scope: next(c for c in d.comparisons if {c.a, c.b} == {"tuned", "zero-shot"})
        for d in recommendation.decisions
    }
    assert decided
    for suite, verdict in decided.items():
        delta = deltas[suite]
        assert verdict.p_value == delta["p_value"] == checked[suite].p_value, suite
        assert verdict.test == delta["test"] == checked[suite].test, suite
        assert f"p={format_p(delta['p_value'])}" in verdict.evidence(), suite
        assert describe_test(verdict.test, verdict.n_examples) in verdict.evidence(), suite

    assert set(deltas) == set(compared) == set(checked) == set(primary)
    for suite, delta in deltas.items():
        cell, check = compared[suite], checked[suite]
        assert cell.p_value == delta["p_value"] == check.p_value, suite
        assert cell.test == delta["test"] == check.test, suite
        assert cell.test in ("mcnemar", "paired-bootstrap"), suite
        assert cell.difference == pytest.approx(delta["value"]), suite
        assert cell.ci95 == pytest.approx(delta["ci95"]), suite
        assert format_p(cell.p_value) in check.reason or check.verdict == "pass", suite
    assert deltas["toy-sums"]["value"] < 0  # the degraded suite

    # a corpus-level metric (macro F1): the paired bootstrap, the same in the run and gate
    macro = [c for c in gate.checks if c.strategy == "tuned" and c.metric == "macro_f1"]
    assert macro
    for check in macro:
        cell = next(
            c for c in results["cells"] if (c["strategy"], c["suite"]) == ("tuned", check.suite)
        )
        delta = cell["delta_vs_zero_shot"]["macro_f1"]
        assert check.test == delta["test"] == "paired-bootstrap"
        assert check.p_value == delta["p_value"]


def _few_shot_run(
    tiny_model: Path, toy_suites: dict[str, Path], folder: Path, replicates: int
) -> Path:
    config = folder / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": str(tiny_model),
                "suites": [str(toy_suites["toy-colours"])],
                "strategies": ["zero-shot", "few-shot"],  # random demonstrations: seeded
                "out": str(folder / "run"),
                "replicates": replicates,
                "bootstrap_resamples": 200,
                "reporters": ["markdown", "html"],
            }
        )
    )
    assert main(["run", str(config)]) == 0
    return folder / "run"


def test_replicated_rows_are_compared_with_the_replicate_test_in_the_decision(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    run = _few_shot_run(tiny_model, toy_suites, tmp_path, replicates=2)
    results = read_results(run)
    few = results.cell("few-shot", "toy-colours")
    assert few is not None and few.seeds == [0, 1]
    delta = few.delta_vs_zero_shot["accuracy"]
    (decision,) = decide(run, results, load_plugins().metrics.as_dict()).decisions
    (verdict,) = decision.comparisons
    assert verdict.test == delta.test == "replicate-t"
    assert verdict.p_value == delta.p_value
    assert verdict.result.replicates in ((2, 1), (1, 2))
    assert decision.single_seed == ()
    words = describe_test("replicate-t", verdict.n_examples, verdict.result.replicates)
    assert words in decision.reason and "training-seed variance included" in decision.reason
    markdown = (run / "report.md").read_text(encoding="utf-8")
    assert words in markdown and "Training variance:" not in markdown


def test_a_single_seed_few_shot_row_is_flagged_in_every_view(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    import html

    from rich.console import Console

    from harness.reporting.table import decision_blocks
    from harness.reporting.terminal import decision_view

    run = _few_shot_run(tiny_model, toy_suites, tmp_path, replicates=1)
    results = read_results(run)
    (decision,) = (recommendation := decide(run, results)).decisions
    assert decision.single_seed == ("few-shot",)
    # 12 test examples cannot separate them: the tie says what they could detect
    assert decision.verdict == "tie" and decision.min_detectable_difference is not None
    power = decision_blocks(recommendation)[0].power
    assert power.startswith("With 12 test examples this suite")
    console = Console(record=True, width=400, color_system=None)
    console.print(decision_view(recommendation))
    views = [
        console.export_text(),
        (run / "report.md").read_text(encoding="utf-8"),
        html.unescape((run / "report.html").read_text(encoding="utf-8")),
    ]
    line = "few-shot: one training seed: seed-to-seed variance not measured"
    for text in views:
        assert "Training variance:" in text and line in text
        assert "`replicates: 3`" in text
        assert power in " ".join(text.split())
