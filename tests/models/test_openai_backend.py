"""The `openai` backend against a real OpenAI-compatible server: `transformers serve`.

The server runs on 127.0.0.1, started and stopped by a fixture; its generations must
equal the `hf` backend's on the same model and suite.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.config import parse_config
from harness.demo import DEMO_MODEL_DIR
from harness.plugin_manager import load_plugins
from harness.runner import Runner, make_plan

SERVING = ("fastapi", "uvicorn", "openai")
MISSING = [m for m in SERVING if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"transformers[serving] is not installed ({', '.join(MISSING)} missing): "
    "pip install 'transformers[serving]'",
)
STORIES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "stories260K" / "hf"
SECRET = "sk-harness-test-secret-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(model: Path, log: Path) -> Iterator[str]:
    port = _free_port()
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(240):  # at most two minutes
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        else:
            pytest.fail(f"transformers serve did not answer: {log.read_text()[-2000:]}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve(DEMO_MODEL_DIR, tmp_path_factory.mktemp("serve") / "serve.log")


def _run(config: dict[str, Any], out: Path) -> tuple[dict[str, Any], dict[Any, str]]:
    plugins = load_plugins()
    plan = make_plan(parse_config(config, "test"), plugins, "test")
    outcome = Runner(plan, plugins, out_dir=out).run()
    assert outcome.exit_code == 0, [c.error for c in outcome.results.cells if c.error]
    results = json.loads((outcome.run_dir / "results.json").read_text())
    lines = (outcome.run_dir / "predictions.jsonl").read_text().splitlines()
    predictions = {
        (r["strategy"], r["suite"], r["example_id"]): r["prediction"]
        for r in map(json.loads, lines)
    }
    return results, predictions


def _openai(name: str, url: str, **settings: Any) -> dict[str, Any]:
    return {"backend": "openai", "name": name, "base_url": url, **settings}


def test_generation_equals_the_hf_backend(
    demo_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_TEST_API_KEY", SECRET)
    common = {
        "suites": ["demo-tickets-summary", "demo-tickets-intent"],
        "strategies": ["zero-shot", "few-shot"],
        "max_test_examples": 8,
        "reporters": ["markdown"],
    }
    remote = _openai(
        str(DEMO_MODEL_DIR),
        demo_server,
        api_key_env="HARNESS_TEST_API_KEY",
        max_concurrency=2,
        price_input_per_million=2.0,
        price_output_per_million=6.0,
    )
    served, served_predictions = _run({**common, "model": remote}, tmp_path / "served")
    local, local_predictions = _run(
        {**common, "model": {"name": str(DEMO_MODEL_DIR), "device": "cpu", "chat_template": "off"}},
        tmp_path / "local",
    )
    summary = {k: v for k, v in local_predictions.items() if k[1] == "demo-tickets-summary"}
    assert len(summary) == 16
    assert {k: served_predictions[k] for k in summary} == summary

    cells = {(c["strategy"], c["suite"]): c for c in served["cells"]}
    cell = cells[("zero-shot", "demo-tickets-summary")]
    cost = cell["cost"]
    assert cell["model"] == f"openai:{DEMO_MODEL_DIR}"
    assert cost["requests"] == 8 and cost["input_tokens"] > 0 and cost["output_tokens"] > 0
    expected = (cost["input_tokens"] * 2.0 + cost["output_tokens"] * 6.0) / 1e6
    assert cost["api_cost_usd"] == pytest.approx(expected, abs=1e-6)
    # classification on a server without log-probabilities: generated and mapped
    intent = cells[("zero-shot", "demo-tickets-intent")]
    assert intent["status"] == "ok" and isinstance(intent["cost"]["parse_failures"], int)
    assert local["cells"][0]["cost"]["parse_failures"] is None
    # the key is read from the environment and written nowhere
    for folder in (tmp_path / "served", tmp_path):
        for path in folder.rglob("*"):
            if path.is_file():
                assert SECRET not in path.read_text(errors="replace"), path
    config = (tmp_path / "served" / "config.yaml").read_text()
    assert "api_key_env: HARNESS_TEST_API_KEY" in config


def test_a_served_row_next_to_local_rows(demo_server: str, tmp_path: Path) -> None:
    """A row on the served model, deltas against the run's local zero-shot."""
    results, predictions = _run(
        {
            "model": {"name": str(DEMO_MODEL_DIR), "device": "cpu"},
            "suites": ["demo-tickets-summary"],
            "strategies": [
                "zero-shot",
                {
                    "name": "zero-shot",
                    "label": "served",
                    "model": _openai(str(DEMO_MODEL_DIR), demo_server, api_key_env=None),
                },
            ],
            "max_test_examples": 4,
            "reporters": ["markdown"],
        },
        tmp_path / "run",
    )
    cells = {c["strategy"]: c for c in results["cells"]}
    assert cells["served"]["model"] == f"openai:{DEMO_MODEL_DIR}"
    assert cells["served"]["delta_vs_zero_shot"]["rougeL"]["value"] == 0.0
    same = [(k[2], v) for k, v in predictions.items() if k[0] == "zero-shot"]
    assert same == [(k[2], v) for k, v in predictions.items() if k[0] == "served"]


