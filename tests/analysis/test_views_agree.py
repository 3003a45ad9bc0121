"""The same pair of cells gets the same p-value, test and formatted p in the run's deltas
(results.json), `harness compare` and the gate (`harness check`).

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

from harness.analysis import format_p
from harness.baseline import load_stored_run
from harness.cli import main
from harness.gate import GateConfig, compare
from harness.plugin_manager import load_plugins
from harness.reporting.compare import compare_runs

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
