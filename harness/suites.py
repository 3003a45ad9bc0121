"""Suites: a small YAML file plus JSONL data, validated before anything runs.

A suite names its task, its role (`target` to adapt to, `forgetting` to watch), its
splits, a prompt template, its label set and its metrics. Data stays in the user's
format: `fields` maps our names (id, input, target, choices, gold_documents) onto the
file's keys, dotted for nested values (`answers.text`). Loading reports every problem
found, each with file, line, field and fix (see `harness.errors`).
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness._yaml import LineMap, line_of, load_yaml
from harness.errors import InputError, Problem
from harness.sources import (
    LoadedSource,
    SplitSource,
    describe,
    jsonl_rows,
    load_source,
    resolve_inside,
    source_problems,
)

Task = Literal["classification", "multiple-choice", "generation"]
Role = Literal["target", "forgetting"]
SPLITS = ("train", "validation", "test")
#: template slots filled by harness rather than by the data
RESERVED_SLOTS = frozenset({"input", "context", "choices"})
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _FieldError(ValueError):
    """A field's value is wrong in a way with a specific fix (reported as one problem)."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


class SplitFiles(_Strict):
    """Where each split's records come from: a data file relative to the suite's folder
    (JSONL, JSON, CSV, Parquet) or a Hugging Face dataset (see `harness.sources`)."""

    train: SplitSource | None = Field(None, description="examples strategies may learn from")
    validation: SplitSource | None = Field(
        None, description="examples for early stopping and tuning"
    )
    test: SplitSource = Field(description="held-out examples every strategy is scored on")


class FieldMap(_Strict):
    """Where our fields live in each JSONL record (dotted paths for nested keys)."""

    id: str | None = Field(
        None, description="unique example id; default: the record's `id`, else split:line"
    )
    input: str = "input"
    target: str = "target"
    choices: str = "choices"
    gold_documents: str | None = Field(None, description="ids of documents that answer it")


class PromptSpec(_Strict):
    """How an example becomes a prompt, and what separates the prompt from the answer."""

    template: str = Field(description="str.format-style: {input}, {context}, {choices}, ...")
    answer_prefix: str = Field(" ", description="prepended to every label or choice scored")


class GenerationSpec(_Strict):
    """Decoding settings for generation tasks."""

    max_new_tokens: int = Field(32, ge=1, le=4096)
    stop: tuple[str, ...] = ("\n",)


class KnowledgeSpec(_Strict):
    """A documents JSONL file (id, text, optional title) for retrieval strategies."""

    documents: str
    id_field: str = "id"
    text_field: str = "text"
    title_field: str | None = "title"


class SuiteSpec(_Strict):
    """The schema of a suite YAML file."""

    name: str = Field(pattern=NAME_PATTERN)
    version: str
    description: str = ""
    task: Task
    role: Role = "target"
    splits: SplitFiles
    fields: FieldMap = FieldMap()
    prompt: PromptSpec
    labels: tuple[str, ...] | dict[str, str] | None = None
    metrics: tuple[str, ...] = Field(min_length=1)
    primary_metric: str
    generation: GenerationSpec = GenerationSpec()
    knowledge: KnowledgeSpec | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) else v

    @field_validator("labels", mode="before")
    @classmethod
    def _label_keys_as_text(cls, v: Any) -> Any:
        texts = v.values() if isinstance(v, dict) else v if isinstance(v, list) else ()
        for text in texts:
            if isinstance(text, bool):
                raise _FieldError(
                    f"label {text!r} is not text: YAML reads unquoted yes/no, true/false and "
                    "on/off as booleans",
                    'quote the labels, e.g. ["yes", "no"]',
                )
        if isinstance(v, dict):
            return {str(k): v2 for k, v2 in v.items()}
        return v

    @property
    def label_set(self) -> tuple[str, ...]:
        if self.labels is None:
            return ()
        if isinstance(self.labels, dict):
            return tuple(dict.fromkeys(self.labels.values()))
        return self.labels


