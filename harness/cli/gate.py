"""`harness baseline save` and `harness check`: the regression gate on the command line.

`harness check` exits 0 when the gate passes, 1 when a check failed (a drop above its
threshold that is significant), 2 on bad input or a stale / incompatible baseline.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    Subcommands,
    check_output_file,
    check_output_folder,
    load_cli_plugins,
    names,
    write_output_file,
)
from harness.errors import InputError, Problem

if TYPE_CHECKING:
    from harness.gate import GateConfig

#: exit code of a check that failed (a significant drop above its threshold)
EXIT_GATE_FAILED = EXIT_FAILED


def add_gate_commands(subparsers: Subcommands) -> None:
    """Add `baseline save` and `check` to a CLI."""
    from harness.baseline import DEFAULT_BASELINE_NAME, DEFAULT_BASELINE_ROOT

    baseline = subparsers.add_parser(
        "baseline", help="keep a run's figures as the baseline `harness check` compares to"
    )
    commands = baseline.add_subparsers(dest="baseline_command", metavar="COMMAND", required=True)
    save = commands.add_parser(
        "save", help="copy a run's results, predictions and manifest to baselines/NAME/"
    )
    save.add_argument("run_dir", type=Path, help="the folder of a finished run")
    save.add_argument(
        "--name", default=DEFAULT_BASELINE_NAME, help="baseline name (default: %(default)s)"
    )
    save.add_argument(
        "--root",
        type=Path,
        default=DEFAULT_BASELINE_ROOT,
        help="folder holding the baselines (default: %(default)s/ in the current folder)",
    )
    save.set_defaults(func=cmd_baseline_save)

    default_baseline = DEFAULT_BASELINE_ROOT / DEFAULT_BASELINE_NAME
    check = subparsers.add_parser(
        "check",
        help="gate a run against a baseline: exit 1 on a significant regression",
        description="Compare RUN_DIR to a baseline. Exit 0: the gate passes; 1: a drop "
        "exceeds its threshold and is significant; 2: bad input, or a stale or "
        "incompatible baseline. Thresholds: the `gate:` section of --config, else of the "
        "run's own config.yaml, with the flags below on top.",
    )
    check.add_argument("run_dir", type=Path, help="the run to gate (a run folder)")
    check.add_argument(
        "--baseline",
        type=Path,
        default=default_baseline,
        help="a baseline folder, a run folder or a results.json (default: %(default)s)",
    )
    check.add_argument(
        "--config",
        type=Path,
        help="YAML whose `gate:` section to use (default: the run's own config.yaml)",
    )
    check.add_argument("--max-drop", type=float, help="default max drop (default 0.02)")
    check.add_argument(
        "--forgetting-budget", type=float, help="max drop on forgetting suites (default: max drop)"
    )
    check.add_argument("--alpha", type=float, help="significance level (default 0.05)")
    check.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="NAME[=MAX_DROP]",
        help="also gate metric NAME wherever reported, optionally with its own max drop "
        "(repeatable; each suite's primary metric is always gated)",
    )
    check.add_argument("--strategies", type=names, help="gate only these (comma-separated)")
    check.add_argument(
        "--fail-on-missing",
        action="store_true",
        default=None,
        help="fail when a strategy, suite or metric of the baseline is missing from the run",
    )
    check.add_argument("--resamples", type=int, help="paired bootstrap resamples (default 1000)")
    check.add_argument("--seed", type=int, help="paired bootstrap seed (default 0)")
    check.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    check.add_argument("--markdown", type=Path, metavar="FILE", help="write a Markdown summary")
    check.set_defaults(func=cmd_check)


def cmd_baseline_save(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.baseline import save_baseline

    check_output_folder(args.root, "--root")
    saved = save_baseline(args.run_dir, args.name, args.root)
    console = Console()
    action = "Replaced" if saved.replaced else "Saved"
    console.print(
        f"{action} baseline {args.name!r} (run {saved.run_id}): {saved.path} "
        f"({', '.join(saved.files)})",
        highlight=False,
        soft_wrap=True,
    )
    for warning in saved.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.baseline import load_stored_run
    from harness.gate import compare
    from harness.reporting.gate_markdown import render_gate_markdown
    from harness.reporting.gate_terminal import print_gate_report
    from harness.reporting.junit import write_junit

    check_output_file(args.junit, "--junit")
    check_output_file(args.markdown, "--markdown")
    run = load_stored_run(args.run_dir, "run")
    baseline = load_stored_run(args.baseline, "baseline")
    config = _gate_config(args, run.folder)
    plugins = load_cli_plugins(args)
    try:
        report = compare(run, baseline, config, plugins.metrics.as_dict())
    except InputError as e:
        source = args.config or run.folder / "config.yaml"
        raise InputError([_gate_problem(p, args, source) for p in e.problems]) from None
    console = Console()
    if not console.is_terminal:
        # CI logs: rich would assume 80 columns and crush the table; logs take long lines
        console = Console(width=max(console.width, 160))
    print_gate_report(report, console)
    if args.junit:
        write_output_file(args.junit, "--junit", lambda p: write_junit(report, p))
    if args.markdown:
        markdown = render_gate_markdown(report)
        write_output_file(
            args.markdown, "--markdown", lambda p: p.write_text(markdown, encoding="utf-8")
        )
    return EXIT_OK if report.passed else EXIT_GATE_FAILED


def _gate_problem(problem: Problem, args: argparse.Namespace, source: Path) -> Problem:
    """A problem of the gate's settings, against the flag or the file that set the field."""
    if problem.file != "gate":
        return problem
    flag_metrics = {item.partition("=")[0].strip() for item in args.metric or ()}
    if problem.field.startswith("metrics.") and problem.field[8:] in flag_metrics:
        return replace(problem, file="--metric")
    if problem.field == "strategies" and args.strategies is not None:
        return replace(problem, file="--strategies")
    return replace(problem, file=str(source), field=f"gate.{problem.field}")


