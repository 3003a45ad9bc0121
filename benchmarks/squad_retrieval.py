"""Retrieval recall@k over the SQuAD v1.1 dev passages, with the default embedder.

    python -m benchmarks.squad_retrieval [--questions N] [--k 5] [--by tokens] \
        [--size N] [--overlap N] [--index flat] [--threads N] [--data DIR]

Indexes all 2,067 dev passages exactly as the `rag` strategy does (chunking, embedder,
FAISS index from `harness.retrieval`), asks the dev questions (all 10,570, or N evenly
spaced ones), and prints recall@k (share of questions whose passage is among the
documents of the top-k chunks), MRR, the index build time and size, and queries per second. Reads
`../shared/data/squad_v1.1_dev/derived/`; exits 2 when it is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad_v1.1_dev" / "derived"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--questions", type=int, default=None, help="N evenly spaced (default: all)"
    )
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--by", choices=["tokens", "sentences"], default="tokens")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--overlap", type=int, default=None)
    parser.add_argument("--index", choices=["flat", "ivf", "hnsw"], default="flat")
    parser.add_argument("--threads", type=int, default=None, help="torch / FAISS CPU threads")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)

    passages_file = args.data / "squad_v1.1_dev_passages.jsonl"
    questions_file = args.data / "squad_v1.1_dev_qa.jsonl"
    if not passages_file.is_file() or not questions_file.is_file():
        print(f"SQuAD dev data not found under {args.data}", file=sys.stderr)
        return 2
    if args.threads:
        import faiss
        import torch

        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)

    from harness.embeddings import DEFAULT_EMBEDDER, load_embedder
    from harness.metrics import recall_at_k, reciprocal_rank
    from harness.retrieval import (
        DEFAULT_OVERLAP,
        DEFAULT_SIZE,
        ChunkingSpec,
        IndexSpec,
        load_or_build_index,
        read_documents,
        unique_documents,
    )

    documents = read_documents(passages_file)
    questions = [json.loads(line) for line in questions_file.open(encoding="utf-8")]
    if args.questions:  # an evenly spaced subset: every article, not the first few
        questions = questions[:: max(1, len(questions) // args.questions)][: args.questions]
    chunking = ChunkingSpec(
        args.by,
        args.size or DEFAULT_SIZE[args.by],
        args.overlap if args.overlap is not None else DEFAULT_OVERLAP[args.by],
    )
    load_embedder(DEFAULT_EMBEDDER)  # loading is not part of the build time
    index = load_or_build_index(
        documents, chunking, DEFAULT_EMBEDDER, IndexSpec(args.index), device="cpu"
    )
    start = time.perf_counter()
    hits = index.search([q["question"] for q in questions], args.k)
    search_seconds = time.perf_counter() - start
    recalls, ranks = [], []
    for question, found in zip(questions, hits, strict=True):
        retrieved = unique_documents(found)
        recalls.append(recall_at_k(retrieved, [question["passage_id"]]))
        ranks.append(reciprocal_rank(retrieved, [question["passage_id"]]))

    print(f"SQuAD v1.1 dev: {len(documents)} passages -> {len(index.chunks)} chunks")
    print(f"  chunking {chunking.by} size {chunking.size} overlap {chunking.overlap}, ", end="")
    print(f"embedder {DEFAULT_EMBEDDER}, index {args.index}")
    print(f"  index build: {index.build_seconds:.1f} s, {index.nbytes / 1e6:.1f} MB")
    print(
        f"  {len(questions)} questions: {len(questions) / search_seconds:.0f} queries/s "
        f"({1000 * search_seconds / len(questions):.2f} ms/query, embedding included)"
    )
    print(f"  recall@{args.k} {sum(recalls) / len(recalls):.4f}   MRR@{args.k} ", end="")
    print(f"{sum(ranks) / len(ranks):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
