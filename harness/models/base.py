"""The backend contract: batched generation and batched log-likelihood scoring.

Every request is independent; a backend is free to reorder, batch and share work
between requests (for example one forward pass over a prompt for all its candidate
continuations) as long as each answer equals what the request would get alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

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


@dataclass(frozen=True)
class Capabilities:
    """What a backend's models can do; the plan checks every row and suite against it.

    A backend without `loglikelihood` scores classification and multiple choice by
    generating and mapping the text to a label; without `generation` it cannot run
    generation suites; without `local_weights` (weights in this process, which
    fine-tuning strategies train a copy of) the rows that need them are skipped.
    """

    #: `loglikelihood` returns real log-probabilities of continuations
    loglikelihood: bool = True
    #: `generate` returns generated text
    generation: bool = True
    #: `count_tokens` counts tokens before a request is sent
    token_counting: bool = True
    #: the weights are loaded here, with transformers, and can be fine-tuned or adapted
    local_weights: bool = False


#: what a model that does not say otherwise is assumed to do (the `LanguageModel` methods)
FULL_CAPABILITIES = Capabilities()


def capabilities_of(model: Any) -> Capabilities:
    """A loaded model's `capabilities` attribute, or every capability when it has none."""
    declared = getattr(model, "capabilities", None)
    return declared if isinstance(declared, Capabilities) else FULL_CAPABILITIES


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


@runtime_checkable
class ReportsUsage(Protocol):
    """Optional for backends: what their requests cost, as counters that only grow.

    `usage()` returns cumulative figures such as `input_tokens`, `output_tokens`,
    `requests` and `api_cost_usd`. The runner reads them before and after each cell and
    adds the differences to the cell's `cost`.
    """

    def usage(self) -> dict[str, float]:
        """Cumulative usage counters since the model was loaded."""
        ...


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """Text before the earliest occurrence of any stop string (every backend cuts so)."""
    cut = len(text)
    for stop in stops:
        if stop:
            at = text.find(stop)
            if at != -1:
                cut = min(cut, at)
    return text[:cut]
