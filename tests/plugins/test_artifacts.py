"""`checkpoint` and `adapter`: artifacts trained elsewhere (here by plain TRL / PEFT code,
outside harness) as rows; their predictions equal loading the artifacts by hand."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from harness.config import parse_config
from harness.plugin_manager import load_plugins
from harness.runner import Runner, make_plan

TEXTS = [f"Colour: {c}\nLabel: {c}" for c in ("red", "green", "blue", "red", "blue")]


def _train(base: Path, out: Path, *, lora: bool) -> Path:
    """A few optimiser steps with TRL's SFTTrainer, saved with save_pretrained."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    args = SFTConfig(
        output_dir=str(out / "trainer"),
        max_steps=3,
        learning_rate=5e-2 if lora else 1e-2,
        per_device_train_batch_size=2,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        seed=0,
    )
    peft_config = (
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]) if lora else None
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list([{"text": t} for t in TEXTS]),
            processing_class=tokenizer,
            peft_config=peft_config,
        )
        trainer.train()
    folder = out / ("adapter" if lora else "checkpoint")
    trainer.model.save_pretrained(folder)
    if not lora:
        tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def artifacts(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("artifacts")
    return {
        "adapter": _train(tiny_model, root, lora=True),
        "checkpoint": _train(tiny_model, root, lora=False),
    }


def _by_hand(model: Any, tokenizer: Any, prompts: list[str], suite: Any) -> list[str]:
    """Predictions from an artifact loaded by hand, through the same decoding."""
    from harness.metrics import ExampleOutput  # noqa: F401 - the record type compared
    from harness.models.base import GenerationRequest
    from harness.models.hf import HFModel

    wrapped = HFModel(model.eval(), tokenizer, name="by hand", chat_template="off")
    spec = suite.spec.generation
    texts = wrapped.generate(
        [GenerationRequest(p, spec.max_new_tokens, spec.stop) for p in prompts]
    )
    return [t.strip() for t in texts]


def test_adapter_and_checkpoint_rows_equal_loading_them_by_hand(
    tmp_path: Path, tiny_model: Path, toy_suites: dict[str, Path], artifacts: dict[str, Path]
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = parse_config(
        {
            "model": {"name": str(tiny_model), "device": "cpu", "chat_template": "off"},
            "suites": [str(toy_suites["toy-echo"]), str(toy_suites["toy-sums"])],
            "strategies": [
                "zero-shot",
                {"name": "adapter", "label": "adapter-a", "path": str(artifacts["adapter"])},
                {"name": "checkpoint", "label": "full", "path": str(artifacts["checkpoint"])},
            ],
            "reporters": ["markdown"],
        },
        "test",
    )
    plugins = load_plugins()
    plan = make_plan(config, plugins, "test")
    outcome = Runner(plan, plugins, out_dir=tmp_path / "run").run()
    assert outcome.exit_code == 0, [c.error for c in outcome.results.cells if c.error]
    lines = (outcome.run_dir / "predictions.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    suite = next(s for s in plan.suites if s.name == "toy-echo")

    def rows(row: str) -> tuple[list[str], list[str]]:
        mine = [r for r in records if r["strategy"] == row and r["suite"] == "toy-echo"]
        return [r["prompt"] for r in mine], [r["prediction"] for r in mine]

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    prompts, predicted = rows("adapter-a")
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    adapted = PeftModel.from_pretrained(base, str(artifacts["adapter"])).merge_and_unload()
    assert predicted == _by_hand(adapted, tokenizer, prompts, suite)

    prompts, predicted = rows("full")
    full = AutoModelForCausalLM.from_pretrained(artifacts["checkpoint"])
    assert predicted == _by_hand(
        full, AutoTokenizer.from_pretrained(artifacts["checkpoint"]), prompts, suite
    )

    cells = {(c.strategy, c.suite): c for c in outcome.results.cells}
    for row in ("adapter-a", "full"):
        # forgetting measured against the base model's zero-shot row
        assert "accuracy" in cells[(row, "toy-sums")].delta_vs_zero_shot
        cost = cells[(row, "toy-echo")].cost.model_dump()
        assert cost["artifact_bytes"] > 0 and cost["parameters_changed"] > 0
    adapter_changed = cells[("adapter-a", "toy-echo")].cost.model_dump()["parameters_changed"]
    full_changed = cells[("full", "toy-echo")].cost.model_dump()["parameters_changed"]
    assert adapter_changed < full_changed


def test_adapter_is_skipped_on_a_backend_without_local_weights(
    tmp_path: Path, toy_suites: dict[str, Path], artifacts: dict[str, Path]
) -> None:
    config = parse_config(
        {
            "model": {"backend": "echo", "name": "m"},
            "suites": [str(toy_suites["toy-colours"])],
            "strategies": ["zero-shot", {"name": "adapter", "path": str(artifacts["adapter"])}],
            "reporters": [],
        },
        "test",
    )
    plugins = load_plugins()
    outcome = Runner(make_plan(config, plugins, "test"), plugins, out_dir=tmp_path / "r").run()
    cell = outcome.results.cell("adapter", "toy-colours")
    assert cell is not None and cell.status == "skipped"
    assert "needs the model's weights" in (cell.error or "")
