"""Contracts between the core and plugins: what predictors and reporters receive."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import Predictor, PromptedPredictor, ReportContext, Reporter, RequestBatch, hookimpl
from harness.config import RunConfig, StrategyEntry
from harness.evaluate import predict
from harness.models.hf import HFModel
from harness.plugin_manager import load_plugins
from harness.runner import Runner, make_plan
from harness.suites import load_suite


class Recording(Predictor):
    """Takes the `batch` keyword and records what it was given."""

    def __init__(self, model: Any) -> None:
        super().__init__(model)
        self.batches: list[tuple[str, str, int]] = []

    def generate(self, requests: Sequence[Any], progress: Any = None, *, batch: Any = None) -> Any:
        self.batches.append(("generate", batch.suite.name, len(batch.examples)))
        assert len(batch.examples) == len(requests)
        return super().generate(requests, progress)

    def score(self, requests: Sequence[Any], progress: Any = None, **kwargs: Any) -> Any:
        batch: RequestBatch = kwargs["batch"]
        self.batches.append(("score", batch.suite.name, len(batch.examples)))
        return super().score(requests, progress)


class OldStyle(Predictor):
    """Written before `batch` existed: never receives it."""

    def score(self, requests: Sequence[Any], progress: Any = None) -> Any:  # type: ignore[override]
        return super().score(requests, progress)

    def generate(self, requests: Sequence[Any], progress: Any = None) -> Any:  # type: ignore[override]
        return super().generate(requests, progress)


def test_predictors_receive_the_suite_and_examples_when_they_ask(
    tiny_model: Path, toy_suites: dict[str, Path]
) -> None:
    model = HFModel.load(str(tiny_model))
    recording = Recording(model)
    for name in ("toy-colours", "toy-echo"):
        suite = load_suite(toy_suites[name])
        predict(recording, suite, suite.test[:3], reference_logprob=True)
        predict(OldStyle(model), suite, suite.test[:3], reference_logprob=True)
    assert recording.batches == [
        ("score", "toy-colours", 3),
        ("generate", "toy-echo", 3),
        ("score", "toy-echo", 3),
    ]
    # a prompt-rewriting wrapper hands the batch on to what it wraps
    inner = Recording(model)
    suite = load_suite(toy_suites["toy-colours"])
    predict(PromptedPredictor(inner), suite, suite.test[:2])
    assert inner.batches == [("score", "toy-colours", 2)]


def test_reporters_write_into_the_staging_folder_and_name_the_final_one(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    seen: list[tuple[Path, Path | None, bool]] = []

    class Spy(Reporter):
        name = "spy"

        def render(self, context: ReportContext) -> None:
            seen.append((context.run_dir, context.final_dir, context.run_dir.is_dir()))

    class SpyPlugin:
        @hookimpl
        def harness_register_reporters(self, registry: Any) -> None:
            registry.add(Spy)

    plugins = load_plugins(extra=[("spy", SpyPlugin())])
    config = RunConfig(
        model=str(tiny_model),
        suites=[str(toy_suites["toy-colours"])],  # type: ignore[list-item]
        strategies=[StrategyEntry(name="zero-shot")],
        out=str(tmp_path / "run"),
        reporters=["spy"],
        bootstrap_resamples=100,
        max_test_examples=3,
    )
    outcome = Runner(make_plan(config, plugins), plugins).run()
    (run_dir, final_dir, existed) = seen[0]
    assert final_dir == outcome.run_dir == tmp_path / "run"
    assert existed and run_dir != final_dir and not run_dir.exists()
