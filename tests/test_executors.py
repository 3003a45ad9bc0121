"""The Ray executor on a real local cluster gives the local executor's results, cell by
cell: with replicates, a LoRA row, a raising strategy, a worker killed mid-unit, and a
run interrupted and resumed from the cache."""

from __future__ import annotations

import io
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from harness import hookimpl
from harness.cli import main
from harness.config import ExecutorConfig, RunConfig, StrategyEntry
from harness.plugin_manager import load_plugins
from harness.runner import Runner, RunOutcome, make_plan
from tests.plugins import dying, failing

ray = pytest.importorskip("ray")

FAST_LORA = {"max_steps": 6, "batch_size": 4, "learning_rate": 5e-3}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """One small local cluster for the module's runs (the executor joins it)."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )
    yield
    ray.shutdown()


class AdaptLog:
    """The rows adapted in a run, and an optional Ctrl-C after the first adaptation."""

    def __init__(self, interrupt: bool = False) -> None:
        self.rows: list[str] = []
        self.interrupt = interrupt

    @hookimpl
    def harness_adapt_end(self, event):  # type: ignore[no-untyped-def]
        self.rows.append(event.strategy)
        if self.interrupt:
            raise KeyboardInterrupt


def _run(
    root: Path,
    name: str,
    executor: str,
    strategies: list[StrategyEntry],
    model: Path,
    suites: dict[str, Path],
    log: AdaptLog | None = None,
    cache: str | None = None,
    console: Console | None = None,
) -> RunOutcome:
    extra: list[tuple[str, Any]] = [("failing", failing), ("dying", dying)]
    plugins = load_plugins(extra=[*extra, ("log", log)] if log else extra)
    config = RunConfig(
        model=str(model),
        suites=[str(suites["toy-colours"]), str(suites["toy-sums"])],
        strategies=strategies,
        replicates=2,
        max_test_examples=12,
        bootstrap_resamples=200,
        out=str(root / name),
        cache_dir=str(root / f"cache-{cache or name}"),
        reporters=["markdown"],
        executor=ExecutorConfig(name=executor),
    )
    return Runner(make_plan(config, plugins), plugins, console=console).run()


def _matrix(marker: Path) -> list[StrategyEntry]:
    return [
        StrategyEntry(name="zero-shot"),
        StrategyEntry(name="few-shot"),
        StrategyEntry(name="lora", settings=FAST_LORA),
        StrategyEntry(name="broken-adapt"),
        StrategyEntry(name="dies-once", settings={"marker": str(marker)}),
    ]


@pytest.fixture(scope="module")
def local_and_ray(
    ray_cluster: None,
    tiny_model: Path,
    toy_suites: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[RunOutcome, RunOutcome, Path]:
    import torch

    # the local run with the torch threads of a Ray unit (cpus_per_unit 1): float sums
    # depend on the thread count, and identical means identical to the last bit
    root = tmp_path_factory.mktemp("executors")
    marker = root / "died"
    marker.write_text("the reference run never dies")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = _run(root, "local", "local", _matrix(marker), tiny_model, toy_suites)
    finally:
        torch.set_num_threads(before)
    marker.unlink()
    printed = io.StringIO()
    on_ray = _run(
        root,
        "ray",
        "ray",
        _matrix(marker),
        tiny_model,
        toy_suites,
        console=Console(file=printed, width=80),
    )
    (root / "ray-log.txt").write_text(printed.getvalue(), encoding="utf-8")
    return local, on_ray, marker


def _comparable(outcome: RunOutcome) -> list[dict[str, Any]]:
    """Every cell's figures, without the costs (times and memory differ by nature)."""
    return [
        c.model_dump(mode="json", exclude={"cost"})
        for c in sorted(outcome.results.cells, key=lambda c: (c.strategy, c.suite))
    ]


def test_ray_gives_the_local_results_cell_by_cell(local_and_ray) -> None:  # type: ignore[no-untyped-def]
    local, on_ray, _ = local_and_ray
    assert [c.status for c in on_ray.results.cells] == [c.status for c in local.results.cells]
    assert {c.status for c in local.results.cells} == {"ok", "failed"}
    few = next(c for c in local.results.cells if c.strategy == "few-shot")
    assert few.seeds == [0, 1] and few.metrics["accuracy"].replicate_values
    assert _comparable(on_ray) == _comparable(local)
    local_lines = (local.run_dir / "predictions.jsonl").read_bytes()
    assert (on_ray.run_dir / "predictions.jsonl").read_bytes() == local_lines
    lora = next(c for c in on_ray.results.cells if c.strategy == "lora")
    assert lora.cost.trainable_params > 0 and lora.cost.train_steps
    assert (on_ray.run_dir / "artifacts" / "lora" / "lora" / "seed-1").is_dir()


def test_the_driver_prints_each_unit_with_its_worker_and_the_time_left(local_and_ray) -> None:  # type: ignore[no-untyped-def]
    _, _, marker = local_and_ray
    lines = (marker.parent / "ray-log.txt").read_text(encoding="utf-8").splitlines()
    finished = [line for line in lines if line.startswith(("✓ ", "✗ "))]
    counts = [re.search(r"(\d+)/(\d+) units · .* elapsed, ", line) for line in finished]
    assert all(counts), finished
    # one line per unit (a row with each of its seeds), counted in the order they came
    assert [int(m.group(1)) for m in counts if m] == list(range(1, len(finished) + 1))
    assert {int(m.group(2)) for m in counts if m} == {len(finished)}
    for line in finished:
        assert re.search(r": [\d.]+ s on [^ ]+:\d+", line), line
    assert finished[-1].endswith("done")
    assert any(line.startswith("✗ broken-adapt") for line in finished)


