"""`harness lab myths`: one ready-made experiment per popular claim about adapting LLMs,
and a verdict per claim: holds / does not hold / inconclusive, on this model and suites.

The verdict functions are pure (typed inputs from `harness.analysis`, a verdict out);
`run_myths` runs two harness runs (the main matrix, and the corpus swap when a suite
with a knowledge corpus is there) and `write_myths_report` writes `myths.html` and
`myths.md` whose first lines are the verdicts. See docs/myths.md.
"""

from __future__ import annotations

import html
import json
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.analysis import DEFAULT_ALPHA, Comparison, Curve, MatchedGain, format_p

Verdict = Literal["holds", "does not hold", "inconclusive"]
#: the main experiment's target on the demo lab, and its forgetting suites
DEMO_TARGET = "demo-tickets-intent"
DEMO_FORGETTING = (
    "demo-skills-arithmetic",
    "demo-skills-copy",
    "demo-skills-facts",
    "demo-skills-reading",
)
FACTS_SUITE = "myths-facts-changed"
FACTS_BEFORE = "myths-facts-before"


@dataclass(frozen=True)
class ClaimVerdict:
    """One claim, what this lab says about it, the figure behind it, and its plot."""

    key: str
    claim: str
    source: str
    verdict: Verdict
    figure: str
    detail: str = ""
    #: a plot file, relative to the myths report
    plot: str | None = None

    def line(self) -> str:
        return f"{self.claim} — {self.verdict} on this lab: {self.figure}"


def _ci(c: Comparison) -> str:
    return f"{c.difference:+.3f} [{c.ci95[0]:+.3f}, {c.ci95[1]:+.3f}], p={format_p(c.p_value)}"


def _better(c: Comparison | None, alpha: float) -> bool:
    return c is not None and c.significant(alpha) and c.difference > 0


def _worse(c: Comparison | None, alpha: float) -> bool:
    return c is not None and c.significant(alpha) and c.difference < 0


# -- verdicts --------------------------------------------------------------------------

CLAIMS: dict[str, tuple[str, str]] = {
    "data": (
        "A few hundred to a thousand good examples suffice",
        "LIMA (Zhou et al. 2023, 1,000 curated examples); practitioner guides (OpenAI's "
        "fine-tuning guide: improvements from 50-100 examples)",
    ),
    "lora-cost": (
        "LoRA cuts the cost of fine-tuning by up to 90%",
        "Hu et al. 2021 (LoRA: 10,000x fewer trainable parameters, 3x less GPU memory on "
        "GPT-3); vendor blog posts",
    ),
    "forgetting": (
        "Fine-tuning makes a model forget, and multi-task / replay reduces it",
        "McCloskey & Cohen 1989; Luo et al. 2023 (catastrophic forgetting in LLM "
        "fine-tuning); replay: Robins 1995, Scialom et al. 2022",
    ),
    "facts": (
        "RAG is better when facts change often",
        "Lewis et al. 2020 (RAG); Ovadia et al. 2024 (fine-tuning vs retrieval for new knowledge)",
    ),
    "prompting": (
        "Start from prompting: a zero- or few-shot prompt is often enough",
        "Brown et al. 2020 (few-shot learners); OpenAI and Anthropic prompting guides",
    ),
    "lora-forgets": (
        "LoRA learns less and forgets less",
        "Biderman et al. 2024, 'LoRA Learns Less and Forgets Less'",
    ),
}


def _claim(
    key: str, verdict: Verdict, figure: str, detail: str = "", plot: str | None = None
) -> ClaimVerdict:
    claim, source = CLAIMS[key]
    return ClaimVerdict(key, claim, source, verdict, figure, detail, plot)


