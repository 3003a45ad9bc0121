"""The work of one unit, the same in every executor: adapt, then evaluate each suite.

A strategy that raises or runs past its timeout fails the unit's cells, never the run;
every cell computed without a metric error is stored in the cache at once, so an
interrupted run resumes from the cells it finished.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from harness.backends import local_weights_reason
from harness.cache import Cache
from harness.errors import NotApplicable
from harness.evaluate import predict, score_outputs
from harness.events import AdaptFinished, AdaptStarted, CellStarted
from harness.executors.base import CellRun, UnitContext, UnitResult, WorkUnit
from harness.models.base import LanguageModel, ReportsUsage, ScoreRequest, capabilities_of
from harness.progress import PhaseReporter, UnitProgress
from harness.resources import cuda_peak_memory_mb, peak_memory_mb, reset_peak_memory
from harness.results import Cost, write_predictions
from harness.run_folder import artifacts_dir
from harness.strategy import AdaptContext, Predictor
from harness.suites import Suite
from harness.timeouts import Timeout, call_with_timeout


def run_unit(unit: WorkUnit, context: UnitContext) -> UnitResult:
    """Adapt `unit.row` with `unit.seed` (unless every cell is cached) and evaluate it on
    every suite not cached. Never raises for strategy or evaluation errors."""
    start = time.perf_counter()
    result = UnitResult(worker=f"{socket.gethostname()}:{os.getpid()}")
    notes_before = len(context.cache.notes)
    predictor, adapt_cost, error = None, Cost(), None
    shown = (
        context.progress.unit(unit)
        if context.progress is not None and unit.to_compute
        else nullcontext(None)
    )
    with shown as reporter:
        if unit.to_compute:
            predictor, adapt_cost, error, not_applicable = _adapt(unit, context, reporter)
            if not_applicable:
                result.not_applicable = error or ""
        if result.not_applicable is None:
            for suite in unit.suites:
                if unit.first_replicate:
                    context.notify(
                        "harness_cell_start",
                        CellStarted(unit.run.run_id, unit.row.row, suite.name),
                    )
                if suite.name not in unit.cached:
                    result.runs[suite.name] = _evaluate(
                        unit, suite, predictor, adapt_cost, error, context, reporter
                    )
    result.cache_notes = context.cache.notes[notes_before:]
    result.seconds = round(time.perf_counter() - start, 3)
    return result


def _adapt(
    unit: WorkUnit, context: UnitContext, reporter: UnitProgress | None
) -> tuple[Predictor | None, Cost, str | None, bool]:
    """Adapt the base model through the row's chain; errors fail its cells only."""
    row, run_id = unit.row, unit.run.run_id
    targets = tuple(s.name for s in row.targets)
    context.notify("harness_adapt_start", AdaptStarted(run_id, row.row, targets))
    reset_peak_memory()
    start = time.perf_counter()
    error = None
    not_applicable = False
    predictor: Predictor | None = None
    try:
        predictor = call_with_timeout(
            lambda: _adapt_chain(unit, context, reporter or PhaseReporter()),
            row.adapt_timeout,
            f"adapting {row.row!r}",
        )
    except NotApplicable as e:
        predictor, error = None, str(e)
        not_applicable = True
    except Timeout as e:
        predictor, error = None, str(e)
    except Exception as e:
        predictor, error = None, describe(e, f"adapting with {row.row!r}")
    seconds = time.perf_counter() - start
    costs = predictor.costs if predictor else {}
    # an artifact served from the cache costs what producing it took (its strategy
    # reports the seconds the cache saved and the peak memory of its training), so a
    # re-run reports the same adaptation cost and the decision does not depend on
    # the cache
    cost = Cost(
        adapt_seconds=round(seconds + float(costs.get("cache_saved_seconds", 0.0)), 3),
        trainable_params=predictor.trainable_parameters if predictor else 0,
        peak_memory_mb=round(
            max(
                peak_memory_mb(),
                cuda_peak_memory_mb(),
                float(costs.get("train_peak_memory_mb", 0.0)),
            ),
            1,
        ),
        **costs,
    )
    context.notify("harness_adapt_end", AdaptFinished(run_id, row.row, targets, seconds, error))
    return predictor, cost, error, not_applicable


