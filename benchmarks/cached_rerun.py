"""What a corpus metric adds to a cached re-run: the demo with and without BLEU.

    python -m benchmarks.cached_rerun [--strategies zero-shot,few-shot,...] [--repeats 3]

Runs the built-in demo once to fill a fresh cache, then times cached re-runs (every
cell read from the cache: no model, no training; plugins, planning, the bootstrap of
every metric, paired deltas and the reports remain). It does the same with BLEU added
to the generation suite `demo-tickets-summary` (`metrics: [+bleu]` in the run config)
and prints the medians and their ratio. BLEU's bootstrap sums per-example n-gram
statistics for all resamples at once, so the ratio should stay near 1 (goal: <= 1.5).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from harness.cli import main
from harness.demo import DEMO_CONFIG


def _config(folder: Path, name: str, strategies: list[str] | None, bleu: bool) -> Path:
    data = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    if strategies:
        data["strategies"] = [
            s for s in data["strategies"] if (s if isinstance(s, str) else s["name"]) in strategies
        ]
    if bleu:
        data["suites"] = [
            {"name": s, "metrics": ["+bleu"]} if s == "demo-tickets-summary" else s
            for s in data["suites"]
        ]
    path = folder / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _run(config: Path, out: Path, cache: Path) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["run", str(config), "--out", str(out), "--cache-dir", str(cache)])
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"harness run {config.name} exited {code}")
    return seconds


def main_(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", help="comma-separated demo rows (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    strategies = args.strategies.split(",") if args.strategies else None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cache = root / "cache"
        figures = {}
        for label, bleu in (("without BLEU", False), ("with BLEU", True)):
            config = _config(root, f"{label.replace(' ', '-')}.yaml", strategies, bleu)
            first = _run(config, root / f"{label}-fill", cache)
            times = [_run(config, root / f"{label}-{i}", cache) for i in range(args.repeats)]
            figures[label] = statistics.median(times)
            print(
                f"{label:>13}: first run {first:7.2f} s; cached re-runs "
                + ", ".join(f"{t:.2f}" for t in times)
                + f" s (median {figures[label]:.2f} s)"
            )
    ratio = figures["with BLEU"] / figures["without BLEU"]
    print(f"cached re-run with BLEU / without: {ratio:.2f}x (goal <= 1.5x)")


if __name__ == "__main__":
    main_()
