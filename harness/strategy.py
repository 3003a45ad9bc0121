"""The strategy contract: adapt a base model, return a predictor.

A strategy receives an `AdaptContext` (the base model, the target suites with their
train / validation splits, a seed, a working folder, and the predictor it builds upon)
and returns a `Predictor`: a model plus the way it prompts it. Prompting strategies
change the prompt, fine-tuning strategies change the model, retrieval adds context;
composed strategies (`lora+rag`) are chains in which each link adapts the predictor the
previous one returned.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from harness.cache import Cache
from harness.models.base import (
    ContinuationScore,
    GenerationRequest,
    LanguageModel,
    ProgressCallback,
    ScoreRequest,
)
from harness.progress import PhaseReporter
from harness.suites import Example, Suite


@dataclass(frozen=True)
class RequestBatch:
    """What a list of requests is for: one suite's examples, request `i` for `examples[i]`.

    The evaluator passes it to `Predictor.generate` and `Predictor.score` as the keyword
    `batch` when the method accepts it (a parameter named `batch`, or `**kwargs`), so
    predictors written before it existed keep working. Since 0.2.0.
    """

    suite: Suite
    examples: tuple[Example, ...]


def accepts_batch(method: Callable[..., object]) -> bool:
    """Whether a predictor method takes the `batch` keyword."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "batch" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def call_with_batch(
    method: Callable[..., Any],
    requests: Sequence[Any],
    progress: ProgressCallback | None,
    batch: RequestBatch | None,
) -> Any:
    """`method(requests, progress)`, with `batch=` when given and the method takes it."""
    if batch is not None and accepts_batch(method):
        return method(requests, progress, batch=batch)
    return method(requests, progress)


class Predictor:
    """A model and how it prompts it; what every strategy returns.

    The default prompt is the suite's template. Subclasses override `prompt` (or the
    batched `prompts`) to add demonstrations or retrieved context, and may wrap another
    predictor's model. `trainable_parameters` is reported as a cost.
    """

    def __init__(
        self,
        model: LanguageModel,
        *,
        trainable_parameters: int = 0,
        costs: dict[str, float] | None = None,
    ) -> None:
        self.model = model
        self.trainable_parameters = trainable_parameters
        #: extra cost figures merged into each cell's `cost` (e.g. `artifact_bytes`,
        #: `train_tokens`, `train_tokens_per_second`, `index_build_seconds`)
        self.costs: dict[str, float] = dict(costs or {})

    def prompt(self, suite: Suite, example: Example) -> str:
        """The prompt for one test example."""
        return suite.render(example)

    def prompts(self, suite: Suite, examples: Sequence[Example]) -> list[str]:
        """Prompts for many examples; override to batch expensive work (embeddings)."""
        return [self.prompt(suite, example) for example in examples]

    def retrieved_documents(self, suite: Suite, example: Example) -> tuple[str, ...] | None:
        """Ids of the knowledge documents put in the example's prompt, best first.

        None (the default) when this predictor retrieves nothing; retrieval strategies
        override it, and the evaluator records it for the `recall_at_k` and `mrr` metrics.
        """
        return None

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        progress: ProgressCallback | None = None,
        *,
        batch: RequestBatch | None = None,
    ) -> list[str]:
        """One generated text per request, in order.

        `batch` (when the evaluator knows it) names the suite and the examples the
        requests serve; override to use it (e.g. per-example decoding choices).
        """
        return self.model.generate(requests, progress)

    def score(
        self,
        requests: Sequence[ScoreRequest],
        progress: ProgressCallback | None = None,
        *,
        batch: RequestBatch | None = None,
    ) -> list[list[ContinuationScore]]:
        """One score per continuation of each request, in order (`batch` as in `generate`)."""
        return self.model.loglikelihood(requests, progress)


class PromptedPredictor(Predictor):
    """A predictor that rewrites the prompts of another predictor (few-shot, RAG)."""

    def __init__(self, inner: Predictor) -> None:
        super().__init__(
            inner.model, trainable_parameters=inner.trainable_parameters, costs=inner.costs
        )
        self.inner = inner

    def prompt(self, suite: Suite, example: Example) -> str:
        return self.inner.prompt(suite, example)

    def retrieved_documents(self, suite: Suite, example: Example) -> tuple[str, ...] | None:
        return self.inner.retrieved_documents(suite, example)

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        progress: ProgressCallback | None = None,
        *,
        batch: RequestBatch | None = None,
    ) -> list[str]:
        return call_with_batch(self.inner.generate, requests, progress, batch)

    def score(
        self,
        requests: Sequence[ScoreRequest],
        progress: ProgressCallback | None = None,
        *,
        batch: RequestBatch | None = None,
    ) -> list[list[ContinuationScore]]:
        return call_with_batch(self.inner.score, requests, progress, batch)


