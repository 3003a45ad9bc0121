"""Train tokens/s of the `sft` and `lora` strategies against a plain TRL script.

    python -m benchmarks.train_throughput [--model PATH] [--examples 400] [--epochs 2] \
        [--batch-size 8] [--threads N] [--repeats 2]

Both sides train the same model on the same prompt/completion data with the same
hyperparameters: the harness through `Strategy.adapt` (dataset building from a suite,
`harness.training`, saving the artifact into a fresh cache, merging LoRA weights), the
plain script with `SFTTrainer` and `SFTConfig` written by hand, then `save_pretrained`.
The suite has no validation split, so neither side evaluates or checkpoints during
training. Prints, per strategy, tokens/s of the training loop and end to end (model
load to saved artifact), and the harness's overhead over the plain script.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.cache import Cache
from harness.models.hf import HFModel
from harness.strategy import AdaptContext, Predictor
from harness.suites import load_suite
from harness.testing import build_tiny_llama

INTENTS = ("refund", "delivery", "password", "invoice", "upgrade", "cancel")
_WORDS = [
    "please",
    "my",
    "order",
    "the",
    "account",
    "since",
    "yesterday",
    "still",
    "not",
    "working",
    "again",
    "help",
    "need",
    "thanks",
    "urgent",
    "today",
    "payment",
    "card",
    "email",
    "app",
    "website",
    "box",
    "parcel",
    "plan",
]


def write_suite(root: Path, n_train: int, seed: int = 0) -> Path:
    """A classification suite of `n_train` tickets (train and test splits only)."""
    rng = random.Random(seed)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", 20)):
        with (data / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for i in range(n):
                intent = INTENTS[i % len(INTENTS)]
                words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 20)))
                text = f"{words} {intent} {words.split()[0]}"
                f.write(json.dumps({"id": f"{split}{i}", "input": text, "target": intent}) + "\n")
    (root / "suite.yaml").write_text(
        "name: bench-tickets\nversion: 1\ntask: classification\n"
        "splits: {train: data/train.jsonl, test: data/test.jsonl}\n"
        'prompt: {template: "Ticket: {input}\\nIntent:"}\n'
        f"labels: [{', '.join(INTENTS)}]\nmetrics: [accuracy]\nprimary_metric: accuracy\n",
        encoding="utf-8",
    )
    return root / "suite.yaml"


@dataclass
class Measure:
    tokens: int
    train_seconds: float
    total_seconds: float

    @property
    def train_rate(self) -> float:
        return self.tokens / self.train_seconds

    @property
    def total_rate(self) -> float:
        return self.tokens / self.total_seconds


def run_harness(strategy: Any, model: Path, suite_path: Path, base: HFModel, work: Path) -> Measure:
    """The strategy as a run adapts it, into an empty cache."""
    suite = load_suite(suite_path)
    context = AdaptContext(
        model_name=str(model),
        targets=(suite,),
        seed=0,
        work_dir=work / "artifacts",
        load_model=lambda: base,
        upstream=Predictor(base),
        cache=Cache(work / "cache"),
        cache_key="bench",
    )
    start = time.perf_counter()
    predictor = strategy.adapt(context)
    total = time.perf_counter() - start
    costs = predictor.costs
    return Measure(int(costs["train_tokens"]), costs["train_seconds"], total)


def run_plain_trl(kind: str, model_dir: Path, suite_path: Path, args: Any, work: Path) -> Measure:
    """What one would write by hand: read the JSONL, SFTConfig, SFTTrainer, save."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    rows = [json.loads(line) for line in (suite_path.parent / "data" / "train.jsonl").open()]
    dataset = Dataset.from_list(
        [
            {
                "prompt": f"Ticket: {row['input']}\nIntent:",
                "completion": f" {row['target']}{tokenizer.eos_token}",
            }
            for row in rows
        ]
    )
    steps = -(-len(rows) // args.batch_size) * args.epochs
    config = SFTConfig(
        output_dir=str(work / "out"),
        learning_rate=args.learning_rate,
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        warmup_steps=-(-steps * 5 // 100),
        max_length=512,
        seed=0,
        data_seed=0,
        bf16=False,
        use_cpu=True,
        activation_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=10,
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
    )
    from harness_plugins.finetune import LoraSettings

    lora = LoraSettings()  # the values a user would copy from the strategy's defaults
    peft_config = (
        LoraConfig(
            r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules="all-linear"
        )
        if kind == "lora"
        else None
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    trainer.remove_callback(PrinterCallback)  # quiet, as the harness is
    train_start = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - train_start
    trained: Any = trainer.model
    trained.save_pretrained(work / "saved")
    total = time.perf_counter() - start
    return Measure(int(trainer.state.num_input_tokens_seen), train_seconds, total)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model folder (default: a random Llama)")
    parser.add_argument("--examples", type=int, default=400, help="train examples")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs; best kept")
    parser.add_argument("--strategies", default="sft,lora")
    args = parser.parse_args(argv)

    import datasets
    import torch
    from harness_plugins.finetune import SFT, LoRA, LoraSettings, SFTSettings
    from transformers.utils import logging as hf_logging

    if args.threads:
        torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = args.model or build_tiny_llama(
            root / "model", hidden_size=256, num_layers=4, num_heads=4
        )
        suite_path = write_suite(root / "suite", args.examples)
        base = HFModel.load(str(model))
        table = Table(title=f"Train tokens/s · {model.name} · {args.examples} examples")
        for column in ("strategy", "side", "tokens", "train tok/s", "end-to-end tok/s"):
            table.add_column(column, justify="left" if column in ("strategy", "side") else "right")
        for kind in args.strategies.split(","):
            defaults = SFTSettings() if kind == "sft" else LoraSettings()
            args.learning_rate = defaults.learning_rate
            common = dict(
                learning_rate=args.learning_rate,
                epochs=float(args.epochs),
                batch_size=args.batch_size,
                early_stopping_patience=0,
            )
            strategy = SFT(SFTSettings(**common)) if kind == "sft" else LoRA(LoraSettings(**common))
            harness_best: Measure | None = None
            plain_best: Measure | None = None
            for i in range(args.repeats):
                # alternate who goes first, so one-off warm-up costs fall on both sides
                if i % 2:
                    p = run_plain_trl(kind, model, suite_path, args, root / f"p-{kind}-{i}")
                h = run_harness(strategy, model, suite_path, base, root / f"h-{kind}-{i}")
                if not i % 2:
                    p = run_plain_trl(kind, model, suite_path, args, root / f"p-{kind}-{i}")
                if harness_best is None or h.total_seconds < harness_best.total_seconds:
                    harness_best = h
                if plain_best is None or p.total_seconds < plain_best.total_seconds:
                    plain_best = p
            assert harness_best is not None and plain_best is not None
            for side, m in (("plain TRL", plain_best), ("harness", harness_best)):
                table.add_row(
                    kind, side, f"{m.tokens:,}", f"{m.train_rate:,.0f}", f"{m.total_rate:,.0f}"
                )
            table.add_row(
                kind,
                "harness / plain",
                f"{harness_best.tokens / plain_best.tokens:.3f}",
                f"{harness_best.train_rate / plain_best.train_rate:.3f}",
                f"{harness_best.total_rate / plain_best.total_rate:.3f}",
                end_section=True,
            )
        console.print(table)
        console.print(
            "harness / plain: ratio of tokens/s (1.0 = same speed; 0.91 = 10% slower). "
            "Best of the repeats (alternating which side runs first) by end-to-end time."
        )


if __name__ == "__main__":
    main()