@dataclass(frozen=True)
class Example:
    """One example of a split, in harness's terms."""

    id: str
    input: str
    #: acceptable answers: the label, the correct choice, or reference texts
    references: tuple[str, ...]
    #: the record's own choices (multiple choice); empty otherwise
    choices: tuple[str, ...] = ()
    gold_documents: tuple[str, ...] = ()
    #: every key of the original record, for templates that use more than {input}
    record: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Document:
    """One document of a suite's knowledge corpus."""

    id: str
    text: str
    title: str = ""


@dataclass
class Suite:
    """A validated suite: its spec, its folder, and lazily loaded splits."""

    spec: SuiteSpec
    path: Path
    _splits: dict[str, tuple[Example, ...]] = field(default_factory=dict, repr=False)
    _sources: dict[str, LoadedSource] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def role(self) -> str:
        return self.spec.role

    @property
    def root(self) -> Path:
        return self.path.parent

    def split(self, name: str) -> tuple[Example, ...]:
        """The examples of split `name` ("train", "validation", "test"); empty if absent."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        if name not in self._splits:
            if getattr(self.spec.splits, name) is None:
                self._splits[name] = ()
            else:
                examples, problems = _read_split(self, name)
                if problems:
                    raise InputError(problems)
                self._splits[name] = examples
        return self._splits[name]

    @property
    def train(self) -> tuple[Example, ...]:
        return self.split("train")

    @property
    def validation(self) -> tuple[Example, ...]:
        return self.split("validation")

    @property
    def test(self) -> tuple[Example, ...]:
        return self.split("test")

    def candidates(self, example: Example) -> tuple[str, ...]:
        """What is scored for a classification or multiple-choice example."""
        return example.choices if self.task == "multiple-choice" else self.spec.label_set

    def render(self, example: Example, context: str | None = None) -> str:
        """The prompt for `example`; `context` fills the {context} slot (or is prepended)."""
        template = self.spec.prompt.template
        values = dict(example.record)
        values["input"] = example.input
        values["choices"] = "\n".join(example.choices)
        values["context"] = context or ""
        text = _FORMATTER.vformat(template, (), values)
        if context and "context" not in template_slots(template):
            text = f"{context}\n\n{text}"
        return text

    def answer(self, candidate: str) -> str:
        """A label, choice or reference as the continuation that follows the prompt."""
        return self.spec.prompt.answer_prefix + candidate

    def documents(self) -> tuple[Document, ...]:
        """The knowledge corpus (empty when the suite has none)."""
        if self.spec.knowledge is None:
            return ()
        docs, problems = _read_documents(self, self.spec.knowledge)
        if problems:
            raise InputError(problems)
        return docs

    def source(self, split: str) -> LoadedSource:
        """Split `split`'s records as read from its source, read once."""
        if split not in self._sources:
            spec_source = getattr(self.spec.splits, split)
            if spec_source is None:
                raise ValueError(f"suite {self.name!r} has no {split} split")
            self._sources[split] = load_source(spec_source, self.root)
        return self._sources[split]

    def source_identities(self) -> dict[str, dict[str, Any]]:
        """What identifies each split's data (file digest, or a dataset's revision,
        fingerprint and records digest), for manifest.json."""
        return {
            split: self.source(split).identity
            for split in SPLITS
            if getattr(self.spec.splits, split) is not None
        }

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 over the suite file, every split's data and the knowledge corpus."""
        splits = [s for s in SPLITS if getattr(self.spec.splits, s) is not None]
        corpus = [self.spec.knowledge.documents] if self.spec.knowledge else []
        return self._hash(splits, corpus)

    @cached_property
    def training_hash(self) -> str:
        """SHA-256 over what adapting may read: the suite file, train and validation splits.

        Editing the test split or the knowledge corpus leaves it unchanged, so trained
        artifacts stay valid (retrieval indexes are keyed by their corpus separately).
        """
        return self._hash([s for s in ("train", "validation") if getattr(self.spec.splits, s)])

    def _hash(self, splits: list[str], files: Iterable[str] = ()) -> str:
        digest = hashlib.sha256(self.path.read_bytes())
        for split in splits:
            # a data file: its path and bytes; a dataset: its identity and records' digest
            digest.update(self.source(split).fingerprint)
        for relative in files:
            digest.update(relative.encode())
            digest.update((self.root / relative).read_bytes())
        return digest.hexdigest()

    def describe_split(self, split: str) -> str:
        """Split `split`'s source in words (a file's path, or the dataset and split)."""
        return describe(getattr(self.spec.splits, split), self.root)


