"""Examples/s of the Hugging Face backend, batched versus one request at a time.

    python -m benchmarks.eval_throughput [--model PATH] [--examples 200] [--labels 6]

Without --model it builds a small random Llama (hidden 256, 4 layers) in a temporary
folder. Prints one table: classification by log-likelihood (every label scored) and
greedy generation, each batched and one by one, with the speed-up.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.models.base import GenerationRequest, ScoreRequest
from harness.models.hf import HFModel
from harness.testing import build_tiny_llama

_WORD_LIST = (
    "the model reads a prompt and writes an answer about the film story budget plan "
    "committee members agreed costs must fall city capital question review sentiment "
    "acting superb dull slow movie money good morning today quick brown fox lazy dog "
    "numbers options red green blue yellow true false maybe yes no paris london berlin"
)
_WORDS = tuple(_WORD_LIST.split())

LABELS = (
    "positive",
    "negative",
    "neutral",
    "mixed feelings",
    "not about a film",
    "sarcastic praise",
    "angry complaint",
    "question",
)


def random_text(rng: random.Random, n_words: int) -> str:
    """Deterministic filler text from a fixed word list."""
    words = [rng.choice(_WORDS) for _ in range(n_words)]
    return " ".join(words).capitalize() + "."


def classification_requests(n: int, n_labels: int, prompt_words: int, seed: int = 0):
    """Sentiment-style prompts, each scored against `n_labels` multi-token labels."""
    rng = random.Random(seed)
    labels = tuple(" " + label for label in LABELS[:n_labels])
    return [
        ScoreRequest(f"Review: {random_text(rng, prompt_words)}\nSentiment:", labels)
        for _ in range(n)
    ]


def generation_requests(n: int, new_tokens: int, prompt_words: int, seed: int = 1):
    rng = random.Random(seed)
    return [
        GenerationRequest(
            f"Question: {random_text(rng, rng.randint(prompt_words // 2, prompt_words))}\nAnswer:",
            max_new_tokens=new_tokens,
            stop=("\n\n",),
        )
        for _ in range(n)
    ]


def examples_per_second(run: Callable[[], object], n_examples: int) -> tuple[float, float]:
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    return seconds, n_examples / seconds


def build_default_model(folder: Path) -> Path:
    return build_tiny_llama(
        folder, seed=0, vocab_size=1000, hidden_size=256, num_layers=4, num_heads=4
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="local model folder (default: build a small Llama)")
    parser.add_argument("--examples", type=int, default=200, help="classification examples")
    parser.add_argument("--labels", type=int, default=6, help="labels per example (max 8)")
    parser.add_argument("--prompt-words", type=int, default=60)
    parser.add_argument("--gen-examples", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.model or str(build_default_model(Path(tmp) / "model"))
        model = HFModel.load(path, batch_size=args.batch_size)
        console.print(
            f"model {path}: {model.num_parameters() / 1e6:.1f}M parameters, "
            f"{model.device}, {model.model.dtype}, batch size {args.batch_size}"
        )
        scoring = classification_requests(args.examples, args.labels, args.prompt_words)
        generating = generation_requests(args.gen_examples, args.new_tokens, args.prompt_words)
        model.loglikelihood(scoring[:2])  # warm-up
        model.generate(generating[:2])

        table = Table(title="HFModel throughput (examples/s)")
        for column in ("task", "mode", "examples", "seconds", "examples/s", "speed-up"):
            table.add_column(column, justify="left" if column in ("task", "mode") else "right")

        def add_rows(title: str, runs: list[tuple[str, Callable[[], object]]], n: int) -> None:
            baseline = 0.0
            for mode, run in runs:
                seconds, rate = examples_per_second(run, n)
                baseline = baseline or rate
                table.add_row(
                    title, mode, str(n), f"{seconds:.2f}", f"{rate:.1f}", f"{rate / baseline:.1f}×"
                )

        # Without prefix sharing: every (prompt, label) pair is its own request, which is
        # what scoring each label separately costs (as lm-evaluation-harness does).
        per_label = [ScoreRequest(r.prompt, (label,)) for r in scoring for label in r.continuations]
        add_rows(
            f"classify ({args.labels} labels)",
            [
                ("one by one", lambda: [model.loglikelihood([r]) for r in scoring]),
                ("batched, per label", lambda: model.loglikelihood(per_label)),
                ("batched", lambda: model.loglikelihood(scoring)),
            ],
            len(scoring),
        )
        add_rows(
            f"generate ({args.new_tokens} tokens)",
            [
                ("one by one", lambda: [model.generate([r]) for r in generating]),
                ("batched", lambda: model.generate(generating)),
            ],
            len(generating),
        )
        console.print(table)


if __name__ == "__main__":
    main()
