"""The terminal, Markdown and HTML reports show the same decisions: one block per target
suite (then overall) naming the same winner or tie-breaker and the same forgetting
caveats, on results built by hand and on a real run with a row per target suite."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from harness.analysis import minimum_detectable_difference
from harness.cli import main
from harness.metrics import ExampleOutput
from harness.reporting.html import render_html
from harness.reporting.markdown import render_markdown
from harness.reporting.recommend import Recommendation, recommend
from harness.reporting.table import DecisionBlock, decision_blocks
from harness.reporting.terminal import decision_view
from harness.results import PredictionRecord, RunResults, read_results
from tests.reporting.test_recommend import two_targets

PLUGIN = "tests.reporting.plugins_for_compare"
WIDTH = 80


def terminal_sections(text: str) -> dict[str, str]:
    """Each decision box of the terminal output: title -> its text on one line."""
    sections: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        if title := re.match(r"╭─ (.+?) ─", line):
            current = title.group(1)
            sections[current] = ""
        elif line.startswith("╰"):
            current = None
        elif current is not None:
            sections[current] += " " + line.strip("│ ")
    return {k: " ".join(v.split()) for k, v in sections.items()}


def markdown_sections(text: str) -> dict[str, str]:
    """Each decision of report.md: title -> its text."""
    found = re.findall(r"^> ### \S+ (.+?): (.*?)(?=^> ### |^- \*\*Constraints)", text, re.M | re.S)
    return {title: " ".join(body.replace("\\|", "|").split()) for title, body in found}


def html_sections(page: str) -> dict[str, str]:
    """Each decision box of report.html: title -> its visible text."""
    out = {}
    for box in re.findall(r'<section class="decision \w+">(.*?)</section>', page, re.S):
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", box)).split())
        title = text.split(" · ")[0]
        out[title] = text
    return out


def _records(row: str, scores: dict[str, float]) -> list[PredictionRecord]:
    return [
        PredictionRecord(row, "catalog", "", ExampleOutput(i, "p", ("r",)), {"accuracy": v})
        for i, v in scores.items()
    ]


def render_all(results: RunResults, recommendation: Recommendation) -> list[dict[str, str]]:
    console = Console(record=True, width=WIDTH, color_system=None)
    console.print(decision_view(recommendation))
    terminal = console.export_text()
    assert max(len(line) for line in terminal.splitlines()) <= WIDTH
    return [
        terminal_sections(terminal),
        markdown_sections(render_markdown(results, recommendation)),
        html_sections(render_html(results, recommendation)),
    ]


def assert_same_decisions(blocks: list[DecisionBlock], rendered: list[dict[str, str]]) -> None:
    for sections in rendered:
        assert list(sections) == [b.title for b in blocks]
        for block in blocks:
            text = sections[block.title]
            winner = block.tie_breaker.split(" — ")[0] if block.tie_breaker else ""
            assert block.headline in text, (block.title, text)
            assert winner in text
            for caveat in block.caveats:
                assert caveat in text, (block.title, caveat, text)
            # no other scope's caveat leaks into this block
            others = {c for b in blocks if b is not block for c in b.caveats}
            assert not [c for c in others - set(block.caveats) if c in text]


def test_three_reports_name_the_same_winner_and_caveats_per_target() -> None:
    results, paired = two_targets()
    recommendation = recommend(results, paired=paired)
    blocks = decision_blocks(recommendation)
    assert [(b.title, b.headline) for b in blocks] == [
        ("intent", "Choose sft@intent"),
        ("catalog", "Cannot separate rag and sft@catalog"),
        ("All targets", "Choose rag"),
    ]
    assert blocks[0].caveats == (
        "sft@intent is worse on reading: perplexity 5.65 → 96.5 (p=0.001)",
    )
    assert blocks[1].tie_breaker.startswith("sft@catalog — is the cheapest by eval latency")
    assert blocks[1].caveats == (
        "sft@catalog is worse on reading: perplexity 5.65 → 7.10 (p=0.010)",
    )
    assert_same_decisions(blocks, render_all(results, recommendation))


def test_a_tie_shows_what_its_examples_could_detect_in_every_view() -> None:
    results, paired = two_targets()
    # sft@catalog right on e30..e97 (68), rag on e0..e69 (70): 58 discordant examples
    sft = {f"e{i}": 1.0 if 30 <= i < 98 else 0.0 for i in range(100)}
    paired = replace(
        paired,
        records={**paired.records, ("sft@catalog", "catalog"): _records("sft@catalog", sft)},
    )
    recommendation = recommend(results, paired=paired)
    blocks = decision_blocks(recommendation)
    catalog = recommendation.decisions[1]
    assert catalog.min_detectable_difference == pytest.approx(
        minimum_detectable_difference(100, discordance=0.58)
    )
    assert catalog.power_examples == 100
    assert blocks[1].power.startswith(
        f"With 100 test examples this suite detects differences of "
        f"{catalog.min_detectable_difference:.3f} or more at 80% power; a smaller true "
        "difference needs more examples. Detecting the observed Δ 0.020 would take about"
    )
    assert blocks[0].power == blocks[2].power == ""  # decisions that chose
    for sections in render_all(results, recommendation):
        assert blocks[1].power in sections["catalog"]
        assert "80% power" not in sections["intent"] + sections["All targets"]


def test_a_single_seed_trained_row_is_flagged_in_every_view() -> None:
    results, paired = two_targets()
    once = results.model_copy(
        update={
            "cells": [
                c.model_copy(update={"seeds": [0]}) if c.strategy.startswith("sft") else c
                for c in results.cells
            ]
        }
    )
    recommendation = recommend(once, paired=paired)
    blocks = decision_blocks(recommendation)
    assert recommendation.decisions[0].single_seed == ("sft@intent",)
    line = blocks[0].training_variance
    assert line.startswith("sft@intent: one training seed: seed-to-seed variance not measured")
    assert "`replicates: 3`" in line
    assert blocks[2].training_variance == ""  # overall: zero-shot and rag only
    for sections in render_all(once, recommendation):
        assert line in sections["intent"] and line.split(":")[0] + ":" not in sections[
            "All targets"
        ].replace("sft@intent is worse", "")


@pytest.fixture(scope="module")
def per_target_run(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """zero-shot, and an oracle adapted to each of the two target suites in turn."""
    root = tmp_path_factory.mktemp("per-target")
    config = root / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": str(tiny_model),
                "suites": [str(p) for p in toy_suites.values()],
                "strategies": ["zero-shot", "oracle-tuned"],
                "out": str(root / "run"),
            }
        )
    )
    assert main(["--plugin", PLUGIN, "run", str(config)]) == 0
    return root / "run"


def test_a_real_run_decides_each_target_with_its_own_row(
    per_target_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = read_results(per_target_run)
    targets = [s.name for s in results.suites if s.role == "target"]
    assert len(targets) == 2
    assert main(["report", str(per_target_run), "--reporter", "terminal"]) == 0
    terminal = capsys.readouterr().out
    markdown = (per_target_run / "report.md").read_text(encoding="utf-8")
    page = (per_target_run / "report.html").read_text(encoding="utf-8")
    rendered = [terminal_sections(terminal), markdown_sections(markdown), html_sections(page)]
    recommendation = recommend(results)
    # one decision per target, among zero-shot and the row adapted to it; no overall view
    # (only zero-shot was evaluated on both targets)
    assert recommendation.overall is None
    for decision, target in zip(recommendation.decisions, targets, strict=True):
        assert decision.scope == target
        assert {p.strategy for p in decision.profiles} == {"zero-shot", f"oracle-tuned@{target}"}
        assert decision.excluded == ()
    for sections in rendered:
        assert list(sections) == targets
        for target in targets:
            assert f"oracle-tuned@{target}" in sections[target]
    for text in (terminal, markdown, html.unescape(page)):
        assert "no result on every quality suite" not in text
