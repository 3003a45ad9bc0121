"""The Hugging Face backend: any `AutoModelForCausalLM`, batched on one device.

Scoring (`loglikelihood`) is the hot path of classification and multiple-choice suites,
so it shares work between the candidates of one prompt: the prompt goes through the
model once, its KV cache is copied to one row per candidate, and only the candidates'
own tokens go through the model again. Tokenisation follows lm-evaluation-harness
(whitespace at the end of the prompt moves to the continuation; the continuation is
what encoding prompt + continuation adds after the prompt's tokens), so scores equal a
plain forward pass over each prompt + continuation.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import InputError
from harness.models.base import (
    Capabilities,
    ContinuationScore,
    GenerationRequest,
    ProgressCallback,
    ScoreRequest,
    cut_at_stop,
)
from harness.models.options import (
    DEVICE_HELP,
    DTYPE_HELP,
    DTYPES,
    check_model_location,
    device_error,
    dtype_error,
)
from harness.progress import library_bars_off

if TYPE_CHECKING:
    import torch

CHAT_TEMPLATE_MODES = ("auto", "on", "off")
#: Used when neither the model config nor the tokenizer states a context length.
_DEFAULT_MAX_LENGTH = 2048


@dataclass
class _EncodedScore:
    """One `ScoreRequest`, tokenised: the shared context and each continuation."""

    context: list[int]
    continuations: list[list[int]]

    @property
    def width(self) -> int:
        """Tokens of the longest context + continuation input (for sorting)."""
        longest = max((len(c) for c in self.continuations), default=0)
        return len(self.context) + max(longest - 1, 0)


class HFModel:
    """A Hugging Face causal language model implementing `LanguageModel`.

    Build it with `HFModel.load(name_or_path)`, or wrap an already loaded model and
    tokenizer with the constructor. `batch_size` is the number of sequences per forward
    pass (prompts, or candidate continuations when scoring). Decoding is greedy.
    """

    #: log-likelihoods, generation and token counts, on weights loaded in this process
    capabilities = Capabilities(local_weights=True)

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str,
        chat_template: str = "auto",
        batch_size: int = 16,
    ) -> None:
        if chat_template not in CHAT_TEMPLATE_MODES:
            raise InputError.single(
                file=name,
                field="chat_template",
                message=f"unknown chat template mode {chat_template!r}",
                fix=f"use one of {', '.join(CHAT_TEMPLATE_MODES)}",
            )
        has_template = bool(getattr(tokenizer, "chat_template", None))
        if chat_template == "on" and not has_template:
            raise InputError.single(
                file=name,
                field="chat_template",
                message="chat template required ('on') but the tokenizer has none",
                fix="use chat_template 'auto' or 'off', or a model with a chat template",
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        _ensure_pad_token(model, tokenizer)
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.batch_size = batch_size
        self.uses_chat_template = chat_template == "on" or (
            chat_template == "auto" and has_template
        )
        self.device = next(model.parameters()).device
        self.max_length = _max_length(model, tokenizer)
        forward_parameters = inspect.signature(model.forward).parameters
        # transformers >= 5.24 names the KV cache argument `cache` (`past_key_values` is
        # deprecated there); older releases within our range only know `past_key_values`.
        self._cache_argument = "cache" if "cache" in forward_parameters else "past_key_values"
        self._supports_logits_to_keep = "logits_to_keep" in forward_parameters
        # Decided on the first scoring batch: whether the model's cache can be shared.
        self._prefix_cache_ok: bool | None = None
        #: every prompt cut to fit `max_length`, in order (see `ReportsTruncation`)
        self.truncated_prompts: list[str] = []
        self._special_ids = frozenset(getattr(tokenizer, "all_special_ids", ()) or ())

    @classmethod
    def load(
        cls,
        name_or_path: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        trust_remote_code: bool = False,
        chat_template: str = "auto",
        batch_size: int = 16,
    ) -> HFModel:
        """Load a model and tokenizer from a Hub id or a local folder, in eval mode.

        `device` "auto" is CUDA when available, else CPU; `dtype` "auto" is bfloat16 on
        CUDA, else float32. Safetensors weights are used when the folder has them.
        """
        from safetensors import SafetensorError
        from transformers import AutoModelForCausalLM, AutoTokenizer

        check_model_location(name_or_path)
        torch_device = _resolve_device(device, name_or_path)
        torch_dtype = _resolve_dtype(dtype, torch_device, name_or_path)
        try:
            with library_bars_off():  # the caller draws its own progress
                tokenizer = AutoTokenizer.from_pretrained(
                    name_or_path, trust_remote_code=trust_remote_code
                )
                model = AutoModelForCausalLM.from_pretrained(
                    name_or_path, dtype=torch_dtype, trust_remote_code=trust_remote_code
                )
        except (OSError, ValueError, KeyError, SafetensorError) as exc:
            # a folder that passed check_model_location can still hold weights of another
            # architecture or an unknown model_type; the user's input either way
            raise cannot_load(name_or_path, exc) from exc
        model = model.to(torch_device)  # type: ignore[arg-type]
        model.eval()
        model.requires_grad_(False)
        return cls(
            model, tokenizer, name=name_or_path, chat_template=chat_template, batch_size=batch_size
        )

    # ----------------------------------------------------------------- public API

    def num_parameters(self) -> int:
        """Number of parameters of the model."""
        return sum(p.numel() for p in self.model.parameters())

    def format_prompt(self, prompt: str) -> str:
        """The text the model actually sees: the prompt in the chat template when used."""
        if not self.uses_chat_template:
            return prompt
        text = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
        return str(text)

    def count_tokens(self, text: str) -> int:
        """Number of tokens of the formatted prompt, special tokens included."""
        return len(self._encode(self.format_prompt(text)))

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback | None = None
    ) -> list[str]:
        """Greedy generation, batched with left padding; texts end before the first stop."""
        import torch

        prompts = [self._encode(self.format_prompt(r.prompt)) for r in requests]
        # Longest first: padding stays small within a batch and memory errors come early.
        order = sorted(range(len(requests)), key=lambda i: -len(prompts[i]))
        texts = [""] * len(requests)
        with torch.inference_mode():
            for batch in _chunks(order, self.batch_size):
                batch_texts = self._generate_batch(
                    [prompts[i] for i in batch], [requests[i] for i in batch]
                )
                for i, text in zip(batch, batch_texts, strict=True):
                    texts[i] = text
                if progress is not None:
                    progress(len(batch))
        return texts

    def loglikelihood(
        self, requests: Sequence[ScoreRequest], progress: ProgressCallback | None = None
    ) -> list[list[ContinuationScore]]:
        """Score every continuation of every request; one prompt pass per request."""
        import torch

        encoded = [self._encode_score_request(r) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: -encoded[i].width)
        results: list[list[ContinuationScore]] = [[] for _ in requests]
        with torch.inference_mode():
            for batch in _chunks(order, self.batch_size):
                batch_scores = self._score_batch([encoded[i] for i in batch])
                for i, scores in zip(batch, batch_scores, strict=True):
                    results[i] = scores
                if progress is not None:
                    progress(len(batch))
        return results

    # ----------------------------------------------------------------- tokenising

    def _encode(self, text: str) -> list[int]:
        """Token ids of a prompt as `format_prompt` gives it: BOS as the tokenizer adds it,
        unless the text already starts with it; text in the chat template gets no special
        tokens but the template's own (as `apply_chat_template(tokenize=True)` and
        servers do)."""
        bos = self.tokenizer.bos_token
        if self.uses_chat_template or (bos and text.startswith(bos)):
            return list(self.tokenizer.encode(text, add_special_tokens=False))
        return list(self.tokenizer.encode(text))

    def _prefix_token_id(self) -> int:
        bos = self.tokenizer.bos_token_id
        return int(bos if bos is not None else self.tokenizer.eos_token_id)

    def _encode_score_request(self, request: ScoreRequest) -> _EncodedScore:
        """Split like lm-evaluation-harness, then left-truncate the shared context."""
        context = self.format_prompt(request.prompt)
        stripped = context.rstrip()
        moved = context[len(stripped) :]
        context_ids = self._encode(stripped) if stripped else []
        continuations = []
        for continuation in request.continuations:
            text = moved + continuation
            if context_ids:
                whole = self._encode(stripped + text)
                continuations.append(whole[len(context_ids) :])
            else:
                continuations.append(list(self.tokenizer.encode(text, add_special_tokens=False)))
        if not context_ids:
            # Nothing to condition on: the prefix token (BOS, else EOS) stands in for it.
            context_ids = [self._prefix_token_id()]
        longest = max((len(c) for c in continuations), default=0)
        room = self.max_length - max(longest - 1, 0)
        if room < 1:
            raise ValueError(
                f"a continuation of {longest} tokens does not fit the model's context "
                f"of {self.max_length} tokens"
            )
        return _EncodedScore(self._fit(context_ids, room, request.prompt), continuations)

    def _fit(self, ids: list[int], room: int, prompt: str) -> list[int]:
        """`ids` cut from the left to `room` tokens, keeping the leading special tokens.

        BOS and the special tokens a chat template opens with stay in front; the cut
        starts right after them, so the model still sees a well-formed start of text.
        Each cut prompt is logged in `truncated_prompts`.
        """
        if len(ids) <= room:
            return ids
        self.truncated_prompts.append(prompt)
        lead = 0
        while lead < len(ids) and ids[lead] in self._special_ids:
            lead += 1
        lead = min(lead, room - 1)
        return ids[:lead] + ids[len(ids) - (room - lead) :]

    # ----------------------------------------------------------------- generation

    def _generation_config(self, max_new_tokens: int) -> Any:
        from transformers import GenerationConfig

        # A fresh config, so that sampling settings shipped with the model do not apply.
        defaults = getattr(self.model, "generation_config", None)
        eos = getattr(defaults, "eos_token_id", None)
        if eos is None:
            eos = self.tokenizer.eos_token_id
        return GenerationConfig(
            do_sample=False,
            num_beams=1,
            max_new_tokens=max_new_tokens,
            eos_token_id=eos,
            pad_token_id=self.tokenizer.pad_token_id,
            bos_token_id=self.tokenizer.bos_token_id,
        )

    def _generate_batch(
        self, prompts: list[list[int]], requests: list[GenerationRequest]
    ) -> list[str]:
        from transformers import StoppingCriteriaList

        limits = [max(r.max_new_tokens, 0) for r in requests]
        max_new = min(max(limits), self.max_length - 1)
        if max_new == 0:
            return [""] * len(requests)
        room = self.max_length - max_new
        input_ids, attention_mask = self._left_pad(
            [self._fit(p, room, r.prompt) for p, r in zip(prompts, requests, strict=True)]
        )
        prompt_length = input_ids.shape[1]
        stopper = _StopPerRow(self.tokenizer, prompt_length, limits, [r.stop for r in requests])
        output = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            generation_config=self._generation_config(max_new),
            stopping_criteria=StoppingCriteriaList([stopper]),
        )
        texts = []
        for row, request in enumerate(requests):
            new_tokens = output[row, prompt_length : prompt_length + limits[row]].tolist()
            text = self.tokenizer.decode(new_tokens, skip_special_tokens=True)
            texts.append(cut_at_stop(text, request.stop))
        return texts

    # ----------------------------------------------------------------- scoring

    def _score_batch(self, items: list[_EncodedScore]) -> list[list[ContinuationScore]]:
        """Score a batch: one pass over the contexts, then one over the candidates."""
        import torch

        input_ids, attention_mask = self._left_pad([item.context for item in items])
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        extra = {"logits_to_keep": 1} if self._supports_logits_to_keep else {}
        output = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **extra,
        )
        # One small [batch, vocab] transfer instead of one device sync per candidate.
        last_logprobs = torch.log_softmax(output.logits[:, -1, :].float(), dim=-1).cpu()
        last_greedy = last_logprobs.argmax(dim=-1).tolist()
        cache = _output_cache(output)
        if self._prefix_cache_ok is None:
            self._prefix_cache_ok = _is_plain_dynamic_cache(cache)

        # Per candidate: [sum of log-probs, all tokens greedy]; the first token comes
        # from the context's last position, the rest from the candidate pass.
        partial: list[list[list[Any]]] = []
        rows: list[tuple[int, int]] = []
        for b, item in enumerate(items):
            per_item = []
            for j, tokens in enumerate(item.continuations):
                if not tokens:
                    per_item.append([0.0, True])
                    continue
                first = tokens[0]
                per_item.append([float(last_logprobs[b, first]), last_greedy[b] == first])
                if len(tokens) > 1:
                    rows.append((b, j))
            partial.append(per_item)

        if rows:
            rows.sort(key=lambda r: -len(items[r[0]].continuations[r[1]]))
            # batch_size candidate rows per pass: each holds a copy of its context's
            # cache, so memory stays that of the context pass.
            for chunk in _chunks(rows, self.batch_size):
                if self._prefix_cache_ok:
                    scored = self._score_from_cache(items, chunk, cache, attention_mask)
                else:
                    scored = self._score_full(items, chunk)
                for (b, j), (logprob, greedy) in zip(chunk, scored, strict=True):
                    partial[b][j][0] += logprob
                    partial[b][j][1] = partial[b][j][1] and greedy

        return [
            [
                ContinuationScore(logprob=float(lp), n_tokens=len(tokens), is_greedy=bool(greedy))
                for (lp, greedy), tokens in zip(per_item, item.continuations, strict=True)
            ]
            for per_item, item in zip(partial, items, strict=True)
        ]

    def _score_from_cache(
        self,
        items: list[_EncodedScore],
        rows: list[tuple[int, int]],
        cache: Any,
        context_mask: torch.Tensor,
    ) -> list[tuple[float, bool]]:
        """Score tokens 2.. of each candidate row, attending to its context's cache."""
        import torch

        parents = torch.tensor([b for b, _ in rows], device=self.device)
        candidates = [items[b].continuations[j] for b, j in rows]
        inputs, targets, valid = self._right_pad_candidates(candidates)
        attention_mask = torch.cat([context_mask[parents], valid.long()], dim=1)
        context_lengths = context_mask.sum(-1)[parents]
        steps = torch.arange(inputs.shape[1], device=self.device)
        position_ids = context_lengths[:, None] + steps[None, :]
        output = self.model(
            input_ids=inputs,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **{self._cache_argument: _select_rows(cache, parents)},
        )
        return _sum_target_logprobs(output.logits, targets, valid)

    def _score_full(
        self, items: list[_EncodedScore], rows: list[tuple[int, int]]
    ) -> list[tuple[float, bool]]:
        """Fallback for caches that cannot be shared: context + candidate in one pass."""
        import torch

        sequences = []
        for b, j in rows:
            tokens = items[b].continuations[j]
            sequences.append(items[b].context + tokens[:-1])
        input_ids, attention_mask = self._left_pad(sequences)
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        # Left padding: every row's last len(tokens) - 1 positions predict tokens 2..
        candidates = [items[b].continuations[j] for b, j in rows]
        width = max(len(c) for c in candidates) - 1
        extra = {"logits_to_keep": width} if self._supports_logits_to_keep else {}
        logits = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=False,
            **extra,
        ).logits
        targets = torch.zeros((len(rows), width), dtype=torch.long, device=self.device)
        valid = torch.zeros((len(rows), width), dtype=torch.bool, device=self.device)
        for r, tokens in enumerate(candidates):
            n = len(tokens) - 1
            targets[r, width - n :] = torch.tensor(tokens[1:], device=self.device)
            valid[r, width - n :] = True
        return _sum_target_logprobs(logits[:, -width:, :], targets, valid)

    # ----------------------------------------------------------------- tensors

    def _left_pad(self, sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        width = max(len(s) for s in sequences)
        input_ids = torch.full(
            (len(sequences), width), self.tokenizer.pad_token_id, dtype=torch.long
        )
        attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, tokens in enumerate(sequences):
            input_ids[row, width - len(tokens) :] = torch.tensor(tokens, dtype=torch.long)
            attention_mask[row, width - len(tokens) :] = 1
        return input_ids.to(self.device), attention_mask.to(self.device)

    def _right_pad_candidates(
        self, candidates: list[list[int]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inputs tokens[:-1], targets tokens[1:], and which positions are real."""
        import torch

        width = max(len(c) for c in candidates) - 1
        inputs = torch.full((len(candidates), width), self.tokenizer.pad_token_id, dtype=torch.long)
        targets = torch.zeros((len(candidates), width), dtype=torch.long)
        valid = torch.zeros((len(candidates), width), dtype=torch.bool)
        for row, tokens in enumerate(candidates):
            n = len(tokens) - 1
            inputs[row, :n] = torch.tensor(tokens[:-1], dtype=torch.long)
            targets[row, :n] = torch.tensor(tokens[1:], dtype=torch.long)
            valid[row, :n] = True
        return inputs.to(self.device), targets.to(self.device), valid.to(self.device)


def cannot_load(name_or_path: str, exc: BaseException) -> InputError:
    """The input error of a model transformers cannot find or read."""
    return InputError.single(
        file=name_or_path,
        field="model",
        message=f"cannot load a causal language model: {exc}",
        fix="give a Hugging Face Hub id or a folder saved with save_pretrained "
        "(config.json, tokenizer files and weights)",
    )


def probe_model(name_or_path: str, *, trust_remote_code: bool = False) -> None:
    """Refuse a model whose config transformers cannot find (a Hub id that does not
    exist, or is not in the local cache offline); reads the config only."""
    from transformers import AutoConfig

    check_model_location(name_or_path)
    try:
        with library_bars_off():
            AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as exc:
        raise cannot_load(name_or_path, exc) from exc


class _StopPerRow:
    """Stopping criterion: each row stops at its own token limit or stop strings.

    Only decides when a row may stop; the returned text is always cut at the first
    stop string of the full decoded output, so checking a decoded tail is enough.
    """

    def __init__(
        self,
        tokenizer: Any,
        prompt_length: int,
        limits: list[int],
        stops: list[tuple[str, ...]],
    ) -> None:
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.limits = limits
        self.stops = [tuple(s for s in row if s) for row in stops]
        # A stop string of n characters spans at most 4n byte-level tokens.
        self.windows = [4 * max((len(s) for s in row), default=0) + 4 for row in self.stops]
        self.done = [limit == 0 for limit in limits]

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        import torch

        generated = input_ids[:, self.prompt_length :]
        length = generated.shape[1]
        for row in range(generated.shape[0]):
            if self.done[row]:
                continue
            if length >= self.limits[row]:
                self.done[row] = True
            elif self.stops[row]:
                tail = generated[row, -self.windows[row] :].tolist()
                text = self.tokenizer.decode(tail, skip_special_tokens=True)
                self.done[row] = any(stop in text for stop in self.stops[row])
        return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)


def _sum_target_logprobs(
    logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor
) -> list[tuple[float, bool]]:
    """Per row: sum of log p(target) over valid positions, and whether all are argmax."""
    import torch

    logits = logits.float()
    target_logits = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    logprobs = target_logits - torch.logsumexp(logits, dim=-1)
    greedy = (logits.argmax(dim=-1) == targets) | ~valid
    sums = (logprobs * valid).sum(dim=-1).tolist()
    all_greedy = greedy.all(dim=-1).tolist()
    return [(float(s), bool(g)) for s, g in zip(sums, all_greedy, strict=True)]


def _output_cache(output: Any) -> Any:
    """The KV cache a forward pass returned (`cache` from transformers 5.24 on)."""
    keys = output.keys()
    return output["cache"] if "cache" in keys else output.get("past_key_values")


def _select_rows(cache: Any, rows: torch.Tensor) -> Any:
    """A new cache holding `rows` of `cache` (repeats allowed); `cache` is left intact."""
    selected = copy.copy(cache)
    selected.layers = [copy.copy(layer) for layer in cache.layers]
    # DynamicLayer.batch_select_indices rebinds its tensors, so the shallow copies
    # leave the original cache untouched.
    selected.batch_select_indices(rows)
    return selected


def _is_plain_dynamic_cache(cache: Any) -> bool:
    """Whether rows of `cache` can be selected and extended (full attention only)."""
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:  # pragma: no cover - older transformers
        return False
    return isinstance(cache, DynamicCache) and all(
        type(layer) is DynamicLayer for layer in cache.layers
    )


def _ensure_pad_token(model: Any, tokenizer: Any) -> None:
    """Padding needs a pad token; EOS is the usual stand-in."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError("the tokenizer has neither a pad token nor an EOS token")
        tokenizer.pad_token = tokenizer.eos_token
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None and generation_config.pad_token_id is None:
        generation_config.pad_token_id = tokenizer.pad_token_id


def _max_length(model: Any, tokenizer: Any) -> int:
    """The model's context length, as lm-evaluation-harness resolves it."""
    config = model.config
    for attribute in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < 1_000_000:
        return model_max
    return _DEFAULT_MAX_LENGTH


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _resolve_device(device: str, name: str) -> torch.device:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    error = device_error(device)
    if error:
        raise InputError.single(file=name, field="device", message=error, fix=DEVICE_HELP)
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError.single(
            file=name,
            field="device",
            message="CUDA requested but not available",
            fix="use device 'auto' or 'cpu'",
        )
    return resolved


def _resolve_dtype(dtype: str, device: torch.device, name: str) -> torch.dtype:
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    error = dtype_error(dtype)
    if error:
        raise InputError.single(file=name, field="dtype", message=error, fix=DTYPE_HELP)
    resolved: torch.dtype = getattr(torch, DTYPES[dtype])
    return resolved
