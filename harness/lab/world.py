"""The demo lab's synthetic world: seeded entities, skills and support tickets.

Everything here is a pure function of a seed, so the pre-training corpus, the demo
suites and the probes agree on what the base model has and has not seen:

* `World.known_items` are catalog items whose facts are in the pre-training corpus
  (the `demo-skills-facts` suite asks about them, closed book);
* `World.new_items` are items that never appear in pre-training: the knowledge
  suite asks about them and ships their fact sheets as its retrieval corpus;
* tickets are written from a fixed set of intents, each signalled by cue nouns; the
  mapping from cue to intent label is never shown in pre-training, while the
  skill of picking a label up from in-context examples is.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property

#: the attributes every catalog item has, in fact-sheet order
ATTRIBUTES = ("maker", "colour", "material", "price", "origin")

COLOURS = (
    "red", "blue", "green", "black", "white", "grey", "yellow", "orange",
    "purple", "pink", "brown", "teal", "silver", "gold", "navy", "olive",
)  # fmt: skip
MATERIALS = (
    "oak", "pine", "steel", "copper", "glass", "wool", "cotton", "leather",
    "clay", "stone", "bamboo", "plastic",
)  # fmt: skip
KINDS = (
    "kettle", "lamp", "chair", "table", "clock", "vase", "bowl", "mug", "stool", "shelf",
    "basket", "mirror", "rug", "pillow", "blanket", "teapot", "bench", "jar", "tray", "fan",
)  # fmt: skip
PRICES = tuple(str(p) for p in range(5, 100, 5))

#: the six intents of the demo ticket domain and the cue nouns that signal each
INTENTS: dict[str, tuple[str, str]] = {
    "billing": ("invoice", "charge"),
    "account": ("password", "username"),
    "delivery": ("parcel", "courier"),
    "refund": ("receipt", "voucher"),
    "technical": ("screen", "battery"),
    "cancellation": ("subscription", "membership"),
}
#: how the house style summarises each intent (the generation suite's references)
INTENT_SUMMARY = {
    "billing": "billing issue",
    "account": "account issue",
    "delivery": "delivery issue",
    "refund": "refund request",
    "technical": "technical fault",
    "cancellation": "cancellation request",
}
PROBLEMS = (
    "is wrong", "does not work", "is missing", "looks strange", "is broken",
    "was never sent", "is not right", "keeps failing", "is a mess", "stopped working",
)  # fmt: skip
OPENERS = (
    "hello", "hi", "dear team", "good morning", "hey there", "hi support", "greetings",
    "hello again",
)  # fmt: skip
CLOSERS = (
    "please help", "thanks", "any advice", "please fix this", "thank you", "what now",
    "help me", "regards",
)  # fmt: skip
TICKET_SHAPES = (
    "{opener} my {cue} {problem} for order {order} {closer}",
    "{opener} the {cue} {problem} on order {order} {closer}",
    "{opener} order {order} and my {cue} {problem} {closer}",
    "{opener} about order {order} the {cue} {problem} {closer}",
)

#: general words: fillers, keys, values and labels of the in-context episodes
GENERAL_WORDS = (
    "apple", "river", "stone", "cloud", "tiger", "pencil", "garden", "window", "candle",
    "bridge", "forest", "island", "mountain", "ocean", "planet", "rocket", "silver",
    "winter", "summer", "autumn", "spring", "doctor", "farmer", "pilot", "artist",
    "baker", "sailor", "singer", "teacher", "writer", "hammer", "ladder", "needle",
    "pocket", "ribbon", "saddle", "tunnel", "wagon", "anchor", "barrel", "button",
    "carpet", "castle", "desert", "engine", "feather", "glove", "harbor", "jacket",
    "kitten", "lemon", "magnet", "napkin", "orchid", "parrot", "puzzle", "rabbit",
    "salmon", "tomato", "violin", "walnut", "yogurt", "zebra", "acorn", "bucket",
    "camera", "dragon", "falcon", "guitar", "helmet", "insect", "jungle", "kernel",
    "lizard", "marble", "nickel", "oyster", "pepper", "quartz", "radish", "spider",
    "turnip", "velvet", "wallet", "meadow", "canyon", "valley", "lagoon", "glacier",
    "comet", "meteor", "galaxy", "cactus", "tulip", "daisy", "maple", "cedar", "willow",
    "cobalt", "amber", "ivory", "coral", "crimson", "scarlet", "violet", "indigo",
    "fast", "slow", "happy", "sad", "bright", "dark", "loud", "quiet", "warm", "cold",
    "early", "late", "heavy", "light", "rough", "smooth", "sharp", "soft", "sweet",
    "sour", "tall", "short", "wide", "narrow", "young", "old", "rich", "poor", "brave",
    "calm", "eager", "fancy", "gentle", "jolly", "kind", "lucky", "merry", "proud",
    "silly", "witty", "zesty", "north", "south", "east", "west", "alpha", "beta", "gamma",
    "delta", "omega", "sigma", "theta", "yes", "no", "maybe", "true", "false", "high",
    "low", "good", "bad", "plus", "minus", "open", "closed", "hot", "mild", "spicy",
    "ready", "done", "waiting", "urgent", "normal", "minor", "major", "first", "second",
    "third", "left", "right", "up", "down", "inside", "outside", "near", "far",
    "order", "ticket", "message", "team", "issue", "question", "problem", "request",
    "payment", "account", "delivery", "refund", "billing", "technical", "cancellation",
    "shipping", "login", "return", "support", "product", "price", "device", "app",
    "website", "email", "phone", "address", "card", "bank", "box", "store", "week",
    "today", "yesterday", "again", "still", "never", "always", "soon", "now",
    # the ticket cue words: seen as words, never with their intents
    "invoice", "charge", "password", "username", "parcel", "courier", "receipt", "voucher",
    "screen", "battery", "subscription", "membership",
)  # fmt: skip
#: words the in-context episodes never use as *labels* (the demo intents, probe labels)
HELD_OUT_LABELS = (*INTENTS, "alpha", "beta", "gamma", "delta", "omega", "sigma")
#: field names of the in-context episodes: "{input field}: ...\n{label field}: label"
INPUT_FIELDS = (
    "Ticket", "Message", "Note", "Review", "Email", "Request", "Text", "Comment", "Query",
    "Report", "Post", "Letter", "Memo", "Input", "Sentence", "Case", "Entry", "Item",
    "Line", "Record", "Story", "Tweet", "Question", "Complaint", "Feedback", "Chat",
    "Log", "Title", "Headline", "Snippet",
)  # fmt: skip
LABEL_FIELDS = (
    "Intent", "Label", "Category", "Class", "Topic", "Type", "Tag", "Answer", "Output",
    "Result", "Group", "Kind", "Team", "Queue", "Mood", "Tone", "Status", "Priority",
    "Area", "Bucket", "Verdict", "Reason", "Department", "Sentiment", "Code", "Genre",
    "Target", "Decision", "Route", "Level",
)  # fmt: skip

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


def _pseudo_word(rng: random.Random, syllables: int) -> str:
    parts = [rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables)]
    return ("".join(parts) + rng.choice(("", "n", "r", "x", "l"))).capitalize()


@dataclass(frozen=True)
class Item:
    """A fictional catalog item and its facts."""

    name: str
    facts: tuple[tuple[str, str], ...]

    def fact(self, attribute: str) -> str:
        """The value of one attribute."""
        return dict(self.facts)[attribute]

    def sheet(self) -> str:
        """The item's fact sheet: one `name attribute: value` line per fact."""
        return "\n".join(f"{self.name} {key}: {value}" for key, value in self.facts)

    def question(self, attribute: str) -> str:
        """The question about one attribute, in the fact-sheet line's own words."""
        return f"{self.name} {attribute}:"


