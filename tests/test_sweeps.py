"""Sweeps: expansion into labelled rows, per-target rows, chains, and every problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness_plugins.finetune import LoraSettings
from harness_plugins.prompting import FewShotSettings

from harness.config import RunConfig, parse_config
from harness.errors import InputError, Problem
from harness.plugin_manager import Plugins, load_plugins
from harness.runner import make_plan
from harness.sweeps import expand_sweep, format_value, sweep_rows
from tests.suite_factory import write_suite


@pytest.fixture
def plugins() -> Plugins:
    return load_plugins()


@pytest.fixture
def suites(tmp_path: Path) -> list[str]:
    root = tmp_path / "suites"
    return [
        str(write_suite(root, name="alpha")),
        str(write_suite(root, name="beta")),
        str(write_suite(root, name="skills", yaml_overrides={"role": "forgetting"})),
    ]


def config(suites: list[str], *strategies: object) -> RunConfig:
    return parse_config(
        {"model": "x", "suites": suites, "strategies": list(strategies)}, "run.yaml"
    )


def problems(cfg: RunConfig, plugins: Plugins) -> list[Problem]:
    with pytest.raises(InputError) as caught:
        make_plan(cfg, plugins, "run.yaml")
    found = caught.value.problems
    assert all(p.file == "run.yaml" and p.fix and p.message for p in found), found
    return found


def test_labels_are_short_stable_and_round_trip() -> None:
    assert [format_value(v) for v in (1e-4, 5e-4, 2e-3, 1e-5, 8, 1.0, True, None)] == [
        "0.0001",
        "0.0005",
        "0.002",
        "1e-05",
        "8",
        "1.0",
        "true",
        "null",
    ]
    assert format_value(["q_proj", "v_proj"]) == "[q_proj,v_proj]"
    points = expand_sweep("lora", {"learning_rate": [1e-4, 2e-3], "r": [4, 8]})
    assert [p.row for p in points] == [
        "lora[learning_rate=0.0001,r=4]",
        "lora[learning_rate=0.0001,r=8]",
        "lora[learning_rate=0.002,r=4]",
        "lora[learning_rate=0.002,r=8]",
    ]
    assert points[1].value("r") == 8


def test_a_sweep_expands_into_validated_rows(suites: list[str], plugins: Plugins) -> None:
    cfg = config(
        suites[2:] + suites[:1],
        "zero-shot",
        {"name": "few-shot", "selection": "random", "sweep": {"k": [1, 2, 4]}},
        {"name": "lora", "label": "adapter", "epochs": 1, "sweep": {"r": [4, 8]}},
    )
    plan = make_plan(cfg, plugins, "run.yaml")
    rows = {s.row: s.chain[0].settings for s in plan.strategies}
    assert list(rows) == [
        "zero-shot",
        "few-shot[k=1]",
        "few-shot[k=2]",
        "few-shot[k=4]",
        "adapter[r=4]",
        "adapter[r=8]",
    ]
    assert rows["few-shot[k=2]"] == FewShotSettings(k=2, selection="random")
    assert rows["adapter[r=8]"] == LoraSettings(r=8, epochs=1)
    # config.yaml keeps the sweep, so the reports know which rows form it
    dumped = cfg.model_dump(mode="json")["strategies"]
    assert [[p.row for p in sweep] for sweep in sweep_rows(dumped)] == [
        ["few-shot[k=1]", "few-shot[k=2]", "few-shot[k=4]"],
        ["adapter[r=4]", "adapter[r=8]"],
    ]


def test_per_target_rows_expand_per_point_and_target(suites: list[str], plugins: Plugins) -> None:
    plan = make_plan(config(suites, {"name": "lora", "sweep": {"r": [4, 8]}}), plugins)
    assert [(s.row, [t.name for t in s.targets]) for s in plan.strategies] == [
        ("lora[r=4]@alpha", ["alpha"]),
        ("lora[r=4]@beta", ["beta"]),
        ("lora[r=8]@alpha", ["alpha"]),
        ("lora[r=8]@beta", ["beta"]),
    ]


def test_a_chain_sweeps_link_settings(suites: list[str], plugins: Plugins) -> None:
    cfg = config(
        suites[:1],
        {
            "name": "lora+few-shot",
            "lora": {"epochs": 1},
            "sweep": {"lora.r": [2], "few-shot.k": [1, 3]},
        },
    )
    plan = make_plan(cfg, plugins)
    assert [s.row for s in plan.strategies] == [
        "lora+few-shot[lora.r=2,few-shot.k=1]",
        "lora+few-shot[lora.r=2,few-shot.k=3]",
    ]
    lora, few_shot = plan.strategies[1].chain
    assert lora.settings == LoraSettings(r=2, epochs=1)
    assert few_shot.settings == FewShotSettings(k=3)


def test_yaml_exponent_floats_are_numbers(suites: list[str], plugins: Plugins) -> None:
    # PyYAML (YAML 1.1) reads `1e-4` as text; a setting that takes a number accepts it
    plan = make_plan(
        config(suites[:1], {"name": "lora", "sweep": {"learning_rate": ["1e-4"]}}), plugins
    )
    (row,) = plan.strategies
    assert row.row == "lora[learning_rate=1e-4]"
    assert row.chain[0].settings.learning_rate == 1e-4


def test_bad_points_name_the_sweep_field_and_value(suites: list[str], plugins: Plugins) -> None:
    found = problems(
        config(
            suites[:1],
            {"name": "lora", "sweep": {"r": [4, 0, "eight"], "dropout": [0.1]}},
            {"name": "few-shot", "sweep": {"kk": [1, 2]}},
        ),
        plugins,
    )
    by_field = {(p.field, p.message) for p in found}
    assert (
        "strategies[0].sweep.r",
        "setting 'r' must be an integer, got 'eight' (sweep value eight)",
    ) in by_field
    assert any(
        p.field == "strategies[0]"
        and "r must be at least 1" in p.message
        and "lora[r=0,dropout=0.1]" in p.message
        for p in found
    ), found
    # an unknown key is one problem, not one per point
    unknown = [p for p in found if p.field == "strategies[1].sweep.kk"]
    assert len(unknown) == 1 and "'k'" in unknown[0].fix


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        ({"name": "lora", "sweep": {}}, "strategies[0].sweep", "at least one setting"),
        ({"name": "lora", "sweep": {"r": []}}, "strategies[0].sweep.r", "lists the values"),
        ({"name": "lora", "sweep": {"r": [4, 4]}}, "strategies[0].sweep.r", "listed twice"),
        (
            {"name": "lora", "r": 4, "sweep": {"r": [8]}},
            "strategies[0].sweep.r",
            "both set and swept",
        ),
        ({"name": "lora+rag", "sweep": {"r": [8]}}, "strategies[0].sweep.r", "names its link"),
        ({"name": "lora+rag", "sweep": {"sft.r": [8]}}, "strategies[0].sweep.sft.r", "not a link"),
        ({"name": "lora", "sweep": {"lora.r": [8]}}, "strategies[0].sweep.lora.r", "not a link"),
    ],
)
def test_sweep_shape_problems(
    suites: list[str], plugins: Plugins, entry: dict[str, object], field: str, message: str
) -> None:
    found = problems(config(suites[:1], entry), plugins)
    assert [p.field for p in found if message in p.message] == [field], found


def test_a_value_that_is_not_a_list_is_reported_with_its_field() -> None:
    with pytest.raises(InputError) as caught:
        parse_config({"strategies": [{"name": "lora", "sweep": {"r": 8}}]}, "run.yaml")
    (problem,) = caught.value.problems
    assert problem.field == "strategies.0.sweep.r"


def test_points_that_collide_with_a_row_are_reported(suites: list[str], plugins: Plugins) -> None:
    found = problems(
        config(
            suites[:1],
            {"name": "lora", "label": "lora[r=8]"},
            {"name": "lora", "sweep": {"r": [8]}},
        ),
        plugins,
    )
    assert any("'lora[r=8]' appears twice" in p.message for p in found), found