@pytest.mark.realdata
@pytest.mark.skipif(not STORIES.is_dir(), reason=f"{STORIES} is absent")
def test_real_checkpoint_generates_the_same_through_hf_and_openai(tmp_path: Path) -> None:
    from harness.models.base import GenerationRequest
    from harness.models.hf import HFModel
    from harness.models.openai_compat import OpenAIModel, OpenAIOptions

    prompts = ["Once upon a time", "The little dog", "Lily and Tom went to the park. They"]
    requests = [GenerationRequest(p, max_new_tokens=24, stop=(".",)) for p in prompts]
    local = HFModel.load(str(STORIES), device="cpu", chat_template="off").generate(requests)
    for url in _serve(STORIES, tmp_path / "serve.log"):
        served = OpenAIModel(str(STORIES), OpenAIOptions(base_url=url, api_key_env=None))
        assert served.generate(requests) == local
        assert all(text for text in local)


#: a chat template that puts a line before the user's message: the demo model still
#: answers (a template with role markers makes it stop at once), and answers otherwise
CHAT_TEMPLATE = (
    "{% for message in messages %}Customer message follows.\n{{ message['content'] }}{% endfor %}"
)


def test_the_chat_endpoint_equals_the_hf_backend_with_the_chat_template(
    tmp_path: Path,
) -> None:
    """`endpoint: chat` sends each prompt as one user message; the server applies the
    model's chat template, as the `hf` backend does with `chat_template: on`."""
    import shutil

    model = tmp_path / "chat-model"
    shutil.copytree(DEMO_MODEL_DIR, model)
    config_path = model / "tokenizer_config.json"
    tokenizer_config = json.loads(config_path.read_text())
    tokenizer_config["chat_template"] = CHAT_TEMPLATE
    config_path.write_text(json.dumps(tokenizer_config))
    common = {
        "suites": ["demo-tickets-summary"],
        "strategies": ["zero-shot"],
        "max_test_examples": 6,
        "reporters": [],
    }
    for url in _serve(model, tmp_path / "serve.log"):
        served, served_predictions = _run(
            {**common, "model": _openai(str(model), url, api_key_env=None, endpoint="chat")},
            tmp_path / "served",
        )
    _, local_predictions = _run(
        {**common, "model": {"name": str(model), "device": "cpu", "chat_template": "on"}},
        tmp_path / "local",
    )
    assert len(local_predictions) == 6
    assert any(text.strip() for text in local_predictions.values())
    assert served_predictions == local_predictions
    assert served["cells"][0]["cost"]["requests"] == 6
    # the template was applied: without it the model answers otherwise
    _, plain = _run(
        {**common, "model": {"name": str(model), "device": "cpu", "chat_template": "off"}},
        tmp_path / "plain",
    )
    assert plain != local_predictions
