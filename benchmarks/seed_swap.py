"""Seed swap: does `harness check` mistake training-seed noise for a regression?

Trains the demo's fine-tuned rows (`lora`, `sft` on the tickets-intent suite, evaluated on
it and on three forgetting suites) with a pool of seeds, once each (every seed is a cached
replicate), then gates runs of three seeds against baselines of three other seeds:

- false alarms: baseline seeds {s, s+1, s+2} against run seeds {t, t+1, t+2}, disjoint,
  for every such pair in the pool: nothing changed but the seeds, so every failed check
  is a false alarm (target: at most 5% of the pairs fail);
- single-seed contrast: the same question with one seed a side (`replicates: 1`), as
  before replicates existed;
- real regressions: the LoRA learning rate x10, and half the train data, each with three
  seeds, against a baseline of three seeds: the gate should fail.

    python -m benchmarks.seed_swap [--pool 9] [--replicates 3] [--cache-dir DIR] [--work-dir DIR]

Every figure comes from real `harness run` and `harness check` processes; the run folders
stay in --work-dir (default: a temporary folder) for inspection.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITES = "demo-tickets-intent,demo-skills-facts,demo-skills-arithmetic,demo-skills-copy"


def harness(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=env
    )


def write_config(path: Path, lora: dict[str, object]) -> Path:
    import yaml

    strategies: list[object] = ["zero-shot", {"name": "lora", **lora}, "sft"]
    path.write_text(
        yaml.safe_dump({"suites": SUITES.split(","), "strategies": strategies}), encoding="utf-8"
    )
    return path


def run(config: Path, out: Path, seed: int, replicates: int, env: dict[str, str]) -> Path:
    if out.exists():
        return out
    started = time.perf_counter()
    result = harness(
        "run", str(config), "--out", str(out), "--seed", str(seed),
        "--replicates", str(replicates),
        env=env,
    )  # fmt: skip
    if result.returncode != 0:
        sys.exit(f"harness run failed ({result.returncode}):\n{result.stderr[-3000:]}")
    print(f"  ran {out.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return out


def check(run_dir: Path, baseline: Path, env: dict[str, str]) -> tuple[bool, list[str]]:
    """(failed, the failing checks' lines) of `harness check RUN --baseline BASE`."""
    result = harness("check", str(run_dir), "--baseline", str(baseline), env=env)
    if result.returncode not in (0, 1):
        sys.exit(f"harness check failed ({result.returncode}):\n{result.stderr[-3000:]}")
    failing = [line.strip() for line in result.stdout.splitlines() if line.startswith("fail:")]
    return result.returncode == 1, failing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", type=int, default=9, help="seeds 0..POOL-1 (default 9)")
    parser.add_argument("--replicates", type=int, default=3, help="seeds a side (default 3)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    n = args.replicates
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="seed-swap-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["HARNESS_CACHE_DIR"] = str(args.cache_dir or work / "cache")
    base_config = write_config(work / "base.yaml", {})
    print(f"work folder: {work}")

    # every seed of the pool trained once (each replicate is cached on its own)
    run(base_config, work / "pool", 0, args.pool, env)
    starts = range(args.pool - n + 1)
    runs = {s: run(base_config, work / f"seeds-{n}x-{s}", s, n, env) for s in starts}
    singles = {s: run(base_config, work / f"seed-{s}", s, 1, env) for s in range(args.pool)}

    pairs = [(a, b) for a, b in itertools.combinations(starts, 2) if b - a >= n]
    alarms = []
    for a, b in pairs:
        failed, lines = check(runs[b], runs[a], env)
        alarms.append(failed)
        print(f"  seeds {a}-{a + n - 1} -> {b}-{b + n - 1}: {'FAIL' if failed else 'pass'}")
        for line in lines:
            print(f"      {line}")
    single_pairs = list(itertools.combinations(range(args.pool), 2))
    single_alarms = [check(singles[b], singles[a], env)[0] for a, b in single_pairs]

    regressions = {
        "lora learning rate x10": write_config(work / "lr10.yaml", {"learning_rate": 5e-3}),
        "lora on half the train data": write_config(
            work / "half.yaml", {"max_train_examples": _half_train(env)}
        ),
    }
    caught = {}
    for name, config in regressions.items():
        out = run(config, work / f"{config.stem}-{n}x", 2 * n, n, env)
        failed, lines = check(out, runs[0], env)
        caught[name] = (failed, [line for line in lines if "lora" in line])

    print()
    print(f"false alarms, {n} seeds a side: {sum(alarms)} of {len(pairs)} pairs "
          f"({sum(alarms) / len(pairs):.0%})")  # fmt: skip
    print(f"false alarms, 1 seed a side: {sum(single_alarms)} of {len(single_pairs)} pairs "
          f"({sum(single_alarms) / len(single_pairs):.0%})")  # fmt: skip
    for name, (failed, lines) in caught.items():
        print(f"real regression, {name}: {'caught' if failed else 'MISSED'}")
        for line in lines:
            print(f"    {line}")
    (work / "summary.json").write_text(
        json.dumps(
            {
                "pairs": len(pairs),
                "false_alarms": sum(alarms),
                "single_seed_pairs": len(single_pairs),
                "single_seed_false_alarms": sum(single_alarms),
                "regressions_caught": {k: v[0] for k, v in caught.items()},
            },
            indent=2,
        )
    )


def _half_train(env: dict[str, str]) -> int:
    from harness.plugin_manager import load_plugins
    from harness.runner import resolve_suite

    plugins = load_plugins()
    suite = resolve_suite("demo-tickets-intent", plugins, plugins.metrics.as_dict())
    return max(1, len(suite.train) // 2)


if __name__ == "__main__":
    main()
