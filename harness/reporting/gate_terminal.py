"""The gate's verdicts as a rich table in the terminal."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.gate import GateReport, fmt, fmt_p

_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "pass-not-significant": "yellow",
    "new": "cyan",
    "removed": "magenta",
}
#: short marks keep the table within 80 columns; the caption spells them out
_TEST = {"mcnemar": "M", "paired-bootstrap": "B", "replicate-t": "T", "ci-based": "CI", "": ""}


def print_gate_report(report: GateReport, console: Console) -> None:
    """Print the checks, why each non-pass verdict was reached, the notes and the outcome."""
    config = report.config
    table = Table(
        title=f"harness check · run {report.run_id} vs baseline {report.baseline_id}",
        title_justify="left",
        caption=f"fail = drop > max (the allowed drop) AND significant (p < {config.alpha:g}). "
        "p by M exact McNemar or B paired bootstrap on matched examples, T replicate t-test "
        "over training seeds, or CI from both "
        "95% CIs. † forgetting suite. Drops in metric units (lower-is-better metrics: an "
        "increase).",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    for column in ("strategy", "suite", "metric"):
        table.add_column(column, overflow="fold")
    table.add_column("verdict")
    for column in ("base", "run", "drop", "max", "p"):
        table.add_column(column, justify="right", no_wrap=True)
    for c in report.checks:
        suite = Text(c.suite)
        if c.role == "forgetting":
            suite.append(" †", style="magenta")
        table.add_row(
            c.strategy,
            suite,
            c.metric,
            Text(c.verdict, style=_STYLE[c.verdict]),
            fmt(c.baseline),
            fmt(c.value),
            fmt(c.drop, signed=True),
            fmt(c.threshold) if c.threshold is not None else "",
            f"{fmt_p(c.p_value)} {_TEST[c.test]}" if c.p_value is not None else "",
        )
    console.print(table)
    for c in report.checks:
        if c.verdict != "pass":
            console.print(
                Text.assemble(
                    (f"{c.verdict}: ", _STYLE[c.verdict]),
                    f"{c.strategy} · {c.suite} · {c.metric}: {c.reason}",
                ),
                soft_wrap=True,
            )
    for note in report.notes:
        console.print(Text.assemble(("note: ", "cyan"), note), soft_wrap=True)
    if report.passed:
        console.print(Text("gate passed", style="bold green"))
    else:
        failures = len(report.failures)
        console.print(
            Text(f"gate failed: {failures} regression{'s' * (failures != 1)}", style="bold red")
        )
