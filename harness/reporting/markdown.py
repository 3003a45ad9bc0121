"""The comparison table as `report.md`, for pull requests and wikis."""

from __future__ import annotations

from harness.reporting.base import ReportContext, Reporter
from harness.reporting.table import LEGEND, build_table
from harness.results import RunResults


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(results: RunResults) -> str:
    table = build_table(results)
    lines = [
        f"# harness run `{results.run_id}`",
        "",
        f"Model `{results.model}` · seed {results.seed} · harness {results.harness_version}",
        "",
    ]
    header = ["strategy"] + [
        ("forgetting: " if c.group == "forgetting" else "") + c.title.replace("\n", " · ")
        for c in table.columns
    ]
    lines.append("| " + " | ".join(_escape(h) for h in header) + " |")
    lines.append("|" + "---|" + "---:|" * len(table.columns))
    for strategy, cells in table.rows:
        texts = []
        for cell in cells:
            text = _escape(cell.text)
            texts.append(f"**{text}**" if cell.best else text)
        lines.append(f"| {_escape(strategy)} | " + " | ".join(texts) + " |")
    lines += ["", LEGEND, ""]
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
