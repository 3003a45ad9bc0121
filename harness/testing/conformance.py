"""Conformance checks for plugins: run your strategy, metric or reporter through harness.

    from harness.testing import check_metric, check_reporter, check_strategy
    check_strategy(MyStrategy(), tmp_path)
    check_metric(MyMetric)
    check_reporter(MyReporter, tmp_path)

Each builds what it needs for real (a tiny random Llama, toy suites of every task, a
real artifact cache, a real run folder) and fails with an `AssertionError` naming the
class, the method and the counts involved. They return a small report of what ran.
"""

from __future__ import annotations

import io
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.cache import Cache, content_key
from harness.evaluate import predict
from harness.metrics import TASKS, ExampleOutput, Metric, SupportsResampledAggregate
from harness.models.base import LanguageModel
from harness.reporting.base import ReportContext, Reporter
from harness.strategy import AdaptContext, Predictor, Strategy
from harness.suites import Example, Suite, load_suite
from harness.testing.tiny_model import build_tiny_llama
from harness.testing.toy_suites import write_toy_suites

# -- strategies ----------------------------------------------------------------------


class _GuardedSuite(Suite):
    """A suite whose test split may not be read while `guarded` is set."""

    guarded: bool = False

    def split(self, name: str) -> tuple[Example, ...]:
        if name == "test" and self.guarded:
            raise AssertionError(
                f"the strategy read the test split of {self.name!r} while adapting: "
                "adapt may use train and validation only"
            )
        return super().split(name)


@dataclass(frozen=True)
class ConformanceReport:
    """What the strategy check ran: adaptations, suites evaluated, examples predicted."""

    strategy: str
    suites: tuple[str, ...]
    examples: int
    #: the target suites of each adaptation: one tuple (joint) or one per target
    adaptations: tuple[tuple[str, ...], ...] = ()


def check_strategy(
    strategy: Strategy,
    workdir: Path,
    *,
    model: str | Path | None = None,
    seed: int = 0,
    examples_per_suite: int = 4,
) -> ConformanceReport:
    """Adapt `strategy` on toy suites and evaluate it; raise AssertionError on a violation.

    As in a run: a "joint" strategy adapts once to every target suite, a "per-target"
    one once per target suite (evaluated on its target and the forgetting suites). The
    context has a real artifact cache under `workdir/cache` and a cache key.
    """
    from harness.models.hf import HFModel

    workdir = Path(workdir)
    who = type(strategy).__name__
    model_dir = Path(model) if model else build_tiny_llama(workdir / "tiny-model", seed=seed)
    base = HFModel.load(str(model_dir))
    suites = []
    for path in write_toy_suites(workdir / "suites").values():
        loaded = load_suite(path)
        suites.append(_GuardedSuite(loaded.spec, loaded.path))
    targets = tuple(s for s in suites if s.role == "target")
    forgetting = tuple(s for s in suites if s.role == "forgetting")
    assert strategy.scope in ("joint", "per-target"), (
        f"{who}.scope is {strategy.scope!r}; expected 'joint' or 'per-target'"
    )
    groups = [targets] if strategy.scope == "joint" else [(t,) for t in targets]
    cache = Cache(workdir / "cache")

    def load_model() -> LanguageModel:
        return base

    evaluated: list[str] = []
    examples = 0
    for group in groups:
        names = tuple(s.name for s in group)
        for suite in suites:
            suite.guarded = True
        try:
            predictor = strategy.adapt(
                AdaptContext(
                    model_name=str(model_dir),
                    targets=group,
                    seed=seed,
                    work_dir=workdir / "work" / "-".join(names),
                    load_model=load_model,
                    upstream=Predictor(base),
                    forgetting=forgetting,
                    cache=cache,
                    cache_key=content_key(
                        strategy.name, strategy.settings, seed, [s.training_hash for s in group]
                    ),
                )
            )
        finally:
            for suite in suites:
                suite.guarded = False
        assert isinstance(predictor, Predictor), (
            f"{who}.adapt returned {type(predictor).__name__} for targets {list(names)}, "
            "expected a harness.Predictor"
        )
        for suite in [*group, *forgetting]:
            examples += _check_predictor(predictor, suite, examples_per_suite)
            if suite.name not in evaluated:
                evaluated.append(suite.name)
    return ConformanceReport(
        strategy.name, tuple(evaluated), examples, tuple(tuple(s.name for s in g) for g in groups)
    )


