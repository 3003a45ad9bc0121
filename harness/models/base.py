"""The backend contract: batched generation and batched log-likelihood scoring.

Every request is independent; a backend is free to reorder, batch and share work
between requests (for example one forward pass over a prompt for all its candidate
continuations) as long as each answer equals what the request would get alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

#: Called with the number of requests just finished; used for progress bars.
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class GenerationRequest:
    """Greedy generation from `prompt` until a stop sequence, EOS or `max_new_tokens`."""

    prompt: str
    max_new_tokens: int = 64
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoreRequest:
    """Log-likelihood of each continuation given the prompt (continuation tokens only)."""

    prompt: str
    continuations: tuple[str, ...]


@dataclass(frozen=True)
class ContinuationScore:
    """Sum of the continuation's token log-probabilities, and its token count."""

    logprob: float
    n_tokens: int
    is_greedy: bool = False


@runtime_checkable
class LanguageModel(Protocol):
    """What strategies and the evaluator need from a model."""

    name: str

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback | None = None
    ) -> list[str]:
        """Return the generated text of each request (stop sequence excluded), in order."""
        ...

    def loglikelihood(
        self, requests: Sequence[ScoreRequest], progress: ProgressCallback | None = None
    ) -> list[list[ContinuationScore]]:
        """Return one score per continuation of each request, in order."""
        ...

    def count_tokens(self, text: str) -> int:
        """Number of tokens `text` encodes to (used for prompt-length costs)."""
        ...


@runtime_checkable
class ReportsTruncation(Protocol):
    """Optional for backends: the prompts they cut to fit the model's context.

    A backend that left-truncates long prompts appends each request's prompt to
    `truncated_prompts` when it cuts it. The list only grows: the runner notes its length
    before a cell and counts the distinct prompts added during the cell, which results
    record as `truncated_examples`. Backends without it report no truncation count.
    """

    truncated_prompts: list[str]
