"""The recommendation logic, on results built by hand: a clear winner, a tie that must not
be called, constraints that exclude the best-quality strategy, the Pareto view, and one
decision per target suite with rows adapted to a single target."""

from __future__ import annotations

import pytest

from harness.analysis import Comparison
from harness.config import parse_config
from harness.errors import InputError
from harness.metrics import Accuracy, ExampleOutput
from harness.reporting.recommend import (
    Decision,
    DecisionConstraints,
    PairedData,
    QualityComparison,
    StrategyProfile,
    pareto_front,
    recommend,
)
from harness.results import (
    Cell,
    Cost,
    Delta,
    MetricValue,
    PredictionRecord,
    RunResults,
    SuiteInfo,
)

TARGET = SuiteInfo(
    name="tickets", version="1", role="target", task="classification",
    primary_metric="accuracy", n_test=100,
)  # fmt: skip
FORGET = SuiteInfo(
    name="general", version="1", role="forgetting", task="multiple-choice",
    primary_metric="accuracy", n_test=100,
)  # fmt: skip


def _scores(n_correct: int, n: int = 100) -> dict[str, float]:
    return {f"e{i}": 1.0 if i < n_correct else 0.0 for i in range(n)}


def _paired(scores: dict[tuple[str, str], dict[str, float]]) -> PairedData:
    """predictions.jsonl records of each (row, suite) with these accuracy scores."""
    records = {
        (row, suite): [
            PredictionRecord(row, suite, "", ExampleOutput(i, "p", ("r",)), {"accuracy": v})
            for i, v in by_id.items()
        ]
        for (row, suite), by_id in scores.items()
    }
    return PairedData(records, {"accuracy": Accuracy})


def _cell(
    strategy: str,
    suite: SuiteInfo,
    value: float,
    half_width: float = 0.08,
    *,
    delta: tuple[float, float] | None = None,  # (value, p) vs zero-shot
    eval_seconds: float = 1.0,
    trainable_params: int = 0,
    status: str = "ok",
) -> Cell:
    deltas = {}
    if delta is not None:
        d, p = delta
        deltas["accuracy"] = Delta(value=d, ci95=(d - 0.05, d + 0.05), p_value=p, test="mcnemar")
    return Cell(
        strategy=strategy,
        suite=suite.name,
        status=status,  # type: ignore[arg-type]
        error="boom" if status == "failed" else None,
        metrics={}
        if status != "ok"
        else {"accuracy": MetricValue(value=value, ci95=(value - half_width, value + half_width))},
        delta_vs_zero_shot=deltas,
        cost=Cost(eval_seconds=eval_seconds, trainable_params=trainable_params),
    )


def _decide(results: RunResults, *args: object, **kwargs: object) -> Decision:
    """The decision of a run with one target suite."""
    recommendation = recommend(results, *args, **kwargs)  # type: ignore[arg-type]
    assert recommendation.overall is None and len(recommendation.decisions) == 1
    return recommendation.decisions[0]


def _results(cells: list[Cell], suites: list[SuiteInfo] | None = None) -> RunResults:
    return RunResults(
        run_id="r", harness_version="0", model="m", seed=0,
        suites=suites or [TARGET], cells=cells,
    )  # fmt: skip


def test_clear_winner_is_chosen_with_its_evidence() -> None:
    results = _results(
        [_cell("zero-shot", TARGET, 0.50), _cell("few-shot", TARGET, 0.80, eval_seconds=3.0)]
    )
    paired = _paired({("zero-shot", "tickets"): _scores(50), ("few-shot", "tickets"): _scores(80)})
    decision = _decide(results, paired=paired)
    assert decision.verdict == "choose" and decision.chosen == "few-shot"
    assert decision.headline == "Choose few-shot"
    # the evidence: the difference, its test, its p-value and the sample size
    assert "Δ +0.300" in decision.reason
    assert "exact McNemar on 100 matched examples" in decision.reason
    assert "p=1.9e-09" in decision.reason  # the analysis core's wording, as in the gate
    assert decision.tie_breaker is None


