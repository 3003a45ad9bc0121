"""Go/no-go probes of the demo lab's base model, measured the way harness measures.

Each probe is a few dozen fresh examples scored through `harness.models.hf.HFModel`
(greedy generation cut at "\\n", or log-likelihood of each label), so a probe figure
predicts what `harness run` will report:

* `recall`: key-value pairs, then a key: the copy-from-context mechanism itself;
* `reading`: a catalog item's fact sheet, then a question about it (gold-document QA on
  the knowledge suite's unseen items);
* `facts`, `arithmetic`, `copy`: the skills the forgetting suites watch;
* `icl_heldout`: 4-shot classification with label words never used as labels in
  pre-training; `intent_zero` / `intent_few`: the demo ticket intents, zero- and 4-shot.
"""

from __future__ import annotations

import random
from typing import Any

from harness.lab.corpus import MAX_ADDEND
from harness.lab.world import (
    ATTRIBUTES,
    GENERAL_WORDS,
    HELD_OUT_LABELS,
    INPUT_FIELDS,
    INTENTS,
    LABEL_FIELDS,
    World,
)

#: the probes that must pass before the in-context suites mean anything
GO_NO_GO = {"recall": 0.8, "reading": 0.6}
_PROBE_LABELS = tuple(w for w in HELD_OUT_LABELS if w not in INTENTS)


def run_probes(model: Any, tokenizer: Any, world: World, n: int = 60) -> dict[str, float]:
    """Every probe on `n` examples each; returns accuracy (0..1) per probe."""
    from harness.models.hf import HFModel

    model.eval()
    lm = HFModel(model, tokenizer, name="lab-probe", chat_template="off", batch_size=32)
    rng = random.Random("probes")
    results = {
        "recall": _generation(lm, [_recall(rng) for _ in range(n)]),
        "reading": _generation(lm, [_reading(world, rng) for _ in range(n)]),
        "facts": _generation(lm, [_fact(world, rng) for _ in range(n)]),
        "arithmetic": _generation(lm, [_sum(rng) for _ in range(n)]),
        "copy": _generation(lm, [_copy(rng) for _ in range(n)]),
        "icl_heldout": _classification(lm, [_icl_heldout(world, rng) for _ in range(n)]),
        "intent_zero": _classification(lm, [_intent(world, rng, 0) for _ in range(n)]),
        "intent_few": _classification(lm, [_intent(world, rng, 4) for _ in range(n)]),
    }
    return {k: round(v, 3) for k, v in results.items()}


def passes(probes: dict[str, float]) -> bool:
    """Whether the go/no-go probes clear their thresholds."""
    return all(probes.get(name, 0.0) >= bar for name, bar in GO_NO_GO.items())


# --------------------------------------------------------------------- scoring


def _generation(lm: Any, cases: list[tuple[str, str]]) -> float:
    from harness.models.base import GenerationRequest

    requests = [GenerationRequest(prompt, max_new_tokens=12, stop=("\n",)) for prompt, _ in cases]
    outputs = lm.generate(requests)
    hits = [out.strip() == answer for out, (_, answer) in zip(outputs, cases, strict=True)]
    return sum(hits) / max(len(hits), 1)


def _classification(lm: Any, cases: list[tuple[str, tuple[str, ...], str]]) -> float:
    from harness.models.base import ScoreRequest

    requests = [ScoreRequest(p, tuple(" " + c for c in labels)) for p, labels, _ in cases]
    scores = lm.loglikelihood(requests)
    hits = 0
    for row, (_, labels, gold) in zip(scores, cases, strict=True):
        best = max(range(len(labels)), key=lambda i: row[i].logprob)
        hits += labels[best] == gold
    return hits / max(len(cases), 1)


# --------------------------------------------------------------------- the cases


def _recall(rng: random.Random) -> tuple[str, str]:
    keys = rng.sample(GENERAL_WORDS, rng.randint(3, 8))
    values = [rng.choice(GENERAL_WORDS) for _ in keys]
    i = rng.randrange(len(keys))
    pairs = "\n".join(f"{k}: {v}" for k, v in zip(keys, values, strict=True))
    return f"{pairs}\n\n{keys[i]}:", values[i]


def _reading(world: World, rng: random.Random) -> tuple[str, str]:
    item, key = rng.choice(world.new_items), rng.choice(ATTRIBUTES)
    return f"{item.sheet()}\n\n{item.question(key)}", item.fact(key)


def _fact(world: World, rng: random.Random) -> tuple[str, str]:
    item, key = rng.choice(world.known_items), rng.choice(ATTRIBUTES)
    return item.question(key), item.fact(key)


def _sum(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(0, MAX_ADDEND), rng.randint(0, MAX_ADDEND)
    return f"{a} + {b} =", str(a + b)


def _copy(rng: random.Random) -> tuple[str, str]:
    words = " ".join(rng.choice(GENERAL_WORDS) for _ in range(rng.randint(3, 6)))
    return f"Repeat: {words}\nOutput:", words


def _few_shot(shots: list[tuple[str, str]], query: str) -> str:
    """harness's few-shot prompt: demonstrations with answers, blank lines, the query."""
    return "\n\n".join([*(f"{p} {a}" for p, a in shots), query])


def _icl_heldout(world: World, rng: random.Random) -> tuple[str, tuple[str, ...], str]:
    field, label_field = rng.choice(INPUT_FIELDS), rng.choice(LABEL_FIELDS)
    labels = tuple(rng.sample(_PROBE_LABELS, 3))
    cues = rng.sample(GENERAL_WORDS, 3)
    mapping = dict(zip(cues, labels, strict=True))

    def case() -> tuple[str, str]:
        cue = rng.choice(cues)
        return f"{field}: {world.sentence(rng, cue)}\n{label_field}:", mapping[cue]

    shots = [case() for _ in range(4)]
    query, gold = case()
    return _few_shot(shots, query), labels, gold


def _intent(world: World, rng: random.Random, k: int) -> tuple[str, tuple[str, ...], str]:
    def case() -> tuple[str, str]:
        ticket = world.ticket(rng)
        return f"Ticket: {ticket.text}\nIntent for {ticket.cue}:", ticket.intent

    shots = [case() for _ in range(k)]
    query, gold = case()
    return _few_shot(shots, query), tuple(INTENTS), gold
