"""Shared fixtures: a tiny real Llama model and tiny real suites, built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cache import CACHE_ENV
from harness.testing import build_tiny_llama, write_toy_suites

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module", autouse=True)
def _module_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module-scoped runs cache into a folder of their own module, never ~/.cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("cache")))
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts with an empty cache (tests of the cache reuse one on purpose)."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "harness-cache"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real LlamaForCausalLM + BPE tokenizer saved with save_pretrained."""
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama", seed=0)


@pytest.fixture(scope="session")
def toy_suites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three small suites: classification (target), generation (target), MC (forgetting)."""
    return write_toy_suites(tmp_path_factory.mktemp("suites"))