def _check_predictor(predictor: Predictor, suite: Suite, n: int) -> int:
    who = type(predictor).__name__
    tests = suite.test[:n]
    prompts = predictor.prompts(suite, tests)
    assert isinstance(prompts, list) and len(prompts) == len(tests), (
        f"{who}.prompts() returned {_count(prompts)} for {len(tests)} examples of "
        f"{suite.name!r}; expected a list with one prompt per example"
    )
    empty = sum(not (isinstance(p, str) and p) for p in prompts)
    assert not empty, (
        f"{who}.prompts() returned {empty} empty or non-text prompts on {suite.name!r}"
    )
    try:
        outputs = predict(predictor, suite, tests, reference_logprob=True).outputs
    except ValueError as e:
        if "returned" in str(e) and "items for" in str(e):  # the evaluator's count check
            raise AssertionError(f"{e} on {suite.name!r}") from None
        raise
    scores = [x for o in outputs for x in o.candidate_logprobs]
    bad = sum(not math.isfinite(x) for x in scores)
    assert not bad, (
        f"{who}.score() gave {bad} non-finite candidate scores out of {len(scores)} "
        f"on {suite.name!r}"
    )
    wrong = sum(not isinstance(o.prediction, str) for o in outputs)
    assert not wrong, f"{who} gave {wrong} non-text predictions on {suite.name!r}"
    return len(tests)


def _count(value: object) -> str:
    return f"{len(value)} items" if isinstance(value, Sequence) else type(value).__name__


# -- metrics -------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricReport:
    """What the metric check ran."""

    metric: str
    tasks: tuple[str, ...]
    examples: int
    resamples: int
    #: the mean time of one `aggregate` call on the toy outputs (it runs ~1,000 times
    #: per cell and again for each paired delta, unless `aggregate_resamples` exists)
    aggregate_seconds: float


def toy_outputs(task: str, n: int = 24, *, seed: int = 0) -> list[ExampleOutput]:
    """Plausible `ExampleOutput`s of a task, every optional field filled."""
    rng = np.random.default_rng(seed)
    words = ["red", "green", "blue", "ball", "sky", "the", "is", "a"]
    outputs = []
    for i in range(n):
        if task == "generation":
            reference = " ".join(rng.choice(words, size=int(rng.integers(1, 6))))
            prediction = reference if i % 3 == 0 else " ".join(rng.choice(words, size=3))
            candidates: tuple[str, ...] = ()
            logprobs: tuple[float, ...] = ()
        else:
            candidates = ("red", "green", "blue")
            logprobs = tuple(float(-x) for x in rng.uniform(0.1, 5, size=3))
            reference = candidates[i % 3]
            prediction = candidates[int(np.argmax(logprobs))]
        outputs.append(
            ExampleOutput(
                example_id=f"x{i}",
                prediction=prediction,
                references=(reference,),
                candidates=candidates,
                candidate_logprobs=logprobs,
                reference_logprob=float(-rng.uniform(0.5, 20)),
                reference_tokens=int(rng.integers(1, 8)),
                gold_documents=(f"d{i % 5}",),
                retrieved=tuple(f"d{j}" for j in rng.permutation(5)[:2]),
            )
        )
    return outputs