def test_close_strategies_are_a_tie_with_a_labelled_tie_breaker() -> None:
    results = _results(
        [
            _cell("zero-shot", TARGET, 0.50, eval_seconds=1.0),
            _cell("few-shot", TARGET, 0.53, eval_seconds=4.0),
        ]
    )
    paired = _paired({("zero-shot", "tickets"): _scores(50), ("few-shot", "tickets"): _scores(53)})
    decision = _decide(results, paired=paired)
    assert decision.verdict == "tie" and decision.chosen is None
    assert decision.headline == "Cannot separate few-shot and zero-shot"
    assert set(decision.tied) == {"few-shot", "zero-shot"}
    assert "not significant at alpha 0.05" in decision.reason and "p=0.250" in decision.reason
    # the cheaper one, by eval latency, as a suggestion, never as the choice
    assert decision.tie_breaker == "zero-shot"
    assert "cheapest by eval latency" in decision.tie_breaker_reason
    assert "zero-shot 10.0" in decision.tie_breaker_reason


def test_without_paired_data_the_ci_based_test_decides() -> None:
    tie = _decide(_results([_cell("zero-shot", TARGET, 0.50), _cell("few-shot", TARGET, 0.60)]))
    assert tie.verdict == "tie" and tie.evidence is not None
    assert tie.evidence.test == "ci-based"
    assert "CI-based (normal approximation from both 95% CIs)" in tie.reason
    assert "no per-example scores on tickets" in tie.reason
    assert tie.min_detectable_difference is None  # no per-example data: no power figure
    clear = _decide(_results([_cell("zero-shot", TARGET, 0.50), _cell("few-shot", TARGET, 0.80)]))
    assert clear.verdict == "choose" and clear.chosen == "few-shot"
    assert clear.evidence is not None and clear.evidence.p_value < 1e-5


def test_forgetting_constraint_excludes_the_best_quality_strategy() -> None:
    results = _results(
        [
            _cell("zero-shot", TARGET, 0.40),
            _cell("zero-shot", FORGET, 0.70),
            _cell("lora", TARGET, 0.90, trainable_params=10_000),
            _cell("lora", FORGET, 0.55, delta=(-0.15, 0.001), trainable_params=10_000),
            _cell("few-shot", TARGET, 0.75),
            _cell("few-shot", FORGET, 0.69, delta=(-0.01, 0.8)),
        ],
        [TARGET, FORGET],
    )
    paired = _paired(
        {
            ("zero-shot", "tickets"): _scores(40),
            ("lora", "tickets"): _scores(90),
            ("few-shot", "tickets"): _scores(75),
        }
    )
    unconstrained = _decide(results, paired=paired)
    assert unconstrained.chosen == "lora"
    # its significant forgetting, named with zero-shot's value and its own
    assert [c.text() for c in unconstrained.caveats] == [
        "lora is worse on general: accuracy 0.700 → 0.550 (p=0.001)"
    ]

    constrained = _decide(results, DecisionConstraints(max_forgetting=0.05), paired)
    assert constrained.verdict == "choose" and constrained.chosen == "few-shot"
    excluded = dict(constrained.excluded)
    assert "lowers general by 0.150 vs zero-shot (allowed 0.05" in excluded["lora"]
    assert constrained.caveats == ()  # few-shot's drop is not significant
    described = recommend(results, DecisionConstraints(max_forgetting=0.05), paired).constraints
    assert "forgetting ≤ 0.05 on every forgetting suite" in described


