"""The terminal report stays readable at any width: a real run over the demo's seven
suites, rendered at 80, 100 and 160 columns, shows every figure of results.json whole
(never "0.16" on one line and "5" on the next), and never cuts a word to "…"."""

from __future__ import annotations

import math
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from harness.analysis import format_p
from harness.cli import main
from harness.reporting.base import ReportContext
from harness.reporting.html import HtmlReporter
from harness.reporting.recommend import strategy_costs
from harness.reporting.terminal import TerminalReporter
from harness.results import RunResults, read_results

DEMO_SUITES = Path(__file__).resolve().parents[2] / "suites"
EXAMPLES = {"train": 8, "validation": 4, "test": 12}


@pytest.fixture(scope="module")
def run_dir(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """zero-shot and few-shot on the tiny model over the demo's seven suites, cut short."""
    root = tmp_path_factory.mktemp("layout")
    suites = []
    for source in sorted(DEMO_SUITES.glob("demo-*/suite.yaml")):
        folder = root / source.parent.name
        shutil.copytree(source.parent, folder)
        for split, count in EXAMPLES.items():
            data = folder / "data" / f"{split}.jsonl"
            lines = data.read_text(encoding="utf-8").splitlines(keepends=True)
            data.write_text("".join(lines[:count]), encoding="utf-8")
        suites.append(str(folder / "suite.yaml"))
    assert len(suites) == 7
    config = root / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": str(tiny_model),
                "suites": suites,
                "strategies": ["zero-shot", "few-shot"],
                "out": str(root / "run"),
                "reporters": [],
            }
        )
    )
    assert main(["run", str(config)]) == 0
    return root / "run"


def _figures(results: RunResults) -> set[str]:
    """Every figure of results.json the quality and cost tables show, as displayed."""
    figures = set()
    for cell in results.cells:
        suite = next(s for s in results.suites if s.name == cell.suite)
        metric = cell.metrics.get(suite.primary_metric)
        if metric is None or math.isnan(metric.value):
            continue
        figures |= {f"{metric.value:.3f}", f"{metric.ci95[0]:.3f}", f"{metric.ci95[1]:.3f}"}
        delta = cell.delta_vs_zero_shot.get(suite.primary_metric)
        if delta is not None and not math.isnan(delta.value):
            figures |= {f"{delta.value:+.3f}", format_p(delta.p_value)}
    for strategy in results.strategies():
        costs = strategy_costs(results, strategy)
        if costs is not None:
            figures |= {
                f"{costs.adapt_seconds:.1f}",
                f"{costs.eval_seconds:.1f}",
                f"{costs.trainable_params:,}",
                f"{costs.peak_memory_mb:,.0f}",
            }
    return figures


def _render(run_dir: Path, width: int) -> str:
    with open(os.devnull, "w") as sink:
        console = Console(width=width, record=True, color_system=None, file=sink)
        TerminalReporter().render(ReportContext(read_results(run_dir), run_dir, console))
    return console.export_text()


@pytest.mark.parametrize("width", [80, 100, 160])
def test_every_figure_appears_whole_at_any_width(run_dir: Path, width: int) -> None:
    text = _render(run_dir, width)
    assert max(len(line) for line in text.splitlines()) <= width
    tokens = set(re.findall(r"[-+]?[\d.,<]*\d", text))
    figures = _figures(read_results(run_dir))
    assert figures, "the run has figures to show"
    assert figures <= tokens, sorted(figures - tokens)
    assert "…" not in text, "nothing is cut short"
    # every suite name is shown whole in a header
    for suite in read_results(run_dir).suites:
        assert suite.name in text


def test_narrow_consoles_split_the_quality_table_wide_ones_do_not(run_dir: Path) -> None:
    narrow, wide = _render(run_dir, 80), _render(run_dir, 160)
    # 80 columns: the four forgetting suites do not fit one table
    assert "Target suites" in narrow and "Forgetting suites (1/2)" in narrow
    assert "Forgetting suites" in wide and "(1/" not in wide


def test_the_html_quality_table_scrolls_inside_the_page(run_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(run_dir, tmp_path / "run"))
    HtmlReporter().render(ReportContext(read_results(copy), copy, Console(file=None)))
    page = (copy / "report.html").read_text(encoding="utf-8")
    assert page.count('<div class="table-scroll">') >= 3
    assert ".table-scroll { overflow-x: auto;" in page
