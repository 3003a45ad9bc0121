"""Run configs: entry forms, defaults, and every bad value reported with field and fix."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from harness_plugins.prompting import FewShot, FewShotSettings, ZeroShot

from harness.cli import main
from harness.config import RunConfig, StrategyEntry, build_settings, load_config, parse_config
from harness.errors import InputError, Problem
from harness.plugin_manager import Plugins, load_plugins
from harness.runner import make_plan
from tests.suite_factory import line_of, write_suite


@pytest.fixture
def plugins() -> Plugins:
    return load_plugins()


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    return write_suite(tmp_path / "suites", name="toy")


def write_config(folder: Path, text: str, name: str = "run.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def config_problems(path: Path) -> list[Problem]:
    with pytest.raises(InputError) as caught:
        load_config(path)
    return caught.value.problems


def plan_problems(config: RunConfig, plugins: Plugins, source: str = "run.yaml") -> list[Problem]:
    with pytest.raises(InputError) as caught:
        make_plan(config, plugins, source)
    problems = caught.value.problems
    assert problems
    assert all(p.fix.strip() and p.message.strip() for p in problems), problems
    return problems


def only(problems: list[Problem], field: str, message: str = "") -> Problem:
    matches = [p for p in problems if p.field == field and message in p.message]
    assert len(matches) == 1, f"no single {field!r} problem: {problems}"
    return matches[0]


def entries(*raw: object) -> list[StrategyEntry]:
    return parse_config({"strategies": list(raw)}, "test").strategies


# -- strategy entries ---------------------------------------------------------------


def test_strategy_entry_forms() -> None:
    plain, with_settings, labelled, explicit, chain = entries(
        "few-shot",
        {"name": "few-shot", "k": 8},
        {"name": "few-shot", "label": "few-shot-8", "k": 8},
        {"name": "few-shot", "settings": {"k": 2}},
        "zero-shot+few-shot",
    )
    assert (plain.name, plain.label, plain.settings, plain.row) == (
        "few-shot",
        None,
        {},
        "few-shot",
    )
    assert (with_settings.settings, with_settings.row) == ({"k": 8}, "few-shot")
    assert (labelled.name, labelled.settings, labelled.row) == ("few-shot", {"k": 8}, "few-shot-8")
    assert explicit.settings == {"k": 2}
    assert chain.chain == ["zero-shot", "few-shot"]
    assert chain.row == "zero-shot+few-shot"


def test_chain_names_are_trimmed() -> None:
    assert StrategyEntry(name="zero-shot + few-shot").chain == ["zero-shot", "few-shot"]


def test_defaults_when_keys_are_absent(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "# every default\n{}\n"))
    assert config == RunConfig()
    assert config.model is None
    assert [s.name for s in config.strategies] == ["zero-shot", "few-shot"]
    assert config.suites == []
    assert (config.seed, config.batch_size, config.chat_template) == (0, 16, "auto")
    assert (config.device, config.dtype, config.trust_remote_code) == ("auto", "auto", False)
    assert config.bootstrap_resamples == 1000
    assert config.max_test_examples is None
    assert config.reporters == ["terminal", "html", "markdown"]


def test_config_file_with_every_entry_form(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        model: some/model
        seed: 7
        strategies:
          - zero-shot
          - {name: few-shot, k: 8}
          - name: few-shot
            label: few-shot-similar
            selection: similar
          - zero-shot+few-shot
        """,
    )
    config = load_config(path)
    assert config.model is not None
    assert (config.model.name, config.model.backend, config.seed) == ("some/model", "hf", 7)
    assert [(s.row, s.settings) for s in config.strategies] == [
        ("zero-shot", {}),
        ("few-shot", {"k": 8}),
        ("few-shot-similar", {"selection": "similar"}),
        ("zero-shot+few-shot", {}),
    ]


# -- bad config files, with lines ---------------------------------------------------


