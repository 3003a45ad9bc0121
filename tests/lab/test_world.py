"""The demo lab's world and suites: deterministic, disjoint, loadable, committed as built."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.lab.corpus import EPISODES, episodes, sample_corpus
from harness.lab.suites import SUITE_NAMES, build_suites, default_suites_dir
from harness.lab.world import INTENTS, World
from harness.metrics import BUILTIN_METRICS
from harness.suites import load_suite

KNOWN_METRICS = {m.name: m for m in BUILTIN_METRICS}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("suites")
    build_suites(out, seed=0)
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for name in SUITE_NAMES
        for p in sorted((root / name).rglob("*"))
        if p.is_file()
    }


def test_committed_suites_regenerate_byte_identically(built: Path) -> None:
    committed = default_suites_dir()
    if not (committed / SUITE_NAMES[0] / "suite.yaml").is_file():
        pytest.skip("demo suites are not in this checkout")
    assert _files(built) == _files(committed)


def test_the_world_is_a_function_of_its_seed() -> None:
    a, b, other = World(0), World(0), World(1)
    assert a.known_items == b.known_items and a.new_items == b.new_items
    assert a.known_items != other.known_items
    assert sample_corpus(a, 0, 50) == sample_corpus(b, 0, 50)


def test_new_items_are_never_in_pretraining() -> None:
    world = World(0)
    new = {item.name for item in world.new_items}
    assert not new & {item.name for item in world.known_items}
    rng = random.Random(0)
    stream = episodes(world, rng, {kind: 1.0 for kind in EPISODES})
    text = "\n".join(next(stream) for _ in range(3000))
    assert not [name for name in new if f"{name} " in text]


def test_intents_are_never_labels_of_in_context_episodes() -> None:
    world = World(0)
    stream = episodes(world, random.Random(1), {"in_context": 1.0})
    labels = {
        line.split(": ", 1)[1]
        for _ in range(2000)
        for shot in next(stream).split("\n\n")
        for line in shot.split("\n")[1:]
    }
    assert len(labels) > 50
    assert not labels & set(INTENTS)


def test_every_suite_loads_with_disjoint_splits(built: Path) -> None:
    for name in SUITE_NAMES:
        suite = load_suite(built / name / "suite.yaml", KNOWN_METRICS)
        assert len(suite.test) >= 200
        assert len(suite.validation) >= 100
        inputs = {split: {e.input for e in suite.split(split)} for split in ("train", "test")}
        assert not inputs["train"] & inputs["test"], name


def test_knowledge_suite_points_at_its_documents(built: Path) -> None:
    suite = load_suite(built / "demo-catalog-qa" / "suite.yaml", KNOWN_METRICS)
    documents = {d.id: d for d in suite.documents()}
    for example in suite.test:
        (gold,) = example.gold_documents
        assert example.references[0] in documents[gold].text
        assert example.input in documents[gold].text
    train_items = {e.gold_documents[0] for e in suite.train}
    assert not train_items & {e.gold_documents[0] for e in suite.test}


def test_classification_suite_covers_every_intent(built: Path) -> None:
    suite = load_suite(built / "demo-tickets-intent" / "suite.yaml", KNOWN_METRICS)
    assert suite.spec.label_set == tuple(INTENTS)
    assert {e.references[0] for e in suite.test} == set(INTENTS)
