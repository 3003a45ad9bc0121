"""Where a split's records come from: a data file in the suite's folder, or a Hugging Face
dataset.

A split is written in `suite.yaml` as one of

- a path, its format read from the extension: `.jsonl` (one object per line), `.json` (a
  list of objects), `.csv` (a header row; every value is text), `.parquet`;
- `{dataset: ID_OR_BUILDER, name: ..., split: ..., revision: ..., data_files: ...}`:
  `datasets.load_dataset`, through the local cache and honouring `HF_HUB_OFFLINE` /
  `HF_DATASETS_OFFLINE`; `data_files` (and a `dataset` that is a folder) are relative to
  the suite's folder;
- `{from_disk: FOLDER, split: ...}`: `datasets.load_from_disk` of a folder written by
  `save_to_disk` (`split` picks one split of a `DatasetDict`).

Every source yields (number, record, error) triples, so that one reader checks them all
and names the source in every problem. A source's identity (file bytes, or a dataset's
revision, fingerprint and the digest of its records) goes into the suite's content hash,
so a changed dataset is never taken for the one cached.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

#: data file formats, by extension
FILE_FORMATS = {".jsonl": "JSONL", ".json": "JSON", ".csv": "CSV", ".parquet": "Parquet"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubSource(_Strict):
    """A split read with `datasets.load_dataset`."""

    dataset: str = Field(
        min_length=1,
        pattern=r"\S",
        description="a Hub id, a builder (csv, json, parquet) with data_files, or a folder",
    )
    name: str | None = Field(None, description="the dataset's configuration name")
    split: str = Field(description="the dataset's split, e.g. test or validation[:200]")
    revision: str | None = Field(None, description="a commit, tag or branch: pin it")
    data_files: str | list[str] | dict[str, str | list[str]] | None = Field(
        None, description="files or patterns, relative to the suite's folder"
    )


class DiskSource(_Strict):
    """A split read with `datasets.load_from_disk` from a `save_to_disk` folder."""

    from_disk: str = Field(description="the folder, relative to the suite's folder")
    split: str | None = Field(None, description="the split of a saved DatasetDict")


def _source_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "[from_disk]" if "from_disk" in value else "[dataset]"
    return "[file]"


# The tags are bracketed so that error locations leave them out (see suites._spec_problems).
SplitSource = Annotated[
    Annotated[str, Tag("[file]")]
    | Annotated[HubSource, Tag("[dataset]")]
    | Annotated[DiskSource, Tag("[from_disk]")],
    Discriminator(_source_kind),
]

Row = tuple[int, Any, "str | None"]


@dataclass(frozen=True)
class LoadedSource:
    """A split's records as read, where they came from, and what identifies them."""

    #: names the source in problems: a file's path, or the dataset and its split
    where: str
    rows: tuple[Row, ...]
    #: what the content hash covers (file bytes, or dataset identity and records)
    fingerprint: bytes
    #: what manifest.json records about the source
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """The source could not be read at all (its one row carries the error)."""
        return len(self.rows) == 1 and self.rows[0][1] is None and self.rows[0][0] == 0


def describe(source: str | HubSource | DiskSource, root: Path) -> str:
    """The source in words, for problems: a file's path or the dataset and its split."""
    if isinstance(source, str):
        return str(root / source)
    if isinstance(source, DiskSource):
        split = f", split {source.split}" if source.split else ""
        return f"saved dataset {root / source.from_disk}{split}"
    parts = [f"split {source.split}"]
    if source.name:
        parts.insert(0, f"config {source.name}")
    if source.revision:
        parts.append(f"revision {source.revision}")
    return f"dataset {source.dataset} ({', '.join(parts)})"


def resolve_inside(root: Path, relative: str) -> Path | None:
    """`relative` under the suite's folder, or None when it points outside."""
    path = (root / relative).resolve()
    return path if path.is_relative_to(root.resolve()) else None


