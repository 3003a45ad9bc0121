"""Suites built from real public datasets (../shared/data) run end to end.

The model is the tiny random Llama of the fixtures, so the figures mean nothing; what is
tested is that real data files, with their own field names and lengths, go through the
whole pipeline: validation, prompting, scoring, metrics, results and reports.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.config import RunConfig, StrategyEntry
from harness.plugin_manager import load_plugins
from harness.runner import Runner, make_plan
from harness.suites import load_suite
from tests.conftest import SHARED_DATA

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent"),
]


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _sst2(root: Path) -> Path:
    lines = (SHARED_DATA / "sst2_trec_harvardnlp" / "stsa.binary.dev").read_text().splitlines()
    rows = [{"idx": i, "sentence": line[2:], "label": int(line[0])} for i, line in enumerate(lines)]
    folder = root / "sst2"
    _jsonl(folder / "train.jsonl", rows[:64])
    _jsonl(folder / "test.jsonl", rows[64:])
    (folder / "suite.yaml").write_text(
        """\
name: sst2
version: 1
task: classification
splits: {train: train.jsonl, test: test.jsonl}
fields: {id: idx, input: sentence, target: label}
prompt: {template: "Review: {input}\\nSentiment:"}
labels: {0: negative, 1: positive}
metrics: [accuracy, macro_f1]
primary_metric: accuracy
"""
    )
    return folder / "suite.yaml"


def _squad(root: Path) -> Path:
    """The derived SQuAD files used as they are, through `fields:` and `knowledge:`."""
    folder = root / "squad"
    folder.mkdir()
    qa = (SHARED_DATA / "squad_v1.1_dev" / "derived" / "squad_v1.1_dev_qa.jsonl").read_text()
    lines = qa.splitlines(keepends=True)
    (folder / "train.jsonl").write_text("".join(lines[:40]))
    (folder / "test.jsonl").write_text("".join(lines[40:400]))
    shutil.copy(
        SHARED_DATA / "squad_v1.1_dev" / "derived" / "squad_v1.1_dev_passages.jsonl",
        folder / "passages.jsonl",
    )
    (folder / "suite.yaml").write_text(
        """\
name: squad
version: 1
task: generation
splits: {train: train.jsonl, test: test.jsonl}
fields: {id: id, input: question, target: answers, gold_documents: passage_id}
prompt: {template: "Question: {input}\\nAnswer:"}
generation: {max_new_tokens: 8, stop: ["\\n"]}
knowledge: {documents: passages.jsonl}
metrics: [exact_match, token_f1]
primary_metric: token_f1
"""
    )
    return folder / "suite.yaml"


def _xsum(root: Path) -> Path:
    base = SHARED_DATA / "summarization_lite3pyramid" / "PyrXSum"
    documents = (base / "documents.txt").read_text().split("\n")
    references = (base / "references.txt").read_text().split("\n")
    ids = (base / "ids.txt").read_text().split("\n")
    rows = [
        {"id": i, "document": " ".join(d.split()[:120]), "summary": r}
        for i, d, r in zip(ids, documents, references, strict=True)
    ]
    folder = root / "xsum"
    _jsonl(folder / "train.jsonl", rows[:20])
    _jsonl(folder / "test.jsonl", rows[20:])
    (folder / "suite.yaml").write_text(
        """\
name: xsum
version: 1
task: generation
splits: {train: train.jsonl, test: test.jsonl}
fields: {input: document, target: summary}
prompt: {template: "Document: {input}\\nOne-sentence summary:"}
generation: {max_new_tokens: 16, stop: ["\\n"]}
metrics: [rouge1, rouge2, rougeL, perplexity]
primary_metric: rougeL
"""
    )
    return folder / "suite.yaml"


def test_real_suites_validate(tmp_path: Path) -> None:
    metrics = load_plugins().metrics.as_dict()
    sst2 = load_suite(_sst2(tmp_path), metrics)
    assert len(sst2.test) == 872 - 64 and set(sst2.spec.label_set) == {"negative", "positive"}
    assert {e.references[0] for e in sst2.test} == {"negative", "positive"}
    squad = load_suite(_squad(tmp_path), metrics)
    assert len(squad.documents()) == 2067
    assert squad.test[0].gold_documents and squad.test[0].references
    xsum = load_suite(_xsum(tmp_path), metrics)
    assert len(xsum.test) == 80


@pytest.mark.slow
def test_real_suites_run_end_to_end(tiny_model: Path, tmp_path: Path) -> None:
    plugins = load_plugins()
    suites = [_sst2(tmp_path), _squad(tmp_path), _xsum(tmp_path)]
    config = RunConfig(
        model=str(tiny_model),
        suites=[str(s) for s in suites],
        strategies=[
            StrategyEntry(name="zero-shot"),
            StrategyEntry(name="few-shot", settings={"k": 2}),
        ],
        max_test_examples=24,
        out=str(tmp_path / "run"),
        bootstrap_resamples=200,
    )
    outcome = Runner(make_plan(config, plugins), plugins).run()
    assert outcome.exit_code == 0, [c.error for c in outcome.results.cells]
    results = outcome.results
    assert {c.suite for c in results.cells} == {"sst2", "squad", "xsum"}
    for cell in results.cells:
        assert cell.status == "ok"
        primary = results.suite(cell.suite).primary_metric
        assert 0.0 <= cell.metrics[primary].value <= 1.0
    lines = (outcome.run_dir / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 2 * 3 * 24
