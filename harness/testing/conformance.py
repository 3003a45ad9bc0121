"""A conformance check for strategies: run yours through harness's contract.

    from harness.testing import check_strategy
    check_strategy(MyStrategy(), tmp_path)

It builds a tiny real model (or uses `model=`), writes toy suites of every task, adapts
your strategy to the target suites, and evaluates its predictor on all of them, failing
with an `AssertionError` that says which rule was broken: `adapt` must return a
`Predictor`, must not read any test split, and the predictor must give one prompt per
example and one finite score per candidate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from harness.evaluate import predict
from harness.models.base import LanguageModel
from harness.strategy import AdaptContext, Predictor, Strategy
from harness.suites import Example, Suite, load_suite
from harness.testing.tiny_model import build_tiny_llama
from harness.testing.toy_suites import write_toy_suites


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
    """What the check ran: suites evaluated and examples predicted."""

    strategy: str
    suites: tuple[str, ...]
    examples: int


def check_strategy(
    strategy: Strategy, workdir: Path, *, model: str | Path | None = None, seed: int = 0
) -> ConformanceReport:
    """Adapt `strategy` on toy suites and evaluate it; raise AssertionError on a violation."""
    from harness.models.hf import HFModel

    workdir = Path(workdir)
    model_dir = Path(model) if model else build_tiny_llama(workdir / "tiny-model", seed=seed)
    base = HFModel.load(str(model_dir))
    suites = []
    for path in write_toy_suites(workdir / "suites").values():
        loaded = load_suite(path)
        suites.append(_GuardedSuite(loaded.spec, loaded.path))

    def load_model() -> LanguageModel:
        return base

    targets = tuple(s for s in suites if s.role == "target")
    for suite in suites:
        suite.guarded = True
    try:
        predictor = strategy.adapt(
            AdaptContext(
                model_name=str(model_dir),
                targets=targets,
                seed=seed,
                work_dir=workdir / "work",
                load_model=load_model,
                upstream=Predictor(base),
                forgetting=tuple(s for s in suites if s.role == "forgetting"),
            )
        )
    finally:
        for suite in suites:
            suite.guarded = False
    assert isinstance(predictor, Predictor), (
        f"{type(strategy).__name__}.adapt returned {type(predictor).__name__}, "
        "expected a harness.Predictor"
    )
    examples = 0
    for suite in suites:
        tests = suite.test[:4]
        prompts = predictor.prompts(suite, tests)
        assert isinstance(prompts, list) and len(prompts) == len(tests), (
            f"prompts() must return one prompt per example for {suite.name!r}"
        )
        assert all(isinstance(p, str) and p for p in prompts), "prompts must be non-empty text"
        outputs = predict(predictor, suite, tests, reference_logprob=True).outputs
        for output in outputs:
            assert all(math.isfinite(x) for x in output.candidate_logprobs), (
                f"non-finite candidate score on {suite.name!r}"
            )
            assert isinstance(output.prediction, str)
        examples += len(tests)
    return ConformanceReport(strategy.name, tuple(s.name for s in suites), examples)