def test_budgets_and_minimum_quality_exclude_and_can_leave_nothing() -> None:
    results = _results(
        [_cell("zero-shot", TARGET, 0.40), _cell("few-shot", TARGET, 0.80, eval_seconds=50.0)]
    )
    # few-shot: 500 ms per example; zero-shot: 10
    latency = _decide(results, DecisionConstraints(max_latency_ms=100))
    assert latency.chosen == "zero-shot"
    assert "only strategy that meets the constraints" in latency.reason
    assert (
        "eval latency 500.0 ms/example is over the budget 100.0"
        in dict(latency.excluded)["few-shot"]
    )
    nothing = _decide(results, DecisionConstraints(max_latency_ms=100, min_quality=0.5))
    assert nothing.verdict == "none" and nothing.chosen is None
    assert "The best-quality strategy, few-shot (0.800), is excluded" in nothing.reason


def test_failed_strategy_is_never_chosen() -> None:
    results = _results([_cell("zero-shot", TARGET, 0.4), _cell("lora", TARGET, 0, status="failed")])
    decision = _decide(results)
    assert decision.chosen == "zero-shot"
    assert dict(decision.excluded)["lora"] == "failed on tickets"


def test_facts_change_often_sets_aside_knowledge_in_weights_and_prefers_rag_in_a_tie() -> None:
    results = _results(
        [
            _cell("zero-shot", TARGET, 0.40, eval_seconds=1.0),
            _cell("sft", TARGET, 0.71, trainable_params=5_000, eval_seconds=1.0),
            _cell("rag", TARGET, 0.70, eval_seconds=6.0),
            _cell("bm25-retrieval", TARGET, 0.69, eval_seconds=2.0),
        ]
    )
    plain = _decide(results)
    assert plain.verdict == "tie" and plain.tie_breaker == "sft"

    facts = DecisionConstraints(facts_change_often=True)
    decision = _decide(
        results, facts, knowledge_in_context=lambda s: s in {"rag", "bm25-retrieval"}
    )
    assert "keeps its knowledge in trained weights" in dict(decision.excluded)["sft"]
    assert decision.verdict == "tie" and set(decision.tied) == {"rag", "bm25-retrieval"}
    assert decision.tie_breaker == "bm25-retrieval"  # both in context: the cheaper one
    assert "keeps its knowledge in context" in decision.tie_breaker_reason

    by_name = _decide(results, facts)  # default: the name says `rag`
    assert by_name.tie_breaker == "rag"


def test_pareto_front_marks_the_strategies_nothing_beats_on_both() -> None:
    results = _results(
        [
            _cell("zero-shot", TARGET, 0.40, eval_seconds=1.0),
            _cell("few-shot", TARGET, 0.70, eval_seconds=3.0),
            _cell("slow-and-worse", TARGET, 0.60, eval_seconds=5.0),
            _cell("lora", TARGET, 0.80, eval_seconds=1.0),
        ]
    )
    decision = _decide(results)
    optimal = {p.strategy for p in decision.pareto if p.optimal}
    assert optimal == {"lora"}  # as cheap as zero-shot and better than everything
    front = pareto_front(decision.profiles, "trainable_params")
    assert {p.strategy for p in front if p.optimal} == {"lora"}
    assert {p.strategy: p.cost for p in decision.pareto}["few-shot"] == pytest.approx(30.0)


def test_decision_section_of_the_run_config_is_validated() -> None:
    config = parse_config(
        {"decision": {"max_forgetting": 0.02, "facts_change_often": True}}, "run.yaml"
    )
    assert config.decision is not None and config.decision.max_forgetting == 0.02
    with pytest.raises(InputError) as e:
        parse_config({"decision": {"max_forgeting": 0.02}}, "run.yaml")
    assert e.value.problems[0].field == "decision.max_forgeting"


# -- one decision per target suite ----------------------------------------------------

INTENT = SuiteInfo(
    name="intent", version="1", role="target", task="classification",
    primary_metric="accuracy", n_test=100,
)  # fmt: skip
CATALOG = SuiteInfo(
    name="catalog", version="1", role="target", task="generation",
    primary_metric="accuracy", n_test=100,
)  # fmt: skip
READING = SuiteInfo(
    name="reading", version="1", role="forgetting", task="generation",
    primary_metric="perplexity", n_test=100, higher_is_better=False,
)  # fmt: skip


