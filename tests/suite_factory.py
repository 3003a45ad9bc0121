"""Write small, valid suite folders in temporary directories, for tests to break one thing.

`write_suite(root)` writes `root/<name>/suite.yaml` and its JSONL files and returns the
suite.yaml path. Every default is a suite that loads cleanly for its task; a test then
changes one key (`yaml_overrides`, merged into the YAML mapping, `DROP` to delete a key),
one split (a list of records, raw JSONL text, or `None` to leave the split out) or the
files afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

#: marker for `yaml_overrides`: remove this key from the default suite
DROP: Any = object()

#: marker for the split arguments: use the task's default records
DEFAULT: Any = object()

Records = Sequence[Mapping[str, Any]] | str | None

LABELS = ("negative", "positive")
CHOICES = ("red", "green", "blue")


def default_records(task: str, split: str, count: int = 4) -> list[dict[str, Any]]:
    """`count` valid records for `task`, with ids unique across splits (`<split>-<i>`)."""
    rows: list[dict[str, Any]] = []
    for i in range(count):
        row: dict[str, Any] = {"id": f"{split}-{i}", "input": f"{split} text number {i}"}
        if task == "classification":
            row["target"] = LABELS[i % 2]
        elif task == "multiple-choice":
            row["choices"] = list(CHOICES)
            row["target"] = i % len(CHOICES)
        elif task == "generation":
            row["target"] = f"answer {i}"
        else:
            raise ValueError(f"unknown task {task!r}")
        rows.append(row)
    return rows


def default_spec(name: str, task: str) -> dict[str, Any]:
    """The suite.yaml mapping of a valid suite for `task` (splits filled in by write_suite)."""
    spec: dict[str, Any] = {
        "name": name,
        "version": "1",
        "description": f"a toy {task} suite for tests",
        "task": task,
        "role": "target",
        "splits": {},
        "prompt": {"template": "Text: {input}\nAnswer:"},
    }
    if task == "classification":
        spec["labels"] = list(LABELS)
        spec["metrics"] = ["accuracy", "macro_f1"]
        spec["primary_metric"] = "accuracy"
    elif task == "multiple-choice":
        spec["prompt"] = {"template": "Question: {input}\n{choices}\nAnswer:"}
        spec["metrics"] = ["accuracy"]
        spec["primary_metric"] = "accuracy"
    else:
        spec["metrics"] = ["exact_match", "token_f1"]
        spec["primary_metric"] = "token_f1"
    return spec


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if value is DROP:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def write_jsonl(path: Path, records: Sequence[Mapping[str, Any]] | str) -> Path:
    """Write `records` one JSON object per line (or raw text as is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(records, str):
        path.write_text(records, encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_suite(
    root: Path,
    *,
    name: str = "toy",
    task: str = "classification",
    yaml_overrides: Mapping[str, Any] | None = None,
    train: Records = DEFAULT,
    validation: Records = DEFAULT,
    test: Records = DEFAULT,
    documents: Sequence[Mapping[str, Any]] | str | None = None,
) -> Path:
    """Write a valid suite for `task` into `root/name/`; return its suite.yaml path.

    Splits are written to `data/<split>.jsonl`: pass records, raw JSONL text, or `None`
    to leave the split out (`test=None` also leaves `splits.test` out of the YAML).
    `documents` adds a `knowledge:` corpus at `data/documents.jsonl`. `yaml_overrides`
    is merged last, mappings recursively; `DROP` deletes a key.
    """
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    spec = default_spec(name, task)
    for split, records in (("train", train), ("validation", validation), ("test", test)):
        if records is None:
            continue
        if records is DEFAULT:
            records = default_records(task, split, count=8 if split == "train" else 4)
        relative = f"data/{split}.jsonl"
        write_jsonl(folder / relative, records)
        spec["splits"][split] = relative
    if documents is not None:
        write_jsonl(folder / "data" / "documents.jsonl", documents)
        spec["knowledge"] = {"documents": "data/documents.jsonl"}
    spec = _merge(spec, yaml_overrides or {})
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def line_of(path: Path, text: str) -> int:
    """The 1-based number of the only line of `path` that contains `text`."""
    hits = [
        number
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if text in line
    ]
    if len(hits) != 1:
        raise AssertionError(f"{text!r} is on lines {hits} of {path}, expected exactly one")
    return hits[0]
