"""Commands that read rather than run: `plugins`, `suites`, `validate`, `report`."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    Subcommands,
    load_cli_plugins,
    print_problems,
)
from harness.errors import InputError


def add_info_commands(sub: Subcommands) -> None:
    """Add `plugins`, `suites`, `validate` and `report`."""
    plugins = sub.add_parser(
        "plugins", help="list strategies, metrics, suites, reporters and backends"
    )
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


def cmd_plugins(args: argparse.Namespace) -> int:
    from harness.strategy import settings_help

    plugins = load_cli_plugins(args)
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
        ("backend", plugins.backends),
    ):
        for entry in registry.entries():
            p = entry.provenance
            source = f"{p.plugin} · {p.package} {p.version}".strip()
            table.add_row(kind, entry.name, source, _about(entry.item))
    console.print(table)
    if args.verbose:
        configurable: list[tuple[str, type]] = [
            (e.name, e.item.settings_class) for e in plugins.strategies.entries()
        ] + [(f"backend {e.name}", e.item.settings_class) for e in plugins.backends.entries()]
        for title, settings_class in configurable:
            rows = settings_help(settings_class)
            if rows:
                console.print(f"\n[bold]{title}[/bold] settings:")
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

    plugins = load_cli_plugins(args)
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

    plugins = load_cli_plugins(args)
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
        print_problems(problems)
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
    plugins = load_cli_plugins(args)
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
