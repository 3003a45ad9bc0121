"""The gate's verdicts as JUnit XML, which every CI system can display.

One `<testsuite>` per strategy and one `<testcase>` per strategy × suite × gated metric.
A failed check carries `<failure message=...>` with its figures; new or removed checks
(nothing to compare) are `<skipped>`; every test case's reason is in `<system-out>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.gate import GateCheck, GateReport, describe_test, fmt, fmt_p


def _details(check: GateCheck) -> str:
    test = describe_test(check.test, check.n_matched, check.replicates)
    lines = [
        f"strategy: {check.strategy}",
        f"suite: {check.suite} ({check.role})",
        f"metric: {check.metric} ({'higher' if check.higher_is_better else 'lower'} is better)",
        f"baseline: {fmt(check.baseline)}",
        f"run: {fmt(check.value)}",
        f"drop: {fmt(check.drop, signed=True)}",
        f"allowed drop: {fmt(check.threshold)} ({check.threshold_source or 'n/a'})",
        f"p-value: {fmt_p(check.p_value)} ({test})",
        f"verdict: {check.verdict}",
        f"reason: {check.reason}",
    ]
    return "\n".join(lines)


def build_junit(report: GateReport) -> ET.ElementTree:
    """The XML tree of `report`."""
    root = ET.Element(
        "testsuites",
        name="harness check",
        tests=str(len(report.checks)),
        failures=str(len(report.failures)),
        errors="0",
        skipped=str(report.count("new") + report.count("removed")),
    )
    strategies = list(dict.fromkeys(c.strategy for c in report.checks))
    for strategy in strategies:
        checks = [c for c in report.checks if c.strategy == strategy]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=strategy,
            tests=str(len(checks)),
            failures=str(sum(c.failed for c in checks)),
            errors="0",
            skipped=str(sum(c.verdict in ("new", "removed") for c in checks)),
            time="0",
        )
        for check in checks:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"harness.{strategy}",
                name=f"{check.suite} / {check.metric}",
                time="0",
            )
            if check.failed:
                failure = ET.SubElement(case, "failure", message=check.summary, type="regression")
                failure.text = _details(check)
            elif check.verdict in ("new", "removed"):
                ET.SubElement(case, "skipped", message=f"{check.verdict}: {check.reason}")
            ET.SubElement(case, "system-out").text = _details(check)
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(report: GateReport, path: Path) -> None:
    """Write `report` as JUnit XML to `path` (folders created as needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    build_junit(report).write(path, encoding="utf-8", xml_declaration=True)