class _SlotFormatter(string.Formatter):
    """str.format restricted to plain names: no attribute access or indexing."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        return self.get_value(field_name, args, kwargs), field_name


_FORMATTER = _SlotFormatter()


def template_slots(template: str) -> set[str]:
    """The names used in a template's {slots}."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def _dig(record: Mapping[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def _as_texts(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (str(value),)
    if isinstance(value, list) and value and all(isinstance(v, str | int | float) for v in value):
        return tuple(str(v) for v in value)
    return None


def iter_jsonl(path: Path) -> Iterable[tuple[int, Any, str | None]]:
    """(line number, parsed value or None, error or None) for each non-blank line of a
    JSONL file (`harness.sources.jsonl_rows`: UTF-8, lines read whole)."""
    with path.open("rb") as f:
        yield from jsonl_rows(f)


_resolve_inside = resolve_inside


def _read_split(suite: Suite, split: str) -> tuple[tuple[Example, ...], list[Problem]]:
    spec, fields = suite.spec, suite.spec.fields
    if source_problems(getattr(spec.splits, split), suite.root):
        return (), []  # reported by load_suite
    loaded = suite.source(split)
    problems: list[Problem] = []
    examples: list[Example] = []
    seen: set[str] = set()
    where = loaded.where
    label_map = spec.labels if isinstance(spec.labels, dict) else None
    label_set = set(spec.label_set)

    def bad(number: int, field_name: str, message: str, fix: str) -> None:
        problems.append(Problem(where, field_name, message, fix, number))

    for number, record, error in loaded.rows:
        if len(problems) >= 20:
            problems.append(Problem(where, "", "more problems not shown", "fix the above first"))
            break
        if error is not None:
            message, _, fix = error.partition("\t")
            bad(number, "", message, fix or "write one record per line (JSON object), in UTF-8")
            continue
        if not isinstance(record, dict):
            bad(number, "", "record is not an object", "give each record named fields")
            continue
        try:
            raw_id = _dig(record, fields.id) if fields.id else record.get("id", f"{split}:{number}")
            raw_input = _dig(record, fields.input)
            raw_target = _dig(record, fields.target)
        except KeyError as e:
            key = e.args[0]
            bad(
                number,
                key,
                f"record has no field {key!r}",
                f"map the field in `fields:` ({sorted(record)})",
            )
            continue
        example_id = str(raw_id)
        if example_id in seen:
            bad(number, fields.id or "id", f"duplicate id {example_id!r}", "make ids unique")
            continue
        seen.add(example_id)
        if not isinstance(raw_input, str):
            bad(number, fields.input, "input is not a string", "map `fields.input` to a text field")
            continue
        choices: tuple[str, ...] = ()
        references = _as_texts(raw_target)
        if spec.task == "multiple-choice":
            try:
                raw_choices = _dig(record, fields.choices)
            except KeyError:
                bad(
                    number,
                    fields.choices,
                    "record has no choices",
                    "map `fields.choices` to a list",
                )
                continue
            choices = _as_texts(raw_choices) or ()
            if len(choices) < 2:
                bad(
                    number,
                    fields.choices,
                    "choices must be a list of at least 2 texts",
                    "fix the record",
                )
                continue
            if isinstance(raw_target, int) and not isinstance(raw_target, bool):
                if not 0 <= raw_target < len(choices):
                    bad(
                        number,
                        fields.target,
                        f"target index {raw_target} out of range",
                        "use a 0-based index into choices",
                    )
                    continue
                references = (choices[raw_target],)
            elif references is None or references[0] not in choices:
                bad(
                    number,
                    fields.target,
                    f"target {raw_target!r} is not one of the choices",
                    "use a choice text or a 0-based index",
                )
                continue
        elif spec.task == "classification":
            if references is None or len(references) != 1:
                bad(
                    number,
                    fields.target,
                    f"label {raw_target!r} is not a single value",
                    "give one label per example",
                )
                continue
            label = references[0]
            if label_map is not None:
                if label not in label_map:
                    bad(
                        number,
                        fields.target,
                        f"label {label!r} is not in `labels`",
                        f"add it to `labels` or fix the record ({sorted(label_map)})",
                    )
                    continue
                label = label_map[label]
            elif label not in label_set:
                bad(
                    number,
                    fields.target,
                    f"label {label!r} is not in `labels`",
                    f"add it to `labels` or fix the record ({sorted(label_set)})",
                )
                continue
            references = (label,)
        elif references is None:
            bad(number, fields.target, "target must be a text or a list of texts", "fix the record")
            continue
        gold: tuple[str, ...] = ()
        if fields.gold_documents:
            try:
                raw_gold = _dig(record, fields.gold_documents)
            except KeyError:
                raw_gold = []
            if raw_gold != [] and _as_texts(raw_gold) is None:
                bad(
                    number,
                    fields.gold_documents,
                    f"gold documents {raw_gold!r} are not a document id or a list of ids",
                    "give the ids of the knowledge documents that answer the example",
                )
                continue
            gold = _as_texts(raw_gold) or ()
        examples.append(Example(example_id, raw_input, references, choices, gold, record))
    if not examples and not problems:
        problems.append(Problem(where, f"splits.{split}", "split has no examples", "add records"))
    return tuple(examples), problems


