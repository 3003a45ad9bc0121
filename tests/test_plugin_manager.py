"""Plugin loading: built-ins and third-party packages through real entry points,
blocking, and plugins that fail in every way we can think of."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from harness import Strategy, hookimpl
from harness.errors import PluginError
from harness.plugin_manager import load_plugins


def _module(name: str, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    return module


def test_builtins_come_through_the_entry_point_group() -> None:
    plugins = load_plugins()
    assert plugins.failures == []
    assert {"zero-shot", "few-shot"} <= set(plugins.strategies.names())
    assert {"accuracy", "macro_f1", "exact_match", "token_f1", "rougeL", "perplexity"} <= set(
        plugins.metrics.names()
    )
    assert {"terminal", "markdown"} <= set(plugins.reporters.names())
    for entry in plugins.strategies.entries():
        if entry.name in ("zero-shot", "few-shot"):
            assert (entry.provenance.plugin, entry.provenance.package) == ("prompting", "harness")
            assert entry.provenance.version


def test_installed_third_party_package_is_discovered() -> None:
    plugins = load_plugins()
    entry = next((e for e in plugins.strategies.entries() if e.name == "label-hint"), None)
    assert entry is not None, "install examples/harness-label-hint (`make test` does)"
    assert entry.provenance.package == "harness-label-hint"
    assert entry.provenance.version == "0.1.0"


def test_third_party_strategy_runs(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    from harness.config import RunConfig, StrategyEntry
    from harness.runner import Runner, make_plan

    plugins = load_plugins()
    config = RunConfig(
        model=str(tiny_model),
        suites=[str(toy_suites["toy-colours"])],
        strategies=[StrategyEntry(name="zero-shot"), StrategyEntry(name="label-hint+few-shot")],
        out=str(tmp_path / "run"),
        reporters=["markdown"],
        bootstrap_resamples=100,
    )
    outcome = Runner(make_plan(config, plugins), plugins).run()
    assert outcome.exit_code == 0
    predictions = (outcome.run_dir / "predictions.jsonl").read_text()
    assert "Answer with one of: red, green, blue, yellow.\\nSentence:" in predictions
    assert outcome.results.cell("label-hint+few-shot", "toy-colours").status == "ok"


def test_blocking_by_name_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = load_plugins(block=["prompting"])
    assert "zero-shot" not in plugins.strategies and "prompting" in plugins.blocked
    assert "accuracy" in plugins.metrics
    monkeypatch.setenv("HARNESS_BLOCK_PLUGINS", "label-hint, reporters")
    plugins = load_plugins()
    assert "label-hint" not in plugins.strategies and "terminal" not in plugins.reporters
    assert "zero-shot" in plugins.strategies


def test_a_plugin_that_raises_while_registering_is_named() -> None:
    @hookimpl
    def harness_register_strategies(registry):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom in register")

    plugins = load_plugins(
        extra=[
            (
                "exploding",
                _module("exploding", harness_register_strategies=harness_register_strategies),
            )
        ]
    )
    assert [f.plugin for f in plugins.failures] == ["exploding"]
    assert "boom in register" in plugins.failures[0].error
    assert "zero-shot" in plugins.strategies  # the others still load
    with pytest.raises(PluginError, match=r"exploding(.|\n)*--block-plugin exploding"):
        plugins.raise_for_failures()


def test_duplicate_names_and_wrong_types_are_rejected_with_both_plugins_named() -> None:
    class Impostor(Strategy):
        name = "zero-shot"

        def adapt(self, context):  # type: ignore[no-untyped-def]
            return context.upstream

    @hookimpl
    def harness_register_strategies(registry):  # type: ignore[no-untyped-def]
        registry.add(Impostor)

    @hookimpl
    def harness_register_metrics(registry):  # type: ignore[no-untyped-def]
        registry.add(object())

    plugins = load_plugins(
        extra=[
            (
                "impostor",
                _module("impostor", harness_register_strategies=harness_register_strategies),
            ),
            ("wrongtype", _module("wrongtype", harness_register_metrics=harness_register_metrics)),
        ]
    )
    errors = {f.plugin: f.error for f in plugins.failures}
    assert "already registered by plugin 'prompting'" in errors["impostor"]
    assert "expected a subclass of Metric" in errors["wrongtype"]


def test_misspelled_hook_fails_loudly_with_a_suggestion() -> None:
    @hookimpl
    def harness_register_strategy(registry):  # type: ignore[no-untyped-def]
        pass

    plugins = load_plugins(
        extra=[("typo", _module("typo", harness_register_strategy=harness_register_strategy))]
    )
    assert len(plugins.failures) == 1
    assert "unknown hook 'harness_register_strategy'" in plugins.failures[0].error
    assert "did you mean 'harness_register_strategies'" in plugins.failures[0].error


def test_a_hook_function_without_the_marker_is_named_with_the_fix() -> None:
    def harness_register_strategies(registry):  # type: ignore[no-untyped-def]
        raise AssertionError("never called")

    def harness_helper_for_me():  # type: ignore[no-untyped-def]
        pass

    module = _module(
        "unmarked",
        harness_register_strategies=harness_register_strategies,
        harness_helper_for_me=harness_helper_for_me,
    )
    plugins = load_plugins(extra=[("unmarked", module)], use_entry_points=False)
    errors = sorted(f.error for f in plugins.failures if f.plugin == "unmarked")
    assert len(errors) == 2
    assert "'harness_register_strategies' is named like a hook" in errors[1]
    assert "@harness.hookimpl" in errors[1]


def test_plugin_errors_print_without_markup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    (tmp_path / "harness_unmarked_plugin.py").write_text(
        "def harness_register_metrics(registry):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["-p", "harness_unmarked_plugin", "run", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("plugin error: plugin 'harness_unmarked_plugin'")
    assert "[red]" not in err and "'harness_register_metrics'" in err
    assert not (tmp_path / "o").exists()


def test_an_entry_point_that_cannot_be_imported_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a real installed distribution (dist-info on sys.path) whose entry point is broken
    dist = tmp_path / "harness_broken-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: harness-broken\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[harness]\nbroken = harness_broken_missing_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = load_plugins()
    failure = next(f for f in plugins.failures if f.plugin == "broken")
    assert (failure.package, failure.version) == ("harness-broken", "1.2.3")
    assert "ModuleNotFoundError" in failure.error
    assert (
        "broken" not in load_plugins(block=["broken"]).provenance
        or not load_plugins(block=["broken"]).failures
    )


def test_listing_plugins_imports_no_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        from harness.cli import main
        assert main(["plugins"]) == 0
        heavy = ("torch", "transformers", "sentence_transformers", "faiss")
        heavy = [m for m in heavy if m in sys.modules]
        assert not heavy, heavy
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_every_hook_is_documented_with_its_signature() -> None:
    import inspect

    from harness import hookspecs

    docs = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
    for name, spec in vars(hookspecs).items():
        if name.startswith("harness_"):
            signature = f"{name}{inspect.signature(spec)}".replace("'", "")
            assert signature in docs, f"docs/plugins.md must show `{signature}`"
            assert spec.__doc__ and "Since" in spec.__doc__