@pytest.mark.parametrize(
    ("line_text", "field", "message"),
    [
        ("modle: x", "modle", "unknown field"),
        ('seed: "x"', "seed", "integer"),
        ("chat_template: maybe", "chat_template", "pattern"),
        ("batch_size: 0", "batch_size", "greater than or equal to 1"),
        ("bootstrap_resamples: 10", "bootstrap_resamples", "100"),
        ("reporters: markdown", "reporters", "list"),
    ],
)
def test_bad_config_value_with_its_line(
    tmp_path: Path, line_text: str, field: str, message: str
) -> None:
    path = write_config(tmp_path, f"model: x\n{line_text}\n")
    problem = only(config_problems(path), field)
    assert problem.file == str(path)
    assert problem.line == 2
    assert message in problem.message
    assert problem.fix


def test_bad_strategy_entry_points_at_its_line(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        strategies:
          - zero-shot
          - label: no-name
            k: 3
          - {name: few-shot, settings: {k: 2}, k: 3}
        """,
    )
    problems = config_problems(path)
    assert only(problems, "strategies.1.name", "Field required").line == line_of(path, "label:")
    assert only(problems, "strategies.2.k", "unknown field").line == line_of(path, "settings:")


def test_bad_config_problems_are_all_reported_at_once(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        model: x
        modle: y
        seed: "x"
        chat_template: maybe
        batch_size: 0
        """,
    )
    problems = config_problems(path)
    assert {(p.field, p.line) for p in problems} == {
        ("modle", 2),
        ("seed", 3),
        ("chat_template", 4),
        ("batch_size", 5),
    }
    assert all(p.file == str(path) and p.fix for p in problems)


@pytest.mark.parametrize("text", ["- model: x\n", "just text\n"])
def test_config_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = write_config(tmp_path, text)
    problem = only(config_problems(path), "", "mapping")
    assert problem.file == str(path)


def test_invalid_config_yaml(tmp_path: Path) -> None:
    path = write_config(tmp_path, "model: x\nsuites: [a, b\n")
    problem = only(config_problems(path), "", "invalid YAML")
    assert problem.line == 3


# -- make_plan ------------------------------------------------------------------------


def test_plan_builds_every_row(suite: Path, plugins: Plugins) -> None:
    config = parse_config(
        {
            "model": "x",
            "suites": [str(suite)],
            "strategies": [
                "zero-shot",
                {"name": "few-shot", "k": 8},
                {"name": "few-shot", "label": "few-shot-similar", "selection": "similar"},
                {"name": "zero-shot+few-shot", "few-shot": {"k": 2}},
            ],
        },
        "run.yaml",
    )
    plan = make_plan(config, plugins, "run.yaml")
    assert plan.model == "x"
    assert [s.name for s in plan.suites] == ["toy"]
    assert sorted(plan.metrics) == ["accuracy", "macro_f1"]
    rows = {s.row: s.chain for s in plan.strategies}
    assert list(rows) == ["zero-shot", "few-shot", "few-shot-similar", "zero-shot+few-shot"]
    assert [type(link) for link in rows["zero-shot+few-shot"]] == [ZeroShot, FewShot]
    assert rows["few-shot"][0].settings == FewShotSettings(k=8)
    assert rows["few-shot-similar"][0].settings == FewShotSettings(selection="similar")
    assert rows["zero-shot+few-shot"][1].settings == FewShotSettings(k=2)


def plan_with(suite: Path, *strategies: object, **fields: object) -> RunConfig:
    data: dict[str, object] = {"model": "x", "suites": [str(suite)], **fields}
    if strategies:
        data["strategies"] = list(strategies)
    return parse_config(data, "run.yaml")


def test_unknown_strategy(suite: Path, plugins: Plugins) -> None:
    problem = only(plan_problems(plan_with(suite, "fewshot"), plugins), "strategies[0].name")
    assert "'fewshot'" in problem.message
    assert "few-shot" in problem.fix
    assert problem.file == "run.yaml"


def test_unknown_strategy_in_a_chain(suite: Path, plugins: Plugins) -> None:
    problems = plan_problems(plan_with(suite, "zero-shot", "zero-shot+no-such-link"), plugins)
    assert "'no-such-link'" in only(problems, "strategies[1].name").message