def _read_documents(
    suite: Suite, knowledge: KnowledgeSpec
) -> tuple[tuple[Document, ...], list[Problem]]:
    path = _resolve_inside(suite.root, knowledge.documents)
    if path is None or not path.is_file():
        return (), []
    return scan_documents(path, knowledge.id_field, knowledge.text_field, knowledge.title_field)


def scan_documents(
    path: Path, id_field: str = "id", text_field: str = "text", title_field: str | None = "title"
) -> tuple[tuple[Document, ...], list[Problem]]:
    """The one reader of documents JSONL (id, text, optional title; other keys ignored).

    Returns the documents and every problem found (line and fix): invalid JSON or
    encoding, a record without an id or a non-empty text, a duplicate id, no documents.
    """
    where = str(path)
    docs: list[Document] = []
    problems: list[Problem] = []
    first_line: dict[str, int] = {}
    for number, record, error in iter_jsonl(path):
        if len(problems) >= 20:
            problems.append(Problem(where, "", "more problems not shown", "fix these first"))
            break
        if error is not None or not isinstance(record, dict):
            problems.append(
                Problem(
                    where,
                    "",
                    error or "line is not a JSON object",
                    "write one JSON object per line, in UTF-8",
                    number,
                )
            )
            continue
        doc_id, text = record.get(id_field), record.get(text_field)
        if doc_id is None or not isinstance(text, str) or not text.strip():
            problems.append(
                Problem(
                    where,
                    text_field if doc_id is not None else id_field,
                    f"document needs an {id_field!r} and a non-empty {text_field!r}",
                    "fix the record (or the `knowledge` field names of the suite)",
                    number,
                )
            )
            continue
        if str(doc_id) in first_line:
            problems.append(
                Problem(
                    where,
                    id_field,
                    f"duplicate document id {str(doc_id)!r} (first on line "
                    f"{first_line[str(doc_id)]})",
                    "make document ids unique: gold documents and retrieval metrics use them",
                    number,
                )
            )
            continue
        first_line[str(doc_id)] = number
        title = record.get(title_field) if title_field else None
        docs.append(Document(str(doc_id), text, str(title or "")))
    if not docs and not problems:
        problems.append(Problem(where, "documents", "the corpus has no documents", "add documents"))
    return tuple(docs), problems