def _adapt_chain(unit: WorkUnit, context: UnitContext, reporter: PhaseReporter) -> Predictor:
    """The base model's predictor, adapted by each link of the chain in turn."""
    row = unit.row
    model = row.model or unit.run.base
    for link in row.chain:
        if link.needs_local_weights and not model.capabilities.local_weights:
            raise NotApplicable(local_weights_reason(model, link.name))
    reporter.phase("loading model")
    predictor = Predictor(context.model_for(row))
    for i, link in enumerate(row.chain):
        # the strategy names its own phases (training, indexing...) when it has any
        reporter.phase(f"adapting ({link.name})" if len(row.chain) > 1 else "adapting")
        work_dir = artifacts_dir(unit.run.run_dir, row.row) / link.name
        if row.replicated:
            work_dir = work_dir / f"seed-{unit.seed}"
        if not unit.run.run_dir.is_dir():
            # the run was stopped and its staging folder removed: never recreate it
            raise RuntimeError(f"the run folder {unit.run.run_dir} is gone: the run was stopped")
        work_dir.mkdir(parents=True, exist_ok=True)
        predictor = link.adapt(
            AdaptContext(
                model_name=model.name,
                targets=row.targets,
                seed=unit.seed,
                work_dir=work_dir,
                load_model=lambda: context.model_for(row),
                upstream=predictor,
                forgetting=unit.run.forgetting,
                cache=context.cache,
                cache_key=unit.adapt_keys[i],
                progress=reporter,
            )
        )
        if not isinstance(predictor, Predictor):
            raise TypeError(
                f"strategy {link.name!r} returned {type(predictor).__name__}, "
                "expected a harness.Predictor"
            )
    return predictor


def _evaluate(
    unit: WorkUnit,
    suite: Suite,
    predictor: Predictor | None,
    adapt_cost: Cost,
    adapt_error: str | None,
    context: UnitContext,
    reporter: UnitProgress | None = None,
) -> CellRun:
    """Predict one suite's test split with one replicate's predictor, and score it."""
    row, seed = unit.row, unit.seed
    if predictor is None:
        return CellRun.failure(seed, adapt_error, adapt_cost)
    examples = suite.test[: unit.run.config.max_test_examples]
    metrics = {name: unit.run.metrics[name] for name in suite.spec.metrics}
    if reporter is not None:
        reporter.evaluating(suite.name, len(examples))
    advance = reporter.evaluated if reporter is not None else None

    reset_peak_memory()
    truncation = getattr(predictor.model, "truncated_prompts", None)
    truncated_before = len(truncation) if isinstance(truncation, list) else 0
    meter = predictor.model if isinstance(predictor.model, ReportsUsage) else None
    usage_before = meter.usage() if meter else {}
    start = time.perf_counter()
    doing = f"evaluating {row.row!r} on {suite.name!r}"
    try:
        predicted = call_with_timeout(
            lambda: predict(
                predictor,
                suite,
                examples,
                reference_logprob=any(m.needs_reference_logprob for m in metrics.values()),
                progress=advance,
            ),
            row.cell_timeout,
            doing,
        )
        eval_seconds = time.perf_counter() - start
        metric_errors: dict[str, str] = {}
        scores = score_outputs(predicted.outputs, metrics, metric_errors)
        prompt_tokens = (
            [predictor.model.count_tokens(p) for p in predicted.prompts]
            if capabilities_of(predictor.model).token_counting
            else []
        )
        # requests, tokens and price the backend reports for this cell
        usage = {
            k: round(v - usage_before.get(k, 0.0), 6)
            for k, v in (meter.usage() if meter else {}).items()
        }
        cost = adapt_cost.model_copy(
            update={
                "eval_seconds": round(eval_seconds, 3),
                "peak_memory_mb": round(
                    max(adapt_cost.peak_memory_mb, peak_memory_mb(), cuda_peak_memory_mb()), 1
                ),
                "prompt_tokens_mean": round(float(np.mean(prompt_tokens)), 2)
                if prompt_tokens
                else 0.0,
                # distinct prompts the backend cut during this cell: one per example
                "truncated_examples": len(set(truncation[truncated_before:]))
                if isinstance(truncation, list)
                else None,
                "parse_failures": predicted.parse_failures,
                **usage,
            }
        )
    except Exception as e:
        error = str(e) if isinstance(e, Timeout) else describe(e, doing)
        return CellRun.failure(seed, error, adapt_cost)
    run = CellRun(
        seed, "ok", None, predicted.prompts, predicted.outputs, scores, cost, metric_errors
    )
    if not metric_errors:  # a failed metric is computed again next run
        store_cell(context.cache, unit.cell_keys[suite.name], suite.name, run)
    return run


def store_cell(cache: Cache, key: str, suite: str, run: CellRun) -> None:
    """Publish one replicate's predictions and cost under its cell key."""
    with cache.put("predictions", key) as folder:
        # the row name is not part of what the predictions depend on
        write_predictions(folder / "predictions.jsonl", run.records("", suite))
        (folder / "cost.json").write_text(run.cost.model_dump_json(), encoding="utf-8")


def describe(e: BaseException, doing: str) -> str:
    """`Type while doing: message (file:line)`, the line where it was raised."""
    frames = traceback.extract_tb(e.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(e).__name__} while {doing}: {e}{where}"


def warm_up(model: LanguageModel) -> None:
    """One tiny request first, so that one-off start-up work (kernel selection, allocator
    growth) is not timed as the first cell's evaluation. Only local log-likelihood models
    are warmed up (a request to a remote one costs money and warms nothing here)."""
    can = capabilities_of(model)
    if can.loglikelihood and can.local_weights:
        model.loglikelihood([ScoreRequest("warm-up", (" run",))])
