"""The decision report as `report.md`, for pull requests and wikis.

The same data as report.html: the decision first, then the quality, cost and Pareto
tables, then links to the plots in `plots/` when the html reporter has drawn them.
"""

from __future__ import annotations

from pathlib import Path

from harness.reporting.base import ReportContext, Reporter
from harness.reporting.evidence import cell_warnings, decide
from harness.reporting.plots import PLOTS_DIR
from harness.reporting.recommend import COST_AXES, Decision
from harness.reporting.table import (
    COST_LEGEND,
    LEGEND,
    PARETO_LEGEND,
    ComparisonTable,
    build_table,
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


def _table(table: ComparisonTable, groups: tuple[str, ...], chosen: str | None = None) -> list[str]:
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
        name = _escape(strategy) + (" ✅" if strategy == chosen else "")
        lines.append(f"| {name} | " + " | ".join(texts) + " |")
    return lines


def _decision(d: Decision) -> list[str]:
    lines = [f"> ## {_ICON[d.verdict]} {_escape(d.headline)}", ">", f"> {_escape(d.reason)}"]
    if d.tie_breaker:
        lines += [
            ">",
            f"> **Tie-breaker suggestion (not a statistical win):** {_escape(d.tie_breaker)} — "
            f"{_escape(d.tie_breaker_reason)}.",
        ]
    constraints = " · ".join(d.constraints) or "none set (add a `decision:` section to the config)"
    lines += ["", f"- **Constraints:** {constraints}", f"- **Quality:** {d.quality_label or '—'}"]
    lines += [f"- **Excluded** {_escape(n)}: {_escape(why)}" for n, why in d.excluded]
    lines += [f"- **Note:** {_escape(n)}" for n in d.notes]
    return lines


def render_markdown(results: RunResults, decision: Decision, run_dir: Path | None = None) -> str:
    table = build_table(results)
    lines = [
        f"# harness run `{results.run_id}`",
        "",
        f"Model `{results.model}` · seed {results.seed} · harness {results.harness_version}",
        "",
    ]
    lines += _decision(decision)
    lines += ["", "## Quality", ""]
    lines += _table(table, ("target", "forgetting"), decision.chosen)
    lines += ["", LEGEND, "", "## Cost", ""]
    lines += _table(table, ("cost",), decision.chosen)
    lines += ["", COST_LEGEND, ""]
    header, rows = pareto_rows(decision)
    if rows:
        lines += [f"## Pareto view: quality vs {COST_AXES[decision.cost_axis][0]}", ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|---|---:|---:|---|")
        lines += ["| " + " | ".join(_escape(v) for v in row) + " |" for row in rows]
        lines += ["", PARETO_LEGEND, ""]
    if run_dir is not None:
        plots = [(f, t) for f, t in _PLOTS if (Path(run_dir) / PLOTS_DIR / f).is_file()]
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
        decision = decide(context.run_dir, context.results)
        (context.run_dir / "report.md").write_text(
            render_markdown(context.results, decision, context.run_dir), encoding="utf-8"
        )
