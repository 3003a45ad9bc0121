"""FAISS index kinds on synthetic embeddings: build time, queries/s, recall@10 vs exact.

    python -m benchmarks.retrieval [--vectors 100000] [--dim 384] [--queries 1000] \
        [--clusters 10000] [--spread 1.0] [--nlist 1024] [--nprobe 16] [--hnsw-m 32] \
        [--ef-construction 200] [--ef-search 128] [--indexes flat,ivf,hnsw] [--threads N]

The vectors imitate sentence embeddings: unit vectors drawn around `--clusters` random
topic centres (uniform random vectors in 384-d have no neighbourhood structure, and
every ANN index does badly on them). Queries are fresh draws from the same mixture. Each
index is built with `harness.retrieval.build_faiss_index`, as the `rag` strategy builds
it; recall@10 is the share of the exact (flat) top 10 that the index returns.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def synthetic_embeddings(
    n: int, dim: int, clusters: int, rng: np.random.Generator, spread: float = 1.0
) -> np.ndarray:
    """Unit vectors scattered around random unit centres."""
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.standard_normal((n, dim)).astype(np.float32) * (spread / np.sqrt(dim))
    vectors = centres[rng.integers(0, clusters, size=n)] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors, dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--clusters", type=int, default=10_000)
    parser.add_argument(
        "--spread", type=float, default=1.0, help="noise norm around a centre (unit norm)"
    )
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--nlist", type=int, default=1024)
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef-search", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="FAISS OpenMP threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--indexes", default="flat,ivf,hnsw", help="comma-separated; flat is always built"
    )
    args = parser.parse_args(argv)

    import faiss

    from harness.retrieval import IndexSpec, build_faiss_index, search_vectors

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    both = synthetic_embeddings(
        args.vectors + args.queries, args.dim, args.clusters, rng, args.spread
    )
    database, queries = both[: args.vectors], both[args.vectors :]
    specs = {
        "flat": IndexSpec("flat"),
        "ivf": IndexSpec("ivf", nlist=args.nlist, nprobe=args.nprobe),
        "hnsw": IndexSpec(
            "hnsw",
            hnsw_m=args.hnsw_m,
            ef_construction=args.ef_construction,
            ef_search=args.ef_search,
        ),
    }
    print(
        f"{args.vectors:,} vectors x {args.dim} d ({args.clusters} clusters, "
        f"spread {args.spread}), "
        f"{args.queries:,} queries, k={args.k}, FAISS {faiss.__version__}, "
        f"{faiss.omp_get_max_threads()} thread(s)"
    )
    print(f"{'index':<32} {'build s':>9} {'queries/s':>11} {'recall@' + str(args.k):>10}")
    exact: np.ndarray | None = None
    wanted = {"flat", *args.indexes.split(",")}
    for name, spec in specs.items():
        if name not in wanted:
            continue
        start = time.perf_counter()
        index = build_faiss_index(database, spec)
        build = time.perf_counter() - start
        start = time.perf_counter()
        _, ids = search_vectors(index, queries, args.k)
        qps = len(queries) / (time.perf_counter() - start)
        if exact is None:
            exact = ids
        recall = np.mean(
            [len(set(row) & set(truth)) / args.k for row, truth in zip(ids, exact, strict=True)]
        )
        label = {
            "flat": "flat (exact inner product)",
            "ivf": f"ivf nlist={args.nlist} nprobe={args.nprobe}",
            "hnsw": f"hnsw M={args.hnsw_m} efC={args.ef_construction} efS={args.ef_search}",
        }[name]
        print(f"{label:<32} {build:>9.2f} {qps:>11,.0f} {recall:>10.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
