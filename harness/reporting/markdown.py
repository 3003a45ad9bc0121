"""The decision report as `report.md`, for pull requests and wikis.

The same data as report.html: the decisions first (one per target suite, then overall),
then the quality, cost and Pareto tables, then links to the plots in `plots/` when the
html reporter has drawn them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.reporting.base import ReportContext, Reporter
from harness.reporting.evidence import cell_warnings, decide
from harness.reporting.learning import learning_markdown, read_learning
from harness.reporting.plots import PLOTS_DIR
from harness.reporting.recommend import COST_AXES, Recommendation
from harness.reporting.table import (
    COST_LEGEND,
    PARETO_LEGEND,
    TIE_BREAKER_LABEL,
    ComparisonTable,
    DecisionBlock,
    build_table,
    constraints_text,
    decision_blocks,
    legend,
    pareto_rows,
)
from harness.results import RunResults

_ICON = {"choose": "✅", "tie": "⚖️", "none": "⛔"}
_PLOTS = (
    ("quality.png", "Quality per suite"),
    ("forgetting.png", "Forgetting"),
    ("pareto.png", "Quality vs cost"),
    ("loss.png", "Training and eval loss"),
)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(
    table: ComparisonTable, groups: tuple[str, ...], chosen: frozenset[str] = frozenset()
) -> list[str]:
    indexes = [i for i, c in enumerate(table.columns) if c.group in groups]
    header = ["strategy"] + [
        ("forgetting: " if table.columns[i].group == "forgetting" else "")
        + table.columns[i].title.replace("\n", " · ")
        for i in indexes
    ]
    lines = ["| " + " | ".join(_escape(h) for h in header) + " |"]
    lines.append("|---|" + "---:|" * len(indexes))
    for strategy, cells in table.rows:
        texts = []
        for i in indexes:
            text = cells[i].text.replace("\n", " ").replace("|", "\\|")
            texts.append(f"**{text}**" if cells[i].best else text)
        name = _escape(strategy) + (" ✅" if strategy in chosen else "")
        lines.append(f"| {name} | " + " | ".join(texts) + " |")
    return lines


def _decision(b: DecisionBlock) -> list[str]:
    lines = [
        f"> ### {_ICON[b.verdict]} {_escape(b.title)}: {_escape(b.headline)}",
        ">",
        f"> *Quality: {_escape(b.quality)}.* {_escape(b.reason)}",
    ]
    if b.power:
        lines += [">", f"> **Power:** {_escape(b.power)}"]
    if b.training_variance:
        lines += [">", f"> **Training variance:** {_escape(b.training_variance)}"]
    if b.tie_breaker:
        lines += [">", f"> **{TIE_BREAKER_LABEL}:** {_escape(b.tie_breaker)}"]
    extra = [f"**Caveat:** {_escape(c)}" for c in b.caveats]
    extra += [f"**Excluded** {_escape(item)}" for item in b.excluded]
    extra += [f"**Note:** {_escape(n)}" for n in b.notes]
    if extra:
        lines += [">"] + [f"> - {item}" for item in extra]
    return lines


def _decisions(recommendation: Recommendation) -> list[str]:
    lines = ["## Decision", ""]
    for block in decision_blocks(recommendation):
        lines += [*_decision(block), ""]
    constraints = (
        constraints_text(recommendation) or "none set (add a `decision:` section to the config)"
    )
    lines.append(f"- **Constraints:** {constraints}")
    lines += [f"- **Note:** {_escape(n)}" for n in recommendation.notes]
    return lines


def render_markdown(
    results: RunResults,
    recommendation: Recommendation,
    run_dir: Path | None = None,
    sections: Sequence[str] = (),
) -> str:
    table = build_table(results, recommendation.alpha)
    lines = [
        f"# harness run `{results.run_id}`",
        "",
        f"Model `{results.model}` · seed {results.seed} · harness {results.harness_version}",
        "",
    ]
    chosen = recommendation.chosen
    lines += _decisions(recommendation)
    lines += ["", "## Quality", ""]
    lines += _table(table, ("target", "forgetting"), chosen)
    lines += ["", legend(recommendation.alpha), "", "## Cost", ""]
    lines += _table(table, ("cost",), chosen)
    lines += ["", COST_LEGEND, ""]
    header, rows = pareto_rows(recommendation)
    if rows:
        lines += [f"## Pareto view: quality vs {COST_AXES[recommendation.cost_axis][0]}", ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|---|---|---:|---:|---|")
        lines += ["| " + " | ".join(_escape(v) for v in row) + " |" for row in rows]
        lines += ["", PARETO_LEGEND, ""]
    lines += sections
    if run_dir is not None:
        plots = [(f, t) for f, t in _PLOTS if (Path(run_dir) / PLOTS_DIR / f).is_file()]
        plots += [(p.name, p.stem) for p in sorted((Path(run_dir) / PLOTS_DIR).glob("curve-*.png"))]
        if (Path(run_dir) / PLOTS_DIR / "learning-forgetting.png").is_file():
            plots.append(("learning-forgetting.png", "Learning vs forgetting"))
        if plots:
            lines += ["## Plots", ""]
            lines += [f"![{title}]({PLOTS_DIR}/{name})" for name, title in plots]
            lines.append("")
    if warnings := cell_warnings(results):
        lines += ["## Warnings", "", *(f"- {_escape(w)}" for w in warnings), ""]
    if table.failures:
        lines += ["## Failed cells", ""]
        lines += [f"- **{s} · {u}**: `{_escape(e)}`" for s, u, e in table.failures]
        lines.append("")
    return "\n".join(lines)


class MarkdownReporter(Reporter):
    """Writes report.md into the run folder."""

    name = "markdown"
    description = "report.md in the run folder: the decision and the tables"

    def render(self, context: ReportContext) -> None:
        recommendation = decide(context.run_dir, context.results, context.metrics)
        learning = read_learning(
            context.run_dir, context.results, context.metrics, recommendation.alpha
        )
        (context.run_dir / "report.md").write_text(
            render_markdown(
                context.results, recommendation, context.run_dir, learning_markdown(learning)
            ),
            encoding="utf-8",
        )
