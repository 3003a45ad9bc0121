"""Tiny real suites of every task, written to a folder, for tests of harness and plugins."""

from __future__ import annotations

import json
from pathlib import Path

COLOURS = ("red", "green", "blue", "yellow")


def _write(folder: Path, suite_yaml: str, splits: dict[str, list[dict]]) -> Path:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        with (folder / "data" / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    path = folder / "suite.yaml"
    path.write_text(suite_yaml, encoding="utf-8")
    return path


def write_toy_suites(root: Path) -> dict[str, Path]:
    """Three suites: `toy-colours` (classification, target), `toy-echo` (generation,
    target) and `toy-sums` (multiple choice, forgetting). Returns name -> suite.yaml."""
    root = Path(root)
    colour_rows = [
        {"id": f"c{i}", "text": f"The {COLOURS[i % 4]} ball number {i}", "label": COLOURS[i % 4]}
        for i in range(40)
    ]
    classify = _write(
        root / "colours",
        """\
name: toy-colours
version: 1
task: classification
role: target
splits: {train: data/train.jsonl, validation: data/validation.jsonl, test: data/test.jsonl}
fields: {id: id, input: text, target: label}
prompt: {template: "Sentence: {input}\\nColour:"}
labels: [red, green, blue, yellow]
metrics: [accuracy, macro_f1]
primary_metric: accuracy
""",
        {"train": colour_rows[:24], "validation": colour_rows[24:28], "test": colour_rows[28:]},
    )
    echo_rows = [
        {"id": f"e{i}", "input": f"word{i} word{i + 1}", "target": [f"word{i}", f"w{i}"]}
        for i in range(20)
    ]
    generate = _write(
        root / "echo",
        """\
name: toy-echo
version: 1
task: generation
role: target
splits: {train: data/train.jsonl, test: data/test.jsonl}
prompt: {template: "Repeat the first word: {input}\\nAnswer:"}
generation: {max_new_tokens: 6, stop: ["\\n"]}
metrics: [exact_match, token_f1, rougeL, perplexity]
primary_metric: token_f1
""",
        {"train": echo_rows[:12], "test": echo_rows[12:]},
    )
    mc_rows = [
        {
            "id": f"m{i}",
            "question": f"{i} plus 1 is",
            "options": [str(i + 1), str(i + 2), str(i)],
            "answer": 0,
        }
        for i in range(16)
    ]
    choice = _write(
        root / "sums",
        """\
name: toy-sums
version: 2
task: multiple-choice
role: forgetting
splits: {train: data/train.jsonl, test: data/test.jsonl}
fields: {input: question, choices: options, target: answer}
prompt: {template: "{input}"}
metrics: [accuracy]
primary_metric: accuracy
""",
        {"train": mc_rows[:6], "test": mc_rows[6:]},
    )
    return {"toy-colours": classify, "toy-echo": generate, "toy-sums": choice}
