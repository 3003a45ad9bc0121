"""Zero-shot and few-shot prompt construction (plugins/prompting.py).

Prompting strategies never call the model, so the predictors here wrap a placeholder
object: `Predictor(model)` only stores it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from harness_plugins.prompting import FewShot, FewShotPredictor, FewShotSettings, ZeroShot

from harness import AdaptContext, Example, Predictor, Suite
from harness.embeddings import DEFAULT_EMBEDDER, resolve_embedder
from harness.suites import load_suite
from tests.suite_factory import write_suite

#: stands in for the language model: building prompts never touches it
MODEL: Any = object()
SEP = "\n###\n"


def rows(prefix: str, inputs: Sequence[str]) -> list[dict[str, Any]]:
    labels = ("negative", "positive")
    return [
        {"id": f"{prefix}-{i}", "input": text, "target": labels[i % 2]}
        for i, text in enumerate(inputs)
    ]


def make_suite(
    root: Path,
    *,
    name: str = "toy",
    train: Sequence[str] | None,
    test: Sequence[str],
    validation: Sequence[str] | None = None,
) -> Suite:
    path = write_suite(
        root,
        name=name,
        train=None if train is None else rows("train", train),
        validation=None if validation is None else rows("val", validation),
        test=rows("test", test),
        yaml_overrides={"prompt": {"template": "Q: {input}\nA:", "answer_prefix": " => "}},
    )
    return load_suite(path)


def context(suite: Suite, tmp_path: Path, seed: int = 0) -> AdaptContext:
    def no_model() -> Any:
        raise AssertionError("a prompting strategy loaded the model")

    return AdaptContext(
        model_name="placeholder",
        targets=(suite,),
        seed=seed,
        work_dir=tmp_path,
        load_model=no_model,
        upstream=Predictor(MODEL),
    )


def few_shot(suite: Suite, tmp_path: Path, seed: int = 0, **settings: Any) -> Predictor:
    values = FewShotSettings(**{"separator": SEP, **settings})
    values.validate()
    return FewShot(values).adapt(context(suite, tmp_path, seed))


def demonstration(suite: Suite, example: Example) -> str:
    return suite.render(example) + suite.answer(example.references[0])


def split_prompt(suite: Suite, prompt: str, example: Example) -> list[str]:
    """The demonstrations of a few-shot prompt, after checking the test prompt ends it."""
    parts = prompt.split(SEP)
    assert parts[-1] == suite.render(example), prompt
    return parts[:-1]


@pytest.fixture
def topics(tmp_path: Path) -> Suite:
    train = [f"train sentence {i} about apples" for i in range(12)]
    test = [f"held-out question {i} about pears" for i in range(5)]
    validation = [f"validation line {i} about plums" for i in range(3)]
    return make_suite(tmp_path, train=train, test=test, validation=validation)


def test_zero_shot_returns_the_upstream_predictor(topics: Suite, tmp_path: Path) -> None:
    upstream = Predictor(MODEL)
    predictor = ZeroShot().adapt(replace(context(topics, tmp_path), upstream=upstream))
    assert predictor is upstream
    assert predictor.prompts(topics, topics.test) == [topics.render(e) for e in topics.test]


def test_few_shot_prompt_is_demonstrations_then_the_test_prompt(tmp_path: Path) -> None:
    suite = make_suite(tmp_path, train=["the only solved one"], test=["the question"])
    (prompt,) = few_shot(suite, tmp_path, k=1).prompts(suite, suite.test)
    assert prompt == "Q: the only solved one\nA: => negative" + SEP + "Q: the question\nA:"


def test_few_shot_uses_k_distinct_train_demonstrations(topics: Suite, tmp_path: Path) -> None:
    predictor = few_shot(topics, tmp_path, k=3)
    train_demos = {demonstration(topics, e) for e in topics.train}
    for example, prompt in zip(topics.test, predictor.prompts(topics, topics.test), strict=True):
        demos = split_prompt(topics, prompt, example)
        assert len(demos) == 3
        assert len(set(demos)) == 3
        assert set(demos) <= train_demos
        assert predictor.prompt(topics, example) == prompt
    assert predictor.model is MODEL


@pytest.mark.parametrize("k", [5, 50])
def test_demonstrations_never_come_from_test_or_validation(
    topics: Suite, tmp_path: Path, k: int
) -> None:
    held_out = [e.input for e in (*topics.test, *topics.validation)]
    for prompt, example in zip(
        few_shot(topics, tmp_path, k=k).prompts(topics, topics.test), topics.test, strict=True
    ):
        text = SEP.join(split_prompt(topics, prompt, example))
        assert not [h for h in held_out if h in text], text
        assert "apples" in text


def test_k_beyond_the_train_split_uses_all_of_it(topics: Suite, tmp_path: Path) -> None:
    train_demos = sorted(demonstration(topics, e) for e in topics.train)
    for prompt, example in zip(
        few_shot(topics, tmp_path, k=100).prompts(topics, topics.test), topics.test, strict=True
    ):
        assert sorted(split_prompt(topics, prompt, example)) == train_demos


def test_random_selection_is_seeded_and_independent_of_batching(
    topics: Suite, tmp_path: Path
) -> None:
    test = list(topics.test)
    expected = few_shot(topics, tmp_path, seed=7, k=3).prompts(topics, test)
    again = few_shot(topics, tmp_path, seed=7, k=3)
    assert again.prompts(topics, test) == expected
    assert again.prompts(topics, test[::-1]) == expected[::-1]
    assert [again.prompts(topics, [e])[0] for e in test] == expected
    assert again.prompts(topics, test[1:3]) == expected[1:3]
    # the default (random) selection differs between seeds
    other = few_shot(topics, tmp_path, seed=8, k=3).prompts(topics, test)
    assert other != expected
    for prompt, example in zip(other, test, strict=True):
        assert len(split_prompt(topics, prompt, example)) == 3


def test_suite_without_train_split_is_refused_by_name(tmp_path: Path) -> None:
    suite = make_suite(tmp_path, name="no-train", train=None, test=["q"], validation=["v"])
    predictor = few_shot(suite, tmp_path)
    with pytest.raises(ValueError, match=r"'no-train'.*train split"):
        predictor.prompts(suite, suite.test)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"k": 0}, "k must be at least 1"),
        ({"k": -2}, "k must be at least 1"),
        ({"selection": "nearest"}, "selection must be 'random' or 'similar'"),
    ],
)
def test_settings_validation_rejects_bad_values(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FewShotSettings(**settings).validate()


def test_default_settings_are_valid() -> None:
    settings = FewShotSettings()
    settings.validate()
    assert (settings.k, settings.selection, settings.embedder) == (4, "random", DEFAULT_EMBEDDER)
    FewShotSettings(k=1, selection="similar").validate()


#: eight distinct topics; each test input paraphrases exactly one of them
SIMILAR_TRAIN = [
    "How long should I boil spaghetti so it stays al dente?",
    "Which tomato sauce goes best with pasta?",
    "Who scored the winning goal in the football final?",
    "Why did the stock market fall sharply on Monday?",
    "What causes a volcano to erupt?",
    "How do I tune a guitar to drop D?",
    "What is the best way to water tomato plants in summer?",
    "How do you train a puppy to sit?",
]
#: (test input, the train input it paraphrases)
SIMILAR_TEST = [
    ("For how many minutes do I cook spaghetti to keep it al dente?", SIMILAR_TRAIN[0]),
    ("Which striker netted the decisive goal in the cup final?", SIMILAR_TRAIN[2]),
    ("Why do volcanoes erupt?", SIMILAR_TRAIN[4]),
    ("How can I teach my young dog to sit on command?", SIMILAR_TRAIN[7]),
]


@pytest.mark.slow
def test_similar_selection_picks_the_closest_train_examples_last(tmp_path: Path) -> None:
    assert Path(resolve_embedder(DEFAULT_EMBEDDER)).is_dir()  # bundled, no download
    suite = make_suite(tmp_path, train=SIMILAR_TRAIN, test=[t for t, _ in SIMILAR_TEST])
    by_input = {e.input: e for e in suite.train}
    predictor = few_shot(suite, tmp_path, k=3, selection="similar")
    # shuffled order, one example alone: the choice depends on the example only
    order = [2, 0, 3, 1]
    prompts = predictor.prompts(suite, [suite.test[i] for i in order])
    assert predictor.prompts(suite, [suite.test[2]]) == [prompts[0]]
    for i, prompt in zip(order, prompts, strict=True):
        example = suite.test[i]
        demos = split_prompt(suite, prompt, example)
        assert len(demos) == 3
        assert demos[-1] == demonstration(suite, by_input[SIMILAR_TEST[i][1]]), prompt
        assert example.input not in prompt.rsplit(SEP, 1)[0]
    # the spaghetti question: the other pasta question is the second closest, before it
    spaghetti = split_prompt(suite, prompts[1], suite.test[0])
    assert spaghetti[-2:] == [
        demonstration(suite, by_input[SIMILAR_TRAIN[1]]),
        demonstration(suite, by_input[SIMILAR_TRAIN[0]]),
    ]
    # the seed plays no part in similarity selection
    reseeded = few_shot(suite, tmp_path, seed=99, k=3, selection="similar")
    assert reseeded.prompts(suite, [suite.test[i] for i in order]) == prompts


def test_few_shot_builds_on_the_upstream_prompt(topics: Suite, tmp_path: Path) -> None:
    class Hinted(Predictor):
        """An upstream strategy's predictor that rewrites the test prompt."""

        def prompt(self, suite: Suite, example: Example) -> str:
            return "HINT\n" + suite.render(example)

    ctx = replace(context(topics, tmp_path), upstream=Hinted(MODEL))
    predictor = FewShot(FewShotSettings(k=2, separator=SEP)).adapt(ctx)
    assert isinstance(predictor, FewShotPredictor)
    for example, prompt in zip(topics.test, predictor.prompts(topics, topics.test), strict=True):
        *demos, last = prompt.split(SEP)
        assert last == "HINT\n" + topics.render(example)
        assert len(demos) == 2


@pytest.mark.parametrize(
    "selection",
    [
        "random",
        pytest.param("similar", marks=pytest.mark.slow),
    ],
)
def test_an_empty_batch_gives_no_prompts(topics: Suite, tmp_path: Path, selection: str) -> None:
    assert few_shot(topics, tmp_path, selection=selection).prompts(topics, []) == []
