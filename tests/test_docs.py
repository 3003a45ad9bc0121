"""docs/plugins.md stays in sync with the code it documents."""

from __future__ import annotations

from pathlib import Path

from harness import _reference

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def test_the_generated_reference_matches_the_code() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert _reference.BEGIN in text and _reference.END in text
    section = text.split(_reference.BEGIN + "\n", 1)[1].split(_reference.END, 1)[0]
    assert section == _reference.render(), "run: python -m harness._reference docs/plugins.md"


def test_every_public_name_documented_exists_and_has_a_docstring() -> None:
    for _, names in _reference.API:
        for dotted in names:
            assert _reference._doc(_reference._resolve(dotted)), f"{dotted} has no docstring"
