"""The demo lab's pre-training corpus: episodes drawn from the world, in harness's shapes.

Each episode is one short text. Several teach *in-context* skills in exactly the shape
harness prompts take, so they transfer to the demo suites:

* `reading`: fact sheets, a blank line, then a question answered from them (the shape
  of a RAG prompt: retrieved documents, "\\n\\n", then the suite's input);
* `in_context`: few-shot classification episodes, `{Field}: {text}\\n{Label}: {label}`
  demonstrations joined by "\\n\\n", with many field names and label words and a fresh
  cue-to-label mapping every episode (the shape of harness's few-shot prompts);
* `recall`: pure key-value associative recall, the skill both of the above rest on.

Others teach what the forgetting suites measure: `facts` about the known items,
`arithmetic`, `copy`. A `Curriculum` says how often each kind is drawn: recall-heavy
first so the copy-from-context mechanism forms early, then the full mix.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from harness.lab.world import (
    ATTRIBUTES,
    GENERAL_WORDS,
    HELD_OUT_LABELS,
    INPUT_FIELDS,
    LABEL_FIELDS,
    World,
)

#: the largest addend of the arithmetic skill
MAX_ADDEND = 20
#: words the in-context episodes may use as labels
EPISODE_LABELS = tuple(w for w in GENERAL_WORDS if w not in HELD_OUT_LABELS)
#: cue words of the in-context episodes (any general word)
EPISODE_CUES = GENERAL_WORDS

Episode = Callable[[World, random.Random], str]


def facts(world: World, rng: random.Random) -> str:
    """A known item's fact sheet, or a few loose facts about known items."""
    if rng.random() < 0.5:
        item = rng.choice(world.known_items)
        lines = item.sheet().split("\n")
        rng.shuffle(lines)
        return "\n".join(lines)
    lines = []
    for _ in range(rng.randint(1, 4)):
        item = rng.choice(world.known_items)
        key = rng.choice(ATTRIBUTES)
        lines.append(f"{item.question(key)} {item.fact(key)}")
    return "\n\n".join(lines)


def reading(world: World, rng: random.Random) -> str:
    """One to three fact sheets of throwaway items, then questions answered from them."""
    items = [world.random_item(rng) for _ in range(rng.choice((1, 1, 2, 3)))]
    sheets = []
    for item in items:
        lines = item.sheet().split("\n")
        if rng.random() < 0.5:
            rng.shuffle(lines)
        sheets.append(
            "\n".join(lines[: rng.randint(2, len(lines))] if rng.random() < 0.3 else lines)
        )
    text = "\n\n".join(sheets)
    questions = []
    for _ in range(rng.randint(1, 4)):
        sheet = rng.choice(sheets).split("\n")
        line = rng.choice(sheet)
        questions.append(line)
    return text + "\n\n" + "\n\n".join(questions)


def recall(world: World, rng: random.Random) -> str:
    """Key-value pairs, then one or more keys to look up."""
    n = rng.randint(2, 10)
    keys = rng.sample(GENERAL_WORDS, n)
    values = [rng.choice(GENERAL_WORDS) for _ in keys]
    pairs = [f"{k}: {v}" for k, v in zip(keys, values, strict=True)]
    # Many queries per episode: every answer is a copy-from-context target.
    queries = rng.sample(pairs, rng.randint(1, n))
    return "\n".join(pairs) + "\n\n" + "\n".join(queries)


def in_context(world: World, rng: random.Random) -> str:
    """A few-shot classification episode with a fresh cue-to-label mapping."""
    input_field, label_field = rng.choice(INPUT_FIELDS), rng.choice(LABEL_FIELDS)
    labels = rng.sample(EPISODE_LABELS, rng.randint(2, 6))
    cues = rng.sample(EPISODE_CUES, 2 * len(labels))
    cue_label = {cue: labels[i // 2] for i, cue in enumerate(cues)}
    simple = rng.random() < 0.3
    shots = []
    for _ in range(rng.randint(2, 8)):
        cue = rng.choice(cues)
        text = cue if simple else world.sentence(rng, cue)
        shots.append((text, cue_label[cue], cue))
    # Mostly ask about a cue shown above, so that copying its label pays off.
    cue = rng.choice(shots)[2] if rng.random() < 0.85 else rng.choice(cues)
    query = cue if simple else world.sentence(rng, cue)
    shots.append((query, cue_label[cue], cue))
    return "\n\n".join(f"{input_field}: {t}\n{label_field}: {label}" for t, label, _ in shots)


def arithmetic(world: World, rng: random.Random) -> str:
    """A few small sums, `a + b = c`."""
    lines = []
    for _ in range(rng.randint(1, 4)):
        a, b = rng.randint(0, MAX_ADDEND), rng.randint(0, MAX_ADDEND)
        lines.append(f"{a} + {b} = {a + b}")
    return "\n\n".join(lines)


def copy(world: World, rng: random.Random) -> str:
    """Repeat a list of words."""
    words = " ".join(rng.choice(GENERAL_WORDS) for _ in range(rng.randint(2, 24)))
    return f"Repeat: {words}\nOutput: {words}"


EPISODES: dict[str, Episode] = {
    "facts": facts,
    "reading": reading,
    "recall": recall,
    "in_context": in_context,
    "arithmetic": arithmetic,
    "copy": copy,
}


WARMUP_MIX = {"recall": 0.3, "copy": 0.15, "in_context": 0.3, "reading": 0.25}
MAIN_MIX = {
    "facts": 0.2,
    "reading": 0.15,
    "recall": 0.05,
    "in_context": 0.3,
    "arithmetic": 0.2,
    "copy": 0.1,
}


@dataclass(frozen=True)
class Curriculum:
    """How often each episode kind is drawn, before and after `warmup_fraction`."""

    warmup_fraction: float = 0.25
    warmup_mix: Mapping[str, float] = field(default_factory=lambda: dict(WARMUP_MIX))
    main_mix: Mapping[str, float] = field(default_factory=lambda: dict(MAIN_MIX))

    def __post_init__(self) -> None:
        for mix in (self.warmup_mix, self.main_mix):
            unknown = set(mix) - set(EPISODES)
            if unknown:
                raise ValueError(f"unknown episode kinds {sorted(unknown)}")

    def mix_at(self, progress: float) -> Mapping[str, float]:
        """The mix in force at `progress` (0..1 of training)."""
        return self.warmup_mix if progress < self.warmup_fraction else self.main_mix


def episodes(world: World, rng: random.Random, mix: Mapping[str, float]) -> Iterator[str]:
    """An endless stream of episodes drawn from `mix`."""
    kinds, weights = list(mix), list(mix.values())
    while True:
        kind = rng.choices(kinds, weights)[0]
        yield EPISODES[kind](world, rng)


def sample_corpus(world: World, seed: int, n: int) -> list[str]:
    """`n` episodes of the full mix (tokenizer training and inspection)."""
    rng = random.Random(f"{seed}:sample")
    mix = {kind: 1.0 for kind in EPISODES}
    stream = episodes(world, rng, mix)
    return [next(stream) for _ in range(n)]
