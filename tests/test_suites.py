"""Suites: valid ones load and render as documented; bad ones say where and how to fix."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import EllipsisType
from typing import Any

import pytest

from harness.cli import main
from harness.errors import InputError, Problem
from harness.plugin_manager import load_plugins
from harness.suites import Document, Suite, load_suite, read_suite_spec
from tests.suite_factory import DROP, default_records, line_of, write_jsonl, write_suite


@pytest.fixture(scope="module")
def metrics() -> dict[str, Any]:
    """The real built-in metrics, as `load_suite` receives them from the runner."""
    return load_plugins().metrics.as_dict()


def load(path: Path, metrics: Mapping[str, Any]) -> Suite:
    return load_suite(path, metrics)


def problems_of(path: Path, metrics: Mapping[str, Any] | None) -> list[Problem]:
    with pytest.raises(InputError) as caught:
        load_suite(path, metrics)
    problems = caught.value.problems
    assert problems, "InputError without problems"
    for problem in problems:
        assert problem.fix.strip(), f"problem without a fix: {problem}"
        assert problem.message.strip(), f"problem without a message: {problem}"
    return problems


def find(
    problems: list[Problem],
    *,
    file: Path,
    field: str,
    line: int | EllipsisType | None = ...,
    message: str = "",
) -> Problem:
    """The one problem about `field` of `file`; `line=...` leaves the line unchecked."""
    matches = [
        p
        for p in problems
        if Path(p.file).resolve() == file.resolve()
        and p.field == field
        and message in p.message
        and (line is ... or p.line == line)
    ]
    where = f"{file}:{'?' if line is ... else line}"
    assert len(matches) == 1, f"no single {field!r} problem at {where}: {problems}"
    return matches[0]


def data_file(suite_yaml: Path, split: str) -> Path:
    return suite_yaml.parent / "data" / f"{split}.jsonl"


# -- valid suites --------------------------------------------------------------------


def test_classification_with_label_list(tmp_path: Path, metrics: dict[str, Any]) -> None:
    suite = load(write_suite(tmp_path), metrics)
    assert (suite.name, suite.version, suite.task, suite.role) == (
        "toy",
        "1",
        "classification",
        "target",
    )
    assert [len(suite.train), len(suite.validation), len(suite.test)] == [8, 4, 4]
    first = suite.test[0]
    assert first.id == "test-0"
    assert first.input == "test text number 0"
    assert first.references == ("negative",)
    assert suite.test[1].references == ("positive",)
    assert first.choices == ()
    assert suite.candidates(first) == ("negative", "positive")
    assert suite.answer("positive") == " positive"
    assert suite.render(first) == "Text: test text number 0\nAnswer:"


def test_classification_maps_raw_values_to_label_texts(
    tmp_path: Path, metrics: dict[str, Any]
) -> None:
    rows = [{"id": f"r{i}", "input": f"review {i}", "target": i % 2} for i in range(4)]
    path = write_suite(
        tmp_path,
        train=None,
        validation=None,
        test=rows,
        yaml_overrides={"labels": {0: "negative", 1: "positive"}},
    )
    suite = load(path, metrics)
    assert [e.references for e in suite.test] == [("negative",), ("positive",)] * 2
    assert suite.candidates(suite.test[0]) == ("negative", "positive")


def test_multiple_choice_with_index_targets(tmp_path: Path, metrics: dict[str, Any]) -> None:
    suite = load(write_suite(tmp_path, task="multiple-choice"), metrics)
    example = suite.test[2]
    assert example.choices == ("red", "green", "blue")
    assert example.references == ("blue",)
    assert suite.candidates(example) == ("red", "green", "blue")
    assert suite.render(example) == "Question: test text number 2\nred\ngreen\nblue\nAnswer:"
    assert suite.answer("blue") == " blue"


def test_multiple_choice_with_text_targets(tmp_path: Path, metrics: dict[str, Any]) -> None:
    rows = [
        {"id": "a", "input": "sky?", "choices": ["green", "blue"], "target": "blue"},
        {"id": "b", "input": "grass?", "choices": ["green", "blue", "red"], "target": "green"},
    ]
    suite = load(write_suite(tmp_path, task="multiple-choice", test=rows), metrics)
    assert [e.references for e in suite.test] == [("blue",), ("green",)]
    # candidates are each record's own choices, not a suite-wide label set
    assert suite.candidates(suite.test[1]) == ("green", "blue", "red")


def test_generation_with_one_or_several_references(tmp_path: Path, metrics: dict[str, Any]) -> None:
    rows = [
        {"id": "one", "input": "capital of France?", "target": "Paris"},
        {"id": "many", "input": "a colour?", "target": ["red", "blue"]},
    ]
    suite = load(write_suite(tmp_path, task="generation", test=rows), metrics)
    assert [e.references for e in suite.test] == [("Paris",), ("red", "blue")]


def test_a_split_left_out_is_empty_and_unknown_split_names_are_refused(
    tmp_path: Path, metrics: dict[str, Any]
) -> None:
    suite = load(write_suite(tmp_path, validation=None), metrics)
    assert suite.validation == ()
    with pytest.raises(ValueError, match="unknown split"):
        suite.split("dev")


def test_render_fills_extra_record_fields(tmp_path: Path, metrics: dict[str, Any]) -> None:
    rows = [dict(r, topic=f"topic {i}") for i, r in enumerate(default_records("generation", "t"))]
    path = write_suite(
        tmp_path,
        task="generation",
        train=rows,
        validation=None,
        test=[dict(r, topic="sport") for r in default_records("generation", "test")],
        yaml_overrides={"prompt": {"template": "[{topic}] {input} ->"}},
    )
    suite = load(path, metrics)
    assert suite.render(suite.test[0]) == "[sport] test text number 0 ->"
    assert suite.render(suite.train[1]) == "[topic 1] t text number 1 ->"


def test_render_with_a_context_slot(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(
        tmp_path,
        task="generation",
        yaml_overrides={"prompt": {"template": "Context: {context}\nQ: {input}\nA:"}},
    )
    suite = load(path, metrics)
    example = suite.test[0]
    assert suite.render(example, "Paris is in France.") == (
        "Context: Paris is in France.\nQ: test text number 0\nA:"
    )
    assert suite.render(example) == "Context: \nQ: test text number 0\nA:"


def test_render_without_a_context_slot_prepends_the_context(
    tmp_path: Path, metrics: dict[str, Any]
) -> None:
    suite = load(write_suite(tmp_path, task="generation"), metrics)
    example = suite.test[0]
    plain = suite.render(example)
    assert plain == "Text: test text number 0\nAnswer:"
    assert suite.render(example, "Some passage.") == "Some passage.\n\n" + plain


def test_answer_prefix_is_configurable(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path, yaml_overrides={"prompt": {"answer_prefix": "\n"}})
    assert load(path, metrics).answer("positive") == "\npositive"


def test_documents_of_a_knowledge_corpus(tmp_path: Path, metrics: dict[str, Any]) -> None:
    docs = [
        {"id": "d1", "text": "Paris is the capital of France.", "title": "Paris"},
        {"id": 2, "text": "Berlin is in Germany."},
    ]
    suite = load(write_suite(tmp_path, task="generation", documents=docs), metrics)
    assert suite.documents() == (
        Document("d1", "Paris is the capital of France.", "Paris"),
        Document("2", "Berlin is in Germany.", ""),
    )
    no_corpus = load(write_suite(tmp_path, name="plain", task="generation"), metrics)
    assert no_corpus.documents() == ()


def test_read_suite_spec_reads_only_the_yaml(tmp_path: Path) -> None:
    path = write_suite(tmp_path, yaml_overrides={"version": 3})
    data_file(path, "test").unlink()  # data is not read, so its absence is not noticed
    spec = read_suite_spec(path)
    assert (spec.name, spec.version, spec.task) == ("toy", "3", "classification")


# -- field mapping ------------------------------------------------------------------


def test_fields_map_other_key_names_and_nested_keys(
    tmp_path: Path, metrics: dict[str, Any]
) -> None:
    rows = [
        {"qid": "q1", "question": "Who wrote Hamlet?", "answers": {"text": ["Shakespeare"]}},
        {"qid": "q2", "question": "2+2?", "answers": {"text": ["4", "four"]}},
    ]
    path = write_suite(
        tmp_path,
        task="generation",
        train=None,
        validation=None,
        test=rows,
        yaml_overrides={"fields": {"id": "qid", "input": "question", "target": "answers.text"}},
    )
    before = data_file(path, "test").read_bytes()
    suite = load(path, metrics)
    assert [(e.id, e.input, e.references) for e in suite.test] == [
        ("q1", "Who wrote Hamlet?", ("Shakespeare",)),
        ("q2", "2+2?", ("4", "four")),
    ]
    assert suite.test[0].record == rows[0]  # the original record, for templates
    assert data_file(path, "test").read_bytes() == before  # the user's file is untouched


def test_id_defaults_to_split_and_line_number(tmp_path: Path, metrics: dict[str, Any]) -> None:
    text = (
        '{"input": "a", "target": "x"}\n'
        "\n"  # blank lines are skipped but still counted
        '{"input": "b", "target": "y"}\n'
    )
    path = write_suite(
        tmp_path, task="generation", train=text, validation=None, test=text.replace('"a"', '"c"')
    )
    suite = load(path, metrics)
    assert [e.id for e in suite.train] == ["train:1", "train:3"]
    assert [e.id for e in suite.test] == ["test:1", "test:3"]


def test_mapped_choices_and_gold_documents(tmp_path: Path, metrics: dict[str, Any]) -> None:
    rows = [
        {"id": "1", "q": "sky?", "opts": ["green", "blue"], "ans": 1, "meta": {"docs": ["d1"]}},
    ]
    path = write_suite(
        tmp_path,
        task="multiple-choice",
        train=None,
        validation=None,
        test=rows,
        documents=[{"id": "d1", "text": "The sky is blue."}],
        yaml_overrides={
            "fields": {
                "input": "q",
                "choices": "opts",
                "target": "ans",
                "gold_documents": "meta.docs",
            }
        },
    )
    example = load(path, metrics).test[0]
    assert (example.choices, example.references, example.gold_documents) == (
        ("green", "blue"),
        ("blue",),
        ("d1",),
    )


# -- bad input: the suite file --------------------------------------------------------


def test_invalid_yaml_syntax(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path)
    path.write_text(path.read_text().replace("role: target", "role: target: oops"))
    problem = find(
        problems_of(path, metrics),
        file=path,
        field="",
        line=line_of(path, "role: target: oops"),
    )
    assert "invalid YAML" in problem.message


@pytest.mark.parametrize("text", ["- a\n- list\n", "just text\n", ""])
def test_yaml_that_is_not_a_mapping(tmp_path: Path, metrics: dict[str, Any], text: str) -> None:
    path = write_suite(tmp_path)
    path.write_text(text)
    problem = find(problems_of(path, metrics), file=path, field="", line=1)
    assert "mapping" in problem.message


def test_missing_required_field(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path, yaml_overrides={"primary_metric": DROP})
    find(problems_of(path, metrics), file=path, field="primary_metric", message="missing")


def test_missing_test_split_points_at_splits(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path, test=None)
    find(
        problems_of(path, metrics),
        file=path,
        field="splits.test",
        line=line_of(path, "splits:"),
        message="missing",
    )


def test_unknown_field_is_a_typo_with_its_line(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(
        tmp_path, yaml_overrides={"primary_metric": DROP, "primary_metrc": "accuracy"}
    )
    problems = problems_of(path, metrics)
    problem = find(problems, file=path, field="primary_metrc", line=line_of(path, "primary_metrc:"))
    assert "unknown field" in problem.message
    assert "spelling" in problem.fix
    find(problems, file=path, field="primary_metric", message="missing")


def test_unknown_nested_field(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path, yaml_overrides={"prompt": {"templat": "x"}})
    find(
        problems_of(path, metrics),
        file=path,
        field="prompt.templat",
        line=line_of(path, "templat:"),
        message="unknown field",
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [("task", "classify"), ("role", "training"), ("name", "Not A Name"), ("metrics", [])],
)
def test_bad_values_in_the_suite_file(
    tmp_path: Path, metrics: dict[str, Any], key: str, value: Any
) -> None:
    path = write_suite(tmp_path, yaml_overrides={key: value})
    find(problems_of(path, metrics), file=path, field=key, line=line_of(path, f"{key}:"))


@pytest.mark.parametrize("where", ["../outside.jsonl", "absolute"])
def test_data_path_outside_the_suite_folder(
    tmp_path: Path, metrics: dict[str, Any], where: str
) -> None:
    # the file exists, so only its place can be the problem
    outside = write_jsonl(tmp_path / "outside.jsonl", default_records("classification", "x"))
    relative = str(outside) if where == "absolute" else where
    path = write_suite(tmp_path, yaml_overrides={"splits": {"test": relative}})
    problem = find(
        problems_of(path, metrics),
        file=path,
        field="splits.test",
        line=line_of(path, f"test: {relative}"),
    )
    assert "outside" in problem.message


def test_missing_data_file(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path, yaml_overrides={"splits": {"train": "data/trian.jsonl"}})
    problem = find(
        problems_of(path, metrics),
        file=path,
        field="splits.train",
        line=line_of(path, "train: data/trian.jsonl"),
    )
    assert "not found" in problem.message


def test_missing_documents_file(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path, yaml_overrides={"knowledge": {"documents": "docs.jsonl"}})
    find(
        problems_of(path, metrics),
        file=path,
        field="knowledge.documents",
        line=line_of(path, "documents: docs.jsonl"),
    )


def test_primary_metric_not_in_metrics(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path, yaml_overrides={"metrics": ["accuracy"], "primary_metric": "f1"})
    problem = find(
        problems_of(path, metrics),
        file=path,
        field="primary_metric",
        line=line_of(path, "primary_metric:"),
    )
    assert "accuracy" in problem.fix


def test_unknown_metric_name(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path, yaml_overrides={"metrics": ["accuracy", "acuracy"]})
    problem = find(
        problems_of(path, metrics),
        file=path,
        field="metrics[1]",
        line=line_of(path, "- acuracy"),
        message="unknown metric",
    )
    assert "accuracy" in problem.fix


def test_unknown_metric_names_are_not_checked_without_known_metrics(tmp_path: Path) -> None:
    path = write_suite(tmp_path, yaml_overrides={"metrics": ["accuracy", "my_metric"]})
    assert load_suite(path).spec.metrics == ("accuracy", "my_metric")


def test_metric_that_does_not_apply_to_the_task(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path, yaml_overrides={"metrics": ["accuracy", "rougeL"]})
    problem = find(
        problems_of(path, metrics),
        file=path,
        field="metrics[1]",
        line=line_of(path, "- rougeL"),
        message="does not apply to classification",
    )
    assert "macro_f1" in problem.fix
    assert "rougeL" not in problem.fix


def test_template_slot_missing_from_records(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path, yaml_overrides={"prompt": {"template": "{topic}: {input}"}})
    problem = find(
        problems_of(path, metrics),
        file=path,
        field="prompt.template",
        line=line_of(path, "template:"),
    )
    assert "{topic}" in problem.message


@pytest.mark.parametrize("slot", ["{input.__class__}", "{input[0]}", "{0}", "{}"])
def test_template_slot_that_is_not_a_plain_name(
    tmp_path: Path, metrics: dict[str, Any], slot: str
) -> None:
    path = write_suite(tmp_path, yaml_overrides={"prompt": {"template": f"Q: {slot}"}})
    problem = find(
        problems_of(path, metrics),
        file=path,
        field="prompt.template",
        line=line_of(path, "template:"),
    )
    assert "plain name" in problem.message


def test_template_with_unbalanced_braces(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path, yaml_overrides={"prompt": {"template": "Q: {input"}})
    problem = find(problems_of(path, metrics), file=path, field="prompt.template")
    assert "{{" in problem.fix


def test_classification_needs_two_labels(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path, yaml_overrides={"labels": ["positive"]})
    find(
        problems_of(path, metrics),
        file=path,
        field="labels",
        line=line_of(path, "labels:"),
        message="at least 2 labels",
    )
    no_labels = write_suite(tmp_path, name="nolabels", yaml_overrides={"labels": DROP})
    find(problems_of(no_labels, metrics), file=no_labels, field="labels")


def test_repeated_labels_do_not_count_twice(tmp_path: Path, metrics: dict[str, Any]) -> None:
    rows = [{"id": i, "input": "x", "target": "positive"} for i in range(2)]
    path = write_suite(
        tmp_path,
        train=None,
        validation=None,
        test=rows,
        yaml_overrides={"labels": ["positive", "positive"]},
    )
    find(problems_of(path, metrics), file=path, field="labels")


# -- bad input: the data files ------------------------------------------------------


def test_invalid_json_line(tmp_path: Path, metrics: dict[str, Any]) -> None:
    lines = [json.dumps(r) for r in default_records("classification", "test")]
    lines[2] = '{"id": "test-2", "input": "oops", "target": '
    path = write_suite(tmp_path, test="\n".join(lines) + "\n")
    problem = find(problems_of(path, metrics), file=data_file(path, "test"), field="", line=3)
    assert "invalid JSON" in problem.message


def test_line_that_is_not_an_object(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path, test='["input", "target"]\n')
    find(problems_of(path, metrics), file=data_file(path, "test"), field="", line=1)


def test_record_missing_the_mapped_field(tmp_path: Path, metrics: dict[str, Any]) -> None:
    rows = [{"id": i, "text": "fine", "target": "positive"} for i in range(3)]
    del rows[1]["text"]
    path = write_suite(
        tmp_path,
        train=None,
        validation=None,
        test=rows,
        yaml_overrides={"fields": {"input": "text"}},
    )
    problem = find(problems_of(path, metrics), file=data_file(path, "test"), field="text", line=2)
    assert "no field 'text'" in problem.message
    assert "fields" in problem.fix


def test_record_missing_a_nested_field(tmp_path: Path, metrics: dict[str, Any]) -> None:
    rows = [
        {"input": "a", "answers": {"text": ["x"]}},
        {"input": "b", "answers": ["x"]},
    ]
    path = write_suite(
        tmp_path,
        task="generation",
        train=None,
        validation=None,
        test=rows,
        yaml_overrides={"fields": {"target": "answers.text"}},
    )
    find(problems_of(path, metrics), file=data_file(path, "test"), field="answers.text", line=2)


def test_input_that_is_not_text(tmp_path: Path, metrics: dict[str, Any]) -> None:
    rows = default_records("classification", "test")
    rows[3]["input"] = {"nested": "text"}
    path = write_suite(tmp_path, test=rows)
    find(problems_of(path, metrics), file=data_file(path, "test"), field="input", line=4)


def test_label_not_in_the_label_set(tmp_path: Path, metrics: dict[str, Any]) -> None:
    rows = default_records("classification", "train")
    rows[1]["target"] = "neutral"
    path = write_suite(tmp_path, train=rows)
    problem = find(
        problems_of(path, metrics), file=data_file(path, "train"), field="target", line=2
    )
    assert "'neutral'" in problem.message
    assert "negative" in problem.fix


def test_raw_label_not_in_the_label_mapping(tmp_path: Path, metrics: dict[str, Any]) -> None:
    rows = [{"id": i, "input": "x", "target": t} for i, t in enumerate([0, 1, 2])]
    path = write_suite(
        tmp_path,
        train=None,
        validation=None,
        test=rows,
        yaml_overrides={"labels": {0: "negative", 1: "positive"}},
    )
    find(problems_of(path, metrics), file=data_file(path, "test"), field="target", line=3)


def test_classification_target_must_be_one_label(tmp_path: Path, metrics: dict[str, Any]) -> None:
    rows = default_records("classification", "test")
    rows[0]["target"] = ["negative", "positive"]
    path = write_suite(tmp_path, test=rows)
    find(problems_of(path, metrics), file=data_file(path, "test"), field="target", line=1)


@pytest.mark.parametrize("target", [3, -1, "purple", True])
def test_multiple_choice_target_not_among_choices(
    tmp_path: Path, metrics: dict[str, Any], target: Any
) -> None:
    rows = default_records("multiple-choice", "test")
    rows[1]["target"] = target
    path = write_suite(tmp_path, task="multiple-choice", test=rows)
    find(problems_of(path, metrics), file=data_file(path, "test"), field="target", line=2)


def test_multiple_choice_needs_two_choices(tmp_path: Path, metrics: dict[str, Any]) -> None:
    rows = default_records("multiple-choice", "test")
    rows[0]["choices"] = ["red"]
    rows[0]["target"] = 0
    del rows[2]["choices"]
    path = write_suite(tmp_path, task="multiple-choice", test=rows)
    problems = problems_of(path, metrics)
    find(problems, file=data_file(path, "test"), field="choices", line=1)
    find(problems, file=data_file(path, "test"), field="choices", line=3)


def test_generation_target_must_be_text(tmp_path: Path, metrics: dict[str, Any]) -> None:
    rows = default_records("generation", "test")
    rows[2]["target"] = {"text": "x"}
    path = write_suite(tmp_path, task="generation", test=rows)
    find(problems_of(path, metrics), file=data_file(path, "test"), field="target", line=3)


def test_duplicate_ids_in_a_split(tmp_path: Path, metrics: dict[str, Any]) -> None:
    rows = default_records("classification", "test")
    rows[3]["id"] = rows[0]["id"]
    path = write_suite(tmp_path, test=rows)
    problem = find(problems_of(path, metrics), file=data_file(path, "test"), field="id", line=4)
    assert "duplicate id 'test-0'" in problem.message


def test_id_in_both_train_and_test_is_leakage(tmp_path: Path, metrics: dict[str, Any]) -> None:
    rows = default_records("classification", "test")
    rows[2]["id"] = "train-5"
    path = write_suite(tmp_path, test=rows)
    problem = find(problems_of(path, metrics), file=data_file(path, "test"), field="id")
    assert "'train-5'" in problem.message
    assert "train" in problem.message
    assert "test" in problem.message


def test_every_leak_between_splits_is_reported(tmp_path: Path, metrics: dict[str, Any]) -> None:
    train = [{"id": "a", "input": "x", "target": "y"}]
    validation = [
        {"id": "a", "input": "x", "target": "y"},
        {"id": "b", "input": "x", "target": "y"},
    ]
    test = [{"id": "b", "input": "x", "target": "y"}]
    path = write_suite(tmp_path, task="generation", train=train, validation=validation, test=test)
    problems = problems_of(path, metrics)
    find(problems, file=data_file(path, "validation"), field="id", message="'a'")
    find(problems, file=data_file(path, "test"), field="id", message="'b'")


@pytest.mark.parametrize("text", ["", "\n\n"])
def test_empty_test_split(tmp_path: Path, metrics: dict[str, Any], text: str) -> None:
    path = write_suite(tmp_path, test=text)
    problem = find(problems_of(path, metrics), file=data_file(path, "test"), field="splits.test")
    assert "no examples" in problem.message


def test_bad_document_in_the_corpus(tmp_path: Path, metrics: dict[str, Any]) -> None:
    docs = [{"id": "d1", "text": "fine"}, {"id": "d2", "text": "  "}, "not an object"]
    path = write_suite(tmp_path, task="generation", documents=docs)
    problems = problems_of(path, metrics)
    documents = path.parent / "data" / "documents.jsonl"
    find(problems, file=documents, field="text", line=2)
    find(problems, file=documents, field="", line=3)


def test_template_slot_missing_from_a_train_record(tmp_path: Path, metrics: dict[str, Any]) -> None:
    test = [dict(r, topic="t") for r in default_records("classification", "test")]
    train = [dict(r, topic="t") for r in default_records("classification", "train")]
    del train[2]["topic"]
    path = write_suite(
        tmp_path,
        train=train,
        validation=None,
        test=test,
        yaml_overrides={"prompt": {"template": "{topic}: {input}"}},
    )
    find(problems_of(path, metrics), file=path, field="prompt.template")


# -- every problem at once ---------------------------------------------------------


def test_schema_problems_are_all_reported_at_once(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(
        tmp_path,
        yaml_overrides={"task": "classify", "colour": "red", "primary_metric": DROP},
    )
    problems = problems_of(path, metrics)
    assert {p.field for p in problems} == {"task", "colour", "primary_metric"}


def test_suite_file_problems_are_all_reported_at_once(
    tmp_path: Path, metrics: dict[str, Any]
) -> None:
    path = write_suite(
        tmp_path,
        yaml_overrides={
            "metrics": ["accuracy", "bleu", "rougeL"],
            "primary_metric": "macro_f1",
            "labels": ["only"],
            "prompt": {"template": "{input.upper}"},
            "splits": {"train": "../train.jsonl", "validation": "data/missing.jsonl"},
        },
    )
    problems = problems_of(path, metrics)
    assert sorted(p.field for p in problems) == sorted(
        [
            "metrics[1]",
            "metrics[2]",
            "primary_metric",
            "labels",
            "prompt.template",
            "splits.train",
            "splits.validation",
        ]
    )
    assert all(Path(p.file) == path and p.line for p in problems)


def test_data_problems_in_several_files_are_all_reported_at_once(
    tmp_path: Path, metrics: dict[str, Any]
) -> None:
    train = default_records("classification", "train")
    train[0]["target"] = "maybe"
    test_lines = [json.dumps(r) for r in default_records("classification", "test")]
    test_lines[0] = "{not json"
    test_lines[2] = json.dumps({"id": "x", "target": "positive"})
    path = write_suite(tmp_path, train=train, test="\n".join(test_lines) + "\n")
    problems = problems_of(path, metrics)
    assert {(Path(p.file).name, p.line) for p in problems} == {
        ("train.jsonl", 1),
        ("test.jsonl", 1),
        ("test.jsonl", 3),
    }


def test_a_flood_of_bad_records_is_capped(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path, test="{broken\n" * 50)
    problems = problems_of(path, metrics)
    assert 20 <= len(problems) <= 22
    assert "more problems" in problems[-1].message


# -- content hash -------------------------------------------------------------------


def test_content_hash_follows_the_data(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path, documents=[{"id": "d", "text": "a document"}])
    first = load(path, metrics).content_hash
    assert len(first) == 64
    assert load(path, metrics).content_hash == first

    # files the suite does not name are not part of it
    (path.parent / "README.md").write_text("notes")
    write_jsonl(path.parent / "data" / "unused.jsonl", [{"input": "x"}])
    assert load(path, metrics).content_hash == first

    test_file = data_file(path, "test")
    original = test_file.read_text()
    test_file.write_text(original.replace("number 3", "number three"))
    changed = load(path, metrics).content_hash
    assert changed != first
    test_file.write_text(original)
    assert load(path, metrics).content_hash == first

    documents = path.parent / "data" / "documents.jsonl"
    documents.write_text(documents.read_text().replace("a document", "another"))
    assert load(path, metrics).content_hash not in (first, changed)


def test_content_hash_covers_the_suite_file(tmp_path: Path, metrics: dict[str, Any]) -> None:
    path = write_suite(tmp_path)
    first = load(path, metrics).content_hash
    path.write_text(path.read_text().replace("a toy", "a tiny"))
    assert load(path, metrics).content_hash != first


# -- the CLI ------------------------------------------------------------------------


def test_cli_validate_accepts_a_valid_suite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_suite(tmp_path)
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "ok" in out
    assert "toy" in out
    assert err == ""


def test_cli_validate_reports_a_broken_suite_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = default_records("classification", "test")
    rows[1]["target"] = "neutral"
    path = write_suite(tmp_path, test=rows, yaml_overrides={"metrics": ["accuracy", "rougeL"]})
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert f"{path}:{line_of(path, '- rougeL')} [metrics[1]]" in err
    assert "Traceback" not in out + err
    # the data is only read once the suite file is sound
    path.write_text(path.read_text().replace("- rougeL", "- macro_f1"))
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert f"{data_file(path, 'test')}:2 [target]" in err
    assert "Traceback" not in out + err


def test_cli_validate_reports_every_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_suite(tmp_path, name="good")
    bad_yaml = write_suite(tmp_path, name="syntax")
    bad_yaml.write_text("name: [syntax\n")
    bad_data = write_suite(tmp_path, name="data", test="")
    assert main(["validate", str(good), str(bad_yaml), str(bad_data)]) == 2
    out, err = capsys.readouterr()
    assert str(bad_yaml) in err
    assert str(data_file(bad_data, "test")) in err
    assert "2 problems" in err
    assert "Traceback" not in out + err


def test_cli_validate_recognises_a_suite_with_a_misspelled_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_suite(tmp_path, yaml_overrides={"task": DROP, "tsk": "classification"})
    assert main(["validate", str(path)]) == 2
    _, err = capsys.readouterr()
    assert "[tsk]" in err
    assert "unknown field 'name'" not in err
