"""The report in the terminal (rich): quality per suite, costs, the Pareto view, and the
decision last, in a box right above the run folder's path, where the eye lands."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from harness.reporting.base import ReportContext, Reporter
from harness.reporting.evidence import cell_warnings, decide
from harness.reporting.recommend import Decision
from harness.reporting.table import (
    COST_LEGEND,
    LEGEND,
    PARETO_LEGEND,
    ComparisonTable,
    build_table,
    pareto_rows,
)

GROUP_STYLE = {"target": "bold cyan", "forgetting": "bold magenta", "cost": "bold"}


def _rich_table(table: ComparisonTable, groups: tuple[str, ...], title: str, caption: str) -> Table:
    indexes = [i for i, c in enumerate(table.columns) if c.group in groups]
    grid = Table(title=title, caption=caption, show_lines=True, title_justify="left")
    grid.add_column("strategy", style="bold", no_wrap=True)
    for i in indexes:
        column = table.columns[i]
        prefix = "forgetting\n" if column.group == "forgetting" else ""
        title = prefix + column.title
        grid.add_column(
            Text(title, style=GROUP_STYLE[column.group]),
            justify="right",
            overflow="fold",  # narrow terminals: wrap a header, never cut it to "…"
        )
    for strategy, cells in table.rows:
        row = []
        for i in indexes:
            cell = cells[i]
            style = "red" if cell.failed or cell.drop else ("bold green" if cell.best else "")
            row.append(Text(cell.text, style=style))
        grid.add_row(strategy, *row)
    return grid


VERDICT_STYLE = {"choose": "green", "tie": "yellow", "none": "red"}


def _pareto_table(decision: Decision) -> Table | None:
    header, rows = pareto_rows(decision)
    if not rows:
        return None
    grid = Table(title="Pareto view", caption=PARETO_LEGEND, title_justify="left")
    for i, title in enumerate(header):
        grid.add_column(
            title, justify="left" if i == 0 else "right", style="bold" if i == 0 else ""
        )
    for row in rows:
        grid.add_row(*row[:-1], Text(row[-1], style="bold green" if row[-1] == "yes" else ""))
    return grid


def decision_panel(decision: Decision) -> Panel:
    """The decision in a coloured box: headline, why, tie-breaker, constraints, exclusions."""
    style = VERDICT_STYLE[decision.verdict]
    parts: list[Text] = [Text(decision.reason)]
    if decision.tie_breaker:
        parts.append(
            Text.assemble(
                ("Tie-breaker suggestion (not a statistical win): ", "bold yellow"),
                f"{decision.tie_breaker} — {decision.tie_breaker_reason}.",
            )
        )
    constraints = " · ".join(decision.constraints) or "none set (add `decision:` to the config)"
    parts.append(Text.assemble(("Constraints: ", "dim"), constraints))
    parts.append(Text.assemble(("Quality: ", "dim"), decision.quality_label or "—"))
    parts += [Text.assemble(("Excluded ", "dim"), f"{n}: {why}") for n, why in decision.excluded]
    parts += [Text.assemble(("Note: ", "dim"), note) for note in decision.notes]
    return Panel(
        Group(*parts),
        title=Text(decision.headline, style=f"bold {style}"),
        title_align="left",
        border_style=style,
    )


class TerminalReporter(Reporter):
    """Prints the quality and cost tables, the Pareto view, failures, and the decision."""

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
        decision = decide(context.run_dir, results)
        pareto = _pareto_table(decision)
        if pareto is not None:
            console.print(pareto)
        for strategy, suite, error in table.failures:
            console.print(Text.assemble(("failed ", "red"), f"{strategy} · {suite}: {error}"))
        for warning in cell_warnings(results):
            console.print(Text.assemble(("warning ", "yellow"), warning))
        console.print(decision_panel(decision))
