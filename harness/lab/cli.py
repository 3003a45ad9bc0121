"""`harness lab ...`: rebuild the demo suites and the demo model, and probe a model."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields, replace
from pathlib import Path

from harness.cli._common import names, whole_number
from harness.errors import InputError, Problem


def add_lab_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `lab build-suites`, `lab build-model` and `lab probe` to a CLI."""
    lab = subparsers.add_parser(
        "lab", help="the embedded demo lab: synthetic world, suites and base model"
    )
    commands = lab.add_subparsers(dest="lab_command", metavar="COMMAND", required=True)

    suites = commands.add_parser("build-suites", help="regenerate the demo suites")
    suites.add_argument("--out", type=Path, help="folder to write into (default: suites/)")
    suites.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    suites.set_defaults(func=_build_suites)

    model = commands.add_parser("build-model", help="train the demo base model from scratch")
    model.add_argument("--out", type=Path, help="folder to save into (default: harness/lab/model)")
    model.add_argument("--seed", type=int, default=0, help="seed of data and weights (default 0)")
    model.add_argument("--minutes", type=float, help="stop early after this wall time")
    model.add_argument("--steps", type=int, help="optimiser steps (default: the shipped recipe)")
    model.add_argument("--threads", type=int, help="torch CPU threads (default 1)")
    model.set_defaults(func=_build_model)

    probe = commands.add_parser("probe", help="run the go/no-go probes on a lab model")
    probe.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
    probe.add_argument("--examples", type=int, default=200, help="examples per probe")
    probe.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    probe.set_defaults(func=_probe)

    myths = commands.add_parser(
        "myths", help="test popular claims about adapting LLMs on a model (default: the demo lab)"
    )
    myths.add_argument("--model", help="hub id or local folder (default: the demo model)")
    myths.add_argument(
        "--suites",
        type=names,
        help="comma-separated suite names or suite.yaml paths, targets and forgetting suites "
        "(default: the demo lab's tickets intent and its four skills)",
    )
    myths.add_argument(
        "--facts-suite",
        help="a target suite with a knowledge corpus of `name attribute: value` documents for "
        "the corpus swap (default: demo-catalog-qa with the demo suites, none otherwise)",
    )
    myths.add_argument("--out", type=Path, default=Path("reports/myths"), help="output folder")
    myths.add_argument(
        "--replicates", type=whole_number(1), default=2, help="training seeds per row (default 2)"
    )
    myths.add_argument(
        "--max-test-examples",
        type=whole_number(1),
        default=100,
        help="test examples per suite (default 100)",
    )
    myths.add_argument("--cache-dir", help="cache folder (default $HARNESS_CACHE_DIR)")
    myths.set_defaults(func=_myths)


def _build_suites(args: argparse.Namespace) -> int:
    from harness.lab.suites import build_suites, default_suites_dir

    out = args.out or default_suites_dir()
    for path in build_suites(out, seed=args.seed):
        print(f"wrote {path}")
    return 0


def _build_model(args: argparse.Namespace) -> int:
    from harness.lab.model import SHIPPED_MODEL_DIR, LabModelConfig, build_model
    from harness.lab.probes import GO_NO_GO, passes

    overrides = {
        name: value
        for name in ("seed", "minutes", "steps", "threads")
        if (value := getattr(args, name, None)) is not None
    }
    known = {f.name for f in fields(LabModelConfig)}
    config = LabModelConfig(**{k: v for k, v in overrides.items() if k in known})
    report = build_model(args.out or SHIPPED_MODEL_DIR, config)
    print(json.dumps(report.probes, indent=2))
    if not passes(report.probes):
        print(f"lab: the go/no-go probes did not clear {GO_NO_GO}")
        return 1
    return 0


def _probe(args: argparse.Namespace) -> int:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.lab.model import SHIPPED_MODEL_DIR
    from harness.lab.probes import GO_NO_GO, passes, run_probes
    from harness.lab.world import World

    path = args.model or SHIPPED_MODEL_DIR
    if not (Path(path) / "config.json").is_file():
        print(f"lab: no model at {path}; build one with `harness lab build-model`")
        return 2
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    probes = run_probes(model, tokenizer, World(args.seed), n=args.examples)
    for name, value in probes.items():
        print(f"{name:12} {value:.3f}")
    ok = passes(probes)
    print(f"go/no-go ({GO_NO_GO}): {'pass' if ok else 'FAIL'}")
    return 0 if ok else 1


def _myths(args: argparse.Namespace) -> int:
    from harness.lab.myths import DEMO_FORGETTING, DEMO_TARGET, MythsSetup, run_myths

    demo = not args.suites
    suites = (DEMO_TARGET, *DEMO_FORGETTING) if demo else tuple(args.suites)
    setup = MythsSetup(
        model=args.model,
        suites=suites,
        facts_source=args.facts_suite or ("demo-catalog-qa" if demo else None),
        max_test_examples=args.max_test_examples,
        replicates=args.replicates,
    )
    try:
        outcome = run_myths(setup, args.out, args.cache_dir)
    except InputError as e:
        # the experiments' configs are built from the flags: name the flag, not the config
        raise InputError([_flag_problem(p) for p in e.problems]) from None
    print()
    for verdict in outcome.verdicts:
        print(verdict.line())
    print(f"\nmeasured in {outcome.seconds / 60:.1f} minutes; report: {outcome.report}")
    return 0


#: run config fields the myths lab's flags set
_MYTHS_FLAGS = {
    "model": "--model",
    "suites": "--suites",
    "replicates": "--replicates",
    "max_test_examples": "--max-test-examples",
    "cache_dir": "--cache-dir",
}


def _flag_problem(problem: Problem) -> Problem:
    """A problem of an experiment's generated config, against the flag that set the field."""
    flag = _MYTHS_FLAGS.get(problem.field.split(".")[0].split("[")[0])
    if not problem.file.startswith("myths ") or flag is None:
        return problem
    return replace(problem, file=flag, line=None)
