"""The commands of README's "Evaluate a model you already trained" and "Hosted models"
sections, executed as written against the demo model (paths and port filled in)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main
from harness.demo import DEMO_MODEL_DIR
from tests.models.test_openai_backend import MISSING, _serve

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.index("\n## ", start + 3)
    return text[start:end]


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def _write_configs(section: str, folder: Path, replacements: dict[str, str]) -> None:
    for block in _blocks(section, "yaml"):
        name = block.splitlines()[0].removeprefix("# ").strip()
        for old, new in replacements.items():
            block = block.replace(old, new)
        (folder / name).write_text(block, encoding="utf-8")


def _harness_commands(section: str, replacements: dict[str, str]) -> list[list[str]]:
    lines = [line for block in _blocks(section, "bash") for line in block.splitlines()]
    commands = []
    for line in lines:
        if line.startswith("harness "):
            for old, new in replacements.items():
                line = line.replace(old, new)
            commands.append(shlex.split(line)[1:])
    return commands


@pytest.fixture(scope="module")
def demo_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real PEFT adapter on the demo model (random B, so that it changes outputs)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(DEMO_MODEL_DIR)
    config = LoraConfig(r=2, target_modules="all-linear", init_lora_weights=False)
    folder = tmp_path_factory.mktemp("adapter") / "adapter"
    get_peft_model(model, config).save_pretrained(folder)
    return folder


def test_evaluate_a_model_you_already_trained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_adapter: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    section = _section("Evaluate a model you already trained")
    replacements = {
        "harness/lab/model": str(DEMO_MODEL_DIR),
        "path/to/checkpoint": str(DEMO_MODEL_DIR),  # any full model folder
        "path/to/adapter": str(demo_adapter),
    }
    _write_configs(section, tmp_path, replacements)
    commands = _harness_commands(section, replacements)
    assert commands
    for command in commands:
        assert main(command) == 0, command
    results = json.loads((tmp_path / "reports/trained/results.json").read_text())
    cells = {(c["strategy"], c["suite"]): c for c in results["cells"]}
    assert cells[("my-finetune", "demo-tickets-intent")]["status"] == "ok"
    assert cells[("my-adapter", "demo-skills-facts")]["delta_vs_zero_shot"]
    assert cells[("my-adapter", "demo-tickets-intent")]["cost"]["parameters_changed"] > 0


@pytest.fixture
def readme_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    if MISSING:
        pytest.skip(f"transformers[serving] is not installed ({', '.join(MISSING)} missing)")
    section = _section("Hosted models (OpenAI-compatible servers)")
    serve = next(
        line
        for block in _blocks(section, "bash")
        for line in block.splitlines()
        if line.startswith("transformers serve ")
    )
    assert "harness/lab/model --host 127.0.0.1 --port 8000" in serve
    for url in _serve(DEMO_MODEL_DIR, tmp_path_factory.mktemp("serve") / "serve.log"):
        yield section, url


def test_hosted_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readme_server: tuple[str, str]
) -> None:
    section, url = readme_server
    monkeypatch.chdir(tmp_path)
    replacements = {
        "harness/lab/model": str(DEMO_MODEL_DIR),
        "http://127.0.0.1:8000/v1": url,
    }
    _write_configs(section, tmp_path, replacements)
    commands = _harness_commands(section, replacements)
    assert commands
    for command in commands:
        assert main(command) == 0, command
    results = json.loads((tmp_path / "reports/hosted/results.json").read_text())
    cell = next(c for c in results["cells"] if c["suite"] == "demo-tickets-intent")
    assert cell["status"] == "ok" and cell["cost"]["api_cost_usd"] > 0
    assert isinstance(cell["cost"]["parse_failures"], int)
