"""harness.retrieval: chunking, corpora, the cached FAISS index, and retrieval metrics."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from harness.analysis import bootstrap_ci
from harness.cache import Cache
from harness.embeddings import DEFAULT_EMBEDDER, load_embedder, resolve_embedder
from harness.errors import InputError
from harness.evaluate import score_outputs
from harness.metrics import (
    ExampleOutput,
    MeanReciprocalRank,
    RecallAtK,
    recall_at_k,
    reciprocal_rank,
)
from harness.results import PredictionRecord
from harness.retrieval import (
    INDEX_KIND,
    ChunkingSpec,
    IndexSpec,
    RetrievalIndex,
    build_faiss_index,
    chunk_documents,
    chunk_text,
    corpus_hash,
    load_or_build_index,
    read_documents,
    search_vectors,
    sentence_spans,
    tokenizer_spans,
    unique_documents,
)
from harness.suites import Document, load_suite

DOCS = (
    Document("zorblax", "The zorblax is a blue fruit that grows only on the moons of Jupiter."),
    Document("quentor", "Quentor is a mountain town famous for its copper bells.", "Quentor"),
    Document("mirela", "The Mirela river flows north for 300 kilometres into the Ice Sea."),
    Document("vantor", "The Vantor engine runs on compressed seaweed and powers fishing boats."),
    Document("lumen", "The lumen cat has glowing green fur and sleeps during the day."),
)


# -- chunking ------------------------------------------------------------------------


def _words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def test_empty_or_blank_text_gives_no_chunk() -> None:
    for by in ("tokens", "sentences"):
        spec = ChunkingSpec(by, 3, 1)
        assert chunk_text("", spec) == []
        assert chunk_text("  \n\t ", spec) == []


def test_text_shorter_than_a_chunk_is_one_chunk() -> None:
    assert chunk_text("  a short text.  ", ChunkingSpec("tokens", 50, 10)) == ["a short text."]
    assert chunk_text("One. Two.", ChunkingSpec("sentences", 5, 1)) == ["One. Two."]


def test_token_windows_have_the_size_and_overlap_asked() -> None:
    chunks = chunk_text(_words(10), ChunkingSpec("tokens", 4, 1))
    assert chunks == ["w0 w1 w2 w3", "w3 w4 w5 w6", "w6 w7 w8 w9"]
    # the last window stops at the end: no chunk that only repeats the previous one
    assert chunk_text(_words(5), ChunkingSpec("tokens", 4, 2)) == ["w0 w1 w2 w3", "w2 w3 w4"]
    assert chunk_text(_words(4), ChunkingSpec("tokens", 2, 0)) == ["w0 w1", "w2 w3"]


@pytest.mark.parametrize(
    ("size", "overlap", "message"),
    [
        (4, 4, "smaller than the chunk size"),
        (4, 9, "smaller"),
        (0, 0, "at least 1"),
        (3, -1, "0 or more"),
    ],
)
def test_bad_size_or_overlap_is_rejected(size: int, overlap: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChunkingSpec("tokens", size, overlap)


def test_unknown_unit_is_rejected() -> None:
    with pytest.raises(ValueError, match="'tokens' or 'sentences'"):
        ChunkingSpec("paragraphs", 3, 1)  # type: ignore[arg-type]


def test_sentence_splitting() -> None:
    text = 'He said "Hi." Then he left!  Why? Because.\nA new line without a stop\nEnd'
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    assert sentences == [
        'He said "Hi."',
        "Then he left!",
        "Why?",
        "Because.",
        "A new line without a stop",
        "End",
    ]
    cjk = "你好。我很好！谢谢"
    assert [cjk[a:b] for a, b in sentence_spans(cjk)] == ["你好。", "我很好！", "谢谢"]
    chunks = chunk_text("A. B. C. D. E.", ChunkingSpec("sentences", 2, 1))
    assert chunks == ["A. B.", "B. C.", "C. D.", "D. E."]


def test_unicode_chunks_are_slices_of_the_original_text() -> None:
    text = "Crème brûlée 🍮 est délicieuse. 東京は大きい。 Ünïcödé wörds ok."
    tokenizer = load_embedder(DEFAULT_EMBEDDER).tokenizer
    spans = tokenizer_spans(tokenizer)
    chunks = chunk_text(text, ChunkingSpec("tokens", 5, 2), spans)
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk in text  # case and accents kept, though the tokenizer lower-cases
    assert chunks[0].startswith("Crème brûlée")
    assert chunks[-1].endswith("ok.")
    # every token of the text is in some chunk
    covered: set[int] = set()
    for chunk in chunks:
        start = text.index(chunk)
        covered.update(range(start, start + len(chunk)))
    assert all(i in covered for a, b in spans(text) for i in range(a, b))


def test_long_documents_are_not_cut_at_the_embedder_window() -> None:
    model = load_embedder(DEFAULT_EMBEDDER)
    model.encode(["an encode call leaves truncation (128 tokens) set on the tokenizer"])
    text = _words(400)  # "w0 w1 ...": about 3 tokens a word
    chunks = chunk_text(text, ChunkingSpec("tokens", 200, 40), tokenizer_spans(model.tokenizer))
    assert len(chunks) >= 6
    assert chunks[0].startswith("w0 ") and chunks[-1].endswith("w399")


def test_chunks_keep_their_document() -> None:
    docs = [Document("a", _words(7), "A"), Document("b", "tiny")]
    chunks = chunk_documents(docs, ChunkingSpec("tokens", 4, 1))
    assert [(c.doc_id, c.title) for c in chunks] == [("a", "A"), ("a", "A"), ("b", "")]
    assert chunks[0].embedded_text == "A\nw0 w1 w2 w3"
    assert chunks[2].embedded_text == "tiny"


# -- corpora -------------------------------------------------------------------------


def _jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_read_documents(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "docs.jsonl",
        [
            '{"id": 1, "text": "one", "title": "T", "metadata": {"x": 1}}',
            "",
            '{"id": "2", "text": "two"}',
        ],
    )
    assert read_documents(path) == (Document("1", "one", "T"), Document("2", "two"))


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "no documents"),
        (["", "  "], "no documents"),
        (['{"id": 1, "text": "ok"}', "{not json"], "invalid JSON"),
        (["[1, 2]"], "not a JSON object"),
        (['{"id": 1}'], "non-empty 'text'"),
        (['{"id": 1, "text": "  "}'], "non-empty 'text'"),
        (['{"text": "no id"}'], "needs an 'id'"),
        (['{"id": 1, "text": "a"}', '{"id": 1, "text": "b"}'], "duplicate document id"),
    ],
)
def test_malformed_corpus_is_reported(tmp_path: Path, lines: list[str], message: str) -> None:
    path = _jsonl(tmp_path / "docs.jsonl", lines)
    with pytest.raises(InputError, match=message):
        read_documents(path)


def test_missing_corpus_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_documents(tmp_path / "nope.jsonl")


def test_suite_listing_retrieval_metrics_needs_gold_ids(tmp_path: Path) -> None:
    from harness.plugin_manager import load_plugins

    (tmp_path / "test.jsonl").write_text('{"id": "q", "input": "x", "target": "y"}\n')
    (tmp_path / "suite.yaml").write_text(
        "name: s\nversion: 1\ntask: generation\nsplits: {test: test.jsonl}\n"
        "prompt: {template: '{input}'}\nmetrics: [exact_match, recall_at_k, mrr]\n"
        "primary_metric: exact_match\n"
    )
    with pytest.raises(InputError) as error:
        load_suite(tmp_path / "suite.yaml", load_plugins().metrics.as_dict())
    messages = [p.message for p in error.value.problems]
    assert len(messages) == 2
    assert all("needs the ids of the documents" in m for m in messages)
    assert all("gold_documents" in p.fix for p in error.value.problems)


# -- FAISS indexes -------------------------------------------------------------------


def _unit_vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_each_index_kind_finds_a_stored_vector_first(kind: str) -> None:
    vectors = _unit_vectors(400)
    index = build_faiss_index(vectors, IndexSpec(kind, nlist=8, nprobe=8))  # type: ignore[arg-type]
    scores, ids = search_vectors(index, vectors[:20], 5)
    assert list(ids[:, 0]) == list(range(20))
    assert np.allclose(scores[:, 0], 1.0, atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first


def test_fewer_vectors_than_k_pad_with_minus_one() -> None:
    index = build_faiss_index(_unit_vectors(3), IndexSpec())
    _, ids = search_vectors(index, _unit_vectors(1, seed=1), 5)
    assert sorted(ids[0][:3]) == [0, 1, 2] and list(ids[0][3:]) == [-1, -1]


def test_bad_index_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="'flat', 'ivf' or 'hnsw'"):
        IndexSpec("annoy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nprobe"):
        IndexSpec("ivf", nprobe=0)
    with pytest.raises(ValueError, match="hnsw_m"):
        IndexSpec("hnsw", hnsw_m=1)


def test_retrieval_returns_the_gold_document(tmp_path: Path) -> None:
    index = load_or_build_index(DOCS, ChunkingSpec(), device="cpu")
    questions = {
        "What colour is the zorblax fruit?": "zorblax",
        "What is the town of Quentor known for?": "quentor",
        "Which sea does the Mirela river flow into?": "mirela",
        "What fuel does the Vantor engine burn?": "vantor",
        "What colour is the fur of the lumen cat?": "lumen",
    }
    hits = index.search(list(questions), 2)
    assert [h[0].chunk.doc_id for h in hits] == list(questions.values())
    assert all(len(h) == 2 and h[0].score > h[1].score for h in hits)
    assert index.nbytes > 0 and not index.from_cache


def test_token_chunks_longer_than_the_embedder_window_are_rejected() -> None:
    with pytest.raises(ValueError, match="exceeds the embedder's limit of 256"):
        load_or_build_index(DOCS, ChunkingSpec("tokens", 300, 10), device="cpu")


def test_index_cache_hit_miss_and_invalidation(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    chunking = ChunkingSpec("tokens", 8, 2)

    def build(
        docs: Sequence[Document] = DOCS,
        chunks: ChunkingSpec = chunking,
        embedder: str = DEFAULT_EMBEDDER,
        spec: IndexSpec | None = None,
    ) -> RetrievalIndex:
        return load_or_build_index(docs, chunks, embedder, spec, cache=cache, device="cpu")

    first = build()
    assert not first.from_cache and first.build_seconds > 0
    assert len(list((tmp_path / "cache" / INDEX_KIND).iterdir())) == 1
    again = build()
    assert again.from_cache and again.key == first.key
    assert again.build_seconds == pytest.approx(first.build_seconds, abs=1e-3)
    assert again.chunks == first.chunks and again.nbytes == first.nbytes
    # search-time parameters reuse the index
    assert build(spec=IndexSpec("flat", nprobe=3, ef_search=7)).from_cache

    changed_corpus = (*DOCS[:-1], Document("lumen", "The lumen cat has purple fur."))
    misses = {
        "corpus": build(docs=changed_corpus),
        "chunking": build(chunks=ChunkingSpec("tokens", 8, 3)),
        "unit": build(chunks=ChunkingSpec("sentences", 1, 0)),
        # the same weights under another name: a different embedder as far as the key knows
        "embedder": build(embedder=resolve_embedder(DEFAULT_EMBEDDER)),
        "index": build(spec=IndexSpec("hnsw")),
    }
    for what, index in misses.items():
        assert not index.from_cache, what
    keys = {first.key, *(i.key for i in misses.values())}
    assert len(keys) == 6
    assert len(list((tmp_path / "cache" / INDEX_KIND).iterdir())) == 6
    # each is a hit the second time
    assert build(docs=changed_corpus).from_cache


def test_disabled_cache_rebuilds_and_a_broken_entry_is_replaced(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    first = load_or_build_index(DOCS, ChunkingSpec(), cache=cache, device="cpu")
    (cache.path(INDEX_KIND, first.key) / "index.faiss").write_bytes(b"garbage")
    rebuilt = load_or_build_index(DOCS, ChunkingSpec(), cache=cache, device="cpu")
    assert not rebuilt.from_cache
    assert load_or_build_index(DOCS, ChunkingSpec(), cache=cache, device="cpu").from_cache
    off = Cache(tmp_path / "cache", enabled=False)
    assert not load_or_build_index(DOCS, ChunkingSpec(), cache=off, device="cpu").from_cache


def test_corpus_hash_follows_content() -> None:
    assert corpus_hash(DOCS) == corpus_hash(list(DOCS))
    assert corpus_hash(DOCS) != corpus_hash(DOCS[::-1])
    retitled = (Document(DOCS[0].id, DOCS[0].text, "new title"), *DOCS[1:])
    assert corpus_hash(DOCS) != corpus_hash(retitled)


def test_unique_documents_keeps_rank_order() -> None:
    index = load_or_build_index(
        [Document("a", _words(30)), Document("b", "zebra stripes")],
        ChunkingSpec("tokens", 5, 0),
        device="cpu",
    )
    hits = index.search(["w1 w2 w3"], 4)[0]
    assert len(hits) == 4
    assert unique_documents(hits)[0] == "a"
    assert len(unique_documents(hits)) == len(set(unique_documents(hits)))


# -- retrieval metrics ---------------------------------------------------------------


def _output(retrieved: tuple[str, ...] | None, gold: tuple[str, ...]) -> ExampleOutput:
    return ExampleOutput("e", "p", ("r",), gold_documents=gold, retrieved=retrieved)


def test_recall_and_mrr_by_hand() -> None:
    assert recall_at_k(["a", "b", "c"], ["c"]) == 1.0
    assert recall_at_k(["a", "b"], ["b", "z"]) == 0.5
    assert recall_at_k(["a"], ["z"]) == 0.0
    assert math.isnan(recall_at_k(["a"], []))
    assert reciprocal_rank(["a", "b", "c"], ["c"]) == pytest.approx(1 / 3)
    assert reciprocal_rank(["a", "b", "c"], ["c", "b"]) == 0.5
    assert reciprocal_rank(["x"], ["c"]) == 0.0

    outputs = [
        _output(("a", "b", "c"), ("a",)),  # recall 1, rr 1
        _output(("a", "b", "c"), ("c",)),  # recall 1, rr 1/3
        _output(("a", "b", "c"), ("z", "b")),  # recall 1/2, rr 1/2
        _output(("a", "b", "c"), ("z",)),  # recall 0, rr 0
        _output(("a", "b", "c"), ()),  # no gold: not scored
        _output(None, ("a",)),  # no retrieval: not scored
    ]
    metrics = {"recall_at_k": RecallAtK(), "mrr": MeanReciprocalRank()}
    scores = score_outputs(outputs, metrics)
    assert np.allclose(scores["recall_at_k"][:4], [1, 1, 0.5, 0])
    assert np.allclose(scores["mrr"][:4], [1, 1 / 3, 0.5, 0])
    assert np.isnan(scores["recall_at_k"][4:]).all() and np.isnan(scores["mrr"][4:]).all()
    recall = bootstrap_ci(metrics["recall_at_k"], outputs, scores["recall_at_k"], seed=0)
    mrr = bootstrap_ci(metrics["mrr"], outputs, scores["mrr"], seed=0)
    assert recall.value == pytest.approx(2.5 / 4)
    assert mrr.value == pytest.approx((1 + 1 / 3 + 0.5) / 4)
    assert 0 <= recall.ci95[0] <= recall.value <= recall.ci95[1] <= 1


def test_retrieval_metrics_are_nan_when_nothing_is_retrieved() -> None:
    outputs = [_output(None, ("a",)), _output(None, ("b",))]
    metric = RecallAtK()
    scores = score_outputs(outputs, {"r": metric})["r"]
    estimate = bootstrap_ci(metric, outputs, scores, seed=0, n_resamples=50)
    assert math.isnan(estimate.value) and all(math.isnan(x) for x in estimate.ci95)


def test_resampled_aggregate_matches_aggregate() -> None:
    outputs = [_output(("a",), ("a",)), _output(("b",), ("a",)), _output(("a",), ())] * 3
    metric = MeanReciprocalRank()
    scores = score_outputs(outputs, {"m": metric})["m"]
    indices = np.random.default_rng(0).integers(0, len(outputs), size=(40, len(outputs)))
    fast = metric.aggregate_resamples(outputs, scores, indices)
    slow = [metric.aggregate([outputs[i] for i in row], scores[row]) for row in indices]
    assert np.allclose(fast, slow, equal_nan=True)


def test_predictions_jsonl_keeps_gold_and_retrieved_ids() -> None:
    output = ExampleOutput(
        "e1", "blue", ("blue",), gold_documents=("zorblax",), retrieved=("zorblax", "lumen")
    )
    line = PredictionRecord("rag", "s", "prompt", output, {"recall_at_k": 1.0}).to_json()
    assert line["gold_documents"] == ["zorblax"] and line["retrieved"] == ["zorblax", "lumen"]
    back = PredictionRecord.from_json(json.loads(json.dumps(line)))
    assert back.output == output
    plain = ExampleOutput("e2", "x", ("x",))
    plain_line = PredictionRecord("zero-shot", "s", "p", plain, {}).to_json()
    assert "retrieved" not in plain_line and "gold_documents" not in plain_line
    assert PredictionRecord.from_json(plain_line).output.retrieved is None