def test_unknown_setting(suite: Path, plugins: Plugins) -> None:
    problems = plan_problems(plan_with(suite, {"name": "few-shot", "k2": 3}), plugins)
    problem = only(problems, "strategies[0].k2", "unknown setting")
    assert "'k'" in problem.fix


def test_setting_for_a_strategy_without_settings(suite: Path, plugins: Plugins) -> None:
    problems = plan_problems(plan_with(suite, {"name": "zero-shot", "k": 3}), plugins)
    assert "no settings" in only(problems, "strategies[0].k").fix


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"k": 0}, "k must be at least 1"), ({"selection": "nearest"}, "selection")],
)
def test_bad_setting_value(
    suite: Path, plugins: Plugins, settings: dict[str, object], message: str
) -> None:
    problems = plan_problems(plan_with(suite, {"name": "few-shot", **settings}), plugins)
    assert message in only(problems, "strategies[0]").message


@pytest.mark.parametrize("k", ["8", 2.5])
def test_setting_of_the_wrong_type(suite: Path, plugins: Plugins, k: object) -> None:
    problems = plan_problems(plan_with(suite, {"name": "few-shot", "k": k}), plugins)
    only(problems, "strategies[0].k", "must be an integer")


def test_chain_settings_must_be_a_mapping(suite: Path, plugins: Plugins) -> None:
    config = plan_with(suite, {"name": "zero-shot+few-shot", "few-shot": 3})
    only(plan_problems(config, plugins), "strategies[0].few-shot", "mapping")


def test_build_settings_fills_the_dataclass() -> None:
    settings = build_settings(FewShotSettings, {"k": 2}, "run.yaml", "strategies[0]")
    assert settings == FewShotSettings(k=2)


def test_unknown_suite(tmp_path: Path, suite: Path, plugins: Plugins) -> None:
    config = plan_with(suite, suites=[str(suite), "no-such-suite", str(tmp_path / "x.yaml")])
    problems = plan_problems(config, plugins)
    assert len(problems) == 2
    assert all(p.field == "suites" and "no suite named" in p.message for p in problems)
    assert all("suite.yaml" in p.fix for p in problems)


def test_unknown_suite_names_the_config_file(suite: Path, plugins: Plugins) -> None:
    problems = plan_problems(plan_with(suite, suites=["no-such-suite"]), plugins)
    assert only(problems, "suites").file == "run.yaml"


def test_broken_suite_problems_come_through_the_plan(tmp_path: Path, plugins: Plugins) -> None:
    broken = write_suite(tmp_path, name="broken", yaml_overrides={"metrics": ["rougeL"]})
    problems = plan_problems(plan_with(broken), plugins)
    assert any(p.file == str(broken) and p.field == "metrics[0]" for p in problems)


def test_suite_listed_twice(suite: Path, plugins: Plugins) -> None:
    problems = plan_problems(plan_with(suite, suites=[str(suite), str(suite.parent)]), plugins)
    assert "'toy'" in only(problems, "suites", "twice").message


def test_duplicate_row(suite: Path, plugins: Plugins) -> None:
    config = plan_with(suite, "few-shot", {"name": "few-shot", "k": 8})
    problem = only(plan_problems(config, plugins), "strategies[1]", "twice")
    assert "label" in problem.fix
    # a label makes the variant its own row
    make_plan(plan_with(suite, "few-shot", {"name": "few-shot", "label": "fs8", "k": 8}), plugins)


def test_unknown_reporter(suite: Path, plugins: Plugins) -> None:
    config = plan_with(suite, reporters=["terminal", "pdf"])
    problem = only(plan_problems(config, plugins), "reporters[1]")
    assert "'pdf'" in problem.message
    assert "markdown" in problem.fix


def test_no_strategies(suite: Path, plugins: Plugins) -> None:
    only(plan_problems(plan_with(suite, strategies=[]), plugins), "strategies")