def source_problems(source: str | HubSource | DiskSource, root: Path) -> list[tuple[str, str]]:
    """(message, fix) for a source that cannot be opened; nothing is read."""
    if isinstance(source, str):
        path = resolve_inside(root, source)
        if path is None:
            return [
                (
                    f"{source!r} points outside the suite's folder",
                    "keep data files inside the suite's folder",
                )
            ]
        if path.suffix.lower() not in FILE_FORMATS:
            return [
                (
                    f"{source!r}: unknown data format {path.suffix or '(no extension)'!r}",
                    f"use one of {', '.join(FILE_FORMATS)}, or a `dataset:` / `from_disk:` source",
                )
            ]
        if not path.is_file():
            return [
                (f"data file {source!r} not found", "check the path (relative to the suite file)")
            ]
        return []
    if isinstance(source, DiskSource):
        folder = resolve_inside(root, source.from_disk)
        if folder is None:
            return [
                (f"{source.from_disk!r} points outside the suite's folder", "keep data inside it")
            ]
        if not folder.is_dir():
            return [
                (
                    f"saved dataset folder {source.from_disk!r} not found",
                    "give the folder `save_to_disk` wrote, relative to the suite file",
                )
            ]
        return []
    outside = [f for f in _data_file_list(source.data_files) if resolve_inside(root, f) is None]
    if outside:
        return [(f"data_files {outside} point outside the suite's folder", "keep data inside it")]
    return []


def _data_file_list(data_files: str | list[str] | dict[str, str | list[str]] | None) -> list[str]:
    if data_files is None:
        return []
    if isinstance(data_files, str):
        return [data_files]
    if isinstance(data_files, list):
        return list(data_files)
    return [f for v in data_files.values() for f in ([v] if isinstance(v, str) else v)]


def _absolute_data_files(data_files: Any, root: Path) -> Any:
    if data_files is None:
        return None
    if isinstance(data_files, str):
        return str(root / data_files)
    if isinstance(data_files, list):
        return [str(root / f) for f in data_files]
    return {k: _absolute_data_files(v, root) for k, v in data_files.items()}


def load_source(source: str | HubSource | DiskSource, root: Path) -> LoadedSource:
    """Read every record of a split's source (which `source_problems` found openable)."""
    where = describe(source, root)
    if isinstance(source, str):
        path = root / source
        data = path.read_bytes()
        rows = tuple(_FILE_READERS[path.suffix.lower()](data))
        return LoadedSource(
            where,
            rows,
            source.encode() + data,
            {"file": source, "sha256": hashlib.sha256(data).hexdigest()},
        )
    try:
        dataset, identity = _load_dataset(source, root)
    except ImportError:
        return _unreadable(where, "the `datasets` package is not installed", "pip install datasets")
    except Exception as e:  # datasets raises many types; the message says what went wrong
        return _unreadable(
            where,
            f"cannot load the dataset: {type(e).__name__}: {e}",
            "check its name, config, split and revision; offline, it must be in the local "
            "cache (load it once online, or point HF_DATASETS_CACHE at that cache)",
        )
    try:
        rows = tuple((number, record, None) for number, record in enumerate(dataset, start=1))
    except UnicodeDecodeError as e:
        # the json and csv builders keep undecodable bytes, which fail only when read
        return _unreadable(
            where,
            f"the dataset holds text that is not UTF-8 ({e.reason}, "
            f"byte 0x{e.object[e.start]:02x})",
            "save its data files as UTF-8",
        )
    digest = hashlib.sha256()
    for _, record, _ in rows:
        digest.update(json.dumps(record, sort_keys=True, default=str).encode())
        digest.update(b"\n")
    identity["records_sha256"] = digest.hexdigest()
    identity["rows"] = len(rows)
    return LoadedSource(where, rows, json.dumps(identity, sort_keys=True).encode(), identity)


