"""The report's plots, as PNG files in `RUN_DIR/plots/`.

matplotlib (Agg backend) is imported inside `write_plots`, so that listing plugins
imports none of it. Each plot is drawn from results.json and run-folder files only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.reporting.recommend import ALL_TARGETS, COST_AXES, ForgettingDrop, Recommendation
from harness.results import RunResults

if TYPE_CHECKING:
    from harness.reporting.evidence import LossCurves

PLOTS_DIR = "plots"
CHOSEN = "#1a7f37"
DPI = 100


@dataclass(frozen=True)
class Plot:
    """One written plot: a title for the report and its file."""

    title: str
    path: Path
    caption: str = ""


def _palette(strategies: list[str]) -> dict[str, str]:
    # no green in the palette: green marks the chosen strategy
    colours = [
        "#4c72b0", "#dd8452", "#8172b3", "#937860", "#da8bc3",
        "#8c8c8c", "#ccb974", "#64b5cd", "#c44e52", "#2f4b7c",
        # a row per target suite makes ten rows common
        "#f28e2b", "#b07aa1", "#ff9da7", "#9c755f", "#17becf",
        "#7a5195", "#ef5675", "#ffa600", "#003f5c", "#bab0ac",
    ]  # fmt: skip
    return {s: colours[i % len(colours)] for i, s in enumerate(strategies)}


def write_plots(
    run_dir: Path, results: RunResults, decision: Recommendation, curves: LossCurves
) -> list[Plot]:
    """Draw every plot the data allow; returns them in report order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(run_dir) / PLOTS_DIR
    out.mkdir(exist_ok=True)
    colours = _palette(results.strategies())
    plots: list[Plot] = []
    with plt.rc_context({"font.size": 10, "axes.spines.top": False, "axes.spines.right": False}):
        for drawer in (_quality, _forgetting, _pareto, _losses):
            plot = drawer(plt, out, results, decision, curves, colours)
            if plot is not None:
                plots.append(plot)
    return plots


def _save(plt: Any, fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _quality(
    plt: Any,
    out: Path,
    results: RunResults,
    decision: Recommendation,
    curves: LossCurves,
    colours: dict[str, str],
) -> Plot | None:
    """One panel per suite: the primary metric per strategy, with 95% CI whiskers."""
    suites = sorted(results.suites, key=lambda s: (s.role != "target", s.name))
    strategies = results.strategies()
    if not suites or not strategies:
        return None
    columns = min(3, len(suites))
    rows = math.ceil(len(suites) / columns)
    width = max(2.2, 0.7 * len(strategies) + 1.2)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(suites) :]:
        ax.set_visible(False)
    for ax, suite in zip(axes.flat, suites, strict=False):
        values, lows, highs, names = [], [], [], []
        for strategy in strategies:
            cell = results.cell(strategy, suite.name)
            metric = cell.metrics.get(suite.primary_metric) if cell else None
            if cell is None or not cell.has_figures or metric is None or math.isnan(metric.value):
                continue
            names.append(strategy)
            values.append(metric.value)
            lows.append(max(0.0, metric.value - metric.ci95[0]))
            highs.append(max(0.0, metric.ci95[1] - metric.value))
        x = range(len(names))
        # a row is marked where it was chosen: on its suite, or on every target overall
        chosen = {d.chosen for d in decision.views if suite.name in d.quality_suites}
        ax.bar(
            x,
            values,
            yerr=[lows, highs],
            capsize=4,
            color=[colours[n] for n in names],
            edgecolor=[CHOSEN if n in chosen else "none" for n in names],
            linewidth=3,
        )
        for i, value in enumerate(values):
            ax.annotate(
                f"{value:.2f}",
                (i, value),
                textcoords="offset points",
                xytext=(4, 2),  # beside the CI whisker, not on it
                ha="left",
                fontsize=8,
                color="#333333",
            )
        tops = [v + h for v, h in zip(values, highs, strict=True)]
        bottoms = [v - lo for v, lo in zip(values, lows, strict=True)]
        low = min([0.0, *bottoms])
        high = max([0.0, *tops])
        ax.set_ylim(low, high * 1.12 if high > low else low + 1.0)  # all-zero: still 0..1
        labels = [f"{n}\n(chosen)" if n in chosen else n for n in names]
        ax.set_xticks(list(x), labels, rotation=30, ha="right")
        for tick, n in zip(ax.get_xticklabels(), names, strict=True):
            if n in chosen:
                tick.set_color(CHOSEN)
                tick.set_fontweight("bold")
        role = "forgetting" if suite.role == "forgetting" else "target"
        ax.set_title(f"{suite.name} ({role})", fontsize=10)
        arrow = "↑" if suite.higher_is_better else "↓"
        ax.set_ylabel(f"{suite.primary_metric} {arrow}")
    path = out / "quality.png"
    _save(plt, fig, path)
    return Plot(
        "Quality per suite",
        path,
        "Primary metric per suite with 95% bootstrap CI whiskers; the chosen strategy is "
        "outlined in green.",
    )