def _skipped(strategy: str, suite: SuiteInfo) -> Cell:
    return Cell(strategy=strategy, suite=suite.name, status="skipped", error="adapted to x")


def _perplexity(strategy: str, value: float, delta: tuple[float, float] | None = None) -> Cell:
    deltas = {}
    if delta is not None:
        d, p = delta
        deltas["perplexity"] = Delta(value=d, ci95=(d - 1.0, d + 1.0), p_value=p, test="boot")
    return Cell(
        strategy=strategy,
        suite=READING.name,
        status="ok",
        metrics={"perplexity": MetricValue(value=value, ci95=(value - 1.0, value + 1.0))},
        delta_vs_zero_shot=deltas,
    )


def two_targets() -> tuple[RunResults, PairedData]:
    """zero-shot and rag on both targets; sft fine-tuned once per target (`sft@intent`,
    `sft@catalog`), which wrecks the reading suite's perplexity."""
    tuned = {"trainable_params": 5_000}
    cells = [
        _cell("zero-shot", INTENT, 0.30),
        _cell("zero-shot", CATALOG, 0.20),
        _perplexity("zero-shot", 5.65),
        _cell("rag", INTENT, 0.32, eval_seconds=4.0),
        _cell("rag", CATALOG, 0.70, eval_seconds=4.0),
        _perplexity("rag", 5.70, delta=(0.05, 0.6)),
        _cell("sft@intent", INTENT, 0.90, **tuned),  # type: ignore[arg-type]
        _skipped("sft@intent", CATALOG),
        _perplexity("sft@intent", 96.5, delta=(90.85, 0.001)),
        _skipped("sft@catalog", INTENT),
        _cell("sft@catalog", CATALOG, 0.68, eval_seconds=0.5, **tuned),  # type: ignore[arg-type]
        _perplexity("sft@catalog", 7.1, delta=(1.45, 0.01)),
    ]
    paired = _paired(
        {
            ("zero-shot", "intent"): _scores(30),
            ("rag", "intent"): _scores(32),
            ("sft@intent", "intent"): _scores(90),
            ("zero-shot", "catalog"): _scores(20),
            ("rag", "catalog"): _scores(70),
            ("sft@catalog", "catalog"): _scores(68),
        }
    )
    return _results(cells, [INTENT, CATALOG, READING]), paired


def test_each_target_is_decided_over_every_row_evaluated_on_it() -> None:
    results, paired = two_targets()
    recommendation = recommend(results, paired=paired)
    intent, catalog = recommendation.decisions
    assert (intent.scope, catalog.scope) == ("intent", "catalog")
    # the row fine-tuned for a target competes there, and only there; nothing is excluded
    # for lacking a result on a target it was not adapted to
    assert {p.strategy for p in intent.profiles} == {"zero-shot", "rag", "sft@intent"}
    assert intent.excluded == () and catalog.excluded == ()
    assert intent.verdict == "choose" and intent.chosen == "sft@intent"
    assert intent.evidence is not None and intent.evidence.test == "mcnemar"
    assert [c.text() for c in intent.caveats] == [
        "sft@intent is worse on reading: perplexity 5.65 → 96.5 (p=0.001)"
    ]
    # fine-tune for intent, and for the catalog the data cannot separate rag from sft
    assert catalog.verdict == "tie" and set(catalog.tied) == {"rag", "sft@catalog"}
    assert catalog.evidence is not None and not catalog.evidence.separated(0.05)
    assert catalog.min_detectable_difference is not None  # a tie says what it could detect
    assert recommendation.chosen == {"sft@intent", "rag"}  # rag: chosen overall