@dataclass(frozen=True)
class AdaptContext:
    """Everything a strategy may use to adapt."""

    #: the base model's name or path (a hub id or a local folder)
    model_name: str
    #: the suites to adapt to, with their train and validation splits (never test)
    targets: tuple[Suite, ...]
    #: the run's seed
    seed: int
    #: a private folder for this strategy's artifacts in this run
    work_dir: Path
    #: returns the loaded base model (loaded once per run, shared: do not modify it)
    load_model: Callable[[], LanguageModel]
    #: the predictor to build upon: the base model with the suite's template, or the
    #: predictor of the previous strategy in a composition such as `lora+rag`
    upstream: Predictor
    #: the forgetting suites of the run (replay data for multi-task training)
    forgetting: tuple[Suite, ...] = ()
    #: the run's artifact cache (`cache.get(kind, cache_key)` / `cache.put(kind, cache_key)`)
    cache: Cache | None = None
    #: a content hash of everything this adaptation depends on: base model files, the
    #: chain up to this strategy with its settings, seed, target and forgetting data,
    #: library versions. Extend it with `content_key(cache_key, ...)` for sub-artifacts.
    cache_key: str = ""
    #: what adapting is doing, for the run's progress display:
    #: `progress.phase("indexing", total=n)`, `progress.advance(1)`,
    #: `progress.update(step, loss=...)` (does nothing outside a run)
    progress: PhaseReporter = field(default_factory=PhaseReporter)


@dataclass(frozen=True)
class NoSettings:
    """A strategy without settings."""


class Strategy(ABC):
    """Base class of strategies. Register subclasses through `harness_register_strategies`.

    Settings are a dataclass (`settings_class`) whose fields carry `metadata={"help": ...}`;
    the run config's strategy entry fills it and unknown keys are rejected.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    settings_class: ClassVar[type] = NoSettings
    #: "joint": one adaptation to all target suites of the run (prompting, multi-task);
    #: "per-target": one adaptation per target suite, each evaluated on its own target
    #: and on every forgetting suite (rows `name@suite` when a run has several targets)
    scope: ClassVar[str] = "joint"
    #: whether adapting reads the forgetting suites (replay); if not, a change to them
    #: does not invalidate this strategy's cached artifacts
    uses_forgetting_data: ClassVar[bool] = False
    #: which suites must have train examples, checked when the run is planned:
    #: "" none; "targets" every target suite the row adapts to (fine-tuning);
    #: "evaluated" every suite the row is evaluated on, forgetting suites too (few-shot
    #: draws its demonstrations from the train split of the suite it prompts)
    needs_train_split: ClassVar[str] = ""
    #: whether the adapted predictor depends on the seed (training, sampled
    #: demonstrations): with `replicates: N` such rows are adapted and evaluated once per
    #: seed. Override `depends_on_seed` when it depends on the settings.
    seed_dependent: ClassVar[bool] = False
    #: whether adapting needs the model's weights in this process (fine-tuning, adapters):
    #: on a backend without local weights the row is skipped with the reason
    needs_local_weights: ClassVar[bool] = False

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings if settings is not None else self.settings_class()

    def depends_on_seed(self) -> bool:
        """Whether this strategy, with its settings, gives different results per seed."""
        return self.seed_dependent

    def inputs_identity(self) -> object:
        """What the settings name but do not contain, for cache keys: e.g. a content hash
        of the files at a `path` setting, so that changed files miss the cache.
        None (the default) when the settings say it all."""
        return None

    @abstractmethod
    def adapt(self, context: AdaptContext) -> Predictor:
        """Adapt to `context.targets` and return the predictor to evaluate."""


def settings_help(settings_class: type) -> list[tuple[str, str, str]]:
    """(name, default, help) for each field of a settings dataclass."""
    rows = []
    for f in fields(settings_class):
        if f.default is not MISSING:
            default = repr(f.default)
        elif f.default_factory is not MISSING:
            default = repr(f.default_factory())
        else:
            default = "(required)"
        rows.append((f.name, default, f.metadata.get("help", "")))
    return rows
