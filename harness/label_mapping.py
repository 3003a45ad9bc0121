"""Mapping generated text to one of a fixed set of labels.

Used to score classification and multiple choice on backends without log-likelihoods.
Three steps, the first that decides wins: the exact label (or its answer text); the
same after normalising (case, surrounding punctuation, runs of whitespace); an
unambiguous prefix (the text starts with a label at a word boundary, the longest one if
several, and names no other label after it; or the text is the beginning of exactly
one label). Anything else maps to nothing, and counts wrong.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_SPACE = re.compile(r"\s+")
_EDGE_PUNCTUATION = " \t\n\r.,;:!?\"'`()[]{}*_-"


def normalise(text: str) -> str:
    """Lower case, NFKC, inner whitespace collapsed, punctuation at the ends removed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", text).strip(_EDGE_PUNCTUATION)


def map_to_label(
    text: str, labels: Sequence[str], answers: Sequence[str] | None = None
) -> str | None:
    """The label `text` names, or None when it names none or several.

    `answers[i]` is how label i is written after the prompt (the suite's answer
    template); it counts as the label too.
    """
    forms = [(label, {label, *([answers[i]] if answers else [])}) for i, label in enumerate(labels)]
    stripped = text.strip()
    exact = [label for label, names in forms if stripped in {n.strip() for n in names}]
    if len(exact) == 1:
        return exact[0]
    said = normalise(text)
    if not said:
        return None
    normal = {label: {normalise(n) for n in names} - {""} for label, names in forms}
    same = [label for label, names in normal.items() if said in names]
    if len(same) == 1:
        return same[0]
    starts = [
        label
        for label, names in normal.items()
        if any(
            said.startswith(n) and not said[len(n)].isalnum() for n in names if len(said) > len(n)
        )
    ]
    if starts:
        # "not good" vs "not": the longest label the text starts with
        longest = max(max(len(n) for n in normal[label] if said.startswith(n)) for label in starts)
        best = [
            label
            for label in starts
            if any(len(n) == longest and said.startswith(n) for n in normal[label])
        ]
        if len(best) != 1:
            return None
        chosen = said[:longest]
        # unambiguous only when no other label is named later ("blue-green")
        rest = said[longest:]
        others = [
            n
            for label, names in normal.items()
            if label != best[0]
            for n in names
            if n not in chosen
        ]
        named = any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", rest) for n in others)
        return None if named else best[0]
    begins = [label for label, names in normal.items() if any(n.startswith(said) for n in names)]
    return begins[0] if len(begins) == 1 else None
