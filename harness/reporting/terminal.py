"""The report in the terminal (rich): quality per suite, costs, the Pareto view, and the
decisions last, one box per target suite, right above the run folder's path, where the
eye lands."""

from __future__ import annotations

import textwrap

from rich.cells import cell_len
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


GROUP_TITLE = {"target": "Target suites", "forgetting": "Forgetting suites", "cost": "Cost"}
#: what each column of a rich table with lines costs beyond its text: a border and padding
_COLUMN_EXTRA = 3


def _header_lines(title: str, width: int) -> str:
    """A header that never widens its column: wrapped between words when it is wider than
    the figures under it (no word is ever cut)."""
    return "\n".join(
        wrapped
        for line in title.split("\n")
        for wrapped in textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False)
        or [""]
    )


def _column_width(header: str, texts: list[str]) -> int:
    """The narrowest width that shows every figure whole and every header word whole."""
    words = [cell_len(word) for line in header.split("\n") for word in line.split()]
    figures = [cell_len(line) for text in texts for line in text.split("\n")]
    return max([1, *words, *figures])


def _chunks(widths: list[int], first: int, available: int) -> list[list[int]]:
    """Column indexes packed into tables that fit `available` columns, each table
    repeating the first column; a column too wide for any table gets one of its own."""
    chunks: list[list[int]] = []
    used = first + _COLUMN_EXTRA + 1
    for index, width in enumerate(widths):
        if chunks and used + width + _COLUMN_EXTRA <= available:
            chunks[-1].append(index)
            used += width + _COLUMN_EXTRA
        else:
            chunks.append([index])
            used = first + _COLUMN_EXTRA + 1 + width + _COLUMN_EXTRA
    return chunks


def _rich_tables(table: ComparisonTable, group: str, available: int) -> list[Table]:
    """The columns of one group as one table, or as several when they do not fit the
    console: figures are never wrapped or cut, whatever the width."""
    indexes = [i for i, c in enumerate(table.columns) if c.group == group]
    if not indexes:
        return []
    names = [strategy for strategy, _ in table.rows]
    first = _column_width("strategy", names)
    widths = [
        _column_width(table.columns[i].title, [cells[i].text for _, cells in table.rows])
        for i in indexes
    ]
    natural = [
        max(width, *(cell_len(line) for line in table.columns[i].title.split("\n")))
        for width, i in zip(widths, indexes, strict=True)
    ]
    if len(_chunks(natural, first, available)) == 1:
        widths = natural  # room to spare: headers stay on their own lines
    chunks = _chunks(widths, first, available)
    tables = []
    for number, chunk in enumerate(chunks, start=1):
        title = GROUP_TITLE[group]
        if len(chunks) > 1:
            title += f" ({number}/{len(chunks)})"
        fits = first + 1 + sum(widths[k] + _COLUMN_EXTRA for k in chunk) + _COLUMN_EXTRA
        grid = Table(title=title, show_lines=True, title_justify="left")
        grid.add_column("strategy", style="bold", no_wrap=True)
        for k in chunk:
            column = table.columns[indexes[k]]
            grid.add_column(
                Text(_header_lines(column.title, widths[k]), style=GROUP_STYLE[column.group]),
                justify="right",
                # a column wider than the console on its own is folded; anything else
                # keeps its figures whole
                overflow="fold" if fits > available else "ellipsis",
                no_wrap=fits <= available,
            )
        for strategy, cells in table.rows:
            row = []
            for k in chunk:
                cell = cells[indexes[k]]
                style = "red" if cell.failed or cell.drop else ("bold green" if cell.best else "")
                row.append(Text(cell.text, style=style))
            grid.add_row(strategy, *row)
        tables.append(grid)
    return tables


VERDICT_STYLE = {"choose": "green", "tie": "yellow", "none": "red"}


def _pareto_table(recommendation: Recommendation) -> Table | None:
    header, rows = pareto_rows(recommendation)
    if not rows:
        return None
    grid = Table(title="Pareto view", caption=PARETO_LEGEND, title_justify="left")
    # the decision's scope heads its group of rows, so that long names are never cut
    grid.add_column(header[1], style="bold", no_wrap=True)
    for index, title in enumerate(header[2:], start=2):
        # figures stay whole; a long header wraps between its words above them
        width = _column_width(title, [row[index] for row in rows])
        grid.add_column(_header_lines(title, width), justify="right", no_wrap=True)
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
            Text(
                f"Quality · run {results.run_id} · model {results.model} · seed {results.seed}",
                style="bold",
            )
        )
        for group in ("target", "forgetting"):
            for grid in _rich_tables(table, group, console.width):
                console.print(grid)
        console.print(Text(legend(recommendation.alpha), style="dim"))
        for grid in _rich_tables(table, "cost", console.width):
            console.print(grid)
        console.print(Text(COST_LEGEND, style="dim"))
        pareto = _pareto_table(recommendation)
        if pareto is not None:
            console.print(pareto)
        for strategy, suite, error in table.failures:
            console.print(Text.assemble(("failed ", "red"), f"{strategy} · {suite}: {error}"))
        for warning in cell_warnings(results):
            console.print(Text.assemble(("warning ", "yellow"), warning))
        console.print(decision_view(recommendation))