def _spec_problems(path: Path, data: Any, lines: LineMap) -> tuple[SuiteSpec | None, list[Problem]]:
    where = str(path)
    if not isinstance(data, dict):
        return None, [
            Problem(where, "", "a suite file must be a YAML mapping", "see docs/suites.md", 1)
        ]
    try:
        return SuiteSpec.model_validate(data), []
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            name = ".".join(str(p) for p in loc)
            if err["type"] == "extra_forbidden":
                message, fix = f"unknown field {name!r}", "remove it or check its spelling"
            elif err["type"] == "missing":
                message, fix = f"missing required field {name!r}", "add it (see docs/suites.md)"
            elif isinstance(error := err.get("ctx", {}).get("error"), _FieldError):
                message, fix = str(error), error.fix
            else:
                message, fix = err["msg"], "see docs/suites.md for the allowed values"
            problems.append(Problem(where, name, message, fix, line_of(lines, loc)))
        return None, problems


def _first_missing_slot(suite: Suite, slots: set[str]) -> tuple[str, str, str] | None:
    """(split, example id, slot) of the first record a template slot cannot be filled from."""
    for split in SPLITS:
        for example in suite._splits.get(split, ()):
            for slot in sorted(slots):
                if slot not in example.record:
                    return split, example.id, slot
    return None


def _metrics_for(task: str, known_metrics: Mapping[str, Any]) -> list[str]:
    return sorted(n for n, m in known_metrics.items() if task in m.tasks)


def read_suite_spec(path: Path) -> SuiteSpec:
    """Parse and check a suite file's YAML only (cheap; no data read)."""
    data, lines = load_yaml(path, "suite")
    spec, problems = _spec_problems(path, data, lines)
    if problems or spec is None:
        raise InputError(problems)
    return spec


def metric_problem(
    spec: SuiteSpec, name: str, known_metrics: Mapping[str, Any]
) -> tuple[str, str] | None:
    """Why metric `name` cannot score this suite, and the fix (None when it can)."""
    metric = known_metrics.get(name)
    if metric is None:
        return f"unknown metric {name!r}", f"use one of {sorted(known_metrics)}"
    if spec.task not in metric.tasks:
        return (
            f"metric {name!r} does not apply to {spec.task} tasks",
            f"use one of {_metrics_for(spec.task, known_metrics)}",
        )
    if getattr(metric, "needs_gold_documents", False) and not spec.fields.gold_documents:
        return (
            f"metric {name!r} needs the ids of the documents that answer each example",
            "map `fields.gold_documents` to the records' list of document ids",
        )
    return None


def with_metrics(suite: Suite, metrics: Sequence[str], primary_metric: str) -> Suite:
    """The same suite (same data and hashes) scored with other metrics; unchecked."""
    spec = suite.spec.model_copy(
        update={"metrics": tuple(metrics), "primary_metric": primary_metric}
    )
    return Suite(spec, suite.path, suite._splits)