def _gate_config(args: argparse.Namespace, run_folder: Path) -> GateConfig:
    """The run's `gate:` section (or --config's), with the flags on top."""
    from harness._yaml import load_yaml
    from harness.gate import GateConfig, parse_gate_config

    source = args.config or run_folder / "config.yaml"
    config = GateConfig()
    if args.config or source.is_file():
        data, lines = load_yaml(source, "config")
        if not isinstance(data, dict) or (args.config and "gate" not in data):
            raise InputError.single(
                source, "gate", "no `gate:` section", "add one (see README: Regression gate)"
            )
        if data.get("gate") is not None:
            config = parse_gate_config(data["gate"], str(source), lines)

    update: dict[str, Any] = {}
    for name in ("max_drop", "forgetting_budget", "alpha", "strategies", "fail_on_missing", "seed"):
        value = getattr(args, name)
        if value is not None:
            update[name] = value
    if args.resamples is not None:
        update["bootstrap_resamples"] = args.resamples
    if args.metric:
        metrics = dict(config.metrics)
        for item in args.metric:
            name, equals, drop = item.partition("=")
            try:
                if equals and not drop.strip():
                    raise ValueError(drop)
                metrics[name.strip()] = float(drop) if equals else metrics.get(name.strip())
            except ValueError:
                raise InputError.single(
                    "--metric", "metric", f"bad max drop in {item!r}", "write NAME or NAME=0.05"
                ) from None
        update["metrics"] = metrics
    if not update:
        return config
    try:
        return parse_gate_config(config.model_dump() | update, "command line")
    except InputError as e:
        # a flag's value is refused: name the flag
        raise InputError(
            [
                replace(p, file=_GATE_FLAGS.get(p.field.split(".")[1], p.file))
                if p.field.count(".") >= 1
                else p
                for p in e.problems
            ]
        ) from None


#: the `harness check` flag that sets each field of the gate config
_GATE_FLAGS = {
    "max_drop": "--max-drop",
    "forgetting_budget": "--forgetting-budget",
    "alpha": "--alpha",
    "metrics": "--metric",
    "strategies": "--strategies",
    "bootstrap_resamples": "--resamples",
    "seed": "--seed",
}
