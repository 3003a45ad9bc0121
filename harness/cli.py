"""The `harness` command line.

Exit codes: 0 success; 1 the run finished but some cells failed (or a plugin hook
raised); 2 bad input (suite, config, flag, model path, an out or cache folder harness
may not write, an out folder another run is writing) — reported without a traceback,
and nothing written; 130 interrupted (Ctrl-C) and 143 terminated (SIGTERM), with the
staged run folder removed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from harness import __version__
from harness.errors import HarnessError, InputError, PluginError
from harness.run_folder import Terminated

if TYPE_CHECKING:
    from harness.plugin_manager import Plugins

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
#: stopped by Ctrl-C (SIGINT) or SIGTERM: 128 + the signal's number, as shells report it
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


def _csv(text: str) -> list[str]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"no names in {text!r}: give comma-separated names")
    return parts


def _whole_number(minimum: int) -> Callable[[str], int]:
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


def _device(text: str) -> str:
    from harness.models.options import DEVICE_HELP, device_error

    error = device_error(text)
    if error:
        raise argparse.ArgumentTypeError(f"{error}: {DEVICE_HELP}")
    return text


def _dtype(text: str) -> str:
    from harness.models.options import DTYPE_HELP, dtype_error

    error = dtype_error(text)
    if error:
        raise argparse.ArgumentTypeError(f"{error}: {DTYPE_HELP}")
    return text


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

    run = sub.add_parser("run", help="run the strategies × suites matrix")
    run.add_argument("config", nargs="?", type=Path, help="run config YAML (default: the demo)")
    run.add_argument("--model", help="hub id or local folder of a causal LM")
    run.add_argument("--strategies", type=_csv, help="comma-separated, e.g. zero-shot,few-shot")
    run.add_argument("--suites", type=_csv, help="comma-separated suite names or suite.yaml paths")
    run.add_argument("--out", help="run folder (default: reports/<run-id>)")
    run.add_argument("--seed", type=_whole_number(0))
    run.add_argument(
        "--replicates",
        type=_whole_number(1),
        metavar="N",
        help="adapt and evaluate every seed-dependent row (training, sampled demonstrations) "
        "with N seeds: seed, seed+1, ...",
    )
    run.add_argument("--batch-size", type=_whole_number(1))
    run.add_argument(
        "--max-test-examples", type=_whole_number(1), metavar="N", help="evaluate at most N"
    )
    run.add_argument("--device", type=_device, help="auto (default), cpu, cuda, cuda:1, mps")
    run.add_argument(
        "--dtype", type=_dtype, help="auto (default: bf16 on CUDA, fp32 on CPU), float32, ..."
    )
    run.add_argument("--chat-template", choices=["auto", "on", "off"])
    run.add_argument(
        "--no-cache",
        action="store_true",
        help="rebuild every artifact and prediction (the fresh results replace cached ones)",
    )
    run.add_argument(
        "--cache-dir", help="cache folder (default $HARNESS_CACHE_DIR or ~/.cache/harness)"
    )
    run.set_defaults(func=cmd_run)

    plugins = sub.add_parser("plugins", help="list strategies, metrics, suites and reporters")
    plugins.add_argument("-v", "--verbose", action="store_true", help="show strategy settings")
    plugins.set_defaults(func=cmd_plugins)

    suites = sub.add_parser("suites", help="list the known suites")
    suites.set_defaults(func=cmd_suites)

    validate = sub.add_parser("validate", help="check suite files or run configs")
    validate.add_argument("files", nargs="+", type=Path)
    validate.set_defaults(func=cmd_validate)

    report = sub.add_parser("report", help="re-render the report of an earlier run")
    report.add_argument("run_dir", type=Path)
    report.add_argument("--reporter", action="append", help="reporter name (repeatable)")
    report.set_defaults(func=cmd_report)

    try:
        from harness.lab.cli import add_lab_commands
    except ImportError:
        pass
    else:
        add_lab_commands(sub)
    from harness.compare_cli import add_compare_commands

    add_compare_commands(sub)
    from harness.gate_cli import add_gate_commands

    add_gate_commands(sub)
    return parser


def _plugins(args: argparse.Namespace, extra_block: Sequence[str] = ()) -> Plugins:
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


def cmd_run(args: argparse.Namespace) -> int:
    from harness.config import RunConfig, StrategyEntry, load_config
    from harness.demo import DEMO_CONFIG
    from harness.runner import Runner, make_plan

    config = load_config(args.config or DEMO_CONFIG)
    overrides = {
        "model": args.model,
        "out": args.out,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "max_test_examples": args.max_test_examples,
        "replicates": args.replicates,
        "device": args.device,
        "dtype": args.dtype,
        "chat_template": args.chat_template,
        "cache_dir": args.cache_dir,
        "cache": False if args.no_cache else None,
    }
    update = {k: v for k, v in overrides.items() if v is not None}
    if args.suites:
        update["suites"] = args.suites
    if args.strategies:
        known = {s.row: s for s in config.strategies}
        update["strategies"] = [known.get(n) or StrategyEntry(name=n) for n in args.strategies]
    config = RunConfig.model_validate(config.model_dump() | update)
    plugins = _plugins(args, config.block_plugins)
    plugins.raise_for_failures()
    source = str(args.config or DEMO_CONFIG)
    plan = make_plan(config, plugins, source)
    outcome = Runner(plan, plugins).run()
    console = Console()
    for error in outcome.hook_errors:
        console.print(f"[yellow]plugin hook error:[/yellow] {error}", highlight=False)
    console.print(f"Run folder: {outcome.run_dir}", highlight=False, soft_wrap=True)
    return outcome.exit_code


def cmd_plugins(args: argparse.Namespace) -> int:
    from harness.strategy import settings_help

    plugins = _plugins(args)
    console = Console()
    table = Table(title="harness plugins")
    table.add_column("kind", min_width=8)
    table.add_column("name", min_width=15)
    table.add_column("from (plugin · package version)", min_width=24)
    table.add_column("about")
    for kind, registry in (
        ("strategy", plugins.strategies),
        ("metric", plugins.metrics),
        ("suite", plugins.suites),
        ("reporter", plugins.reporters),
    ):
        for entry in registry.entries():
            p = entry.provenance
            source = f"{p.plugin} · {p.package} {p.version}".strip()
            table.add_row(kind, entry.name, source, _about(entry.item))
    console.print(table)
    if args.verbose:
        for entry in plugins.strategies.entries():
            rows = settings_help(entry.item.settings_class)
            if rows:
                console.print(f"\n[bold]{entry.name}[/bold] settings:")
                for name, default, help_text in rows:
                    console.print(f"  {name} = {default}  {help_text}", highlight=False)
    for name in plugins.blocked:
        console.print(f"[yellow]blocked:[/yellow] {name}")
    for failure in plugins.failures:
        console.print(f"[red]failed:[/red] {failure}", highlight=False)
    return EXIT_BAD_INPUT if plugins.failures else EXIT_OK


def _about(item: object) -> str:
    if isinstance(item, Path):
        return str(item.parent.name)
    text = getattr(item, "description", "") or (getattr(item, "__doc__", "") or "")
    return text.strip().split("\n")[0]


def cmd_suites(args: argparse.Namespace) -> int:
    from harness.suites import read_suite_spec

    plugins = _plugins(args)
    table = Table(title="harness suites")
    for column in ("name", "version", "task", "role", "primary metric", "path"):
        table.add_column(column)
    for entry in plugins.suites.entries():
        spec = read_suite_spec(entry.item)
        table.add_row(
            spec.name, spec.version, spec.task, spec.role, spec.primary_metric, str(entry.item)
        )
    Console().print(table)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from harness._yaml import load_yaml
    from harness.config import load_config
    from harness.runner import make_plan
    from harness.suites import load_suite

    plugins = _plugins(args)
    problems = []
    console = Console()
    for path in args.files:
        try:
            data, _ = load_yaml(path, "YAML")
            if _looks_like_suite(data):
                suite = load_suite(path, plugins.metrics.as_dict())
                sizes = ", ".join(
                    f"{s} {len(suite.split(s))}" for s in ("train", "validation", "test")
                )
                console.print(
                    f"[green]ok[/green] suite {suite.name} v{suite.version} ({sizes})",
                    highlight=False,
                )
            else:
                config = load_config(path)
                plan = make_plan(
                    config.model_copy(update={"model": config.model or "(demo)"}),
                    plugins,
                    str(path),
                )
                console.print(
                    f"[green]ok[/green] run config: {len(plan.strategies)} strategies"
                    f" × {len(plan.suites)} suites",
                    highlight=False,
                )
        except InputError as e:
            problems.extend(e.problems)
    if problems:
        _print_problems(problems)
        return EXIT_BAD_INPUT
    return EXIT_OK


def _looks_like_suite(data: object) -> bool:
    """A mapping with more suite keys than run-config keys is checked as a suite."""
    from harness.config import RunConfig
    from harness.suites import SuiteSpec

    if not isinstance(data, dict):
        return False
    suite_keys = len(data.keys() & SuiteSpec.model_fields.keys())
    config_keys = len(data.keys() & RunConfig.model_fields.keys())
    return suite_keys > config_keys


def cmd_report(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from harness.reporting.base import ReportContext
    from harness.results import read_results

    results = read_results(args.run_dir)
    plugins = _plugins(args)
    names = args.reporter or _run_reporters(args.run_dir)
    unknown = [n for n in names if n not in plugins.reporters]
    if unknown:
        raise InputError.single(
            "--reporter",
            "reporter",
            f"unknown reporter {unknown[0]!r}",
            f"use one of {plugins.reporters.names()}",
        )
    context = ReportContext(
        results=results,
        run_dir=args.run_dir,
        console=Console(),
        metrics=plugins.metrics.as_dict(),
    )
    failed = False
    for name in names:
        # a reporter that raises loses its own output only: the others still render
        try:
            plugins.reporters[name]().render(context)
        except Exception as e:
            failed = True
            message = escape(f"reporter {name!r} failed: {type(e).__name__}: {e}")
            Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    return EXIT_FAILED if failed else EXIT_OK


def _run_reporters(run_dir: Path) -> list[str]:
    """The reporters a run was configured with (the defaults when its config is unreadable)."""
    from harness.config import RunConfig
    from harness.reporting.evidence import read_run_config

    reporters = read_run_config(run_dir).get("reporters")
    if isinstance(reporters, list) and all(isinstance(r, str) for r in reporters):
        return reporters
    return list(RunConfig().reporters)


def _print_problems(problems: Sequence[object]) -> None:
    err = Console(stderr=True)
    count = len(problems)
    err.print(
        f"[red]error:[/red] {count} problem{'s' if count != 1 else ''} found:", highlight=False
    )
    for problem in problems:
        err.print(f"  - {problem}", highlight=False, markup=False, soft_wrap=True)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # later signals are ignored: they would interrupt the clean-up the first one started
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so a stopped run removes its staging and exits cleanly
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    try:
        return int(args.func(args))
    except InputError as e:
        _print_problems(e.problems)
        return EXIT_BAD_INPUT
    except PluginError as e:
        Console(stderr=True).print(f"[red]plugin error:[/red] {e}", highlight=False, markup=False)
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
