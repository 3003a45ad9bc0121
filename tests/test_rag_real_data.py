"""Retrieval on real data: SQuAD v1.1 dev questions against all 2,067 dev passages.

The default embedder (all-MiniLM-L6-v2, bundled) and the `rag` strategy's default
chunking and exact index, on ~500 evenly spaced questions (every 21st). Full-set figures:
`python -m benchmarks.squad_retrieval`.
"""

from __future__ import annotations

import json

import pytest

from harness.metrics import recall_at_k, reciprocal_rank
from harness.retrieval import ChunkingSpec, load_or_build_index, read_documents, unique_documents
from tests.conftest import SHARED_DATA

SQUAD = SHARED_DATA / "squad_v1.1_dev" / "derived"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.slow,
    pytest.mark.skipif(not SQUAD.is_dir(), reason="../shared/data is absent"),
]


def test_squad_dev_recall_at_5() -> None:
    passages = read_documents(SQUAD / "squad_v1.1_dev_passages.jsonl")
    assert len(passages) == 2067
    with (SQUAD / "squad_v1.1_dev_qa.jsonl").open(encoding="utf-8") as f:
        questions = [json.loads(line) for line in f][::21]
    assert len(questions) == 504
    index = load_or_build_index(passages, ChunkingSpec(), device="cpu")
    assert len(index.chunks) > len(passages)  # long passages are split, none is cut short
    hits = index.search([q["question"] for q in questions], 5)
    retrieved = [unique_documents(h) for h in hits]
    gold = [[q["passage_id"]] for q in questions]
    recall = sum(map(recall_at_k, retrieved, gold)) / len(questions)
    mrr = sum(map(reciprocal_rank, retrieved, gold)) / len(questions)
    print(f"SQuAD dev, {len(questions)} questions: recall@5 {recall:.3f}, MRR {mrr:.3f}")
    # measured: recall@5 0.855, MRR 0.712 (all 10,570 questions: 0.862, 0.720)
    assert recall >= 0.80
    assert mrr >= 0.60