def check_metric(metric: Metric | type[Metric], *, resamples: int = 50) -> MetricReport:
    """Check a metric's attributes, `score`, `aggregate` and `aggregate_resamples`.

    On toy outputs of each task it applies to: `score` gives a float per example,
    `aggregate` a float (the same twice), nan or a float for no outputs, and, when the
    metric has `aggregate_resamples`, row r equals `aggregate` of resample r.
    """
    instance = metric() if isinstance(metric, type) else metric
    cls = type(instance)
    who = cls.__name__
    assert isinstance(getattr(cls, "name", None), str) and cls.name, (
        f"{who}.name must be a non-empty string"
    )
    assert isinstance(cls.tasks, frozenset | set) and cls.tasks and set(cls.tasks) <= set(TASKS), (
        f"{who}.tasks is {cls.tasks!r}; expected a non-empty subset of {list(TASKS)}"
    )
    assert isinstance(cls.higher_is_better, bool), f"{who}.higher_is_better must be a bool"
    empty = instance.aggregate([], np.array([]))
    assert isinstance(empty, float), (
        f"{who}.aggregate([]) returned {type(empty).__name__}; expected a float (nan)"
    )
    seconds: list[float] = []
    n_examples = 0
    for task in sorted(cls.tasks):
        outputs = toy_outputs(task)
        n_examples += len(outputs)
        values = [instance.score(o) for o in outputs]
        wrong = sum(not isinstance(v, float | int) or isinstance(v, bool) for v in values)
        assert not wrong, (
            f"{who}.score() returned {wrong} non-numbers out of {len(values)} on {task} outputs"
        )
        scores = np.asarray(values, dtype=np.float64)
        start = time.perf_counter()
        value = instance.aggregate(outputs, scores)
        seconds.append(time.perf_counter() - start)
        assert isinstance(value, float | int), (
            f"{who}.aggregate() returned {type(value).__name__} on {task} outputs; expected a float"
        )
        again = instance.aggregate(outputs, scores)
        assert value == again or (math.isnan(value) and math.isnan(again)), (
            f"{who}.aggregate() gave {value} then {again} on the same {task} outputs"
        )
        if isinstance(instance, SupportsResampledAggregate):
            rng = np.random.default_rng(0)
            indices = rng.integers(0, len(outputs), size=(resamples, len(outputs)))
            fast = np.asarray(instance.aggregate_resamples(outputs, scores, indices))
            assert fast.shape == (resamples,), (
                f"{who}.aggregate_resamples() returned shape {fast.shape} for {resamples} "
                "resamples; expected one value per row of indices"
            )
            slow = np.array(
                [instance.aggregate([outputs[i] for i in row], scores[row]) for row in indices]
            )
            close = np.isclose(fast, slow, rtol=1e-9, atol=1e-12, equal_nan=True)
            assert close.all(), (
                f"{who}.aggregate_resamples() differs from aggregate() on "
                f"{int((~close).sum())} of {resamples} {task} resamples "
                f"(first: row {int(np.argmin(close))}, {fast[~close][0]} vs {slow[~close][0]})"
            )
    return MetricReport(
        cls.name, tuple(sorted(cls.tasks)), n_examples, resamples, float(np.mean(seconds))
    )


# -- reporters -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReporterReport:
    """What the reporter check ran: the files it wrote and what it printed."""

    reporter: str
    files: tuple[str, ...]
    printed_chars: int


def check_reporter(
    reporter: Reporter | type[Reporter], workdir: Path, *, model: str | Path | None = None
) -> ReporterReport:
    """Render a real (tiny) run with `reporter` as `harness run` would, then again.

    The run has zero-shot and few-shot on the toy suites. The reporter renders into a
    staging folder (`context.run_dir`) with `context.final_dir` set, as during a run;
    it must not raise, must write only inside `run_dir`, and must render a second time
    (as `harness report` does) without failing.
    """
    from rich.console import Console

    from harness.config import RunConfig
    from harness.plugin_manager import load_plugins
    from harness.runner import Runner, make_plan

    instance = reporter() if isinstance(reporter, type) else reporter
    who = type(instance).__name__
    assert isinstance(getattr(instance, "name", None), str) and instance.name, (
        f"{who}.name must be a non-empty string"
    )
    workdir = Path(workdir)
    model_dir = Path(model) if model else build_tiny_llama(workdir / "tiny-model")
    suites = write_toy_suites(workdir / "suites")
    plugins = load_plugins()
    config = RunConfig.model_validate(
        {
            "model": str(model_dir),
            "suites": [str(p) for p in suites.values()],
            "strategies": [{"name": "zero-shot"}, {"name": "few-shot", "settings": {"k": 1}}],
            "out": str(workdir / "run"),
            "cache_dir": str(workdir / "cache"),
            "reporters": [],
            "bootstrap_resamples": 100,
            "max_test_examples": 4,
        }
    )
    outcome = Runner(make_plan(config, plugins), plugins).run()
    staging = workdir / ".staging-run"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(outcome.run_dir, staging)
    before = {p for p in workdir.rglob("*") if staging not in p.parents}
    staged_before = set(staging.rglob("*"))
    printed = io.StringIO()
    console = Console(file=printed, width=120, force_terminal=False)
    context = ReportContext(
        outcome.results, staging, console, plugins.metrics.as_dict(), final_dir=outcome.run_dir
    )
    instance.render(context)
    outside = sorted(
        str(p) for p in workdir.rglob("*") if staging not in p.parents and p not in before
    )
    assert not outside, (
        f"{who}.render() wrote {len(outside)} files outside context.run_dir: {outside[:3]}"
    )
    written = sorted(str(p.relative_to(staging)) for p in set(staging.rglob("*")) - staged_before)
    instance.render(context)  # re-rendering, as `harness report` does, must work too
    return ReporterReport(instance.name, tuple(written), len(printed.getvalue()))
