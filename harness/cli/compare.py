"""`harness compare RUN_A RUN_B`: the cell-by-cell difference of two runs.

Prints one row per strategy × suite cell: the primary metric in A and B with 95% CIs,
Δ = B − A with its paired CI, the Holm-corrected p-value (raw p in brackets) and the
test; then the cells that differ significantly. `--json FILE` also writes the comparison
(`run_a`, `run_b`, `significance`, `cells`, `notes`). Exit 0: the comparison ran (whether
or not cells differ); 2: bad input (a folder without results.json).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli._common import EXIT_OK, Subcommands, load_cli_plugins, output_file, probability


def add_compare_commands(subparsers: Subcommands) -> None:
    """Add `compare RUN_A RUN_B` to a CLI."""
    compare = subparsers.add_parser(
        "compare",
        help="cell-by-cell difference of two runs of the same suites, with paired tests",
        description="Compare two runs (for example before and after a model update): for each "
        "strategy × suite cell, B − A on the primary metric, with a paired test where the "
        "runs scored the same examples. Exit 0 when the comparison ran.",
    )
    compare.add_argument("run_a", type=Path, help="the first run folder (the reference)")
    compare.add_argument("run_b", type=Path, help="the second run folder")
    compare.add_argument(
        "--json", type=output_file, metavar="FILE", help="also write the comparison"
    )
    compare.add_argument(
        "--alpha",
        type=probability,
        help="significance level of the Holm-corrected p-values (default: run A's gate.alpha, "
        "else 0.05)",
    )
    compare.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.reporting.compare import compare_runs, print_comparison
    from harness.results import write_json

    plugins = load_cli_plugins(args)
    comparison = compare_runs(args.run_a, args.run_b, plugins.metrics.as_dict(), alpha=args.alpha)
    print_comparison(comparison, Console())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.json, comparison.to_json())
    return EXIT_OK