def data_efficiency_verdict(
    curve: Curve | None,
    vs_prompting: Comparison | None,
    *,
    alpha: float = DEFAULT_ALPHA,
    enough: float = 1000,
    plot: str | None = None,
) -> ClaimVerdict:
    """Holds when the data-efficiency curve stops improving significantly at or below
    `enough` examples and its plateau point is significantly better than the best
    prompt; does not hold when the plateau point is significantly worse than the prompt,
    or the curve still improves past `enough`; inconclusive otherwise (a curve still
    improving at its last point below `enough`, or no separation from the prompt)."""
    if curve is None or curve.plateau_point is None:
        return _claim("data", "inconclusive", "no data-efficiency curve (sweep max_train_examples)")
    point = curve.plateau_point
    last = curve.points[-1]
    head = (
        f"{curve.metric} {point.value:.3f} [{point.ci95[0]:.3f}, {point.ci95[1]:.3f}] at "
        f"{int(point.x)} examples"
    )
    if curve.still_improving:
        head = f"still improving at {int(last.x)} examples ({curve.metric} {last.value:.3f})"
    vs = f"; vs the best prompt {_ci(vs_prompting)}" if vs_prompting else ""
    detail = curve.describe()
    if _worse(vs_prompting, alpha) or (curve.still_improving and last.x >= enough):
        return _claim("data", "does not hold", head + vs, detail, plot)
    if not curve.still_improving and point.x <= enough and _better(vs_prompting, alpha):
        return _claim("data", "holds", f"plateau at {head}" + vs, detail, plot)
    return _claim("data", "inconclusive", head + vs, detail, plot)


#: cost measures of `lora_cost_verdict`, with their names
COST_MEASURES = {
    "trainable_params": "trainable parameters",
    "artifact_bytes": "artifact size",
    "train_seconds": "training time",
    "peak_memory_mb": "peak memory",
}


def lora_cost_verdict(
    sft: Mapping[str, float], lora: Mapping[str, float], *, plot: str | None = None
) -> ClaimVerdict:
    """Cuts `1 - lora / sft` per measure (`COST_MEASURES`). Holds when some cut reaches
    90% and neither training time nor peak memory grows; does not hold when LoRA costs
    more time or memory, or no cut reaches 90%; inconclusive when a measure is missing."""
    cuts: dict[str, float] = {}
    for key in COST_MEASURES:
        a, b = sft.get(key), lora.get(key)
        if a is None or b is None or not a > 0 or math.isnan(b):
            return _claim("lora-cost", "inconclusive", f"no {COST_MEASURES[key]} for both rows")
        cuts[key] = 1.0 - b / a
    figure = ", ".join(f"{COST_MEASURES[k]} {-100 * v:+.0f}%" for k, v in cuts.items())
    detail = "LoRA vs full fine-tuning on the same data; " + "; ".join(
        f"{COST_MEASURES[k]}: sft {_amount(sft[k])}, lora {_amount(lora[k])}" for k in cuts
    )
    compute_grew = cuts["train_seconds"] < 0 or cuts["peak_memory_mb"] < 0
    if max(cuts.values()) >= 0.9 and not compute_grew:
        return _claim("lora-cost", "holds", figure, detail, plot)
    return _claim("lora-cost", "does not hold", figure, detail, plot)