def _forgetting(
    plt: Any,
    out: Path,
    results: RunResults,
    decision: Recommendation,
    curves: LossCurves,
    colours: dict[str, str],
) -> Plot | None:
    """Drop vs zero-shot on each forgetting suite, with CI whiskers; significant in red.

    One panel per primary metric, so that metrics of different scales (perplexity,
    accuracy) each get an axis of their own.
    """
    drops = [
        (p.strategy, d) for p in decision.profiles if p.strategy != "zero-shot" for d in p.drops
    ]
    if not drops:
        return None
    by_metric: dict[str, list[tuple[str, ForgettingDrop]]] = {}
    for strategy, d in drops:
        by_metric.setdefault(d.metric or "primary metric", []).append((strategy, d))
    strategies = list(dict.fromkeys(s for s, _ in drops))
    widest = max(len({d.suite for _, d in group}) for group in by_metric.values())
    width = max(6.0, 0.22 * widest * len(strategies) + 2.5)
    fig, axes = plt.subplots(
        len(by_metric), 1, figsize=(width, 3.4 * len(by_metric)), squeeze=False
    )
    for ax, (metric, group) in zip(axes.flat, by_metric.items(), strict=True):
        _forgetting_panel(ax, metric, group, strategies, colours)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(
        handles, labels, frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0)
    )
    path = out / "forgetting.png"
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return Plot(
        "Forgetting",
        path,
        "How much each strategy worsens each forgetting suite's primary metric compared with "
        "zero-shot (the base model), with 95% paired CIs, one panel per metric; red outline "
        "and *: significant (p < 0.05).",
    )


def _forgetting_panel(
    ax: Any,
    metric: str,
    group: list[tuple[str, ForgettingDrop]],
    strategies: list[str],
    colours: dict[str, str],
) -> None:
    suites = list(dict.fromkeys(d.suite for _, d in group))
    width = 0.8 / len(strategies)
    for i, strategy in enumerate(strategies):
        mine = {d.suite: d for s, d in group if s == strategy}
        xs = [j + i * width for j, suite in enumerate(suites) if suite in mine]
        ds = [mine[suite] for suite in suites if suite in mine]
        ax.bar(
            xs,
            [d.drop for d in ds],
            width=width * 0.9,
            yerr=[[d.drop - d.ci95[0] for d in ds], [d.ci95[1] - d.drop for d in ds]],
            capsize=2,
            color=colours[strategy],
            edgecolor=["#c62828" if d.significant else "none" for d in ds],
            linewidth=1.5,
            label=strategy,
        )
        for x, d in zip(xs, ds, strict=True):
            if d.significant:
                ax.annotate("*", (x, d.ci95[1]), ha="center", va="bottom", color="#c62828")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(suites))], suites)
    ax.set_ylabel("worse than zero-shot by\n(↑ = worse)")
    ax.set_title(metric, fontsize=10, loc="left")


