"""Prompts longer than the model's context: cut from the left after the leading special
tokens, and counted, so that results and reports say how many examples lost their start."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from harness.config import RunConfig, StrategyEntry
from harness.models.base import GenerationRequest, ReportsTruncation, ScoreRequest
from harness.models.hf import HFModel
from harness.plugin_manager import load_plugins
from harness.runner import Runner, make_plan
from harness.testing import build_tiny_llama

LONG = ("The quick brown fox jumps over the lazy dog. " * 20).rstrip()


def _room(model: HFModel, continuations: list[list[int]]) -> int:
    """Context tokens that fit next to the longest continuation."""
    return model.max_length - max(len(c) for c in continuations) + 1


@pytest.fixture()
def model(tiny_model_dir: Path) -> HFModel:
    model = HFModel.load(str(tiny_model_dir), device="cpu", batch_size=2)
    model.max_length = 32
    return model


def test_the_backend_reports_truncation(model: HFModel) -> None:
    assert isinstance(model, ReportsTruncation)
    assert model.truncated_prompts == []


def test_a_cut_prompt_keeps_bos_and_its_end(model: HFModel) -> None:
    request = ScoreRequest(LONG, (" yes", " no"))
    encoded = model._encode_score_request(request)
    whole = model._encode(LONG)
    room = _room(model, encoded.continuations)
    assert encoded.context[0] == model.tokenizer.bos_token_id
    assert len(encoded.context) == room
    assert encoded.context[1:] == whole[len(whole) - room + 1 :]
    assert model.truncated_prompts == [LONG]


def test_every_leading_special_token_is_kept(model: HFModel) -> None:
    eos = model.tokenizer.eos_token
    prompt = f"{eos}{LONG}"  # BOS, then EOS: two special tokens open the prompt
    encoded = model._encode_score_request(ScoreRequest(prompt, (" yes",)))
    special = [model.tokenizer.bos_token_id, model.tokenizer.eos_token_id]
    assert encoded.context[:2] == special
    assert encoded.context[2] not in special
    assert encoded.context[-1] == model._encode(prompt)[-1]


def test_a_chat_template_keeps_its_opening(tiny_chat_model_dir: Path) -> None:
    model = HFModel.load(str(tiny_chat_model_dir), device="cpu", chat_template="on")
    model.max_length = 32
    encoded = model._encode_score_request(ScoreRequest(LONG, (" yes",)))
    assert encoded.context[0] == model.tokenizer.bos_token_id
    assert encoded.context[1] != model.tokenizer.bos_token_id  # BOS once, not twice
    assert len(encoded.context) == _room(model, encoded.continuations)


def test_scoring_and_generation_log_each_cut_prompt(model: HFModel) -> None:
    model.loglikelihood([ScoreRequest(LONG, (" yes", " no")), ScoreRequest("Hi", (" x",))])
    assert model.truncated_prompts == [LONG]
    model.generate([GenerationRequest(LONG, max_new_tokens=4), GenerationRequest("Hi", 4)])
    assert model.truncated_prompts == [LONG, LONG]


def test_short_prompts_are_not_logged(model: HFModel) -> None:
    model.loglikelihood([ScoreRequest("Hi", (" x",))])
    model.generate([GenerationRequest("Hi", max_new_tokens=4)])
    assert model.truncated_prompts == []


@pytest.fixture(scope="module")
def short_context_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("short"), max_position_embeddings=48)


def test_results_and_reports_count_truncated_examples(
    short_context_model: Path,
    toy_suites: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plugins = load_plugins()
    config = RunConfig(
        model=str(short_context_model),
        suites=[str(toy_suites["toy-colours"])],
        strategies=[StrategyEntry(name="zero-shot"), StrategyEntry(name="few-shot")],
        out=str(tmp_path / "run"),
        max_test_examples=6,
        bootstrap_resamples=100,
        device="cpu",
    )
    outcome = Runner(make_plan(config, plugins), plugins).run()
    data = json.loads((outcome.run_dir / "results.json").read_text())
    cost = {c["strategy"]: c["cost"] for c in data["cells"]}
    assert cost["zero-shot"]["truncated_examples"] == 0
    assert cost["few-shot"]["truncated_examples"] == 6  # 4 demonstrations do not fit 48
    warning = "few-shot · toy-colours: 6 of 6 prompts were longer than the model's context"
    assert warning in (outcome.run_dir / "report.md").read_text()
    assert html.escape(warning) in (outcome.run_dir / "report.html").read_text()
    assert warning in " ".join(capsys.readouterr().out.split())
    assert "zero-shot · toy-colours:" not in (outcome.run_dir / "report.md").read_text()
