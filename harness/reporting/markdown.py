"""The comparison table as `report.md`, for pull requests and wikis."""

from __future__ import annotations

from harness.reporting.base import ReportContext, Reporter
from harness.reporting.table import COST_LEGEND, LEGEND, ComparisonTable, build_table
from harness.results import RunResults


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(table: ComparisonTable, groups: tuple[str, ...]) -> list[str]:
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
        lines.append(f"| {_escape(strategy)} | " + " | ".join(texts) + " |")
    return lines


def render_markdown(results: RunResults) -> str:
    table = build_table(results)
    lines = [
        f"# harness run `{results.run_id}`",
        "",
        f"Model `{results.model}` · seed {results.seed} · harness {results.harness_version}",
        "",
        "## Quality",
        "",
    ]
    lines += _table(table, ("target", "forgetting"))
    lines += ["", LEGEND, "", "## Cost", ""]
    lines += _table(table, ("cost",))
    lines += ["", COST_LEGEND, ""]
    if table.failures:
        lines += ["## Failed cells", ""]
        lines += [f"- **{s} · {u}**: `{_escape(e)}`" for s, u, e in table.failures]
        lines.append("")
    return "\n".join(lines)


class MarkdownReporter(Reporter):
    """Writes report.md into the run folder."""

    name = "markdown"
    description = "report.md in the run folder"

    def render(self, context: ReportContext) -> None:
        (context.run_dir / "report.md").write_text(
            render_markdown(context.results), encoding="utf-8"
        )
