"""The public training API: `fine_tune` with a PEFT config or a transform, and the
installed IA3 example package, discovered through its entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness import AdaptContext, Predictor
from harness.cache import Cache
from harness.models.hf import HFModel
from harness.plugin_manager import load_plugins
from harness.suites import load_suite
from harness.testing import check_strategy
from harness.training import FineTunedPredictor, TrainSettings, as_language_model, fine_tune

FAST: dict[str, Any] = {"max_steps": 2, "batch_size": 4, "learning_rate": 5e-3}


def _context(tiny_model: Path, toy_suites: dict[str, Path], work: Path, **kw: Any) -> AdaptContext:
    base = HFModel.load(str(tiny_model))
    return AdaptContext(
        model_name=str(tiny_model),
        targets=(load_suite(toy_suites["toy-colours"]),),
        seed=0,
        work_dir=work,
        load_model=lambda: base,
        upstream=Predictor(base),
        **kw,
    )


def test_the_ia3_example_is_found_through_its_entry_point_and_conforms(
    tiny_model: Path, tmp_path: Path
) -> None:
    plugins = load_plugins()
    assert "ia3" in plugins.strategies, "pip install ./examples/harness-ia3"
    assert plugins.strategies.entries()[plugins.strategies.names().index("ia3")].provenance.package
    ia3 = plugins.strategies["ia3"]
    report = check_strategy(ia3(ia3.settings_class(**FAST)), tmp_path, model=tiny_model)
    assert report.examples > 0
    # per target, like lora: one adaptation (and one training record) per target suite
    records = sorted((tmp_path / "work").glob("*/training.json"))
    assert records
    for path in records:
        record = json.loads(path.read_text())
        # IA3 trains a few scaling vectors: a tiny share of the model
        assert 0 < record["trainable_share"] < 0.05 and record["artifact_cached"] == 0.0


def test_a_peft_config_is_cached_as_an_adapter_and_reused(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    from peft import IA3Config

    cache = Cache(tmp_path / "cache")
    config = IA3Config(task_type="CAUSAL_LM")
    context = _context(tiny_model, toy_suites, tmp_path / "w1", cache=cache, cache_key="k" * 64)
    first = fine_tune(context, TrainSettings(**FAST), peft_config=config)
    assert isinstance(first, FineTunedPredictor) and isinstance(first.model, HFModel)
    assert [p.name for p in (tmp_path / "cache" / "adapters").iterdir()] == ["k" * 64]
    assert (tmp_path / "w1" / "loss.jsonl").read_text()
    again = fine_tune(
        _context(tiny_model, toy_suites, tmp_path / "w2", cache=cache, cache_key="k" * 64),
        TrainSettings(**FAST),
        peft_config=config,
    )
    assert again.costs["artifact_cached"] == 1.0
    assert again.trainable_parameters == first.trainable_parameters
    suite = context.targets[0]
    requests = first.prompts(suite, suite.test[:3])
    from harness.models.base import ScoreRequest

    scored = [ScoreRequest(p, (" red", " blue")) for p in requests]
    a, b = first.score(scored), again.score(scored)
    assert [[round(s.logprob, 4) for s in row] for row in a] == [
        [round(s.logprob, 4) for s in row] for row in b
    ]


def test_a_transform_trains_what_it_returns_and_is_cached_whole(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    def only_the_head(model: Any) -> Any:
        model.requires_grad_(False)
        model.lm_head.requires_grad_(True)
        return model

    cache = Cache(tmp_path / "cache")
    context = _context(tiny_model, toy_suites, tmp_path / "w", cache=cache, cache_key="t" * 64)
    predictor = fine_tune(context, TrainSettings(**FAST), transform=only_the_head)
    head = context.load_model().model.lm_head.weight.numel()  # type: ignore[attr-defined]
    assert predictor.trainable_parameters == head
    assert (tmp_path / "cache" / "models" / ("t" * 64) / "config.json").is_file()


def test_peft_config_and_transform_are_exclusive(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    from peft import IA3Config

    context = _context(tiny_model, toy_suites, tmp_path / "w")
    with pytest.raises(ValueError, match="not both"):
        fine_tune(context, TrainSettings(**FAST), peft_config=IA3Config(), transform=lambda m: m)


def test_a_trained_model_is_wrapped_like_the_base_model(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    context = _context(tiny_model, toy_suites, tmp_path / "w")
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    wrapped = as_language_model(
        context, model, AutoTokenizer.from_pretrained(tiny_model), label="mine"
    )
    base = context.load_model()
    assert isinstance(wrapped, HFModel) and wrapped.name.endswith("(mine)")
    assert wrapped.batch_size == base.batch_size  # type: ignore[attr-defined]
    assert not any(p.requires_grad for p in model.parameters()) and not model.training
