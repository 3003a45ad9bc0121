"""Tiny real Llama models for the backend tests, built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from harness.models.hf import HFModel
from harness.testing import build_tiny_llama


@pytest.fixture(scope="package", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # Tiny models gain nothing from intra-op threads, and with a busy neighbour on a
    # 2-core machine torch's thread pool spins: these tests went from 4 s to 60 s.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), seed=0)


@pytest.fixture(scope="session")
def tiny_chat_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-chat-llama"), seed=1, chat_template=True)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path) -> HFModel:
    # CPU and fp32 on every machine, so that scores compare at 1e-4; a small batch
    # size so that a handful of requests spans several batches.
    return HFModel.load(str(tiny_model_dir), device="cpu", batch_size=3)
