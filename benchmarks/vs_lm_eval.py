"""HFModel.loglikelihood versus lm-evaluation-harness 0.4.13 on one multiple-choice task.

    pip install lm_eval==0.4.13
    python -m benchmarks.vs_lm_eval [--model PATH] [--examples 200] [--prompt-words 100]

Both read the same local model folder (fp32, CPU unless --device) and score the same
prompts and choices: lm-eval through a local task (JSON data files, `multiple_choice`)
run by `simple_evaluate`, harness through `HFModel.loglikelihood`. Times exclude model
loading; lm-eval's is the time inside its `loglikelihood` (tokenising and scoring, as
for harness). Prints examples/s of each, the ratio, both accuracies and how closely the
per-choice log-likelihoods agree. Runs offline.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.eval_throughput import random_text
from harness.models.base import ScoreRequest
from harness.models.hf import HFModel
from harness.testing import build_tiny_llama

TASK = "harness_bench_mc"
TASK_YAML = """\
task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: question
doc_to_choice: choices
doc_to_target: label
target_delimiter: " "
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


@dataclass(frozen=True)
class Example:
    id: int
    question: str
    choices: list[str]
    label: int


def make_examples(
    n: int, n_choices: int, prompt_words: int, seed: int = 0, letters: bool = False
) -> list[Example]:
    """ARC-style questions with multi-word answers, or lettered options (one token)."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        passage = random_text(rng, prompt_words)
        question = f"{passage}\nQuestion: {random_text(rng, 8)}\nAnswer:"
        choices = [random_text(rng, rng.randint(2, 5)) for _ in range(n_choices)]
        if letters:
            options = " ".join(f"{chr(65 + j)}) {c}" for j, c in enumerate(choices))
            question = question.replace("\nAnswer:", f"\n{options}\nAnswer:")
            choices = [chr(65 + j) for j in range(n_choices)]
        examples.append(Example(i, question, choices, rng.randrange(n_choices)))
    return examples


def write_task(folder: Path, examples: list[Example]) -> Path:
    """A local lm-eval task: a JSON-lines file and its YAML config."""
    data = folder / "data.jsonl"
    with data.open("w") as f:
        for ex in examples:
            f.write(json.dumps(ex.__dict__) + "\n")
    tasks = folder / "tasks"
    tasks.mkdir()
    (tasks / f"{TASK}.yaml").write_text(TASK_YAML.format(task=TASK, data=data))
    return tasks


def timed(method: Callable[..., Any], seconds: list[float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = method(*args, **kwargs)
        seconds.append(time.perf_counter() - start)
        return result

    return wrapper


def run_lm_eval(
    model_path: str, tasks_dir: Path, batch_size: int, device: str
) -> tuple[float, float, dict[int, list[float]]]:
    """Seconds inside lm-eval's loglikelihood, accuracy, log-likelihoods per example."""
    import torch
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=model_path, batch_size=batch_size, device=device, dtype="float32")
    with torch.no_grad():  # warm-up, as for harness
        lm._model_call(torch.ones((2, 32), dtype=torch.long, device=lm.device))
    seconds: list[float] = []
    lm.loglikelihood = timed(lm.loglikelihood, seconds)  # type: ignore[method-assign]
    results = simple_evaluate(
        model=lm,
        tasks=[TASK],
        task_manager=TaskManager(include_path=str(tasks_dir), include_defaults=False),
        batch_size=batch_size,
        log_samples=True,
        bootstrap_iters=0,
    )
    assert results is not None
    accuracy = float(results["results"][TASK]["acc,none"])
    logprobs = {
        sample["doc"]["id"]: [float(ll) for ll, _ in sample["filtered_resps"]]
        for sample in results["samples"][TASK]
    }
    return sum(seconds), accuracy, logprobs