@dataclass(frozen=True)
class Ticket:
    """A support ticket with its intent and house-style summary."""

    text: str
    intent: str
    cue: str
    order: str

    @property
    def summary(self) -> str:
        """The one-line house-style summary (the generation suite's reference)."""
        return f"{INTENT_SUMMARY[self.intent]}: {self.cue} on order {self.order}"


class World:
    """A seeded world: makers, places, known and new catalog items, ticket writer."""

    def __init__(self, seed: int = 0, n_known: int = 200, n_new: int = 240) -> None:
        self.seed = seed
        self.n_known = n_known
        self.n_new = n_new

    @cached_property
    def makers(self) -> tuple[str, ...]:
        """Fictional companies (single pseudo-words, seen in pre-training)."""
        return self._distinct_words(random.Random(f"{self.seed}:makers"), 24, 2, set())

    @cached_property
    def places(self) -> tuple[str, ...]:
        """Fictional towns (the `origin` attribute)."""
        rng = random.Random(f"{self.seed}:places")
        return self._distinct_words(rng, 24, 3, set(self.makers))

    @cached_property
    def known_items(self) -> tuple[Item, ...]:
        """Items whose facts the pre-training corpus teaches."""
        return self._items(random.Random(f"{self.seed}:known"), self.n_known, set())

    @cached_property
    def new_items(self) -> tuple[Item, ...]:
        """Items that never appear in pre-training (the knowledge suite's subject)."""
        taken = {item.name for item in self.known_items}
        return self._items(random.Random(f"{self.seed}:new"), self.n_new, taken)

    @cached_property
    def reserved_names(self) -> frozenset[str]:
        """Names pre-training must not use for throwaway entities."""
        return frozenset(item.name for item in (*self.known_items, *self.new_items))

    def values(self, attribute: str) -> tuple[str, ...]:
        """The possible values of an attribute."""
        return {
            "maker": self.makers,
            "colour": COLOURS,
            "material": MATERIALS,
            "price": PRICES,
            "origin": self.places,
        }[attribute]

    def random_item(self, rng: random.Random) -> Item:
        """A throwaway item (for reading episodes) that is neither known nor new."""
        while True:
            item = self._item(rng)
            if item.name not in self.reserved_names:
                return item

    def ticket(self, rng: random.Random, intent: str | None = None) -> Ticket:
        """A support ticket; the intent is drawn uniformly unless given."""
        intent = intent or rng.choice(tuple(INTENTS))
        cue = rng.choice(INTENTS[intent])
        order = str(rng.randint(100, 999))
        text = rng.choice(TICKET_SHAPES).format(
            opener=rng.choice(OPENERS),
            cue=cue,
            problem=rng.choice(PROBLEMS),
            order=order,
            closer=rng.choice(CLOSERS),
        )
        return Ticket(text, intent, cue, order)

    def sentence(self, rng: random.Random, cue: str) -> str:
        """A ticket-shaped sentence around `cue`, for in-context episodes."""
        return rng.choice(TICKET_SHAPES).format(
            opener=rng.choice(OPENERS),
            cue=cue,
            problem=rng.choice(PROBLEMS),
            order=rng.randint(100, 999),
            closer=rng.choice(CLOSERS),
        )

    # ----------------------------------------------------------------- internals

    def _distinct_words(
        self, rng: random.Random, n: int, syllables: int, taken: set[str]
    ) -> tuple[str, ...]:
        words: list[str] = []
        while len(words) < n:
            word = _pseudo_word(rng, syllables)
            if word not in taken:
                taken.add(word)
                words.append(word)
        return tuple(words)

    def _item(self, rng: random.Random) -> Item:
        name = f"{_pseudo_word(rng, rng.choice((2, 3)))} {rng.choice(KINDS)}"
        facts = tuple((key, rng.choice(self.values(key))) for key in ATTRIBUTES)
        return Item(name, facts)

    def _items(self, rng: random.Random, n: int, taken: set[str]) -> tuple[Item, ...]:
        items: list[Item] = []
        names = set(taken) | set(self.makers) | set(self.places)
        while len(items) < n:
            item = self._item(rng)
            if item.name not in names:
                names.add(item.name)
                items.append(item)
        return tuple(items)
