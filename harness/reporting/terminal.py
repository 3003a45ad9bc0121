"""The comparison table in the terminal (rich)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from harness.reporting.base import ReportContext, Reporter
from harness.reporting.table import LEGEND, build_table

GROUP_STYLE = {"target": "bold cyan", "forgetting": "bold magenta", "cost": "bold"}


class TerminalReporter(Reporter):
    """Prints the comparison table and any failures."""

    name = "terminal"
    description = "rich table in the terminal"

    def render(self, context: ReportContext) -> None:
        results = context.results
        table = build_table(results)
        grid = Table(
            title=f"harness run {results.run_id} · model {results.model} · seed {results.seed}",
            caption=LEGEND,
            show_lines=False,
        )
        grid.add_column("strategy", style="bold")
        for column in table.columns:
            prefix = "forgetting: " if column.group == "forgetting" else ""
            grid.add_column(
                Text(prefix + column.title, style=GROUP_STYLE[column.group]), justify="right"
            )
        for strategy, cells in table.rows:
            rendered = []
            for cell in cells:
                style = "red" if cell.failed else ("bold green" if cell.best else "")
                rendered.append(Text(cell.text, style=style))
            grid.add_row(strategy, *rendered)
        context.console.print(grid)
        for strategy, suite, error in table.failures:
            context.console.print(
                f"[red]failed[/red] {strategy} · {suite}: {error}", markup=True, highlight=False
            )
