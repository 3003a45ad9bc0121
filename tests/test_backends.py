"""Backends behind the registry: config forms, capabilities the plan checks, a backend
from an installed package, scoring by generation, and rows on other models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.config import RunConfig, parse_config
from harness.label_mapping import map_to_label
from harness.plugin_manager import load_plugins
from harness.runner import Runner, make_plan


def _write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _run(config: dict[str, Any], out: Path) -> dict[str, Any]:
    plugins = load_plugins()
    plan = make_plan(parse_config(config, "test"), plugins, "test")
    outcome = Runner(plan, plugins, out_dir=out).run()
    assert outcome.exit_code == 0, [c.error for c in outcome.results.cells if c.error]
    return json.loads((outcome.run_dir / "results.json").read_text())


def _predictions(run_dir: Path) -> dict[tuple[str, str, str], str]:
    lines = (run_dir / "predictions.jsonl").read_text().splitlines()
    return {
        (r["strategy"], r["suite"], r["example_id"]): r["prediction"]
        for r in map(json.loads, lines)
    }


# -- config ----------------------------------------------------------------------------


def test_model_forms_and_top_level_keys_fill_the_hf_settings(tiny_model: Path) -> None:
    config = parse_config({"model": str(tiny_model), "batch_size": 3, "device": "cpu"}, "t")
    plugins = load_plugins()
    plan = make_plan(config.model_copy(update={"suites": []}), plugins, "t")
    assert plan.base is not None
    assert (plan.base.backend.name, plan.base.name) == ("hf", str(tiny_model))
    assert plan.base.backend.settings.batch_size == 3
    assert plan.base.backend.settings.device == "cpu"
    # the mapping form wins over the top-level keys, and round-trips through a dump
    mapping = {"backend": "hf", "name": str(tiny_model), "batch_size": 5}
    config = parse_config({"model": mapping, "batch_size": 3}, "t")
    plan = make_plan(config, plugins, "t")
    assert plan.base is not None and plan.base.backend.settings.batch_size == 5
    assert RunConfig.model_validate(config.model_dump()).model == config.model


def test_batch_size_is_not_in_the_cache_key_and_dtype_is(tiny_model: Path) -> None:
    plugins = load_plugins()

    def key(**settings: Any) -> str:
        config = parse_config({"model": {"name": str(tiny_model), **settings}}, "t")
        plan = make_plan(config, plugins, "t")
        return Runner(plan, plugins)._model_key

    assert key(batch_size=2) == key(batch_size=8)
    assert key(dtype="float32") != key(dtype="bfloat16")


@pytest.mark.parametrize(
    ("model", "extra", "expected"),
    [
        ({"backend": "nope", "name": "m"}, {}, "unknown backend 'nope'"),
        ({"backend": "openai", "name": "m", "colour": 1}, {}, "unknown setting 'colour'"),
        ({"backend": "openai", "name": "m", "endpoint": "x"}, {}, "endpoint must be one of"),
        (
            {"backend": "openai", "name": "m", "api_key_env": None},
            {"device": "cpu"},
            "'device' is not a setting of backend 'openai'",
        ),
        ({"backend": "openai"}, {}, "backend 'openai' needs the model's name"),
        (
            {"backend": "openai", "name": "m", "api_key_env": "HARNESS_UNSET_KEY_VAR"},
            {},
            "HARNESS_UNSET_KEY_VAR (the API key) is not set",
        ),
        ({"backend": "echo", "name": "m", "generation": False}, {}, "cannot generate text"),
        (
            {"backend": "echo", "name": "m"},
            {},
            "metric 'perplexity' of suite 'toy-echo' needs log-probabilities",
        ),
        (
            {"backend": "openai", "name": "m", "api_key_env": None},
            {},
            "backend 'openai' (the run) does not return them",
        ),
    ],
)
def test_unsupported_combinations_exit_2_with_the_reason(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    toy_suites: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    model: dict[str, Any],
    extra: dict[str, Any],
    expected: str,
) -> None:
    monkeypatch.delenv("HARNESS_UNSET_KEY_VAR", raising=False)
    config = {
        "model": model,
        "suites": [str(toy_suites["toy-echo"])],
        "strategies": ["zero-shot"],
        "out": str(tmp_path / "out"),
        **extra,
    }
    assert main(["run", str(_write(tmp_path, config))]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert expected in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"name": "checkpoint"}, "checkpoint needs `path`"),
        ({"name": "checkpoint", "path": "./no/such/folder"}, "model path does not exist"),
        ({"name": "adapter", "path": "."}, "is not a PEFT adapter folder"),
        (
            {
                "name": "zero-shot",
                "label": "other",
                "model": {"backend": "echo", "generation": False, "name": "m"},
            },
            "row 'other' evaluates generation suite 'toy-echo'",
        ),
    ],
)
def test_bad_artifact_rows_and_row_models_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    toy_suites: dict[str, Path],
    tiny_model: Path,
    entry: dict[str, Any],
    expected: str,
) -> None:
    config = {
        "model": str(tiny_model),
        "suites": [str(toy_suites["toy-echo"])],
        "strategies": ["zero-shot", entry],
    }
    assert main(["run", str(_write(tmp_path, config))]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert expected in err and "Traceback" not in err


# -- a backend from an installed package ---------------------------------------------------


def test_echo_backend_comes_from_its_installed_package() -> None:
    plugins = load_plugins()
    entry = next((e for e in plugins.backends.entries() if e.name == "echo"), None)
    assert entry is not None, "install examples/harness-echo-backend (`make test` does)"
    assert entry.provenance.package == "harness-echo-backend"
    assert {"hf", "openai"} <= set(plugins.backends.names())


def test_classification_by_generation_counts_parse_failures(
    tmp_path: Path, toy_suites: dict[str, Path]
) -> None:
    suites = [str(toy_suites["toy-colours"]), str(toy_suites["toy-sums"])]
    results = _run(
        {
            "model": {"backend": "echo", "name": "last-word"},
            "suites": suites,
            "strategies": ["zero-shot", "sft"],
            "reporters": ["markdown"],
        },
        tmp_path / "run",
    )
    cells = {(c["strategy"], c["suite"]): c for c in results["cells"]}
    colours = cells[("zero-shot", "toy-colours")]
    assert colours["status"] == "ok" and colours["model"] == "echo:last-word"
    n_test = next(s["n_test"] for s in results["suites"] if s["name"] == "toy-colours")
    # the prompt's last word is never a colour label: every output is a parse failure
    assert colours["cost"]["parse_failures"] == n_test
    assert colours["metrics"]["accuracy"]["value"] == 0.0
    assert colours["cost"]["requests"] == n_test
    # fine-tuning needs local weights: skipped with the reason, not failed
    sft = cells[("sft", "toy-colours")]
    assert sft["status"] == "skipped" and "needs the model's weights" in sft["error"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "mapped to no label" in report


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" red", "red"),
        ("RED.", "red"),
        ("  Red, I think", "red"),
        ("gre", "green"),
        ("blue-green", None),  # starts with no label at a word boundary
        ("r", None),  # the beginning of both red and rose
        ("", None),
        ("purple", None),
    ],
)
def test_map_to_label(text: str, expected: str | None) -> None:
    labels = ("red", "green", "blue", "rose")
    assert map_to_label(text, labels) == expected


def test_map_to_label_uses_the_answer_form_and_the_longest_prefix() -> None:
    assert map_to_label("Answer: B", ("A", "B"), ("Answer: A", "Answer: B")) == "B"
    assert map_to_label("not good at all", ("not", "not good")) == "not good"


# -- a row on another model -------------------------------------------------------------


def test_a_row_on_another_model_keeps_deltas_against_the_base(
    tmp_path: Path, toy_suites: dict[str, Path], tiny_model: Path
) -> None:
    from harness.testing import build_tiny_llama

    other = build_tiny_llama(tmp_path / "other-llama", seed=3)
    results = _run(
        {
            "model": {"name": str(tiny_model), "device": "cpu"},
            "suites": [str(toy_suites["toy-colours"])],
            "strategies": [
                "zero-shot",
                {"name": "zero-shot", "label": "other", "model": {"name": str(other)}},
            ],
            "reporters": ["markdown"],
        },
        tmp_path / "run",
    )
    cells = {c["strategy"]: c for c in results["cells"]}
    assert cells["zero-shot"]["model"] == str(tiny_model)
    assert cells["other"]["model"] == str(other)
    assert "accuracy" in cells["other"]["delta_vs_zero_shot"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert f"other: ran on model {other}" in report
