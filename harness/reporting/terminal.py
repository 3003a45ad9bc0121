"""The report in the terminal (rich): quality per suite, costs, the Pareto view, and the
decisions last, one box per target suite, right above the run folder's path, where the
eye lands."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from harness.reporting.base import ReportContext, Reporter
from harness.reporting.evidence import cell_warnings, decide
from harness.reporting.recommend import Recommendation
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


def _pareto_table(recommendation: Recommendation) -> Table | None:
    header, rows = pareto_rows(recommendation)
    if not rows:
        return None
    grid = Table(title="Pareto view", caption=PARETO_LEGEND, title_justify="left")
    # the decision's scope heads its group of rows, so that long names are never cut
    grid.add_column(header[1], style="bold", no_wrap=True)
    for title in header[2:]:
        grid.add_column(title, justify="right", overflow="fold")
    scope = None
    for target, *row in rows:
        if target != scope:
            if scope is not None:
                grid.add_section()
            grid.add_row(Text(target, style="bold cyan"))
            scope = target
        grid.add_row(*row[:-1], Text(row[-1], style="bold green" if row[-1] == "yes" else ""))
    return grid


def decision_panel(block: DecisionBlock) -> Panel:
    """One decision in a coloured box: the headline, why, the tie-breaker, the
    forgetting caveats and the exclusions."""
    style = VERDICT_STYLE[block.verdict]
    # the headline inside the box: a title longer than the terminal would be cut short
    parts: list[Text] = [
        Text(block.headline, style=f"bold {style}"),
        Text.assemble(("Quality: ", "dim"), block.quality),
        Text(block.reason),
    ]
    if block.power:
        parts.append(Text.assemble(("Power: ", "bold"), block.power))
    if block.training_variance:
        parts.append(Text.assemble(("Training variance: ", "bold yellow"), block.training_variance))
    if block.tie_breaker:
        parts.append(Text.assemble((f"{TIE_BREAKER_LABEL}: ", "bold yellow"), block.tie_breaker))
    parts += [Text.assemble(("Caveat: ", "bold red"), caveat) for caveat in block.caveats]
    parts += [Text.assemble(("Excluded ", "dim"), item) for item in block.excluded]
    parts += [Text.assemble(("Note: ", "dim"), note) for note in block.notes]
    return Panel(
        Group(*parts),
        title=Text(block.title, style=f"bold {style}"),
        title_align="left",
        border_style=style,
    )


def decision_view(recommendation: Recommendation) -> Group:
    """Every decision, one box per target suite (then overall), and what applies to
    them all: the constraints and notes."""
    parts: list[Panel | Text] = [decision_panel(b) for b in decision_blocks(recommendation)]
    constraints = constraints_text(recommendation) or "none set (add `decision:` to the config)"
    parts.append(Text.assemble(("Constraints: ", "dim"), constraints))
    parts += [Text.assemble(("Note: ", "dim"), note) for note in recommendation.notes]
    return Group(*parts)


class TerminalReporter(Reporter):
    """Prints the quality and cost tables, the Pareto view, failures, and the decision."""

    name = "terminal"
    description = "rich tables in the terminal"

    def render(self, context: ReportContext) -> None:
        results = context.results
        recommendation = decide(context.run_dir, results, context.metrics)
        table = build_table(results, recommendation.alpha)
        console = context.console
        console.print(
            _rich_table(
                table,
                ("target", "forgetting"),
                f"Quality · run {results.run_id} · model {results.model} · seed {results.seed}",
                legend(recommendation.alpha),
            )
        )
        console.print(_rich_table(table, ("cost",), "Cost", COST_LEGEND))
        pareto = _pareto_table(recommendation)
        if pareto is not None:
            console.print(pareto)
        for strategy, suite, error in table.failures:
            console.print(Text.assemble(("failed ", "red"), f"{strategy} · {suite}: {error}"))
        for warning in cell_warnings(results):
            console.print(Text.assemble(("warning ", "yellow"), warning))
        console.print(decision_view(recommendation))
