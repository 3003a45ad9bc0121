"""`report.html`: the decision report in one self-contained file.

The decisions sit at the top, one box per target suite (then one over every target); then
the quality table (target and forgetting suites), the cost table and the Pareto view; then
the plots, embedded as base64 PNGs. Inline CSS, no scripts, no external URLs: it opens
from disk in any browser, offline. Every text that comes from results (strategy and
suite names, errors) is escaped.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from harness.reporting.base import ReportContext, Reporter
from harness.reporting.evidence import cell_warnings, decide, read_loss_curves
from harness.reporting.learning import learning_html, read_learning
from harness.reporting.learning_plots import write_learning_plots
from harness.reporting.plots import write_plots
from harness.reporting.recommend import COST_AXES, Recommendation
from harness.reporting.table import (
    COST_LEGEND,
    PARETO_LEGEND,
    TIE_BREAKER_LABEL,
    ComparisonTable,
    DecisionBlock,
    TableCell,
    build_table,
    constraints_text,
    decision_blocks,
    legend,
    pareto_rows,
)
from harness.results import RunResults

_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1f2328; background: #f6f8fa; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
header h1 { font-size: 22px; margin: 0 0 2px; }
.meta { color: #57606a; font-size: 13px; margin: 0 0 18px; }
.decision { border: 2px solid; border-radius: 10px; padding: 18px 22px; margin-bottom: 14px;
  background: #fff; }
.decision .kicker { text-transform: uppercase; letter-spacing: .08em; font-size: 12px;
  font-weight: 700; }
.decision h2 { font-size: 24px; margin: 4px 0 8px; line-height: 1.2; }
.decision .reason { font-size: 17px; margin: 0 0 10px; max-width: 70em; }
.choose { border-color: #1a7f37; background: #f0fff4; } .choose .kicker { color: #1a7f37; }
.tie { border-color: #bf8700; background: #fff8e1; } .tie .kicker { color: #9a6700; }
.none { border-color: #cf222e; background: #fff5f5; } .none .kicker { color: #cf222e; }
.tiebreak { font-size: 16px; padding: 8px 12px; background: #fff; border: 1px dashed #bf8700;
  border-radius: 6px; margin: 8px 0 10px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px;
  font-size: 14px; margin: 10px 0 0; }
.facts dt { color: #57606a; } .facts dd { margin: 0; }
.facts ul { margin: 0; padding-left: 18px; }
.facts ul.caveats li { color: #cf222e; }
.facts.shared { margin: 0 0 26px; }
section { margin: 0 0 28px; }
section h2 { font-size: 18px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
/* a table wider than the page scrolls inside it; figures never wrap (td: nowrap) */
.table-scroll { overflow-x: auto; max-width: 100%; margin: 0 0 6px; }
table { border-collapse: collapse; background: #fff; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 5px 9px; vertical-align: top; }
th { background: #eef1f4; text-align: center; font-weight: 600; }
th.forgetting { background: #f3eefc; } th.target { background: #e8f4fd; }
td { text-align: right; white-space: nowrap; }
td.name { text-align: left; font-weight: 600; }
td .ci { color: #57606a; font-size: 12px; display: block; }
td .d { display: block; font-size: 12px; }
td.best { background: #dafbe1; } td.failed { color: #cf222e; font-weight: 600; }
td.drop { background: #ffebe9; }
.badge { display: inline-block; font-size: 11px; font-weight: 700; padding: 0 5px;
  border-radius: 4px; color: #fff; background: #cf222e; margin-top: 2px; }
.tag { font-size: 11px; font-weight: 700; padding: 1px 6px; border-radius: 10px;
  margin-left: 6px; vertical-align: 1px; }
.tag.chosen { background: #1a7f37; color: #fff; } .tag.tied { background: #bf8700; color: #fff; }
tr.chosen td.name { box-shadow: inset 4px 0 0 #1a7f37; }
.legend { color: #57606a; font-size: 12.5px; max-width: 70em; }
figure { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 12px;
  margin: 0 0 18px; display: inline-block; max-width: 100%; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #57606a; font-size: 13px; margin-top: 6px; max-width: 60em; }
ul.failures li { color: #cf222e; }
code { font-size: 12.5px; }
"""

