"""`harness run`: the strategies × suites matrix, from a run config and flags."""

from __future__ import annotations

import argparse
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from harness.cli._common import Subcommands, device, dtype, load_cli_plugins, names, whole_number
from harness.errors import InputError, Problem

if TYPE_CHECKING:
    from harness.config import RunConfig


def add_run_command(sub: Subcommands) -> None:
    """Add `run [CONFIG]` with the flags that override the config."""
    run = sub.add_parser("run", help="run the strategies × suites matrix")
    run.add_argument("config", nargs="?", type=Path, help="run config YAML (default: the demo)")
    run.add_argument("--model", help="hub id or local folder of a causal LM")
    run.add_argument("--strategies", type=names, help="comma-separated, e.g. zero-shot,few-shot")
    run.add_argument("--suites", type=names, help="comma-separated suite names or suite.yaml paths")
    run.add_argument("--out", help="run folder (default: reports/<run-id>)")
    run.add_argument("--seed", type=whole_number(0))
    run.add_argument(
        "--replicates",
        type=whole_number(1),
        metavar="N",
        help="adapt and evaluate every seed-dependent row (training, sampled demonstrations) "
        "with N seeds: seed, seed+1, ...",
    )
    run.add_argument("--batch-size", type=whole_number(1))
    run.add_argument(
        "--max-test-examples", type=whole_number(1), metavar="N", help="evaluate at most N"
    )
    run.add_argument("--device", type=device, help="auto (default), cpu, cuda, cuda:1, mps")
    run.add_argument(
        "--dtype", type=dtype, help="auto (default: bf16 on CUDA, fp32 on CPU), float32, ..."
    )
    run.add_argument("--chat-template", choices=["auto", "on", "off"])
    run.add_argument(
        "--reporter",
        action="append",
        dest="reporters",
        metavar="NAME",
        help="render the results with reporter NAME instead of the config's reporters "
        "(repeatable; `harness plugins` lists them)",
    )
    run.add_argument(
        "--no-cache",
        action="store_true",
        help="rebuild every artifact and prediction (the fresh results replace cached ones)",
    )
    run.add_argument(
        "--cache-dir", help="cache folder (default $HARNESS_CACHE_DIR or ~/.cache/harness)"
    )
    run.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="where work units run: local (default, this process) or ray (Ray tasks; the "
        "config's executor: settings apply)",
    )
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from harness.config import StrategyEntry, load_config
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
        "reporters": args.reporters,
        "cache": False if args.no_cache else None,
    }
    update = {k: v for k, v in overrides.items() if v is not None}
    if args.suites:
        update["suites"] = args.suites
    if args.executor:
        update["executor"] = config.executor.model_copy(update={"name": args.executor})
    # entries named on the command line: their problems name the flag, not the config file
    from_flags: dict[str, set[int]] = {}
    if args.suites:
        from_flags["suites"] = set(range(len(args.suites)))
    if args.reporters:
        from_flags["reporters"] = set(range(len(args.reporters)))
    if args.strategies:
        known = {s.row: s for s in config.strategies}
        update["strategies"] = [known.get(n) or StrategyEntry(name=n) for n in args.strategies]
        from_flags["strategies"] = {i for i, n in enumerate(args.strategies) if n not in known}
    source = str(args.config or DEMO_CONFIG)
    config = _with_flags(config, update, source)
    plugins = load_cli_plugins(args, config.block_plugins)
    plugins.raise_for_failures()
    try:
        plan = make_plan(config, plugins, source)
    except InputError as e:
        raise InputError([_name_the_flag(p, source, from_flags) for p in e.problems]) from None
    outcome = Runner(plan, plugins).run()
    console = Console()
    for error in outcome.hook_errors:
        console.print(f"[yellow]plugin hook error:[/yellow] {error}", highlight=False)
    console.print(f"Run folder: {outcome.run_dir}", highlight=False, soft_wrap=True)
    return outcome.exit_code


_FLAGS = {"suites": "--suites", "strategies": "--strategies", "reporters": "--reporter"}


def _name_the_flag(problem: Problem, source: str, from_flags: dict[str, set[int]]) -> Problem:
    """`problem` with `--strategies` (say) as its file when the flag gave the faulty entry."""
    if problem.file != source:
        return problem
    match = re.match(r"(suites|strategies|reporters)(?:\[(\d+)\])?", problem.field)
    if not match or match[1] not in from_flags:
        return problem
    index = match[2]
    if index is not None and int(index) not in from_flags[match[1]]:
        return problem  # an entry of the config file, kept by the flag
    return replace(problem, file=_FLAGS[match[1]], line=None)


def _with_flags(config: RunConfig, update: dict[str, Any], source: str) -> RunConfig:
    """The config with the flags' values; what they break is named after the flag (a
    replicate count that runs the config's seed past the largest one, say)."""
    from pydantic import ValidationError

    from harness.config import RunConfig

    try:
        return RunConfig.model_validate(config.model_dump() | update)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            field = ".".join(str(p) for p in err["loc"])
            top = str(err["loc"][0]) if err["loc"] else ""
            flag = {"cache": "--no-cache", **_FLAGS}.get(top, f"--{top.replace('_', '-')}")
            where = flag if top in update else source
            problems.append(Problem(where, field, err["msg"], "see `harness run --help`"))
        raise InputError(problems) from None