def _unreadable(where: str, message: str, fix: str) -> LoadedSource:
    # the error's message and fix travel together in the row, joined by a tab
    return LoadedSource(where, ((0, None, f"{message}\t{fix}"),), b"", {"error": message})


def _load_dataset(source: HubSource | DiskSource, root: Path) -> tuple[Any, dict[str, Any]]:
    import datasets

    if isinstance(source, DiskSource):
        loaded = datasets.load_from_disk(str(root / source.from_disk))
        if isinstance(loaded, datasets.DatasetDict):
            if source.split is None:
                raise ValueError(
                    f"the folder holds several splits ({', '.join(loaded)}): set `split:`"
                )
            loaded = loaded[source.split]
        elif source.split is not None and str(loaded.split or "") not in ("", source.split):
            raise ValueError(f"the folder holds split {loaded.split}, not {source.split}")
        return loaded, {"from_disk": source.from_disk, "fingerprint": loaded._fingerprint}
    path = source.dataset
    local = resolve_inside(root, path)
    if local is not None and local.exists():
        path = str(local)
    loaded = datasets.load_dataset(
        path,
        source.name,
        split=source.split,
        revision=source.revision,
        data_files=_absolute_data_files(source.data_files, root),
    )
    identity: dict[str, Any] = {
        "dataset": source.dataset,
        "name": source.name,
        "split": source.split,
        "revision": source.revision,
        "fingerprint": loaded._fingerprint,
    }
    return loaded, identity


def _decode(data: bytes) -> str | Row:
    """The file's text (a leading byte-order mark dropped), or the row that says why not."""
    try:
        return codecs.decode(data, "utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        return (line, None, f"not UTF-8 text (byte 0x{data[e.start]:02x})")


def _jsonl_rows(data: bytes) -> Iterator[Row]:
    return jsonl_rows(data.split(b"\n"))


def jsonl_rows(lines: Iterable[bytes]) -> Iterator[Row]:
    """The one JSON-lines reader: (line number, parsed value or None, error or None) for
    each non-blank line, read whole whatever its length.

    The text must be UTF-8 (a leading byte-order mark is accepted); the first line that is
    not ends the file with an error, as a file in another encoding would otherwise flood
    the report.
    """
    for number, raw in enumerate(lines, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield (number, None, f"not UTF-8 text (byte 0x{raw[e.start]:02x}): save it as UTF-8")
            return
        if not line.strip():
            continue
        try:
            yield number, json.loads(line), None
        except json.JSONDecodeError as e:
            yield number, None, f"invalid JSON: {e.msg}"


def _json_rows(data: bytes) -> Iterator[Row]:
    text = _decode(data)
    if isinstance(text, tuple):
        yield text
        return
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        yield e.lineno, None, f"invalid JSON: {e.msg}\twrite one JSON list of objects"
        return
    if not isinstance(value, list):
        yield 0, None, "a JSON data file must hold a list of records\twrite [{...}, {...}]"
        return
    yield from ((number, record, None) for number, record in enumerate(value, start=1))


def _csv_rows(data: bytes) -> Iterator[Row]:
    text = _decode(data)
    if isinstance(text, tuple):
        yield text
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:  # a record would keep the last column of each name, silently
            names = ", ".join(repr(name) for name in repeated)
            yield 1, None, f"the header repeats the column {names}\tname each column once"
            return
        for record in reader:
            if None in record:
                yield reader.line_num, None, "more values than header columns"
                continue
            yield reader.line_num, dict(record), None
    except csv.Error as e:
        yield reader.line_num, None, f"invalid CSV: {e}"


def _parquet_rows(data: bytes) -> Iterator[Row]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as e:
        yield 0, None, f"not a readable Parquet file: {e}\tsave it with pandas or pyarrow"
        return
    yield from ((number, record, None) for number, record in enumerate(table.to_pylist(), 1))


_FILE_READERS = {
    ".jsonl": _jsonl_rows,
    ".json": _json_rows,
    ".csv": _csv_rows,
    ".parquet": _parquet_rows,
}
