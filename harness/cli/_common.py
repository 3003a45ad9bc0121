"""What every command shares: exit codes, argument types, plugin loading, problems."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from harness.errors import InputError

if TYPE_CHECKING:
    from harness.plugin_manager import Plugins

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
#: stopped by Ctrl-C (SIGINT) or SIGTERM: 128 + the signal's number, as shells report it
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143

#: the `add_subparsers` object every command adds itself to
Subcommands = argparse._SubParsersAction


def names(text: str) -> list[str]:
    """An argparse type: comma-separated names, at least one."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"no names in {text!r}: give comma-separated names")
    return parts


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least `minimum`, refused with the value given."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(
                f"must be a whole number of at least {minimum}, got {text!r}"
            )
        return value

    return parse


def probability(text: str) -> float:
    """An argparse type: a significance level, strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:  # also NaN
        raise argparse.ArgumentTypeError(
            f"must be a number between 0 and 1 (exclusive), such as 0.05, got {text!r}"
        )
    return value


def output_file(text: str) -> Path:
    """An argparse type: a file to write; refused (before any work) when the path is a
    folder or a folder on its way is a file. Missing folders are created on writing."""
    path = Path(text)
    if not text.strip():
        raise argparse.ArgumentTypeError("the file name is empty")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder: give the path of a file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(
                    f"{str(parent)!r} is a file, so {text!r} cannot be written"
                )
            break
    return path


def device(text: str) -> str:
    """An argparse type: a device name `harness.models.options` knows."""
    from harness.models.options import DEVICE_HELP, device_error

    error = device_error(text)
    if error:
        raise argparse.ArgumentTypeError(f"{error}: {DEVICE_HELP}")
    return text


def dtype(text: str) -> str:
    """An argparse type: a dtype name `harness.models.options` knows."""
    from harness.models.options import DTYPE_HELP, dtype_error

    error = dtype_error(text)
    if error:
        raise argparse.ArgumentTypeError(f"{error}: {DTYPE_HELP}")
    return text


def load_cli_plugins(args: argparse.Namespace, extra_block: Sequence[str] = ()) -> Plugins:
    """The plugins, honouring --block-plugin and --plugin."""
    import importlib

    from harness.plugin_manager import load_plugins

    extra = []
    for name in args.plugin:
        try:
            extra.append((name, importlib.import_module(name)))
        except ImportError as e:
            raise InputError.single(
                "--plugin", "plugin", f"cannot import {name!r}: {e}", "check the module name"
            ) from None
    return load_plugins(block=[*args.block_plugin, *extra_block], extra=extra)


def print_problems(problems: Sequence[object]) -> None:
    """Every problem of a bad input, one line each, on stderr."""
    err = Console(stderr=True)
    count = len(problems)
    err.print(
        f"[red]error:[/red] {count} problem{'s' if count != 1 else ''} found:", highlight=False
    )
    for problem in problems:
        err.print(f"  - {problem}", highlight=False, markup=False, soft_wrap=True)