def _pareto(
    plt: Any,
    out: Path,
    results: RunResults,
    decision: Recommendation,
    curves: LossCurves,
    colours: dict[str, str],
) -> Plot | None:
    """Quality against the cost axis, one panel per decision; the Pareto-optimal
    strategies joined."""
    views = [d for d in decision.views if d.pareto]
    if not views:
        return None
    label, unit = COST_AXES[decision.cost_axis]
    columns = min(2, len(views))
    rows = math.ceil(len(views) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.4 * columns, 4.0 * rows), squeeze=False)
    for ax in axes.flat[len(views) :]:
        ax.set_visible(False)
    for ax, view in zip(axes.flat, views, strict=False):
        points = list(view.pareto)
        front = sorted((p for p in points if p.optimal), key=lambda p: p.cost)
        if len(front) > 1:
            ax.plot([p.cost for p in front], [p.quality for p in front], "--", color="#999999")
        offsets = _label_offsets([(p.cost, p.quality) for p in points])
        for p, offset in zip(points, offsets, strict=True):
            chosen = p.strategy == view.chosen
            ax.scatter(
                [p.cost],
                [p.quality],
                s=160 if chosen else 90,
                color=colours.get(p.strategy, "#333333") if p.optimal else "white",
                edgecolors=CHOSEN if chosen else colours.get(p.strategy, "#333333"),
                linewidths=3 if chosen else 1.5,
                zorder=3,
            )
            ax.annotate(
                p.strategy + ("  (Pareto)" if p.optimal else ""),
                (p.cost, p.quality),
                textcoords="offset points",
                xytext=(8, offset),
                fontsize=8,
            )
        positive = [p.cost for p in points if p.cost > 0]
        if positive and max(positive) > 1000 * min(positive):  # parameters, bytes: 0 to 1e9
            ax.set_xscale("symlog", linthresh=min(positive))
        ax.set_xlabel(f"{label} ({unit})" if unit else label)
        ax.set_ylabel("quality")
        heading = view.quality_label  # names the target suite
        if view.scope == ALL_TARGETS:
            heading = f"All targets: {heading}"
        ax.set_title(heading, fontsize=9, loc="left", wrap=True)
        ax.margins(x=0.25, y=0.2)
    path = out / "pareto.png"
    _save(plt, fig, path)
    return Plot(
        f"Quality vs {label}",
        path,
        "One panel per decision. Filled points are Pareto-optimal: no other strategy is both "
        "at least as good and at least as cheap. Hollow points are beaten on both.",
    )


def _label_offsets(xy: list[tuple[float, float]]) -> list[float]:
    """Vertical label offsets (points) that stack the labels of points drawn at nearly
    the same place, instead of printing them over each other."""
    xs, ys = [x for x, _ in xy], [y for _, y in xy]
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    placed: list[tuple[float, float]] = []
    offsets = []
    for x, y in xy:
        near = sum(
            1 for px, py in placed if abs(px - x) < 0.3 * span_x and abs(py - y) < 0.04 * span_y
        )
        offsets.append(6.0 - 11.0 * near)
        placed.append((x, y))
    return offsets


def _losses(
    plt: Any,
    out: Path,
    results: RunResults,
    decision: Recommendation,
    curves: LossCurves,
    colours: dict[str, str],
) -> Plot | None:
    """Training (solid) and eval (dashed) loss per step, where strategies logged them."""
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for strategy, kinds in curves.items():
        for kind, style in (("train", "-"), ("eval", "--")):
            points = kinds.get(kind)
            if points:
                ax.plot(
                    [s for s, _ in points],
                    [v for _, v in points],
                    style,
                    marker="o" if len(points) < 20 else None,
                    color=colours.get(strategy, "#333333"),
                    label=f"{strategy} {kind}",
                )
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(frameon=False, fontsize=9)
    path = out / "loss.png"
    _save(plt, fig, path)
    return Plot("Training and eval loss", path, "Loss per step as the strategies logged it.")
