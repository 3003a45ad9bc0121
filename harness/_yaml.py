"""Safe YAML loading that remembers where each key is, for error messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import InputError

#: A path into the document ("splits", "test") mapped to its 1-based line.
LineMap = dict[tuple[str | int, ...], int]


def _walk(node: yaml.Node, path: tuple[str | int, ...], lines: LineMap) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)


def load_yaml(path: Path, what: str) -> tuple[Any, LineMap]:
    """Load `path` with `yaml.safe_load` semantics; return the data and a line map."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError.single(path, "", f"{what} file not found", "check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError.single(path, "", f"cannot read {what}: {e}", "check the file") from None
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
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def line_of(lines: LineMap, loc: tuple[str | int, ...]) -> int | None:
    """The line of the deepest known prefix of `loc`."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None