def test_a_killed_worker_is_retried(local_and_ray) -> None:  # type: ignore[no-untyped-def]
    _, on_ray, marker = local_and_ray
    # the first attempt killed its worker process (not this one); the retry finished
    assert marker.is_file() and int(marker.read_text()) != os.getpid()
    cells = [c for c in on_ray.results.cells if c.strategy == "dies-once"]
    assert [c.status for c in cells] == ["ok", "ok"]


def test_a_raising_strategy_fails_only_its_cells(local_and_ray) -> None:  # type: ignore[no-untyped-def]
    _, on_ray, _ = local_and_ray
    assert on_ray.exit_code == 1
    for cell in on_ray.results.cells:
        if cell.strategy == "broken-adapt":
            assert cell.status == "failed" and "adapter exploded" in (cell.error or "")
        else:
            assert cell.status == "ok", cell


def test_an_interrupted_ray_run_resumes_from_the_cache(
    local_and_ray,  # type: ignore[no-untyped-def]
    tiny_model: Path,
    toy_suites: dict[str, Path],
    tmp_path: Path,
) -> None:
    local, _, _ = local_and_ray
    prompting = [StrategyEntry(name="zero-shot"), StrategyEntry(name="few-shot")]
    interrupt = AdaptLog(interrupt=True)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, "run", "ray", prompting, tiny_model, toy_suites, interrupt, "shared")
    # nothing half-written: no run folder, no staging folder beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache-shared"]
    finished = interrupt.rows[0]

    log = AdaptLog()
    resumed = _run(tmp_path, "run", "ray", prompting, tiny_model, toy_suites, log, "shared")
    # the unit that came back before Ctrl-C is not adapted again
    units = {"zero-shot": 1, "few-shot": 2}
    assert log.rows.count(finished) <= units[finished] - 1
    mine = {
        (c.strategy, c.suite): c.model_dump(mode="json", exclude={"cost", "status"})
        for c in resumed.results.cells
    }
    reference = {
        (c.strategy, c.suite): c.model_dump(mode="json", exclude={"cost", "status"})
        for c in local.results.cells
        if c.strategy in units
    }
    assert mine == reference
    lines = [json.loads(x) for x in (local.run_dir / "predictions.jsonl").read_text().splitlines()]
    expected = [x for x in lines if x["strategy"] in units]
    got = [json.loads(x) for x in (resumed.run_dir / "predictions.jsonl").read_text().splitlines()]
    assert got == expected


def test_ray_executor_without_ray_is_an_input_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets without Ray
    monkeypatch.delitem(sys.modules, "harness.executors.ray", raising=False)
    code = main(["run", "--executor", "ray", "--out", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert "executor.name" in err and "harness[ray]" in err
    assert not (tmp_path / "run").exists()


def test_executor_settings_are_validated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("executor: {name: spark, max_retries: -1}\n")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "executor.name" in err and "executor.max_retries" in err


def test_a_model_that_cannot_be_found_exits_2_before_ray_runs(tmp_path: Path) -> None:
    """The workers load the model, so the driver first makes sure it can be found: the
    same exit 2 as with the local executor, and no run folder."""
    import subprocess

    out = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "--executor",
            "ray",
            "--model",
            "no-such-org/no-such-model",
            "--strategies",
            "zero-shot",
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "no-such-org/no-such-model [model]: cannot load" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_rows_on_their_own_models_and_backends_give_the_local_results(
    ray_cluster: None, tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    """A row's own `model:` (another local model, or another backend: the installed
    `echo` example) is loaded by the worker that runs it, with the local results."""
    from harness.testing import build_tiny_llama

    other = build_tiny_llama(tmp_path / "other-llama", seed=3)
    strategies = [
        StrategyEntry(name="zero-shot"),
        StrategyEntry(name="zero-shot", label="other", model={"name": str(other)}),
        StrategyEntry(name="zero-shot", label="echo", model={"backend": "echo", "name": "e"}),
        StrategyEntry(name="lora", label="other-lora", settings=FAST_LORA, model=str(other)),
    ]
    outcomes = {}
    for executor in ("local", "ray"):
        plugins = load_plugins()
        config = RunConfig(
            model=str(tiny_model),
            suites=[str(toy_suites["toy-colours"]), str(toy_suites["toy-sums"])],
            strategies=strategies,
            max_test_examples=8,
            bootstrap_resamples=100,
            out=str(tmp_path / executor),
            cache_dir=str(tmp_path / f"cache-{executor}"),
            reporters=[],
            executor=ExecutorConfig(name=executor),
        )
        outcomes[executor] = Runner(make_plan(config, plugins), plugins).run()
    local, on_ray = outcomes["local"], outcomes["ray"]
    assert {c.status for c in on_ray.results.cells} == {"ok"}
    models = {c.strategy: c.model for c in on_ray.results.cells}
    assert models["other"] == str(other) and models["other-lora"] == str(other)
    assert models["echo"] == "echo:e"
    for a, b in zip(local.results.cells, on_ray.results.cells, strict=True):
        assert (a.strategy, a.suite) == (b.strategy, b.suite)
        for name, value in a.metrics.items():
            assert b.metrics[name].value == pytest.approx(value.value, abs=1e-6), (a.strategy, name)