def test_plan_problems_are_all_reported_at_once(
    tmp_path: Path, suite: Path, plugins: Plugins
) -> None:
    config = plan_with(
        suite,
        "fewshot",
        {"name": "few-shot", "k2": 3},
        {"name": "few-shot", "label": "k0", "k": 0},
        {"name": "few-shot", "label": "nearest", "selection": "nearest"},
        "zero-shot",
        "zero-shot",
        suites=["no-such-suite", str(suite), str(suite)],
        reporters=["pdf"],
    )
    problems = plan_problems(config, plugins)
    assert sorted(p.field for p in problems) == sorted(
        [
            "strategies[0].name",
            "strategies[1].k2",
            "strategies[2]",
            "strategies[3]",
            "strategies[5]",
            "suites",
            "suites",
            "reporters[0]",
        ]
    )


# -- suite paths relative to the config -------------------------------------------------


def test_relative_suite_paths_resolve_from_the_config_folder(
    tmp_path: Path, plugins: Plugins, monkeypatch: pytest.MonkeyPatch
) -> None:
    near = write_suite(tmp_path / "project" / "suites", name="near")
    far = write_suite(tmp_path / "shared", name="far")
    path = write_config(
        tmp_path / "project",
        """\
        model: x
        suites:
          - suites/near/suite.yaml
          - ../shared/far/suite.yml
        """,
    )
    far.rename(far.with_suffix(".yml"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path)
    assert [s.name for s in config.suites] == [
        str(near.resolve()),
        str(far.with_suffix(".yml").resolve()),
    ]
    assert [s.name for s in make_plan(config, plugins, str(path)).suites] == ["near", "far"]


def test_absolute_paths_and_names_are_kept(tmp_path: Path, suite: Path) -> None:
    path = write_config(tmp_path / "cfg", f"suites: [{suite}, demo-sentiment]\n")
    assert [s.name for s in load_config(path).suites] == [str(suite), "demo-sentiment"]


def test_relative_suite_folder_resolves_from_the_config_folder(
    tmp_path: Path, plugins: Plugins, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_suite(tmp_path / "project" / "suites", name="near")
    path = write_config(tmp_path / "project", "model: x\nsuites: [suites/near]\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert [s.name for s in make_plan(load_config(path), plugins, str(path)).suites] == ["near"]


# -- the CLI ------------------------------------------------------------------------


def test_cli_validate_accepts_a_valid_config(
    tmp_path: Path, suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(
        tmp_path,
        """\
        model: x
        suites: [suites/toy/suite.yaml]
        strategies: [zero-shot, {name: few-shot, k: 2}]
        """,
    )
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "ok run config: 2 strategies × 1 suites" in out
    assert err == ""


def test_cli_validate_reports_a_broken_config(
    tmp_path: Path, suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, "model: x\nsuites: [suites/toy/suite.yaml]\nbatch_size: 0\n")
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert f"{path}:3 [batch_size]" in err
    assert "Traceback" not in out + err

    path.write_text("model: x\nsuites: [suites/toy/suite.yaml]\nstrategies: [fewshot]\n")
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert f"{path} [strategies[0].name]" in err
    assert "Traceback" not in out + err


def test_cli_validate_reports_a_setting_of_the_wrong_type(
    tmp_path: Path, suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(
        tmp_path,
        "model: x\nsuites: [suites/toy/suite.yaml]\nstrategies: [{name: few-shot, k: '8'}]\n",
    )
    assert main(["validate", str(path)]) == 2


# -- suite entries: metrics for this run -----------------------------------------------


def _echo_plan(toy_suites: dict[str, Path], plugins: Plugins, **entry: object) -> list[str]:
    config = RunConfig(suites=[{"name": str(toy_suites["toy-echo"]), **entry}])  # type: ignore[list-item]
    suite = make_plan(config, plugins).suites[0]
    return [*suite.spec.metrics, f"primary={suite.spec.primary_metric}"]


def test_suite_entries_add_remove_or_replace_metrics(
    toy_suites: dict[str, Path], plugins: Plugins
) -> None:
    own = ["exact_match", "token_f1", "rougeL", "perplexity"]
    assert _echo_plan(toy_suites, plugins) == [*own, "primary=token_f1"]
    assert _echo_plan(toy_suites, plugins, metrics=["+bleu", "-perplexity"]) == [
        "exact_match", "token_f1", "rougeL", "bleu", "primary=token_f1",
    ]  # fmt: skip
    assert _echo_plan(toy_suites, plugins, metrics=["bleu"], primary_metric="bleu") == [
        "bleu",
        "primary=bleu",
    ]
    # a plain string is the same as {name: ...}, and dumps back to the string
    config = RunConfig(suites=["toy", {"name": "x", "metrics": ["+bleu"]}])  # type: ignore[list-item]
    assert config.model_dump(mode="json")["suites"] == [
        "toy",
        {"name": "x", "metrics": ["+bleu"], "primary_metric": None},
    ]


def test_a_suite_entry_mixing_forms_points_at_its_line(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        suites:
          - toy
          - name: other
            metrics: [bleu, +rougeL]
        """,
    )
    problem = only(config_problems(path), "suites.1.metrics", "not both")
    assert problem.line == line_of(path, "metrics:") and problem.fix


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        ({"metrics": ["+no_such_metric"]}, "suites[0].metrics", "unknown metric 'no_such_metric'"),
        ({"metrics": ["+macro_f1"]}, "suites[0].metrics", "does not apply to generation"),
        ({"metrics": ["-token_f1"]}, "suites[0].metrics", "primary metric 'token_f1'"),
        ({"primary_metric": "bleu"}, "suites[0].primary_metric", "primary metric 'bleu'"),
        ({"metrics": ["-exact_match", "-token_f1", "-rougeL", "-perplexity"]}, "suites[0].metrics",
         "no metric left"),
        ({"metrics": ["-bleu"]}, "suites[0].metrics", "has no metric 'bleu'"),
    ],
)  # fmt: skip
def test_bad_suite_metrics_are_reported_with_field_and_fix(
    toy_suites: dict[str, Path], plugins: Plugins, entry: dict, field: str, message: str
) -> None:
    config = RunConfig(suites=[{"name": str(toy_suites["toy-echo"]), **entry}])  # type: ignore[list-item]
    problem = only(plan_problems(config, plugins), field, message)
    assert problem.file == "run.yaml" and problem.fix


def test_suite_metrics_are_part_of_the_cell_key_and_of_the_written_config(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    import yaml

    from harness.runner import Runner

    plugins = load_plugins()

    def run(out: str, **entry: object) -> set[str]:
        config = RunConfig(
            model=str(tiny_model),
            suites=[{"name": str(toy_suites["toy-echo"]), **entry}],  # type: ignore[list-item]
            strategies=[StrategyEntry(name="zero-shot")],
            out=str(tmp_path / out),
            cache_dir=str(tmp_path / "cache"),
            reporters=[],
            bootstrap_resamples=100,
            max_test_examples=3,
        )
        outcome = Runner(make_plan(config, plugins), plugins).run()
        assert outcome.exit_code == 0
        return {c.status for c in outcome.results.cells}

    assert run("a") == {"ok"}
    assert run("b", metrics=["+bleu"]) == {"ok"}  # scored with more metrics: a new cell
    assert run("c", metrics=["+bleu"]) == {"cached"}
    written = yaml.safe_load((tmp_path / "c" / "config.yaml").read_text())["suites"][0]
    assert written["metrics"] == ["exact_match", "token_f1", "rougeL", "perplexity", "bleu"]
    assert load_config(tmp_path / "c" / "config.yaml").suites[0].metrics == tuple(
        written["metrics"]
    )
    results = json.loads((tmp_path / "c" / "results.json").read_text())
    assert "bleu" in results["cells"][0]["metrics"]


def test_run_reporter_flag_replaces_the_configs_reporters(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    args = ["run", "--model", str(tiny_model), "--suites", str(toy_suites["toy-colours"])]
    args += ["--strategies", "zero-shot", "--max-test-examples", "3"]
    assert main([*args, "--out", str(tmp_path / "a"), "--reporter", "markdown"]) == 0
    assert (tmp_path / "a" / "report.md").is_file()
    assert not list((tmp_path / "a").glob("*.html"))
    assert main([*args, "--out", str(tmp_path / "b"), "--reporter", "nope"]) == 2
    assert not (tmp_path / "b").exists()
