"""The demo lab's model build: a tiny run saves a loadable checkpoint; the shipped one works."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.lab.model import SHIPPED_MODEL_DIR, LabModelConfig, build_model
from harness.lab.world import World

TINY = LabModelConfig(
    vocab_size=400,
    hidden_size=32,
    num_layers=2,
    num_heads=4,
    intermediate_size=64,
    seq_len=64,
    batch_size=2,
    steps=3,
    warmup_steps=1,
    probe_every=3,
    probe_examples=2,
    tokenizer_sample=300,
)


def test_a_tiny_build_saves_a_loadable_checkpoint(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report = build_model(tmp_path, TINY, log=lambda _: None)
    assert report.steps_done == 3
    assert set(report.probes) >= {"recall", "reading", "intent_few"}
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert model.config.num_hidden_layers == 2
    assert tokenizer.chat_template is None
    text = "Sodu bowl maker: Pubix\n\nTicket: my invoice is wrong\nIntent: billing"
    assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text
    assert json.loads((tmp_path / "build_report.json").read_text())["steps_done"] == 3


def test_the_build_is_deterministic(tmp_path: Path) -> None:
    quick = replace(TINY, probe_every=0)
    first = build_model(tmp_path / "a", quick, log=lambda _: None)
    second = build_model(tmp_path / "b", quick, log=lambda _: None)
    assert first.final_loss == second.final_loss
    weights = [(tmp_path / d / "model.safetensors").read_bytes() for d in ("a", "b")]
    assert weights[0] == weights[1]


@pytest.mark.skipif(
    not (SHIPPED_MODEL_DIR / "model.safetensors").is_file(), reason="no shipped checkpoint"
)
def test_the_shipped_checkpoint_loads_and_passes_a_quick_probe() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.lab.probes import run_probes

    size = sum(p.stat().st_size for p in SHIPPED_MODEL_DIR.iterdir() if p.is_file())
    assert size <= 30 * 2**20
    tokenizer = AutoTokenizer.from_pretrained(SHIPPED_MODEL_DIR)
    model = AutoModelForCausalLM.from_pretrained(SHIPPED_MODEL_DIR)
    probes = run_probes(model, tokenizer, World(0), n=60)
    assert probes["facts"] >= 0.8
    assert probes["recall"] >= 0.8
    assert probes["reading"] >= 0.8
    assert probes["intent_few"] >= probes["intent_zero"] + 0.1, probes
