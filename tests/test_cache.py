"""The content-addressed cache, cached cells, per-target rows."""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from harness import AdaptContext, Predictor, Strategy
from harness.cache import Cache, content_key
from harness.config import RunConfig, StrategyEntry
from harness.models.base import LanguageModel
from harness.plugin_manager import load_plugins
from harness.runner import Runner, make_plan


def test_an_entry_appears_only_when_complete(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    with pytest.raises(RuntimeError), cache.put("things", "k1") as folder:
        (folder / "half.bin").write_text("half")
        raise RuntimeError("interrupted")
    assert cache.get("things", "k1") is None
    assert list((tmp_path / "things").iterdir()) == []  # no staging folder left behind
    with cache.put("things", "k1") as folder:
        (folder / "whole.bin").write_text("whole")
    entry = cache.get("things", "k1")
    assert entry is not None and (entry / "whole.bin").read_text() == "whole"
    assert Cache(tmp_path, enabled=False).get("things", "k1") is None


def test_content_key_is_stable_and_sensitive() -> None:
    @dataclass(frozen=True)
    class Settings:
        lr: float = 1e-4

    assert content_key("a", Settings(), {"b": 1, "a": [1, 2]}) == content_key(
        "a", Settings(), {"a": [1, 2], "b": 1}
    )
    assert content_key(Settings(lr=1e-4)) != content_key(Settings(lr=2e-4))


class CountingLoader:
    """Loads the real model, counting loads."""

    def __init__(self, path: Path) -> None:
        self.path, self.loads = path, 0

    def __call__(self) -> LanguageModel:
        from harness.models.hf import HFModel

        self.loads += 1
        return HFModel.load(str(self.path))


def _run(
    model: Path,
    suites: list[Path],
    out: Path,
    *,
    cache: bool = True,
    strategies=("zero-shot", "few-shot"),
):  # type: ignore[no-untyped-def]
    plugins = load_plugins()
    config = RunConfig(
        model=str(model),
        suites=[str(s) for s in suites],
        strategies=[StrategyEntry(name=s) for s in strategies],
        out=str(out),
        cache=cache,
        reporters=["markdown"],
        bootstrap_resamples=200,
    )
    loader = CountingLoader(model)
    outcome = Runner(make_plan(config, plugins), plugins, model_loader=loader).run()
    return outcome, loader.loads


def test_an_unchanged_rerun_is_served_from_the_cache(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    suites = list(toy_suites.values())
    first, loads = _run(tiny_model, suites, tmp_path / "a")
    assert loads == 1 and {c.status for c in first.results.cells} == {"ok"}
    second, loads = _run(tiny_model, suites, tmp_path / "b")
    assert loads == 0, "a fully cached run needs no model"
    assert {c.status for c in second.results.cells} == {"cached"}
    for a, b in zip(first.results.cells, second.results.cells, strict=True):
        assert a.metrics == b.metrics and a.delta_vs_zero_shot == b.delta_vs_zero_shot
        assert a.cost == b.cost
    assert (tmp_path / "a" / "predictions.jsonl").read_text() == (
        tmp_path / "b" / "predictions.jsonl"
    ).read_text()
    third, loads = _run(tiny_model, suites, tmp_path / "c", cache=False)
    assert loads == 1 and {c.status for c in third.results.cells} == {"ok"}


def test_a_changed_forgetting_suite_reruns_only_its_cells(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    copies = {name: tmp_path / "suites" / name for name in toy_suites}
    for name, path in toy_suites.items():
        shutil.copytree(path.parent, copies[name])
    suites = [copies[n] / "suite.yaml" for n in toy_suites]
    _run(tiny_model, suites, tmp_path / "a")
    test_file = copies["toy-sums"] / "data" / "test.jsonl"
    lines = test_file.read_text().splitlines(keepends=True)
    test_file.write_text("".join(lines[:-1]))  # one example fewer
    second, _ = _run(tiny_model, suites, tmp_path / "b")
    status = {(c.strategy, c.suite): c.status for c in second.results.cells}
    assert status[("zero-shot", "toy-sums")] == status[("few-shot", "toy-sums")] == "ok"
    assert {v for (_, suite), v in status.items() if suite != "toy-sums"} == {"cached"}


class PerTarget(Strategy):
    """A per-target strategy (like full fine-tuning) that records what it adapted to."""

    name = "per-target-probe"
    scope = "per-target"
    seen: ClassVar[list[tuple[str, ...]]] = []

    def adapt(self, context: AdaptContext) -> Predictor:
        PerTarget.seen.append(tuple(s.name for s in context.targets))
        assert context.cache is not None and len(context.cache_key) == 64
        return context.upstream


def test_per_target_strategies_get_one_row_per_target_suite(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    import types

    from harness import hookimpl

    @hookimpl
    def harness_register_strategies(registry):  # type: ignore[no-untyped-def]
        registry.add(PerTarget)

    module = types.ModuleType("per_target")
    module.harness_register_strategies = harness_register_strategies  # type: ignore[attr-defined]
    plugins = load_plugins(extra=[("per-target", module)])
    config = RunConfig(
        model=str(tiny_model),
        suites=[str(p) for p in toy_suites.values()],
        strategies=[StrategyEntry(name="zero-shot"), StrategyEntry(name="per-target-probe")],
        out=str(tmp_path / "run"),
        reporters=["markdown"],
        max_test_examples=4,
        bootstrap_resamples=100,
    )
    PerTarget.seen.clear()
    outcome = Runner(make_plan(config, plugins), plugins).run()
    assert outcome.exit_code == 0
    assert sorted(PerTarget.seen) == [("toy-colours",), ("toy-echo",)]
    status = {(c.strategy, c.suite): c.status for c in outcome.results.cells}
    assert status[("per-target-probe@toy-colours", "toy-colours")] == "ok"
    assert status[("per-target-probe@toy-colours", "toy-sums")] == "ok"  # forgetting: always
    assert status[("per-target-probe@toy-colours", "toy-echo")] == "skipped"
    assert status[("per-target-probe@toy-echo", "toy-colours")] == "skipped"
    skipped = outcome.results.cell("per-target-probe@toy-echo", "toy-colours")
    assert skipped is not None and skipped.error == "adapted to toy-echo only"


class Trains(Strategy):
    """Stands in for a trained artifact: stores one in the cache, reports hits."""

    name = "trains-probe"
    hits: ClassVar[list[bool]] = []

    def adapt(self, context: AdaptContext) -> Predictor:
        assert context.cache is not None
        hit = context.cache.get("adapters", context.cache_key) is not None
        if not hit:
            with context.cache.put("adapters", context.cache_key) as folder:
                (folder / "weights.bin").write_bytes(b"trained")
        Trains.hits.append(hit)
        return context.upstream


def test_a_changed_test_split_reevaluates_but_keeps_trained_artifacts(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    import types

    from harness import hookimpl

    @hookimpl
    def harness_register_strategies(registry):  # type: ignore[no-untyped-def]
        registry.add(Trains)

    module = types.ModuleType("trains")
    module.harness_register_strategies = harness_register_strategies  # type: ignore[attr-defined]
    folder = tmp_path / "colours"
    shutil.copytree(toy_suites["toy-colours"].parent, folder)

    def run(out: str) -> dict[str, str]:
        plugins = load_plugins(extra=[("trains", module)])
        config = RunConfig(
            model=str(tiny_model),
            suites=[str(folder / "suite.yaml")],
            strategies=[StrategyEntry(name="trains-probe")],
            out=str(tmp_path / out),
            reporters=["markdown"],
            bootstrap_resamples=100,
        )
        outcome = Runner(make_plan(config, plugins), plugins).run()
        return {c.suite: c.status for c in outcome.results.cells}

    Trains.hits.clear()
    assert run("a") == {"toy-colours": "ok"}
    test_file = folder / "data" / "test.jsonl"
    test_file.write_text("".join(test_file.read_text().splitlines(keepends=True)[:-1]))
    assert run("b") == {"toy-colours": "ok"}  # new test data: evaluated again
    assert Trains.hits == [False, True]  # ... with the artifact trained before
    train_file = folder / "data" / "train.jsonl"
    train_file.write_text("".join(train_file.read_text().splitlines(keepends=True)[:-1]))
    assert run("c") == {"toy-colours": "ok"}
    assert Trains.hits == [False, True, False]  # new training data: trained again


def test_publishers_of_the_same_key_race_without_errors(tmp_path: Path) -> None:
    """Runs sharing a cache (two `harness run`s, Ray workers) may publish the same entry
    at once: every publisher succeeds, readers never see an entry vanish under them, and
    the entry left is whole."""
    cache = Cache(tmp_path)
    payload = os.urandom(256 * 1024)
    errors: list[BaseException] = []
    stop = threading.Event()

    def publish() -> None:
        try:
            for _ in range(25):
                with cache.put("things", "same-key") as folder:
                    (folder / "a.bin").write_bytes(payload)
                    (folder / "b.bin").write_bytes(payload)
        except BaseException as e:
            errors.append(e)

    def read() -> None:
        try:
            while not stop.is_set():
                if (entry := cache.get("things", "same-key")) is not None:
                    assert (entry / "a.bin").read_bytes() == payload
                    assert (entry / "b.bin").read_bytes() == payload
        except BaseException as e:
            errors.append(e)

    readers = [threading.Thread(target=read) for _ in range(2)]
    publishers = [threading.Thread(target=publish) for _ in range(6)]
    for t in readers + publishers:
        t.start()
    for t in publishers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    entry = cache.get("things", "same-key")
    assert entry is not None and (entry / "a.bin").read_bytes() == payload
    # no staging or replaced folders left behind
    assert [p.name for p in (tmp_path / "things").iterdir()] == ["same-key"]
    assert cache.notes == []


def test_no_cache_publishers_replace_the_entry_without_errors(tmp_path: Path) -> None:
    """With the cache disabled each publisher replaces the entry; racing ones still all
    succeed, and one whole entry is left."""
    errors: list[BaseException] = []

    def publish(n: int) -> None:
        cache = Cache(tmp_path, enabled=False)
        try:
            for _ in range(25):
                with cache.put("things", "same-key") as folder:
                    (folder / "who.txt").write_text(str(n))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    entry = Cache(tmp_path).get("things", "same-key")
    assert entry is not None and (entry / "who.txt").read_text() in {str(n) for n in range(6)}
    assert [p.name for p in (tmp_path / "things").iterdir()] == ["same-key"]
