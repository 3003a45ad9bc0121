"""The gate's verdicts in Markdown, for a pull-request comment or a CI job summary."""

from __future__ import annotations

from harness.gate import GateCheck, GateReport, fmt, fmt_p

_VERDICT = {
    "pass": "pass",
    "fail": "**FAIL**",
    "pass-not-significant": "pass (not significant)",
    "new": "new",
    "removed": "removed",
}
_TEST = {
    "mcnemar": "McNemar",
    "paired-bootstrap": "paired bootstrap",
    "replicate-t": "replicate t-test",
    "ci-based": "CI-based",
    "": "—",
}


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(check: GateCheck) -> str:
    threshold = f"{fmt(check.threshold)}" if check.threshold is not None else "—"
    cells = [
        check.strategy,
        check.suite + (" (forgetting)" if check.role == "forgetting" else ""),
        check.metric,
        fmt(check.baseline),
        fmt(check.value),
        fmt(check.drop, signed=True),
        threshold,
        f"{fmt_p(check.p_value)} ({_TEST[check.test]})" if check.p_value is not None else "—",
        _VERDICT[check.verdict],
        check.reason,
    ]
    return "| " + " | ".join(_escape(c) for c in cells) + " |"


def render_gate_markdown(report: GateReport) -> str:
    """The whole report: verdict line, table (failures first), notes."""
    failures = len(report.failures)
    if failures:
        headline = f"## harness check: failed ({failures} regression{'s' * (failures != 1)})"
    else:
        headline = "## harness check: passed"
    config = report.config
    budget = config.forgetting_budget
    lines = [
        headline,
        "",
        f"Run `{report.run_id}` against baseline `{report.baseline_id}` · max drop "
        f"{config.max_drop:g}"
        + (f" · forgetting budget {budget:g}" if budget is not None else "")
        + f" · significance level {config.alpha:g}",
        "",
        f"{report.count('pass')} pass · {failures} fail · "
        f"{report.count('pass-not-significant')} pass (drop not significant) · "
        f"{report.count('new')} new · {report.count('removed')} removed",
        "",
        "| strategy | suite | metric | baseline | run | drop | allowed | p (test) | verdict "
        "| why |",
        "|---|---|---|---:|---:|---:|---:|---|---|---|",
    ]
    ordered = sorted(report.checks, key=lambda c: (not c.failed, c.verdict == "pass"))
    lines += [_row(c) for c in ordered]
    lines += [
        "",
        "A check fails only when the drop exceeds the allowed drop *and* is significant "
        "(paired test on the matched examples; CI-based when the examples cannot be paired). "
        "Drops are in the metric's units; for lower-is-better metrics an increase is a drop.",
    ]
    if report.notes:
        lines += ["", "### Notes", ""]
        lines += [f"- {_escape(note)}" for note in report.notes]
    return "\n".join(lines) + "\n"