def run_harness(
    model_path: str, examples: list[Example], batch_size: int, device: str
) -> tuple[float, float, dict[int, list[float]], float]:
    """Seconds in loglikelihood, accuracy, log-likelihoods, mean prompt tokens."""
    model = HFModel.load(
        model_path, device=device, dtype="float32", chat_template="off", batch_size=batch_size
    )
    requests = [
        ScoreRequest(ex.question, tuple(" " + choice for choice in ex.choices)) for ex in examples
    ]
    model.loglikelihood(requests[:2])  # warm-up
    start = time.perf_counter()
    scores = model.loglikelihood(requests)
    seconds = time.perf_counter() - start
    logprobs = {ex.id: [s.logprob for s in row] for ex, row in zip(examples, scores, strict=True)}
    correct = sum(_argmax(logprobs[ex.id]) == ex.label for ex in examples)
    mean_prompt = sum(model.count_tokens(ex.question) for ex in examples) / len(examples)
    return seconds, correct / len(examples), logprobs, mean_prompt


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="local model folder (default: build a small Llama)")
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--choices", type=int, default=4)
    parser.add_argument("--prompt-words", type=int, default=100)
    parser.add_argument(
        "--letters", action="store_true", help="answer with a letter (one-token choices)"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--repeats", type=int, default=1, help="time each scorer this often, keep the best"
    )
    parser.add_argument("--hidden-size", type=int, default=256, help="for the built model")
    parser.add_argument("--layers", type=int, default=4, help="for the built model")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    console = Console()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # Everything offline; lm-eval's dataset cache goes to the temporary folder.
        os.environ.update(
            HF_HUB_OFFLINE="1",
            HF_DATASETS_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HF_DATASETS_CACHE=str(tmp / "datasets-cache"),
        )
        logging.getLogger("lm_eval").setLevel(logging.WARNING)
        model_path = args.model or str(
            build_tiny_llama(
                tmp / "model",
                seed=0,
                vocab_size=1000,
                hidden_size=args.hidden_size,
                num_layers=args.layers,
                num_heads=8,
            )
        )
        examples = make_examples(
            args.examples, args.choices, args.prompt_words, letters=args.letters
        )
        tasks_dir = write_task(tmp, examples)

        # Alternate the scorers so that a noisy neighbour on the machine hits both.
        ours_runs, theirs_runs = [], []
        for _ in range(args.repeats):
            ours_runs.append(run_harness(model_path, examples, args.batch_size, args.device))
            theirs_runs.append(run_lm_eval(model_path, tasks_dir, args.batch_size, args.device))
        ours_s, ours_acc, ours_lp, mean_prompt = min(ours_runs, key=lambda run: run[0])
        theirs_s, theirs_acc, theirs_lp = min(theirs_runs, key=lambda run: run[0])

    n = len(examples)
    max_diff = max(
        abs(a - b) for ex in examples for a, b in zip(ours_lp[ex.id], theirs_lp[ex.id], strict=True)
    )
    same_pred = sum(_argmax(ours_lp[ex.id]) == _argmax(theirs_lp[ex.id]) for ex in examples)

    table = Table(
        title=f"Multiple choice: {n} examples × {args.choices} choices, "
        f"~{mean_prompt:.0f} prompt tokens, batch size {args.batch_size}, {args.device}, fp32"
    )
    for column in ("scorer", "seconds", "examples/s", "accuracy"):
        table.add_column(column, justify="left" if column == "scorer" else "right")
    table.add_row("lm-eval 0.4.13", f"{theirs_s:.2f}", f"{n / theirs_s:.1f}", f"{theirs_acc:.4f}")
    table.add_row("harness HFModel", f"{ours_s:.2f}", f"{n / ours_s:.1f}", f"{ours_acc:.4f}")
    console.print(table)
    console.print(
        f"speed-up (harness / lm-eval examples/s): [bold]{theirs_s / ours_s:.2f}×[/bold]; "
        f"same prediction on {same_pred}/{n} examples; "
        f"max |Δ log-likelihood| {max_diff:.2e}"
    )


if __name__ == "__main__":
    main()