def test_a_tie_names_the_forgetting_of_every_tied_row_including_the_tie_breaker() -> None:
    results, paired = two_targets()
    catalog = recommend(results, paired=paired).decisions[1]
    assert catalog.tie_breaker == "sft@catalog"  # the cheapest by eval latency
    assert [c.text() for c in catalog.caveats] == [
        "sft@catalog is worse on reading: perplexity 5.65 → 7.10 (p=0.010)"
    ]  # rag's change (p = 0.6) is not significant, so it is no caveat


def test_overall_view_covers_the_rows_evaluated_on_every_target() -> None:
    results, paired = two_targets()
    overall = recommend(results, paired=paired).overall
    assert overall is not None and overall.title == "All targets"
    assert {p.strategy for p in overall.profiles} == {"zero-shot", "rag"}
    assert overall.quality_label == "mean of intent accuracy, catalog accuracy"
    assert overall.chosen == "rag" and overall.excluded == ()
    # with one row on every target there is nothing to compare overall
    alone = [c for c in results.cells if c.strategy != "rag"]
    assert recommend(_results(alone, results.suites), paired=paired).overall is None


def test_constraints_and_failures_still_exclude_per_target() -> None:
    results, paired = two_targets()
    forgetting = recommend(results, DecisionConstraints(max_forgetting=2.0), paired)
    intent = forgetting.decisions[0]
    assert "lowers reading by 90.850 vs zero-shot" in dict(intent.excluded)["sft@intent"]
    assert intent.chosen is None and intent.verdict == "tie"  # zero-shot and rag remain
    failed = [
        c.model_copy(update={"status": "failed", "error": "boom", "metrics": {}})
        if (c.strategy, c.suite) == ("sft@catalog", "catalog")
        else c
        for c in results.cells
    ]
    catalog = recommend(_results(failed, results.suites), paired=paired).decisions[1]
    assert dict(catalog.excluded) == {"sft@catalog": "failed on catalog"}
    assert catalog.chosen == "rag"


def test_every_decision_calls_one_swappable_comparison() -> None:
    results, paired = two_targets()
    calls: list[tuple[str, str, tuple[str, ...]]] = []

    def always_separated(
        a: StrategyProfile,
        b: StrategyProfile,
        suites: object,
        data: PairedData,
    ) -> QualityComparison:
        calls.append((a.strategy, b.strategy, tuple(s.name for s in suites)))  # type: ignore[attr-defined]
        return QualityComparison(
            a.strategy, b.strategy, Comparison(0.1, (0.05, 0.15), 0.0, "mcnemar", False, 100)
        )

    recommendation = recommend(results, paired=paired, compare=always_separated)
    assert [d.verdict for d in recommendation.views] == ["choose", "choose", "choose"]
    assert recommendation.decisions[1].chosen == "rag"
    assert ("rag", "zero-shot", ("intent", "catalog")) in calls
    assert len(calls) == 2 + 2 + 1  # two rivals per target, one overall


def test_a_lower_is_better_target_is_not_ranked_backwards() -> None:
    results, paired = two_targets()
    listed = recommend(results, DecisionConstraints(quality_suites=["intent", "reading"]), paired)
    assert [d.scope for d in listed.decisions] == ["intent"] and listed.overall is None
    assert "No decision for reading: a lower-is-better primary metric is not ranked yet." in (
        listed.notes
    )


# -- the statistics behind the decisions ----------------------------------------------


