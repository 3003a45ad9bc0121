"""Training-seed replicates on a tiny Llama: seed-dependent rows run once per seed, cells
report the mean, the between-seed SD and a CI over seeds and examples, comparisons use the
replicate-aware test, and each replicate is cached on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import hookimpl
from harness.baseline import load_stored_run
from harness.config import RunConfig, StrategyEntry
from harness.errors import InputError
from harness.gate import GateConfig, compare
from harness.plugin_manager import load_plugins
from harness.results import read_predictions
from harness.runner import Runner, make_plan


class AdaptCounter:
    """Counts adaptations per row: what a replicate costs, or what the cache saves."""

    def __init__(self) -> None:
        self.rows: list[str] = []

    @hookimpl
    def harness_adapt_start(self, event):  # type: ignore[no-untyped-def]
        self.rows.append(event.strategy)


def _run(
    tiny_model: Path,
    toy_suites: dict[str, Path],
    out: Path,
    *,
    seed: int = 0,
    replicates: int = 2,
    strategies: tuple[str, ...] = ("zero-shot", "few-shot"),
) -> tuple[Path, AdaptCounter]:
    counter = AdaptCounter()
    plugins = load_plugins(extra=[("counter", counter)])
    config = RunConfig(
        model=str(tiny_model),
        suites=[str(toy_suites["toy-colours"])],
        strategies=[StrategyEntry(name=n) for n in strategies],
        out=str(out),
        seed=seed,
        replicates=replicates,
        bootstrap_resamples=200,
    )
    outcome = Runner(make_plan(config, plugins), plugins).run()
    assert outcome.exit_code == 0
    return outcome.run_dir, counter


def test_seed_dependent_rows_run_once_per_seed(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    run_dir, counter = _run(tiny_model, toy_suites, tmp_path / "run")
    assert counter.rows.count("zero-shot") == 1  # deterministic: run once
    assert counter.rows.count("few-shot") == 2  # random demonstrations: one per seed
    results = json.loads((run_dir / "results.json").read_text())
    cells = {c["strategy"]: c for c in results["cells"]}
    assert cells["zero-shot"]["seeds"] == []
    assert cells["few-shot"]["seeds"] == [0, 1]

    few = cells["few-shot"]["metrics"]["accuracy"]
    values = few["replicate_values"]
    assert len(values) == 2
    assert few["value"] == pytest.approx(sum(values) / 2)
    assert few["seed_sd"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
    assert few["ci95"][0] <= few["value"] <= few["ci95"][1]
    # a cell run once has neither field (docs/results.md): absent, not null
    assert "seed_sd" not in cells["zero-shot"]["metrics"]["accuracy"]
    assert "replicate_values" not in cells["zero-shot"]["metrics"]["accuracy"]

    delta = cells["few-shot"]["delta_vs_zero_shot"]["accuracy"]
    assert delta["test"] == "replicate-t"
    assert delta["training_variance_measured"] is True

    records = read_predictions(run_dir / "predictions.jsonl")
    few_records = records[("few-shot", "toy-colours")]
    assert sorted({r.seed for r in few_records}) == [0, 1]
    assert {r.seed for r in records[("zero-shot", "toy-colours")]} == {None}
    per_seed = [[r for r in few_records if r.seed == s] for s in (0, 1)]
    assert len(per_seed[0]) == len(per_seed[1]) == results["suites"][0]["n_test"]
    # each replicate's value is the accuracy of its own predictions
    for seed_records, value in zip(per_seed, values, strict=True):
        accuracy = sum(r.scores["accuracy"] for r in seed_records) / len(seed_records)
        assert accuracy == pytest.approx(value)


def test_one_replicate_is_the_single_run_and_says_variance_is_unmeasured(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    run_dir, _ = _run(tiny_model, toy_suites, tmp_path / "run", replicates=1)
    results = json.loads((run_dir / "results.json").read_text())
    few = next(c for c in results["cells"] if c["strategy"] == "few-shot")
    assert few["seeds"] == [0]
    assert "replicate_values" not in few["metrics"]["accuracy"]
    assert "seed_sd" not in few["metrics"]["accuracy"]
    delta = few["delta_vs_zero_shot"]["accuracy"]
    assert delta["test"] in ("mcnemar", "paired-bootstrap")
    assert delta["training_variance_measured"] is False
    lines = (run_dir / "predictions.jsonl").read_text().splitlines()
    assert all("seed" not in json.loads(line) for line in lines)


def test_more_replicates_later_compute_only_the_new_seeds(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    _run(tiny_model, toy_suites, tmp_path / "two", replicates=2)
    run_dir, counter = _run(tiny_model, toy_suites, tmp_path / "three", replicates=3)
    # seeds 0 and 1 come from the cache; only seed 2 is adapted, zero-shot not at all
    assert counter.rows == ["few-shot"]
    results = json.loads((run_dir / "results.json").read_text())
    few = next(c for c in results["cells"] if c["strategy"] == "few-shot")
    assert few["seeds"] == [0, 1, 2]
    assert len(few["metrics"]["accuracy"]["replicate_values"]) == 3


def test_gate_compares_replicated_runs_with_the_replicate_test(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    baseline, _ = _run(tiny_model, toy_suites, tmp_path / "base", seed=0, replicates=2)
    run, _ = _run(tiny_model, toy_suites, tmp_path / "run", seed=2, replicates=2)
    plugins = load_plugins()
    report = compare(
        load_stored_run(run, "run"),
        load_stored_run(baseline),
        GateConfig(max_drop=0.0),
        plugins.metrics.as_dict(),
    )
    few = next(c for c in report.checks if c.strategy == "few-shot")
    assert few.test == "replicate-t"
    assert few.n_matched > 0
    zero = next(c for c in report.checks if c.strategy == "zero-shot")
    assert zero.verdict == "pass" and zero.drop == 0.0


def test_a_strategy_seed_setting_with_replicates_is_refused(
    tiny_model: Path, toy_suites: dict[str, Path]
) -> None:
    plugins = load_plugins()
    config = RunConfig(
        model=str(tiny_model),
        suites=[str(toy_suites["toy-colours"])],
        strategies=[StrategyEntry(name="lora", settings={"seed": 7})],
        replicates=3,
    )
    with pytest.raises(InputError) as error:
        make_plan(config, plugins, "run.yaml")
    (problem,) = error.value.problems
    assert problem.file == "run.yaml" and problem.field == "strategies[0].seed"
    assert "replicates" in problem.fix
