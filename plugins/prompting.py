"""Prompting strategies: zero-shot and few-shot. They adapt nothing; they change prompts."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from harness import AdaptContext, Example, Predictor, PromptedPredictor, Strategy, Suite, hookimpl
from harness.embeddings import DEFAULT_EMBEDDER
from harness.registry import Registry


class ZeroShot(Strategy):
    """The suite's template and nothing else: the baseline every cell is compared to."""

    name = "zero-shot"
    description = "the suite's prompt template alone"

    def adapt(self, context: AdaptContext) -> Predictor:
        return context.upstream


@dataclass(frozen=True)
class FewShotSettings:
    k: int = field(default=4, metadata={"help": "demonstrations per prompt, from the train split"})
    selection: str = field(
        default="random",
        metadata={"help": "'random' (seeded per example) or 'similar' (nearest by embedding)"},
    )
    embedder: str = field(
        default=DEFAULT_EMBEDDER,
        metadata={"help": "sentence-transformers model id or path for selection: similar"},
    )
    separator: str = field(default="\n\n", metadata={"help": "text between demonstrations"})

    def validate(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        if self.selection not in ("random", "similar"):
            raise ValueError(f"selection must be 'random' or 'similar', got {self.selection!r}")


class FewShotPredictor(PromptedPredictor):
    """Prepends k solved train examples to the upstream prompt. Never uses the test split."""

    def __init__(self, inner: Predictor, settings: FewShotSettings, seed: int) -> None:
        super().__init__(inner)
        self.settings = settings
        self.seed = seed

    def prompts(self, suite: Suite, examples: Sequence[Example]) -> list[str]:
        if not examples:
            return []
        pool = suite.train
        if not pool:
            raise ValueError(
                f"suite {suite.name!r} has no train split to draw few-shot demonstrations from"
            )
        k = min(self.settings.k, len(pool))
        if self.settings.selection == "similar":
            chosen = self._similar(pool, examples, k)
        else:
            chosen = [self._random(pool, suite, example, k) for example in examples]
        sep = self.settings.separator
        return [
            sep.join([*(suite.render(d) + suite.answer(d.references[0]) for d in demos), ""])
            + self.inner.prompt(suite, example)
            for example, demos in zip(examples, chosen, strict=True)
        ]

    def prompt(self, suite: Suite, example: Example) -> str:
        return self.prompts(suite, [example])[0]

    def _random(
        self, pool: Sequence[Example], suite: Suite, example: Example, k: int
    ) -> list[Example]:
        # seeded per (run seed, suite, example): the same demonstrations whatever the order
        key = f"{self.seed}\0{suite.name}\0{example.id}".encode()
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))
        return [pool[i] for i in rng.choice(len(pool), size=k, replace=False)]

    def _similar(
        self, pool: Sequence[Example], examples: Sequence[Example], k: int
    ) -> list[list[Example]]:
        from harness.embeddings import embed

        pool_vectors = embed([e.input for e in pool], self.settings.embedder)
        query_vectors = embed([e.input for e in examples], self.settings.embedder)
        similarity: Any = query_vectors @ pool_vectors.T
        # most similar last, nearest to the question; ties broken by train order
        order = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
        return [[pool[i] for i in reversed(row)] for row in order]


class FewShot(Strategy):
    """k demonstrations from the train split, chosen at random or by similarity."""

    name = "few-shot"
    description = "k solved train examples before each test prompt"
    settings_class = FewShotSettings
    needs_train_split: ClassVar[str] = "evaluated"

    def depends_on_seed(self) -> bool:
        # random demonstrations are drawn with the seed; similar ones are not
        return bool(self.settings.selection == "random")

    def adapt(self, context: AdaptContext) -> Predictor:
        return FewShotPredictor(context.upstream, self.settings, context.seed)


@hookimpl
def harness_register_strategies(registry: Registry) -> None:
    registry.add(ZeroShot)
    registry.add(FewShot)