def test_beating_every_rival_is_holm_corrected_over_the_rivals() -> None:
    results = _results(
        [
            _cell("zero-shot", TARGET, 0.40),
            _cell("rag", TARGET, 0.50),
            _cell("bm25", TARGET, 0.50),
            _cell("few-shot", TARGET, 0.58),
        ]
    )
    # few-shot beats rag (and bm25, with the same answers) on 9 examples and loses on 1:
    # raw exact McNemar p = 0.021 each; it beats zero-shot by far
    few = {f"e{i}": 1.0 if i < 58 else 0.0 for i in range(100)}
    rag = {f"e{i}": 1.0 if i < 49 or i == 99 else 0.0 for i in range(100)}
    paired = _paired(
        {
            ("zero-shot", "tickets"): _scores(40),
            ("rag", "tickets"): rag,
            ("bm25", "tickets"): rag,
            ("few-shot", "tickets"): few,
        }
    )
    decision = _decide(results, paired=paired)
    versus_rag = next(c for c in decision.comparisons if c.b == "rag")
    assert versus_rag.p_value == pytest.approx(0.021484375)
    # Holm: the two p-values of 0.021 are ranks 2 and 3 of 3: both become 2 x 0.021
    assert versus_rag.p_adjusted == pytest.approx(2 * 0.021484375)
    assert versus_rag.family == 3 and decision.verdict == "choose"
    assert "Holm-corrected over 3 comparisons (one per rival): p=0.043" in decision.reason
    # at alpha 0.04 the corrected p-values no longer separate them; the raw ones would
    strict = _decide(results, DecisionConstraints(alpha=0.04), paired)
    assert strict.verdict == "tie" and set(strict.tied) == {"few-shot", "rag", "bm25"}
    assert "not significant at alpha 0.04" in strict.reason


def test_decision_alpha_is_the_one_level_of_every_verdict() -> None:
    results = _results(
        [
            _cell("zero-shot", TARGET, 0.50, eval_seconds=1.0),
            _cell("few-shot", TARGET, 0.53, eval_seconds=4.0),
        ]
    )
    paired = _paired({("zero-shot", "tickets"): _scores(50), ("few-shot", "tickets"): _scores(53)})
    assert _decide(results, paired=paired).verdict == "tie"  # p = 0.25
    loose = recommend(results, DecisionConstraints(alpha=0.3), paired)
    assert loose.alpha == 0.3 and loose.decisions[0].chosen == "few-shot"
    with pytest.raises(InputError):
        parse_config({"decision": {"alpha": 1.5}}, "run.yaml")


def test_the_report_takes_the_gates_alpha_unless_the_decision_sets_one(tmp_path: object) -> None:
    from pathlib import Path

    from harness.reporting.evidence import read_constraints

    folder = Path(str(tmp_path))
    (folder / "config.yaml").write_text("gate: {alpha: 0.01}\n", encoding="utf-8")
    assert read_constraints(folder)[0].alpha == 0.01
    (folder / "config.yaml").write_text(
        "gate: {alpha: 0.01}\ndecision: {alpha: 0.1}\n", encoding="utf-8"
    )
    assert read_constraints(folder)[0].alpha == 0.1
    (folder / "config.yaml").write_text("seed: 1\n", encoding="utf-8")
    assert read_constraints(folder)[0].alpha is None  # recommend() then uses 0.05


def test_overall_quality_is_compared_as_the_mean_of_per_suite_differences() -> None:
    results, paired = two_targets()
    overall = recommend(results, paired=paired).overall
    assert overall is not None and overall.evidence is not None
    result = overall.evidence.result
    assert result.test == "paired-bootstrap" and result.strata == 2
    assert result.n_examples == 200
    assert result.difference == pytest.approx(((0.32 - 0.30) + (0.70 - 0.20)) / 2)
    assert "in 2 suites, resampled within each suite" in overall.reason


def test_a_single_seed_row_is_named_and_replicates_recommended() -> None:
    results = _results(
        [
            _cell("zero-shot", TARGET, 0.50),
            _cell("lora", TARGET, 0.53, trainable_params=10).model_copy(update={"seeds": [0]}),
        ]
    )
    paired = _paired({("zero-shot", "tickets"): _scores(50), ("lora", "tickets"): _scores(53)})
    decision = _decide(results, paired=paired)
    assert decision.single_seed == ("lora",)
    assert (
        "lora: one training seed: seed-to-seed variance not measured (set replicates: 3 or more)"
        in decision.reason
    )
    replicated = _results(
        [results.cells[0], results.cells[1].model_copy(update={"seeds": [0, 1, 2]})]
    )
    assert _decide(replicated, paired=paired).single_seed == ()
