"""Split sources: JSONL, JSON, CSV and Parquet files, `load_dataset` and `save_to_disk`
datasets, all read through the same `fields:` mapping, named in every problem, and
identified in the content hash and the manifest."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from harness.cli import main
from harness.errors import InputError
from harness.suites import load_suite
from tests.suite_factory import default_records, write_suite

# The source's own keys, mapped through `fields:`, so every format goes through the mapping.
FIELDS = {"id": "uid", "input": "text", "target": "label"}


def _records(split: str, count: int) -> list[dict[str, Any]]:
    return [
        {"uid": r["id"], "text": r["input"], "label": r["target"]}
        for r in default_records("classification", split, count)
    ]


def _write(path: Path, records: list[dict[str, Any]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    elif path.suffix == ".json":
        path.write_text(json.dumps(records), encoding="utf-8")
    elif path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
    else:
        pq.write_table(pa.Table.from_pylist(records), path)
    return path.name


def _suite(root: Path, splits: dict[str, Any], name: str = "sourced") -> Path:
    return write_suite(
        root,
        name=name,
        train=None,
        validation=None,
        test=None,
        yaml_overrides={"splits": splits, "fields": FIELDS},
    )


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`load_dataset` caches under the test's folder, never in the user's cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


@pytest.mark.parametrize("extension", [".jsonl", ".json", ".csv", ".parquet"])
def test_a_suite_reads_each_file_format_through_its_field_mapping(
    tmp_path: Path, extension: str
) -> None:
    folder = tmp_path / "sourced" / "data"
    splits = {
        split: "data/" + _write(folder / f"{split}{extension}", _records(split, n))
        for split, n in (("train", 6), ("test", 4))
    }
    suite = load_suite(_suite(tmp_path, splits))
    assert [e.id for e in suite.test] == [f"test-{i}" for i in range(4)]
    assert [e.references for e in suite.test] == [("negative",), ("positive",)] * 2
    assert suite.test[0].input == "test text number 0" and len(suite.train) == 6
    identity = suite.source_identities()["test"]
    assert identity["file"] == splits["test"] and len(identity["sha256"]) == 64


def test_problems_name_the_file_and_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "sourced" / "data"
    rows = _records("test", 3)
    rows[1]["label"] = "neutral"
    _write(folder / "test.csv", rows)
    with pytest.raises(InputError) as raised:
        load_suite(_suite(tmp_path, {"test": "data/test.csv"}))
    (problem,) = raised.value.problems
    # the header is line 1: the second record is line 3
    assert problem.file.endswith("test.csv") and problem.line == 3
    assert "'neutral' is not in `labels`" in problem.message


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "sourced" / "data"
    _write(folder / "test.csv", _records("test", 3))
    path = folder / "test.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    lines[0] = ",".join([*header, header[1]])  # the second column once more
    lines[1:] = [line + ",x" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        load_suite(_suite(tmp_path, {"test": "data/test.csv"}))
    (problem,) = raised.value.problems
    assert problem.file.endswith("test.csv") and problem.line == 1
    assert f"repeats the column {header[1]!r}" in problem.message
    assert "name each column once" in problem.fix


def test_unknown_formats_and_missing_folders_are_refused_before_reading(tmp_path: Path) -> None:
    folder = tmp_path / "sourced"
    folder.mkdir()
    (folder / "test.tsv").write_text("a\tb\n", encoding="utf-8")
    splits = {"test": "test.tsv", "train": {"from_disk": "nowhere", "split": "train"}}
    with pytest.raises(InputError) as raised:
        load_suite(_suite(tmp_path, splits))
    text = str(raised.value)
    assert "[splits.test]" in text and "unknown data format '.tsv'" in text
    assert "[splits.train]" in text and "saved dataset folder 'nowhere' not found" in text


def test_a_source_with_unknown_keys_is_reported_at_its_field(tmp_path: Path) -> None:
    splits = {"test": {"dataset": "json", "split": "train", "revison": "main"}}
    with pytest.raises(InputError) as raised:
        load_suite(_suite(tmp_path, splits))
    (problem,) = raised.value.problems
    assert problem.field == "splits.test.revison" and "unknown field" in problem.message


def test_a_dataset_that_cannot_be_loaded_is_named_in_the_problem(tmp_path: Path) -> None:
    splits = {"test": {"dataset": "json", "data_files": "data/absent.jsonl", "split": "train"}}
    with pytest.raises(InputError) as raised:
        load_suite(_suite(tmp_path, splits))
    (problem,) = raised.value.problems
    assert problem.file == "dataset json (split train)"
    assert "cannot load the dataset" in problem.message and "cache" in problem.fix


def _save(folder: Path, records: dict[str, list[dict[str, Any]]]) -> None:
    datasets.DatasetDict(
        {split: datasets.Dataset.from_list(rows) for split, rows in records.items()}
    ).save_to_disk(str(folder))


def _run(tiny_model: Path, suite: Path, out: Path, *extra: str) -> dict[str, Any]:
    config = out.parent / f"{out.name}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": str(tiny_model),
                "suites": [str(suite)],
                "strategies": ["zero-shot"],
                "out": str(out),
                "reporters": [],
            }
        )
    )
    assert main(["run", str(config), *extra]) == 0
    return json.loads((out / "results.json").read_text())


@pytest.mark.slow
def test_a_saved_dataset_runs_end_to_end_and_a_change_invalidates_the_cache(
    tiny_model: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "sourced" / "data" / "saved"
    _save(folder, {"train": _records("train", 6), "test": _records("test", 4)})
    suite = _suite(
        tmp_path,
        {
            "train": {"from_disk": "data/saved", "split": "train"},
            "test": {"from_disk": "data/saved", "split": "test"},
        },
    )
    first = _run(tiny_model, suite, tmp_path / "a")
    (cell,) = first["cells"]
    assert cell["status"] == "ok" and cell["metrics"]["accuracy"]["value"] >= 0
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    sources = manifest["suites"]["sourced"]["sources"]
    assert sources["test"]["from_disk"] == "data/saved" and sources["test"]["rows"] == 4
    assert sources["test"]["fingerprint"] and len(sources["test"]["records_sha256"]) == 64

    again = _run(tiny_model, suite, tmp_path / "b")
    assert again["cells"][0]["status"] == "cached"

    # the same folder, saved again with one label changed
    changed = _records("test", 4)
    changed[0]["label"] = "positive"
    _save(folder, {"train": _records("train", 6), "test": changed})
    third = _run(tiny_model, suite, tmp_path / "c")
    assert third["cells"][0]["status"] == "ok", "a changed dataset is never served from cache"
    hashes = {r["suites"][0]["content_hash"] for r in (first, again, third)}
    assert len(hashes) == 2


@pytest.mark.slow
def test_load_dataset_from_local_files_runs_end_to_end(tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "sourced" / "data"
    _write(folder / "train.csv", _records("train", 6))
    _write(folder / "test.csv", _records("test", 4))
    source = {"dataset": "csv", "data_files": {"train": "data/train.csv", "test": "data/test.csv"}}
    suite = _suite(
        tmp_path, {"train": {**source, "split": "train"}, "test": {**source, "split": "test"}}
    )
    assert main(["validate", str(suite)]) == 0
    results = _run(tiny_model, suite, tmp_path / "run")
    assert results["cells"][0]["status"] == "ok"
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    test = manifest["suites"]["sourced"]["sources"]["test"]
    assert test["dataset"] == "csv" and test["split"] == "test" and test["rows"] == 4