def load_suite(path: Path, known_metrics: Mapping[str, Any] | None = None) -> Suite:
    """Load a suite and all its data, reporting every problem found at once.

    `known_metrics` maps metric names to `Metric` classes; when given, metric names and
    their task compatibility are checked too.
    """
    path = Path(path)
    data, lines = load_yaml(path, "suite")
    spec, problems = _spec_problems(path, data, lines)
    if spec is None:
        raise InputError(problems)
    where = str(path)

    def at(*loc: str | int) -> int | None:
        return line_of(lines, loc)

    if spec.primary_metric not in spec.metrics:
        problems.append(
            Problem(
                where,
                "primary_metric",
                f"{spec.primary_metric!r} is not in `metrics`",
                f"choose one of {list(spec.metrics)}",
                at("primary_metric"),
            )
        )
    if known_metrics is not None:
        for i, name in enumerate(spec.metrics):
            problem = metric_problem(spec, name, known_metrics)
            if problem is not None:
                message, fix = problem
                problems.append(Problem(where, f"metrics[{i}]", message, fix, at("metrics", i)))
    if isinstance(spec.labels, tuple) and len(set(spec.labels)) < len(spec.labels):
        duplicates = sorted({x for x in spec.labels if spec.labels.count(x) > 1})
        problems.append(
            Problem(
                where,
                "labels",
                f"labels listed twice: {duplicates}",
                "list each label once",
                at("labels"),
            )
        )
    if spec.task == "classification" and len(spec.label_set) < 2:
        problems.append(
            Problem(
                where,
                "labels",
                "a classification suite needs at least 2 labels",
                "list the labels (or map raw values to label texts)",
                at("labels"),
            )
        )
    try:
        slots = template_slots(spec.prompt.template)
    except ValueError as e:
        problems.append(
            Problem(
                where,
                "prompt.template",
                f"bad template: {e}",
                "balance the braces; write {{ and }} for literal braces",
                at("prompt", "template"),
            )
        )
        slots = set()
    for slot in slots:
        if not slot.isidentifier():
            problems.append(
                Problem(
                    where,
                    "prompt.template",
                    f"slot {{{slot}}} is not a plain name",
                    "use {name} slots only: no attributes, indexes or code",
                    at("prompt", "template"),
                )
            )
    for split in SPLITS:
        source = getattr(spec.splits, split)
        if source is None:
            continue
        for message, fix in source_problems(source, path.parent):
            problems.append(Problem(where, f"splits.{split}", message, fix, at("splits", split)))
    if spec.knowledge is not None:
        resolved = _resolve_inside(path.parent, spec.knowledge.documents)
        if resolved is None or not resolved.is_file():
            problems.append(
                Problem(
                    where,
                    "knowledge.documents",
                    f"{spec.knowledge.documents!r} not found inside the suite's folder",
                    "check the path (relative to the suite file)",
                    at("knowledge", "documents"),
                )
            )
    if problems:
        raise InputError(problems)

    suite = Suite(spec, path)
    seen_in: dict[str, list[str]] = {}
    for split in SPLITS:
        if getattr(spec.splits, split) is None:
            continue
        examples, split_problems = _read_split(suite, split)
        problems.extend(split_problems)
        suite._splits[split] = examples
        for example in examples:
            seen_in.setdefault(example.id, []).append(split)
    leaks: dict[tuple[str, str], list[str]] = {}
    for example_id, splits in seen_in.items():
        for later in splits[1:]:
            leaks.setdefault((splits[0], later), []).append(example_id)
    for (first, later), leaked in leaks.items():
        shown = ", ".join(repr(i) for i in leaked[:5]) + (" ..." if len(leaked) > 5 else "")
        problems.append(
            Problem(
                suite.describe_split(later),
                spec.fields.id or "id",
                f"{len(leaked)} id(s) in both {first} and {later}: {shown}",
                "keep splits disjoint: held-out examples must not leak into training",
            )
        )
    missing = _first_missing_slot(suite, slots - RESERVED_SLOTS)
    if missing is not None:
        split, example_id, slot = missing
        problems.append(
            Problem(
                where,
                "prompt.template",
                f"slot {{{slot}}} is not a field of {split} example {example_id!r} "
                f"({suite.describe_split(split)})",
                "use {input}, {context}, {choices} or a key every record has",
                at("prompt", "template"),
            )
        )
    if spec.knowledge is not None:
        documents, corpus_problems = _read_documents(suite, spec.knowledge)
        problems.extend(corpus_problems)
        if documents and not corpus_problems:
            ids = {d.id for d in documents}
            problems.extend(_unknown_gold_documents(suite, spec.knowledge.documents, ids))
    if problems:
        raise InputError(problems)
    return suite


def _unknown_gold_documents(suite: Suite, corpus: str, corpus_ids: set[str]) -> list[Problem]:
    """One problem per split whose gold document ids are not all in the suite's corpus."""
    problems: list[Problem] = []
    for split in SPLITS:
        unknown = {
            doc_id: example.id
            for example in suite._splits.get(split, ())
            for doc_id in example.gold_documents
            if doc_id not in corpus_ids
        }
        if unknown:
            shown = ", ".join(
                f"{doc_id!r} (example {example_id!r})"
                for doc_id, example_id in list(unknown.items())[:5]
            )
            problems.append(
                Problem(
                    suite.describe_split(split),
                    suite.spec.fields.gold_documents or "gold_documents",
                    f"{len(unknown)} gold document id(s) not in the knowledge corpus: {shown}"
                    + (" ..." if len(unknown) > 5 else ""),
                    f"use ids of the documents in {corpus!r}, or add the missing documents",
                )
            )
    return problems
