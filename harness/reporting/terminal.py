"""The comparison tables in the terminal (rich): quality per suite, then costs."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from harness.reporting.base import ReportContext, Reporter
from harness.reporting.table import COST_LEGEND, LEGEND, ComparisonTable, build_table

GROUP_STYLE = {"target": "bold cyan", "forgetting": "bold magenta", "cost": "bold"}


def _rich_table(table: ComparisonTable, groups: tuple[str, ...], title: str, caption: str) -> Table:
    indexes = [i for i, c in enumerate(table.columns) if c.group in groups]
    grid = Table(title=title, caption=caption, show_lines=True, title_justify="left")
    grid.add_column("strategy", style="bold", no_wrap=True)
    for i in indexes:
        column = table.columns[i]
        prefix = "forgetting\n" if column.group == "forgetting" else ""
        grid.add_column(
            Text(prefix + column.title, style=GROUP_STYLE[column.group]), justify="right"
        )
    for strategy, cells in table.rows:
        row = []
        for i in indexes:
            cell = cells[i]
            style = "red" if cell.failed else ("bold green" if cell.best else "")
            row.append(Text(cell.text, style=style))
        grid.add_row(strategy, *row)
    return grid


class TerminalReporter(Reporter):
    """Prints the quality and cost tables, and any failures."""

    name = "terminal"
    description = "rich tables in the terminal"

    def render(self, context: ReportContext) -> None:
        results = context.results
        table = build_table(results)
        console = context.console
        console.print(
            _rich_table(
                table,
                ("target", "forgetting"),
                f"Quality · run {results.run_id} · model {results.model} · seed {results.seed}",
                LEGEND,
            )
        )
        console.print(_rich_table(table, ("cost",), "Cost", COST_LEGEND))
        for strategy, suite, error in table.failures:
            console.print(Text.assemble(("failed ", "red"), f"{strategy} · {suite}: {error}"))
