"""Shared fixtures: a tiny real Llama model and tiny real suites, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.testing import build_tiny_llama, write_toy_suites

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real LlamaForCausalLM + BPE tokenizer saved with save_pretrained."""
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama", seed=0)


@pytest.fixture(scope="session")
def toy_suites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three small suites: classification (target), generation (target), MC (forgetting)."""
    return write_toy_suites(tmp_path_factory.mktemp("suites"))