_KICKER = {"choose": "Recommendation", "tie": "No clear winner", "none": "No recommendation"}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _decision_box(b: DecisionBlock) -> str:
    parts = [
        f'<section class="decision {b.verdict}">',
        f'<div class="kicker">{_e(b.title)} · {_e(_KICKER[b.verdict])}</div>',
        f"<h2>{_e(b.headline)}</h2>",
        f'<p class="reason">{_e(b.reason)}</p>',
    ]
    if b.power:
        parts.append(f'<p class="reason"><strong>Power:</strong> {_e(b.power)}</p>')
    if b.training_variance:
        parts.append(
            f'<p class="reason"><strong>Training variance:</strong> {_e(b.training_variance)}</p>'
        )
    if b.tie_breaker:
        parts.append(
            f'<p class="tiebreak"><strong>{_e(TIE_BREAKER_LABEL)}:</strong> {_e(b.tie_breaker)}</p>'
        )
    facts = [("Quality", _e(b.quality))]
    if b.caveats:
        items = "".join(f"<li>{_e(c)}</li>" for c in b.caveats)
        facts.append(("Caveats", f'<ul class="caveats">{items}</ul>'))
    if b.excluded:
        items = "".join(f"<li>{_e(item)}</li>" for item in b.excluded)
        facts.append(("Excluded", f"<ul>{items}</ul>"))
    if b.notes:
        facts.append(("Notes", "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in b.notes) + "</ul>"))
    parts.append(
        '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
    )
    parts.append("</section>")
    return "\n".join(parts)


def _decisions(r: Recommendation) -> str:
    """One box per decision, then the constraints and notes that apply to them all."""
    boxes = [_decision_box(b) for b in decision_blocks(r)]
    constraints = (
        _e(constraints_text(r))
        or "none set (add a <code>decision:</code> section to the run config)"
    )
    facts = [("Constraints", constraints)]
    if r.notes:
        facts.append(("Notes", "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in r.notes) + "</ul>"))
    shared = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    return (
        '<div id="decision">' + "\n".join(boxes) + f'<dl class="facts shared">{shared}</dl></div>'
    )


def _cell_html(cell: TableCell) -> str:
    classes = [
        c for c, on in (("best", cell.best), ("failed", cell.failed), ("drop", cell.drop)) if on
    ]
    lines = cell.text.split("\n")
    body = [_e(lines[0])]
    for line in lines[1:]:
        if line == "DROP":
            body.append('<span class="badge">DROP vs zero-shot</span>')
        elif line.startswith("["):
            body.append(f'<span class="ci">{_e(line)}</span>')
        else:
            body.append(f'<span class="d">{_e(line)}</span>')
    attr = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{attr}>{''.join(body)}</td>"


def _scroll(table: str) -> str:
    return f'<div class="table-scroll">{table}</div>'


def _name_cell(strategy: str, r: Recommendation) -> str:
    tag = ""
    if strategy in r.chosen:
        tag = '<span class="tag chosen">chosen</span>'
    elif strategy in r.tied:
        tag = '<span class="tag tied">tied</span>'
    return f'<td class="name">{_e(strategy)}{tag}</td>'


def _grid(table: ComparisonTable, groups: tuple[str, ...], r: Recommendation) -> str:
    indexes = [i for i, c in enumerate(table.columns) if c.group in groups]
    head = ["<th>strategy</th>"]
    for i in indexes:
        column = table.columns[i]
        prefix = "forgetting · " if column.group == "forgetting" else ""
        title = "<br>".join(_e(part) for part in column.title.split("\n"))
        head.append(f'<th class="{_e(column.group)}">{_e(prefix)}{title}</th>')
    rows = []
    for strategy, cells in table.rows:
        row_class = ' class="chosen"' if strategy in r.chosen else ""
        tds = "".join(_cell_html(cells[i]) for i in indexes)
        rows.append(f"<tr{row_class}>{_name_cell(strategy, r)}{tds}</tr>")
    return _scroll(
        f"<table><thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _pareto_table(r: Recommendation) -> str:
    header, rows = pareto_rows(r)
    if not rows:
        return "<p class='legend'>No strategy has both a quality and a cost to plot.</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for scope, strategy, *rest in rows:
        optimal = rest[-1] == "yes"
        cells = "".join(f"<td>{_e(v)}</td>" for v in rest[:-1])
        mark = '<td class="best">yes</td>' if optimal else "<td>no</td>"
        name = f'<td class="name">{_e(scope)}</td>{_name_cell(strategy, r)}'
        body.append(f"<tr>{name}{cells}{mark}</tr>")
    return _scroll(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _figure(title: str, path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{_e(title)}" src="data:image/png;base64,{data}">'
        f"<figcaption><b>{_e(title)}.</b> {_e(caption)}</figcaption></figure>"
    )


def render_html(
    results: RunResults,
    recommendation: Recommendation,
    figures: Sequence[tuple[str, Path, str]] = (),
    plot_note: str = "",
    sections: Sequence[str] = (),
) -> str:
    """The whole page; `figures` are (title, PNG path, caption), embedded as data URIs."""
    table = build_table(results, recommendation.alpha)
    started = results.started_at.replace("T", " ")[:16]
    label = COST_AXES[recommendation.cost_axis][0]
    body = [
        "<header>",
        "<h1>Which adaptation strategy? — harness decision report</h1>",
        f'<p class="meta">run <code>{_e(results.run_id)}</code> · model '
        f"<code>{_e(results.model)}</code> · seed {_e(results.seed)} · harness "
        f"{_e(results.harness_version)}{' · ' + _e(started) if started else ''}</p>",
        "</header>",
        _decisions(recommendation),
        "<section><h2>Quality per suite</h2>",
        _grid(table, ("target", "forgetting"), recommendation),
        f'<p class="legend">{_e(legend(recommendation.alpha))}</p></section>',
        "<section><h2>Cost</h2>",
        _grid(table, ("cost",), recommendation),
        f'<p class="legend">{_e(COST_LEGEND)}</p></section>',
        f"<section><h2>Pareto view: quality vs {_e(label)}</h2>",
        _pareto_table(recommendation),
        f'<p class="legend">{_e(PARETO_LEGEND)}</p></section>',
        *sections,
    ]
    if figures or plot_note:
        body.append("<section><h2>Plots</h2>")
        body += [_figure(title, path, caption) for title, path, caption in figures]
        if plot_note:
            body.append(f'<p class="legend">{_e(plot_note)}</p>')
        body.append("</section>")
    if warnings := cell_warnings(results):
        items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
        body.append(f"<section><h2>Warnings</h2><ul>{items}</ul></section>")
    if table.failures:
        items = "".join(
            f"<li><b>{_e(s)} · {_e(u)}</b>: <code>{_e(err)}</code></li>"
            for s, u, err in table.failures
        )
        body.append(f'<section><h2>Failed cells</h2><ul class="failures">{items}</ul></section>')
    body.append(
        '<section><h2>How the decision is made</h2><p class="legend">'
        "One decision per target suite, over every row evaluated on it (rows fine-tuned for "
        "that target included), and one over the rows evaluated on every target, on the mean "
        "primary metric. A strategy is a candidate "
        "when it has no failed cells and meets every constraint. The best candidate is chosen "
        f"only when it is significantly better (p &lt; {recommendation.alpha:g}) than every "
        "other candidate, Holm-corrected over those comparisons: the paired test the run's "
        "deltas, the gate and harness compare use (exact McNemar, paired bootstrap, or the "
        "replicate t-test over training seeds; for several suites, the mean of per-suite "
        "differences with each suite resampled on its own), or the CI-based test when "
        "per-example scores are not available. Otherwise the report says which strategies "
        "it cannot separate, the smallest difference the test examples detect at 80% power, "
        "and suggests the cheapest of them, labelled as a tie-breaker. A row trained (or "
        "given random demonstrations) with one seed is named: its verdict does not measure "
        "training variance. Caveats name the forgetting suites on "
        "which the chosen row, or a tied one, is significantly worse than zero-shot "
        "(zero-shot's value → the row's).</p></section>"
    )
    title = f"harness · {recommendation.summary} · {results.run_id}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body><main>\n"
        + "\n".join(body)
        + "\n</main></body></html>\n"
    )


class HtmlReporter(Reporter):
    """Writes report.html (self-contained, plots embedded) and plots/*.png."""

    name = "html"
    description = "report.html with the decision, tables and plots (self-contained)"

    def render(self, context: ReportContext) -> None:
        results, run_dir = context.results, context.run_dir
        recommendation = decide(run_dir, results, context.metrics)
        figures: list[tuple[str, Path, str]] = []
        note = ""
        curves = read_loss_curves(run_dir, results.strategies())
        learning = read_learning(run_dir, results, context.metrics, recommendation.alpha)
        try:
            plots = write_plots(run_dir, results, recommendation, curves)
            plots += write_learning_plots(run_dir, learning)
        except ImportError as e:  # pragma: no cover - matplotlib is a dependency
            note = f"Plots unavailable: {e}."
        else:
            figures = [(p.title, p.path, p.caption) for p in plots]
        (run_dir / "report.html").write_text(
            render_html(results, recommendation, figures, note, learning_html(learning)),
            encoding="utf-8",
        )