def _amount(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def forgetting_verdict(
    fine_tune_drop: Comparison | None,
    replay_minus_fine_tune: Comparison | None,
    *,
    alpha: float = DEFAULT_ALPHA,
    plot: str | None = None,
) -> ClaimVerdict:
    """`fine_tune_drop`: zero-shot minus the fine-tuned row on the forgetting suites;
    `replay_minus_fine_tune`: the replay row's drop minus the fine-tuned row's. Holds
    when the drop is significant and replay's is significantly smaller; does not hold
    when the drop's CI lies at or below 0 (no forgetting) or replay forgets
    significantly more; inconclusive otherwise."""
    if fine_tune_drop is None:
        return _claim("forgetting", "inconclusive", "no fine-tuned row with forgetting suites")
    figure = f"fine-tuning's mean drop {_ci(fine_tune_drop)}"
    if replay_minus_fine_tune is not None:
        figure += f"; replay changes it by {_ci(replay_minus_fine_tune)}"
    if fine_tune_drop.ci95[1] <= 0 or _better(replay_minus_fine_tune, alpha):
        return _claim("forgetting", "does not hold", figure, plot=plot)
    if _better(fine_tune_drop, alpha) and _worse(replay_minus_fine_tune, alpha):
        return _claim("forgetting", "holds", figure, plot=plot)
    return _claim("forgetting", "inconclusive", figure, plot=plot)


def facts_verdict(
    retrieval_minus_fine_tune: Comparison | None,
    *,
    alpha: float = DEFAULT_ALPHA,
    metric: str = "exact_match",
    values: tuple[float, float] | None = None,
    plot: str | None = None,
) -> ClaimVerdict:
    """After the facts changed: RAG on the updated corpus minus the model fine-tuned on
    the old facts. Holds when significantly positive, does not hold when significantly
    negative, inconclusive otherwise."""
    if retrieval_minus_fine_tune is None:
        return _claim(
            "facts",
            "inconclusive",
            "not run: needs a target suite with a knowledge corpus (the demo lab's catalog)",
        )
    difference = _ci(retrieval_minus_fine_tune)
    figure = f"on the changed facts, RAG (updated corpus) minus fine-tuned: {difference}"
    if values:
        figure = (
            f"{metric} {values[0]:.3f} (RAG, updated corpus) vs {values[1]:.3f} (fine-tuned "
            f"on the old facts); difference {difference}"
        )
    if _better(retrieval_minus_fine_tune, alpha):
        return _claim("facts", "holds", figure, plot=plot)
    if _worse(retrieval_minus_fine_tune, alpha):
        return _claim("facts", "does not hold", figure, plot=plot)
    return _claim("facts", "inconclusive", figure, plot=plot)


def prompting_verdict(
    trained_minus_prompt: Mapping[str, Comparison],
    *,
    alpha: float = DEFAULT_ALPHA,
    plot: str | None = None,
) -> ClaimVerdict:
    """Per target: the best trained row minus the best prompt (zero- or few-shot).
    Holds when no trained row is significantly better on any target; does not hold when
    one is on every target; inconclusive when it depends on the target (or no target)."""
    if not trained_minus_prompt:
        return _claim("prompting", "inconclusive", "no target with both a prompt and a trained row")
    beaten = [s for s, c in trained_minus_prompt.items() if _better(c, alpha)]
    figure = "; ".join(
        f"{s}: trained minus best prompt {_ci(c)}" for s, c in trained_minus_prompt.items()
    )
    if not beaten:
        return _claim("prompting", "holds", figure, plot=plot)
    if len(beaten) == len(trained_minus_prompt):
        return _claim("prompting", "does not hold", figure, plot=plot)
    return _claim("prompting", "inconclusive", figure, f"beaten on {', '.join(beaten)} only", plot)


def lora_forgets_verdict(
    lora_minus_sft_gain: Comparison | None,
    matched: MatchedGain | None,
    *,
    alpha: float = DEFAULT_ALPHA,
    plot: str | None = None,
) -> ClaimVerdict:
    """`lora_minus_sft_gain`: the best LoRA row minus the best full fine-tune on the
    target; `matched`: LoRA against full fine-tuning at matched gain. Holds when LoRA
    learns significantly less and forgets significantly less at matched gain; does not
    hold when it learns significantly more or full fine-tuning forgets significantly
    less at matched gain; inconclusive otherwise."""
    if lora_minus_sft_gain is None and matched is None:
        return _claim(
            "lora-forgets", "inconclusive", "no LoRA and full fine-tuning rows to compare"
        )
    parts = []
    if lora_minus_sft_gain is not None:
        parts.append(
            f"best LoRA minus best full fine-tune on the target {_ci(lora_minus_sft_gain)}"
        )
    winner = matched.verdict() if matched else "none"
    lora_family = matched.a if matched else "lora"
    if matched is not None:
        best = min(matched.pairs, key=lambda p: p.p_adjusted, default=None)
        if best is not None:
            parts.append(
                f"at matched gain ({len(matched.pairs)} pair(s) within {matched.tolerance:g}) "
                f"drop of {best.a.row} minus {best.b.row} {_ci(best.result)}, "
                f"Holm p={format_p(best.p_adjusted)}"
            )
        else:
            parts.append(f"no pair within {matched.tolerance:g} of gain")
    figure = "; ".join(parts)
    learns_less = _worse(lora_minus_sft_gain, alpha)
    forgets_less = winner == lora_family
    if _better(lora_minus_sft_gain, alpha) or winner not in ("none", "mixed", lora_family):
        return _claim("lora-forgets", "does not hold", figure, plot=plot)
    if learns_less and forgets_less:
        return _claim("lora-forgets", "holds", figure, plot=plot)
    return _claim("lora-forgets", "inconclusive", figure, plot=plot)


# -- experiments -----------------------------------------------------------------------


@dataclass(frozen=True)
class MythsSetup:
    """What the experiments run on: a model (None: the demo lab's) and suites."""

    model: str | None = None
    #: suite names or suite.yaml paths; their roles (target, forgetting) are their own
    suites: tuple[str, ...] = (DEMO_TARGET, *DEMO_FORGETTING)
    #: a target suite with a knowledge corpus for the corpus swap (None: not run)
    facts_source: str | None = "demo-catalog-qa"
    max_test_examples: int = 100
    replicates: int = 2
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def main_config(setup: MythsSetup, out: Path) -> dict[str, Any]:
    """The main matrix: prompts (a k-shot sweep), full fine-tuning swept over the number
    of train examples, LoRA swept over the learning rate, and multi-task with replay."""
    return {
        "model": setup.model,
        "suites": list(setup.suites),
        "seed": setup.seed,
        "replicates": setup.replicates,
        "max_test_examples": setup.max_test_examples,
        "out": str(out),
        "reporters": ["html", "markdown"],
        "strategies": [
            "zero-shot",
            {"name": "few-shot", "sweep": {"k": [1, 4, 8]}},
            # few optimiser steps: learning rates 10x the defaults, tuned for a 2-epoch budget
            {
                "name": "sft",
                "epochs": 2,
                "learning_rate": 5.0e-4,
                "sweep": {"max_train_examples": [25, 100, 300]},
            },
            {
                "name": "lora",
                "epochs": 2,
                "max_train_examples": 100,
                "sweep": {"learning_rate": [1.0e-3, 4.0e-3]},
            },
            {"name": "multitask", "epochs": 2, "learning_rate": 5.0e-4, "max_train_examples": 100},
        ],
        **setup.extra,
    }


def facts_config(
    setup: MythsSetup, suites: Sequence[Path], updated: Path, out: Path
) -> dict[str, Any]:
    """The corpus swap: a model fine-tuned on facts, then the facts change; RAG reads
    the updated documents (`corpus:`), the fine-tuned model keeps what it learned."""
    return {
        "model": setup.model,
        "suites": [str(p) for p in suites],
        "seed": setup.seed,
        "max_test_examples": setup.max_test_examples,
        "out": str(out),
        "reporters": ["html", "markdown"],
        "strategies": [
            "zero-shot",
            {"name": "sft", "epochs": 4, "learning_rate": 5.0e-4},
            {"name": "rag", "k": 1},
            {"name": "rag", "label": "rag-updated", "k": 1, "corpus": str(updated)},
        ],
    }


def write_facts_suites(source: Path, out: Path, seed: int = 0) -> tuple[list[Path], Path]:
    """From a suite with a knowledge corpus whose documents are `name attribute: value`
    lines (the demo lab's catalog): a target suite whose train split asks the test items'
    facts (what a fine-tune learns) and whose test split asks them after every value
    changed, a forgetting-role suite with the facts before the change, and the updated
    documents. Returns the two suite.yaml paths and the updated documents file."""
    import yaml

    spec = yaml.safe_load((source / "suite.yaml").read_text(encoding="utf-8"))
    docs_path = source / spec["knowledge"]["documents"]
    documents = [
        json.loads(line) for line in docs_path.read_text(encoding="utf-8").splitlines() if line
    ]
    test = [
        json.loads(line)
        for line in (source / spec["splits"]["test"]).read_text(encoding="utf-8").splitlines()
        if line
    ]
    by_id = {d["id"]: d for d in documents}
    values: dict[str, set[str]] = {}
    for doc in documents:
        for line in doc["text"].splitlines():
            question, _, value = line.rpartition(": ")
            values.setdefault(question.rsplit(" ", 1)[-1], set()).add(value)
    rng = random.Random(seed)
    changed: dict[str, str] = {}  # question -> new value
    updated_docs = []
    used = sorted({g for record in test for g in record.get("gold_documents", [])})
    for doc_id in used:
        lines = []
        for line in by_id[doc_id]["text"].splitlines():
            question, _, value = line.rpartition(": ")
            options = sorted(values[question.rsplit(" ", 1)[-1]] - {value})
            new = rng.choice(options) if options else value
            changed[question + ":"] = new
            lines.append(f"{question}: {new}")
        updated_docs.append({**by_id[doc_id], "text": "\n".join(lines)})
    old = [r for r in test if r["input"] in changed]
    new = [{**r, "target": changed[r["input"]]} for r in old]
    out.mkdir(parents=True, exist_ok=True)
    updated = out / "documents-updated.jsonl"
    _jsonl(updated, updated_docs)
    # the fine-tune learns the very questions it is tested on, as they were: its own ids
    learned = [{**r, "id": f"{r['id']}-learned"} for r in old]
    paths = []
    for name, role, split in ((FACTS_SUITE, "target", new), (FACTS_BEFORE, "forgetting", old)):
        folder = out / name
        (folder / "data").mkdir(parents=True, exist_ok=True)
        splits = {"test": "data/test.jsonl"}
        if role == "target":
            _jsonl(folder / "data" / "train.jsonl", learned)
            splits["train"] = "data/train.jsonl"
        _jsonl(folder / "data" / "test.jsonl", split)
        _jsonl(folder / "data" / "documents.jsonl", [by_id[i] for i in used])
        suite = {
            "name": name,
            "version": "1",
            "description": "Facts of catalog items before (forgetting role) and after "
            "(target) every value changed; the train split asks the old facts.",
            "task": "generation",
            "role": role,
            "splits": splits,
            "prompt": {"template": spec["prompt"]["template"]},
            "metrics": ["exact_match"],
            "primary_metric": "exact_match",
            "generation": spec.get("generation", {"max_new_tokens": 8}),
            "knowledge": {"documents": "data/documents.jsonl"},
        }
        (folder / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
        paths.append(folder / "suite.yaml")
    return paths, updated


def _jsonl(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@dataclass(frozen=True)
class MythsOutcome:
    verdicts: tuple[ClaimVerdict, ...]
    runs: dict[str, Path]
    seconds: float
    report: Path


def run_myths(setup: MythsSetup, out: Path, cache_dir: str | None = None) -> MythsOutcome:
    """Run the experiments into `out/<experiment>/` and write `out/myths.html`."""
    from harness.config import parse_config
    from harness.errors import InputError
    from harness.plugin_manager import load_plugins
    from harness.run_folder import check_cache_dir
    from harness.runner import Runner, make_plan, resolve_suite

    started = time.monotonic()
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise InputError.single(
            out, "out", "the output folder is a file", "pass a folder with --out"
        )
    plugins = load_plugins()
    plugins.raise_for_failures()
    if cache_dir:
        check_cache_dir(Path(cache_dir), out / "main")
    # every input is checked before anything is written: the main matrix is planned (its
    # model, suites and numbers) and the facts suite found first
    configs = {"main": main_config(setup, out / "main")}
    for data in configs.values():
        if cache_dir:
            data["cache_dir"] = cache_dir
    plans = {"main": make_plan(parse_config(configs["main"], "myths main"), plugins, "myths main")}
    source = (
        resolve_suite(setup.facts_source, plugins, plugins.metrics.as_dict(), "myths")
        if setup.facts_source
        else None
    )
    out.mkdir(parents=True, exist_ok=True)
    if source is not None:
        suites, updated = write_facts_suites(Path(source.path).parent, out / "suites", setup.seed)
        data = facts_config(setup, suites, updated, out / "facts")
        if cache_dir:
            data["cache_dir"] = cache_dir
        plans["facts"] = make_plan(parse_config(data, "myths facts"), plugins, "myths facts")
    runs: dict[str, Path] = {}
    for name, plan in plans.items():
        outcome = Runner(plan, plugins).run()
        runs[name] = Path(outcome.run_dir)
    verdicts = judge(runs, plugins.metrics.as_dict())
    seconds = time.monotonic() - started
    report = write_myths_report(out, verdicts, runs, seconds)
    return MythsOutcome(tuple(verdicts), runs, seconds, report)


# -- judging runs ----------------------------------------------------------------------


def judge(runs: Mapping[str, Path], metrics: Mapping[str, Any]) -> list[ClaimVerdict]:
    """Each claim's verdict from the experiments' run folders."""
    from harness.reporting.evidence import read_paired_data, read_run_config
    from harness.reporting.learning import build_learning, compare_rows
    from harness.reporting.recommend import strategy_costs
    from harness.results import read_results

    main = runs["main"]
    results = read_results(main)
    data = read_paired_data(main, metrics)
    learning = build_learning(results, read_run_config(main), data)
    targets = [s for s in results.suites if s.role == "target"]
    forgetting = [s for s in results.suites if s.role == "forgetting" and s.higher_is_better]
    rows = results.strategies()
    trained = [r for r in rows if (c := strategy_costs(results, r)) and c.trainable_params > 0]
    prompts = [r for r in rows if r == "zero-shot" or r.startswith("few-shot")]

    def value(row: str, suite: str, metric: str) -> float:
        cell = results.cell(row, suite)
        m = cell.metrics.get(metric) if cell and cell.has_figures else None
        return m.value if m else -math.inf

    def plot(name: str, folder: Path = main) -> str | None:
        path = folder / "plots" / name
        return str(path.relative_to(main.parent)) if path.is_file() else None

    verdicts = []
    # data efficiency, on the first target
    target = targets[0] if targets else None
    curve = next(
        (
            c
            for c in learning.curves
            if c.setting == "max_train_examples" and target and c.suite == target.name
        ),
        None,
    )
    best_prompt = (
        max(prompts, key=lambda r: value(r, target.name, target.primary_metric)) if target else None
    )
    vs = (
        compare_rows(results, data, curve.plateau_point.row, best_prompt, [target])
        if curve and curve.plateau_point and best_prompt and target
        else None
    )
    curve_plot = None
    if curve is not None:
        from harness.reporting.learning_plots import _slug

        curve_plot = plot(
            f"curve-{_slug(curve.base)}-{_slug(curve.setting)}-{_slug(curve.suite)}.png"
        )
    verdicts.append(data_efficiency_verdict(curve, vs, plot=curve_plot))

    # LoRA's cost: lora at its default learning rate vs sft on the same data
    def costs(row: str) -> dict[str, float]:
        cells = [c for c in results.cells if c.strategy == row and c.has_figures]
        found: dict[str, float] = {}
        for key in COST_MEASURES:
            figures = [
                float(v)
                for c in cells
                if isinstance(v := (c.cost.model_dump().get(key)), int | float)
                and not isinstance(v, bool)
            ]
            if figures:
                found[key] = max(figures)
        return found

    def row_for(prefix: str) -> str | None:
        return next((r for r in trained if r.startswith(prefix)), None)

    # the same 100 examples and epochs: sft's middle point and LoRA's first
    sft_row = row_for("sft[max_train_examples=100]")
    lora_row = row_for("lora")
    verdicts.append(
        lora_cost_verdict(costs(sft_row), costs(lora_row), plot=plot("quality.png"))
        if sft_row and lora_row
        else _claim("lora-cost", "inconclusive", "no sft and lora rows on the same data")
    )
    # forgetting, and replay
    multitask = next((r for r in trained if r.startswith("multitask")), None)
    drop = (
        compare_rows(results, data, "zero-shot", sft_row, forgetting)
        if sft_row and forgetting
        else None
    )
    replay = (
        compare_rows(results, data, sft_row, multitask, forgetting)
        if sft_row and multitask and forgetting
        else None
    )
    verdicts.append(forgetting_verdict(drop, replay, plot=plot("forgetting.png")))
    # facts that change
    facts = runs.get("facts")
    if facts is not None:
        facts_results = read_results(facts)
        facts_data = read_paired_data(facts, metrics)
        suite = facts_results.suite(FACTS_SUITE)
        assert suite is not None
        swap = compare_rows(facts_results, facts_data, "rag-updated", "sft", [suite])
        pair = tuple(
            (
                cell.metrics[suite.primary_metric].value
                if (cell := facts_results.cell(r, suite.name))
                else math.nan
            )
            for r in ("rag-updated", "sft")
        )
        verdicts.append(
            facts_verdict(
                swap,
                values=(pair[0], pair[1]),
                plot=str((facts / "plots" / "quality.png").relative_to(main.parent)),
            )
        )
    else:
        verdicts.append(facts_verdict(None))
    # prompting first
    per_target = {}
    for suite in targets:
        here = [r for r in trained if results.cell(r, suite.name)]
        if not here:
            continue
        best_trained = max(here, key=lambda r: value(r, suite.name, suite.primary_metric))
        best = max(prompts, key=lambda r: value(r, suite.name, suite.primary_metric))
        per_target[suite.name] = compare_rows(results, data, best_trained, best, [suite])
    verdicts.append(prompting_verdict(per_target, plot=plot("quality.png")))
    # LoRA learns less, forgets less
    lora_rows = [r for r in trained if r.startswith("lora")]
    sft_rows = [r for r in trained if r.startswith("sft")]
    gain = None
    if target and lora_rows and sft_rows:
        best_lora = max(lora_rows, key=lambda r: value(r, target.name, target.primary_metric))
        best_sft = max(sft_rows, key=lambda r: value(r, target.name, target.primary_metric))
        gain = compare_rows(results, data, best_lora, best_sft, [target])
    matched = next((m for m in learning.matched if {m.a, m.b} == {"lora", "sft"}), None)
    if matched is not None and matched.a != "lora":
        from harness.analysis import matched_gain

        a = [p for p in learning.points if p.family == "lora"]
        b = [p for p in learning.points if p.family == "sft"]
        matched = matched_gain(
            a,
            b,
            lambda p, q: compare_rows(results, data, q.row, p.row, forgetting),
            tolerance=matched.tolerance,
        )
    verdicts.append(lora_forgets_verdict(gain, matched, plot=plot("learning-forgetting.png")))
    return verdicts


# -- report ----------------------------------------------------------------------------

_CSS = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:1180px;margin:0 auto;padding:24px;"
    "color:#1f2328}ul.claims li{margin:0 0 10px}.v{font-weight:700;text-transform:uppercase;"
    "font-size:13px}.legend{color:#57606a;font-size:13px}"
    "img{max-width:100%;border:1px solid #d0d7de;border-radius:6px}"
    "section h2{font-size:18px;border-bottom:1px solid #d0d7de}"
)
_COLOURS = {"holds": "#1a7f37", "does not hold": "#cf222e", "inconclusive": "#9a6700"}


def write_myths_report(
    out: Path, verdicts: Sequence[ClaimVerdict], runs: Mapping[str, Path], seconds: float
) -> Path:
    """`out/myths.html` (first screen: one line per claim) and `out/myths.md`."""
    e = html.escape
    lines = []
    for v in verdicts:
        link = f' · <a href="{e(v.plot)}">plot</a>' if v.plot else ""
        lines.append(
            f'<li><b>{e(v.claim)}</b> — <span class="v" style="color:{_COLOURS[v.verdict]}">'
            f"{e(v.verdict)}</span> on this lab: {e(v.figure)}{link}</li>"
        )
    details = "".join(
        f"<section><h2>{e(v.claim)}</h2>"
        f"<p><b style='color:{_COLOURS[v.verdict]}'>{e(v.verdict)}</b>: "
        f"{e(v.figure)}</p>{f'<p>{e(v.detail)}</p>' if v.detail else ''}"
        f"<p class='legend'>Source: {e(v.source)}</p>"
        + (f'<img alt="{e(v.claim)}" src="{e(v.plot)}">' if v.plot else "")
        + "</section>"
        for v in verdicts
    )
    run_links = " · ".join(
        f'<a href="{e(str(p.relative_to(out)))}/report.html">{e(n)} run report</a>'
        for n, p in runs.items()
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>harness · myths lab</title><style>{_CSS}</style></head><body>"
        "<h1>Myths lab: what holds on this model</h1>"
        f'<ul class="claims">{"".join(lines)}</ul>'
        f'<p class="legend">Measured in {seconds / 60:.1f} minutes. Significance at alpha '
        f"{DEFAULT_ALPHA:g} with the paired tests of the decision report (replicate t-test "
        f"over training seeds where there are several). {run_links}. Method: docs/myths.md.</p>"
        f"{details}</body></html>\n"
    )
    path = out / "myths.html"
    path.write_text(page, encoding="utf-8")
    md = ["# Myths lab", ""]
    md += [
        f"- **{v.claim}** — **{v.verdict}** on this lab: {v.figure}"
        + (f" ([plot]({v.plot}))" if v.plot else "")
        for v in verdicts
    ]
    md += ["", f"Measured in {seconds / 60:.1f} minutes.", ""]
    (out / "myths.md").write_text("\n".join(md), encoding="utf-8")
    return path
