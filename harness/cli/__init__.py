"""The `harness` command line: one module per group of commands.

`run` (run.py), `plugins` / `suites` / `validate` / `report` (info.py), `baseline save` /
`check` (gate.py), `compare` (compare.py), `new` (new.py), and the lab's commands
(`harness.lab.cli`); what they share is in `_common.py`.

Exit codes: 0 success; 1 the run finished but some cells failed (or a plugin hook
raised); 2 bad input (suite, config, flag, model path, an out or cache folder harness
may not write, an out folder another run is writing) — reported without a traceback,
and nothing written; 130 interrupted (Ctrl-C) and 143 terminated (SIGTERM), with the
staged run folder removed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from rich.console import Console
from rich.markup import escape

from harness import __version__
from harness.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    print_problems,
)
from harness.cli.compare import add_compare_commands
from harness.cli.gate import add_gate_commands
from harness.cli.info import add_info_commands
from harness.cli.new import add_new_command
from harness.cli.run import add_run_command
from harness.errors import HarnessError, InputError, PluginError
from harness.run_folder import Terminated

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "build_parser",
    "main",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Compare prompting, few-shot, fine-tuning and RAG on the same held-out "
        "suites, with forgetting checks and costs.",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument(
        "--block-plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="do not load plugin NAME (repeatable; also HARNESS_BLOCK_PLUGINS=a,b)",
    )
    parser.add_argument(
        "-p",
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="also load the plugin module MODULE by import name (repeatable)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_run_command(sub)
    add_info_commands(sub)
    try:
        from harness.lab.cli import add_lab_commands
    except ImportError:
        pass
    else:
        add_lab_commands(sub)
    add_compare_commands(sub)
    add_gate_commands(sub)
    add_new_command(sub)
    return parser


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # later signals are ignored: they would interrupt the clean-up the first one started
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    code = _main(argv)
    if argv is None:  # the `harness` program itself, not a caller in this process
        _exit_past_native_threads(code)
    return code


def _exit_past_native_threads(code: int) -> None:
    """Leave the process with `code` now when native threads may still be at work.

    A call abandoned at its deadline runs on in a daemon thread, and a run stopped by
    Ctrl-C or SIGTERM may leave native work (torch) running in other threads: the
    interpreter's shutdown would then abort the process (exit 134) instead of exiting
    with the run's code. The run's files are written or removed by now: flush and exit.
    """
    from harness.timeouts import WORKER_PREFIX

    stopped = code in (EXIT_INTERRUPTED, EXIT_TERMINATED)
    if stopped or any(
        t.daemon and t.is_alive() and t.name.startswith(WORKER_PREFIX)
        for t in threading.enumerate()
    ):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so a stopped run removes its staging and exits cleanly
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    try:
        return int(args.func(args))
    except InputError as e:
        print_problems(e.problems)
        return EXIT_BAD_INPUT
    except PluginError as e:
        Console(stderr=True).print(f"[red]plugin error:[/red] {escape(str(e))}", highlight=False)
        return EXIT_BAD_INPUT
    except HarnessError as e:
        Console(stderr=True).print(f"error: {e}", highlight=False, markup=False)
        return EXIT_BAD_INPUT
    except Terminated:
        Console(stderr=True).print("terminated: nothing was written")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted: nothing was written")
        return EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
