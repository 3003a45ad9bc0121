"""Plots of sweep curves and of learning vs forgetting (PNG files in `RUN_DIR/plots/`)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.reporting.learning import Learning
from harness.reporting.plots import DPI, PLOTS_DIR, Plot

_BAND = "#4c72b0"


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()


def write_learning_plots(run_dir: Path, learning: Learning) -> list[Plot]:
    """A plot per curve (quality vs the setting with its 95% CI band, the plateau
    marked) and the learning-vs-forgetting scatter with its frontier."""
    if learning.empty:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(run_dir) / PLOTS_DIR
    out.mkdir(exist_ok=True)
    plots = []
    with plt.rc_context({"font.size": 10, "axes.spines.top": False, "axes.spines.right": False}):
        for curve in learning.curves:
            fig, ax = plt.subplots(figsize=(5.6, 3.4))
            xs = [p.x for p in curve.points]
            ax.fill_between(
                xs, [p.ci95[0] for p in curve.points], [p.ci95[1] for p in curve.points],
                color=_BAND, alpha=0.2, linewidth=0, label="95% CI",
            )  # fmt: skip
            ax.plot(xs, [p.value for p in curve.points], "o-", color=_BAND, label=curve.base)
            top = curve.plateau_point
            if top is not None and len(curve.points) > 1:
                ax.axvline(top.x, color="#1a7f37", linestyle="--", linewidth=1)
                ax.annotate(
                    "still improving" if curve.still_improving else "stops improving",
                    (top.x, top.value), textcoords="offset points", xytext=(6, -14),
                    color="#1a7f37", fontsize=8,
                )  # fmt: skip
            if curve.setting in ("learning_rate", "max_train_examples") and min(xs) > 0:
                ax.set_xscale("log")
                ax.minorticks_off()
            ax.set_xticks(xs, [f"{x:g}" for x in xs])
            ax.set_xlabel(curve.setting)
            ax.set_ylabel(f"{curve.metric} {'↑' if curve.higher_is_better else '↓'}")
            ax.set_title(f"{curve.title}: {curve.base} on {curve.suite}", fontsize=10)
            ax.legend(fontsize=8, frameon=False)
            path = (
                out / f"curve-{_slug(curve.base)}-{_slug(curve.setting)}-{_slug(curve.suite)}.png"
            )
            fig.tight_layout()
            fig.savefig(path, dpi=DPI)
            plt.close(fig)
            plots.append(
                Plot(
                    f"{curve.title.capitalize()}: {curve.base} on {curve.suite}",
                    path,
                    curve.describe() + ".",
                )
            )
        if learning.points:
            fig, ax = plt.subplots(figsize=(6.4, 4.2))
            families = list(dict.fromkeys(p.family for p in learning.points))
            colours = ["#4c72b0", "#dd8452", "#8172b3", "#c44e52", "#937860", "#64b5cd"]
            for point, on in zip(learning.points, learning.frontier, strict=True):
                colour = colours[families.index(point.family) % len(colours)]
                ax.errorbar(
                    point.gain, point.drop,
                    xerr=[[point.gain - point.gain_ci[0]], [point.gain_ci[1] - point.gain]],
                    yerr=[[point.drop - point.drop_ci[0]], [point.drop_ci[1] - point.drop]],
                    fmt="o", color=colour, ecolor=colour, alpha=0.8, capsize=2,
                    markeredgecolor="#1a7f37" if on else colour, markeredgewidth=2 if on else 1,
                )  # fmt: skip
                ax.annotate(
                    point.row,
                    (point.gain, point.drop),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=7,
                )
            front = sorted(
                (p.gain, p.drop)
                for p, on in zip(learning.points, learning.frontier, strict=True)
                if on
            )
            if len(front) > 1:
                ax.plot(*zip(*front, strict=True), color="#1a7f37", linewidth=1, linestyle=":")
            for i, family in enumerate(families):
                ax.scatter([], [], color=colours[i % len(colours)], label=family)
            ax.axhline(0, color="#8c8c8c", linewidth=0.8)
            ax.set_xlabel("gain on its target vs zero-shot →")
            ax.set_ylabel("mean drop on forgetting suites (lower is better)")
            ax.set_title("Learning vs forgetting", fontsize=10)
            ax.legend(fontsize=8, frameon=False)
            path = out / "learning-forgetting.png"
            fig.tight_layout()
            fig.savefig(path, dpi=DPI)
            plt.close(fig)
            plots.append(
                Plot(
                    "Learning vs forgetting",
                    path,
                    "Each trained row: gain on its target against its mean drop on the "
                    "forgetting suites, with 95% CIs; outlined green and joined: the Pareto "
                    "frontier (no row learns more for no more forgetting).",
                )
            )
    return plots
