"""Models behind an OpenAI-compatible server: `/v1/completions` or `/v1/chat/completions`.

Requests go through the `openai` client, whose own retries are used: it retries
connection errors, timeouts, 408, 409, 429 and 5xx answers with exponential backoff and
jitter and honours `Retry-After`, kept in step with the API by its maintainers. Requests
run `max_concurrency` at a time; answers come back in request order. Decoding is greedy
(temperature 0). Token counts come from each answer's `usage`, and become a cost figure
with prices per million tokens.

Log-likelihoods need a server that returns prompt log-probabilities (`echo: true` with
`logprobs`, as vLLM's completions endpoint does); without them the evaluator scores
classification by generation.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.models.base import (
    Capabilities,
    ContinuationScore,
    GenerationRequest,
    ProgressCallback,
    ScoreRequest,
    cut_at_stop,
)

T = TypeVar("T")
R = TypeVar("R")
#: the OpenAI API takes at most four stop sequences; the rest are applied here
_MAX_STOPS = 4


@dataclass(frozen=True)
class OpenAIOptions:
    """How to reach the server and what its answers cost."""

    base_url: str
    endpoint: str = "completions"
    api_key_env: str | None = "OPENAI_API_KEY"
    max_concurrency: int = 4
    max_retries: int = 5
    timeout: float = 60.0
    logprobs: bool = False
    price_input_per_million: float | None = None
    price_output_per_million: float | None = None


class OpenAIModel:
    """A model served behind an OpenAI-compatible API, implementing `LanguageModel`."""

    def __init__(self, model: str, options: OpenAIOptions, client: Any = None) -> None:
        self.name = model
        self.options = options
        self.capabilities = Capabilities(
            loglikelihood=options.logprobs and options.endpoint == "completions",
            generation=True,
            token_counting=False,
            local_weights=False,
        )
        self._client = client if client is not None else _client(options)
        self._lock = threading.Lock()
        self._usage = {"requests": 0.0, "input_tokens": 0.0, "output_tokens": 0.0}

    # ----------------------------------------------------------------- LanguageModel

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback | None = None
    ) -> list[str]:
        """Greedy completions, `max_concurrency` at a time, cut at the first stop."""
        return self._map(self._generate_one, requests, progress)

    def loglikelihood(
        self, requests: Sequence[ScoreRequest], progress: ProgressCallback | None = None
    ) -> list[list[ContinuationScore]]:
        """Echoed prompt log-probabilities of each continuation (needs `logprobs: true`)."""
        if not self.capabilities.loglikelihood:
            raise NotImplementedError(
                f"{self.name}: log-likelihoods need the completions endpoint and logprobs: true"
            )
        return self._map(self._score_one, requests, progress)

    def count_tokens(self, text: str) -> int:
        raise NotImplementedError(
            "an OpenAI-compatible server counts tokens only when it answers; see `usage()`"
        )

    def usage(self) -> dict[str, float]:
        """Requests and tokens so far, and their price when prices are set (`ReportsUsage`)."""
        with self._lock:
            out = dict(self._usage)
        prices = (self.options.price_input_per_million, self.options.price_output_per_million)
        if any(p is not None for p in prices):
            out["api_cost_usd"] = round(
                out["input_tokens"] * (prices[0] or 0.0) / 1e6
                + out["output_tokens"] * (prices[1] or 0.0) / 1e6,
                6,
            )
        return out

    # ----------------------------------------------------------------- requests

    def _generate_one(self, request: GenerationRequest) -> str:
        if request.max_new_tokens <= 0:
            return ""
        stop = [s for s in request.stop if s][:_MAX_STOPS] or None
        if self.options.endpoint == "chat":
            answer = self._client.chat.completions.create(
                model=self.name,
                messages=[{"role": "user", "content": request.prompt}],
                max_tokens=request.max_new_tokens,
                temperature=0.0,
                stop=stop,
            )
            text = answer.choices[0].message.content or ""
        else:
            answer = self._client.completions.create(
                model=self.name,
                prompt=request.prompt,
                max_tokens=request.max_new_tokens,
                temperature=0.0,
                stop=stop,
            )
            text = answer.choices[0].text or ""
        self._count(answer)
        return cut_at_stop(text, request.stop)

    def _score_one(self, request: ScoreRequest) -> list[ContinuationScore]:
        scores = []
        for continuation in request.continuations:
            answer = self._client.completions.create(
                model=self.name,
                prompt=request.prompt + continuation,
                max_tokens=0,
                temperature=0.0,
                echo=True,
                logprobs=1,
            )
            self._count(answer)
            logprobs = answer.choices[0].logprobs
            if logprobs is None or logprobs.token_logprobs is None:
                raise ValueError(
                    f"the server at {self.options.base_url} returned no prompt log-probabilities; "
                    "set logprobs: false for this backend"
                )
            total, n_tokens, greedy = 0.0, 0, True
            offsets = logprobs.text_offset or []
            tops = logprobs.top_logprobs or [None] * len(offsets)
            for token, logprob, offset, top in zip(
                logprobs.tokens or [], logprobs.token_logprobs, offsets, tops, strict=False
            ):
                if offset < len(request.prompt) or logprob is None:
                    continue
                total += float(logprob)
                n_tokens += 1
                if top:
                    greedy = greedy and max(top, key=top.get) == token
            scores.append(ContinuationScore(logprob=total, n_tokens=n_tokens, is_greedy=greedy))
        return scores

    def _count(self, answer: Any) -> None:
        usage = getattr(answer, "usage", None)
        with self._lock:
            self._usage["requests"] += 1
            if usage is not None:
                self._usage["input_tokens"] += float(usage.prompt_tokens or 0)
                self._usage["output_tokens"] += float(usage.completion_tokens or 0)

    def _map(
        self,
        one: Callable[[T], R],
        items: Sequence[T],
        progress: ProgressCallback | None,
    ) -> list[R]:
        """`one` over `items` with at most `max_concurrency` in flight; results in order."""
        results: list[Any] = [None] * len(items)
        with ThreadPoolExecutor(max_workers=self.options.max_concurrency) as pool:
            futures = {pool.submit(one, item): i for i, item in enumerate(items)}
            try:
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    if progress is not None:
                        progress(1)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return results


def api_key(options: OpenAIOptions) -> str | None:
    """The API key from the environment variable the config names (never stored)."""
    return os.environ.get(options.api_key_env) if options.api_key_env else None


def _client(options: OpenAIOptions) -> Any:
    from openai import OpenAI

    return OpenAI(
        base_url=options.base_url,
        # a server without keys still needs a non-empty value in the header
        api_key=api_key(options) or "no-key",
        max_retries=options.max_retries,
        timeout=options.timeout,
    )
