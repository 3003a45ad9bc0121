"""The decision report end to end: a real run on the tiny model writes report.html,
report.md and the plots; the page is self-contained, escaped, re-renders from files, and
shows the decision at the top when a headless Chromium renders it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.reporting.html import render_html
from harness.reporting.recommend import recommend
from harness.results import Cell, MetricValue, RunResults, SuiteInfo

PLUGIN = "tests.reporting.plugins_for_compare"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """zero-shot against an oracle that knows every target answer; default reporters."""
    root = tmp_path_factory.mktemp("html")
    config = root / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": str(tiny_model),
                "suites": [str(p) for p in toy_suites.values()],
                "strategies": ["zero-shot", "oracle-rag"],
                "out": str(root / "run"),
                "decision": {"max_latency_ms": 10_000, "facts_change_often": True},
            }
        )
    )
    assert main(["--plugin", PLUGIN, "run", str(config)]) == 0
    return root / "run"


def test_run_writes_the_report_files_with_the_decision_first(run_dir: Path) -> None:
    for name in ("report.html", "report.md", "plots/quality.png", "plots/pareto.png"):
        assert (run_dir / name).is_file(), name
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    # the decision box comes before every table and plot
    decision = page.index('class="decision choose"')
    assert decision < page.index("Quality per suite") < page.index("<h2>Plots</h2>")
    assert "Choose oracle-rag" in page and "facts change often" in page
    markdown = (run_dir / "report.md").read_text(encoding="utf-8")
    assert markdown.index("Choose oracle-rag") < markdown.index("## Quality")
    assert "![Quality per suite](plots/quality.png)" in markdown


def test_page_is_self_contained(run_dir: Path) -> None:
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') >= 2
    assert not re.search(r"(src|href)=\"(?!data:)", page), "no file or network references"
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_report_command_rerenders_from_the_run_folder(run_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(run_dir, tmp_path / "copy")
    (copy / "report.html").unlink()
    shutil.rmtree(copy / "plots")
    # a training strategy's loss log is drawn when present
    log = copy / "artifacts" / "oracle-rag" / "oracle-rag" / "loss.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text(
        "\n".join(json.dumps({"step": s, "loss": 3.0 / s}) for s in range(1, 6))
        + "\n"
        + json.dumps({"step": 5, "eval_loss": 0.9})
        + "\n"
    )
    assert main(["report", str(copy), "--reporter", "html"]) == 0
    page = (copy / "report.html").read_text(encoding="utf-8")
    assert "Choose oracle-rag" in page and "Training and eval loss" in page
    assert (copy / "plots" / "loss.png").is_file()


def test_text_from_results_is_escaped(tmp_path: Path) -> None:
    suite = SuiteInfo(
        name="<b>suite</b>", version="1", role="target", task="classification",
        primary_metric="accuracy", n_test=10,
    )  # fmt: skip
    results = RunResults(
        run_id="r",
        harness_version="0",
        model="m",
        seed=0,
        suites=[suite],
        cells=[
            Cell(
                strategy="<script>alert(1)</script>",
                suite=suite.name,
                status="ok",
                metrics={"accuracy": MetricValue(value=0.5, ci95=(0.2, 0.8))},
            ),
            Cell(strategy="x", suite=suite.name, status="failed", error='<img src="e">'),
        ],
    )
    page = render_html(results, recommend(results))
    assert "<script>" not in page and "<b>suite</b>" not in page and '<img src="e">' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=" in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_headless_chromium_shows_the_decision_box_at_the_top(run_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    flags = [f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}"]
    page = (run_dir / "report.html").resolve().as_uri()
    subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, *flags, "--window-size=1280,1600", page],
        capture_output=True,
        timeout=120,
        check=True,
    )
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 1600)
    # the "choose" box: its green border and pale green fill, within the first screenful
    top = image.crop((0, 0, 1280, 400))
    colours = top.getcolors(maxcolors=1 << 20) or []
    border = sum(n for n, c in colours if _near(c, (26, 127, 55)))
    fill = sum(n for n, c in colours if _near(c, (240, 255, 244)))
    assert border > 1500 and fill > 50_000, (border, fill)
    # and the rest of the page rendered (tables and plots are not blank)
    assert len(image.crop((0, 400, 1280, 1600)).getcolors(maxcolors=1 << 20) or []) > 50


def _near(colour: tuple[int, int, int], target: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 6 for a, b in zip(colour, target, strict=True))
