"""Safe YAML loading that remembers where each key is, for error messages."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InputError, Problem

#: A path into the document ("splits", "test") mapped to its 1-based line.
LineMap = dict[tuple[str | int, ...], int]


def _walk(
    node: yaml.Node,
    path: tuple[str | int, ...],
    lines: LineMap,
    file: Path,
    problems: list[Problem],
) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in first_line:
                # yaml.safe_load keeps the last value silently; a repeated key is a mistake
                name = ".".join(str(p) for p in (*path, key))
                problems.append(
                    Problem(
                        str(file),
                        name,
                        f"key {key!r} appears twice (lines {first_line[key]} and {line})",
                        "keep one of them",
                        line,
                    )
                )
            first_line.setdefault(key, line)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, file, problems)
            lines[(*path, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, file, problems)


def load_yaml(path: Path, what: str) -> tuple[Any, LineMap]:
    """Load `path` with `yaml.safe_load` semantics; return the data and a line map.

    The file must be UTF-8 text (a leading byte-order mark is accepted); a key repeated
    in one mapping is an error naming both lines, where `yaml.safe_load` would keep
    the last value silently.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError.single(path, "", f"{what} file not found", "check the path") from None
    except IsADirectoryError:
        raise InputError.single(
            path, "", f"{what} path is a folder, not a file", "give the path of the YAML file"
        ) from None
    except OSError as e:
        raise InputError.single(path, "", f"cannot read {what}: {e}", "check the file") from None
    text = decode_utf8(raw, path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        raise InputError.single(
            path, "", f"invalid YAML: {problem}", "fix the YAML syntax", line
        ) from None
    lines: LineMap = {}
    problems: list[Problem] = []
    if node is not None:
        _walk(node, (), lines, path, problems)
    if problems:
        raise InputError(problems)
    return data, lines


def decode_utf8(raw: bytes, path: Path) -> str:
    """`raw` as UTF-8 text without a byte-order mark; an `InputError` with the line if not."""
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        raise InputError.single(
            path,
            "",
            f"not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})"
            + (": the file is UTF-16" if utf16 else ""),
            "save the file as UTF-8 (a binary file cannot be read here)",
            line,
        ) from None


def line_of(lines: LineMap, loc: tuple[str | int, ...]) -> int | None:
    """The line of the deepest known prefix of `loc`."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None
