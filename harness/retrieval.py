"""Retrieval over a knowledge corpus: chunking, embedding, FAISS indexes, search, caching.

    documents -> chunks (tokens or sentences, with overlap) -> normalised embeddings
    -> FAISS index (exact inner product, IVF or HNSW) -> top-k chunks per query

An index is cached under a key that hashes what it depends on: the corpus content, the
chunking, the embedder and the index's build parameters, and deliberately not the
language model, so a changed corpus rebuilds the index and never a model. Search-time
parameters (`k`, `nprobe`, `ef_search`) are not part of the key: changing them reuses the
index. faiss and sentence-transformers are imported only when an index is built or used.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.cache import Cache, content_key
from harness.embeddings import DEFAULT_EMBEDDER, load_embedder, resolve_embedder
from harness.errors import InputError
from harness.suites import Document, scan_documents

#: bump when the layout of a cached index folder changes
INDEX_FORMAT = 1
INDEX_KIND = "indexes"
ChunkUnit = Literal["tokens", "sentences"]
IndexKind = Literal["flat", "ivf", "hnsw"]
#: default chunk size and overlap per unit
DEFAULT_SIZE = {"tokens": 200, "sentences": 5}
DEFAULT_OVERLAP = {"tokens": 40, "sentences": 1}
#: IVF: the fewest training vectors per cluster FAISS accepts without a warning
IVF_POINTS_PER_LIST = 39

Span = tuple[int, int]
SpanFunction = Callable[[str], list[Span]]


# -- chunking ------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: what is embedded, retrieved and put in the prompt."""

    doc_id: str
    text: str
    title: str = ""

    @property
    def embedded_text(self) -> str:
        """The text the embedder sees: the document's title, then the passage."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class ChunkingSpec:
    """How documents are cut: `size` units per chunk, `overlap` units shared by neighbours."""

    by: ChunkUnit = "tokens"
    size: int = DEFAULT_SIZE["tokens"]
    overlap: int = DEFAULT_OVERLAP["tokens"]

    def __post_init__(self) -> None:
        if self.by not in DEFAULT_SIZE:
            raise ValueError(f"chunking `by` must be 'tokens' or 'sentences', got {self.by!r}")
        if self.size < 1:
            raise ValueError(f"chunk size must be at least 1, got {self.size}")
        if self.overlap < 0:
            raise ValueError(f"chunk overlap must be 0 or more, got {self.overlap}")
        if self.overlap >= self.size:
            raise ValueError(
                f"chunk overlap ({self.overlap}) must be smaller than the chunk size "
                f"({self.size}): consecutive chunks would never advance"
            )


_SENTENCE = re.compile(
    # a sentence ends at . ! ? … followed by a space or the end (closing quotes kept), at
    # a CJK full stop, or before a line break
    r"\S.*?(?:[.!?…]+[\"'”’)\]]*(?=\s|$)|[。！？]+[」』”’）]*|(?=\n)|$)",
    re.S,
)
_WORD = re.compile(r"\S+")


def sentence_spans(text: str) -> list[Span]:
    """Character spans of the sentences of `text` (no surrounding whitespace).

    A heuristic: a sentence ends at `.`, `!`, `?` or `…` before whitespace, at `。！？`,
    or at a line break. Abbreviations such as "Dr." end a sentence too.
    """
    spans = []
    for match in _SENTENCE.finditer(text):
        start, end = match.start(), match.end()
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def whitespace_spans(text: str) -> list[Span]:
    """Character spans of the whitespace-separated words of `text`."""
    return [m.span() for m in _WORD.finditer(text)]


def tokenizer_spans(tokenizer: Any) -> SpanFunction:
    """Character spans of a Hugging Face tokenizer's tokens (whitespace words without one).

    Offsets map the tokens back to the original text, so chunks keep its case, accents
    and spacing even when the tokenizer normalises them away.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return whitespace_spans
    # a private copy without the truncation and padding the last encode call left set
    # (128 tokens for all-MiniLM-L6-v2), which would silently cut every document short
    backend = type(backend).from_str(backend.to_str())
    backend.no_truncation()
    backend.no_padding()

    def spans(text: str) -> list[Span]:
        encoding = backend.encode(text, add_special_tokens=False)
        return [(s, e) for s, e in encoding.offsets if e > s]

    return spans


def _windows(spans: Sequence[Span], size: int, overlap: int) -> list[Span]:
    """Character ranges of consecutive windows of `size` spans, `overlap` shared."""
    out: list[Span] = []
    step = size - overlap
    for start in range(0, len(spans), step):
        end = min(start + size, len(spans))
        out.append((spans[start][0], spans[end - 1][1]))
        if end == len(spans):
            break
    return out


def chunk_text(
    text: str, spec: ChunkingSpec, token_spans: SpanFunction = whitespace_spans
) -> list[str]:
    """Cut `text` into chunks of `spec.size` tokens or sentences, `spec.overlap` shared.

    Chunks are slices of the original text. Empty or blank text gives no chunk; text
    shorter than one chunk gives one chunk, the text itself without surrounding space.
    """
    spans = sentence_spans(text) if spec.by == "sentences" else token_spans(text)
    return [text[start:end] for start, end in _windows(spans, spec.size, spec.overlap)]


def chunk_documents(
    documents: Iterable[Document], spec: ChunkingSpec, token_spans: SpanFunction = whitespace_spans
) -> list[Chunk]:
    """Every document's chunks, in corpus order."""
    return [
        Chunk(doc.id, text, doc.title)
        for doc in documents
        for text in chunk_text(doc.text, spec, token_spans)
    ]


# -- corpora -------------------------------------------------------------------------


def read_documents(
    path: Path, id_field: str = "id", text_field: str = "text", title_field: str | None = "title"
) -> tuple[Document, ...]:
    """A documents JSONL file (one object per line: id, text, optional title and more).

    Raises `InputError` listing every problem (`harness.suites.scan_documents`), or a
    missing file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError.single(path, "corpus", "documents file not found", "check the path")
    documents, problems = scan_documents(path, id_field, text_field, title_field)
    if problems:
        raise InputError(problems)
    return documents


def corpus_hash(documents: Iterable[Document]) -> str:
    """SHA-256 of the documents' ids, titles and texts, in order."""
    digest = hashlib.sha256()
    for doc in documents:
        digest.update(json.dumps([doc.id, doc.title, doc.text], ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


# -- embedding -----------------------------------------------------------------------


def resolve_device(device: str) -> str:
    """ "auto" -> "cuda" when a GPU is present, else "cpu"; anything else unchanged."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _embedder(name: str, device: str) -> Any:
    resolved = resolve_device(device)
    # CPU by default, as `harness.embeddings.embed` loads it: one copy per process
    return load_embedder(name) if resolved == "cpu" else load_embedder(name, resolved)


@functools.lru_cache(maxsize=8)
def embedder_fingerprint(name: str) -> str:
    """What identifies an embedder's weights: a hash of a local folder's files, else its id."""
    from harness.manifest import model_hash

    resolved = resolve_embedder(name)
    return model_hash(resolved) or resolved


def embed_texts(
    texts: Sequence[str],
    embedder: str = DEFAULT_EMBEDDER,
    *,
    batch_size: int = 64,
    device: str = "cpu",
) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text, encoded in batches."""
    model = _embedder(embedder, device)
    if not texts:
        return np.zeros((0, model.get_sentence_embedding_dimension()), dtype=np.float32)
    vectors = model.encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


# -- FAISS indexes -------------------------------------------------------------------


@dataclass(frozen=True)
class IndexSpec:
    """Which FAISS index, with its build-time and search-time parameters."""

    kind: IndexKind = "flat"
    #: IVF: number of clusters (at most one per 39 vectors, FAISS's minimum training set)
    #: and clusters searched per query
    nlist: int = 256
    nprobe: int = 16
    #: HNSW: links per node, and the candidate list sizes when building and searching
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128

    def __post_init__(self) -> None:
        if self.kind not in ("flat", "ivf", "hnsw"):
            raise ValueError(f"index must be 'flat', 'ivf' or 'hnsw', got {self.kind!r}")
        for name in ("nlist", "nprobe", "ef_construction", "ef_search"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.hnsw_m < 2:
            raise ValueError(f"hnsw_m must be at least 2, got {self.hnsw_m}")

    def build_parameters(self) -> dict[str, Any]:
        """The parameters that change the built index (the cache key's part)."""
        if self.kind == "ivf":
            return {"kind": "ivf", "nlist": self.nlist}
        if self.kind == "hnsw":
            return {"kind": "hnsw", "m": self.hnsw_m, "ef_construction": self.ef_construction}
        return {"kind": "flat"}


def build_faiss_index(vectors: np.ndarray, spec: IndexSpec) -> Any:
    """An inner-product FAISS index over `vectors` (normalised rows: cosine similarity)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    index: Any
    if spec.kind == "ivf":
        quantizer = faiss.IndexFlatIP(dim)
        nlist = max(1, min(spec.nlist, n // IVF_POINTS_PER_LIST))
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
    elif spec.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = spec.ef_construction
    else:
        index = faiss.IndexFlatIP(dim)
    index.add(vectors)
    configure_search(index, spec)
    return index


def configure_search(index: Any, spec: IndexSpec) -> None:
    """Apply the search-time parameters (IVF `nprobe`, HNSW `efSearch`)."""
    import faiss

    concrete = faiss.downcast_index(index)
    if isinstance(concrete, faiss.IndexIVF):
        concrete.nprobe = min(spec.nprobe, concrete.nlist)
    elif isinstance(concrete, faiss.IndexHNSW):
        concrete.hnsw.efSearch = spec.ef_search


def search_vectors(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of the `k` nearest rows per query; ids are -1 where fewer exist."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if len(queries) == 0:
        return np.zeros((0, k), dtype=np.float32), np.zeros((0, k), dtype=np.int64)
    scores, ids = index.search(queries, k)
    return scores, ids


# -- a corpus's index, built or loaded from the cache --------------------------------


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its similarity to the query (cosine for normalised vectors)."""

    chunk: Chunk
    score: float


@dataclass
class RetrievalIndex:
    """The chunks of a corpus and their FAISS index, searchable with the same embedder."""

    chunks: tuple[Chunk, ...]
    index: Any
    embedder: str
    spec: IndexSpec
    key: str = ""
    #: seconds it took to chunk, embed and index the corpus (when it was built)
    build_seconds: float = 0.0
    #: size of the serialised FAISS index
    nbytes: int = 0
    #: whether this index was loaded from the cache rather than built now
    from_cache: bool = False
    batch_size: int = 64
    device: str = "cpu"

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """The `k` most similar chunks of each query, best first."""
        vectors = embed_texts(
            queries, self.embedder, batch_size=self.batch_size, device=self.device
        )
        scores, ids = search_vectors(self.index, vectors, min(k, len(self.chunks)))
        return [
            [
                Hit(self.chunks[i], float(s))
                for s, i in zip(row_scores, row_ids, strict=True)
                if i >= 0
            ]
            for row_scores, row_ids in zip(scores, ids, strict=True)
        ]

    def save(self, folder: Path, meta: dict[str, Any]) -> None:
        """Write `index.faiss`, `chunks.jsonl` and `meta.json` into `folder`."""
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(folder / "index.faiss"))
        with (folder / "chunks.jsonl").open("w", encoding="utf-8") as f:
            for chunk in self.chunks:
                f.write(json.dumps(asdict(chunk), ensure_ascii=False) + "\n")
        (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        self.nbytes = (folder / "index.faiss").stat().st_size

    @classmethod
    def load(
        cls,
        folder: Path,
        embedder: str,
        spec: IndexSpec,
        *,
        batch_size: int = 64,
        device: str = "cpu",
    ) -> RetrievalIndex:
        """Read an index folder written by `save`."""
        import faiss

        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != INDEX_FORMAT:
            raise ValueError(f"index format {meta.get('format')!r}, expected {INDEX_FORMAT}")
        with (folder / "chunks.jsonl").open(encoding="utf-8") as f:
            chunks = tuple(Chunk(**json.loads(line)) for line in f if line.strip())
        index = faiss.read_index(str(folder / "index.faiss"))
        if index.ntotal != len(chunks):
            raise ValueError(f"index has {index.ntotal} vectors for {len(chunks)} chunks")
        configure_search(index, spec)
        return cls(
            chunks,
            index,
            embedder,
            spec,
            key=folder.name,
            build_seconds=float(meta.get("build_seconds", 0.0)),
            nbytes=(folder / "index.faiss").stat().st_size,
            from_cache=True,
            batch_size=batch_size,
            device=device,
        )


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def index_key(documents_hash: str, chunking: ChunkingSpec, embedder: str, spec: IndexSpec) -> str:
    """The cache key of an index: corpus content, chunking, embedder, build parameters.

    Not the language model, nor search-time parameters.
    """
    return content_key(
        "retrieval-index",
        INDEX_FORMAT,
        documents_hash,
        chunking,
        embedder,
        embedder_fingerprint(embedder),
        spec.build_parameters(),
        {p: _package_version(p) for p in ("faiss-cpu", "sentence-transformers")},
    )


def build_index(
    documents: Sequence[Document],
    chunking: ChunkingSpec,
    embedder: str = DEFAULT_EMBEDDER,
    spec: IndexSpec | None = None,
    *,
    batch_size: int = 64,
    device: str = "cpu",
) -> RetrievalIndex:
    """Chunk, embed and index `documents` (no cache)."""
    spec = spec or IndexSpec()
    if not documents:
        raise ValueError("cannot build an index over an empty corpus")
    model = _embedder(embedder, device)
    # timed from here: loading the embedder is a once-per-process cost, not the index's
    start = time.perf_counter()
    if chunking.by == "tokens":
        limit = getattr(model, "max_seq_length", None)
        if limit and chunking.size > limit:
            raise ValueError(
                f"chunk size {chunking.size} tokens exceeds the embedder's limit of {limit} "
                "tokens: the end of every chunk would not be embedded; lower `size`"
            )
    chunks = chunk_documents(documents, chunking, tokenizer_spans(model.tokenizer))
    vectors = embed_texts(
        [c.embedded_text for c in chunks], embedder, batch_size=batch_size, device=device
    )
    index = build_faiss_index(vectors, spec)
    return RetrievalIndex(
        tuple(chunks),
        index,
        embedder,
        spec,
        build_seconds=time.perf_counter() - start,
        batch_size=batch_size,
        device=device,
    )


def load_or_build_index(
    documents: Sequence[Document],
    chunking: ChunkingSpec,
    embedder: str = DEFAULT_EMBEDDER,
    spec: IndexSpec | None = None,
    *,
    cache: Cache | None = None,
    batch_size: int = 64,
    device: str = "cpu",
) -> RetrievalIndex:
    """The corpus's index from `cache` (kind "indexes") when there, else built and stored."""
    spec = spec or IndexSpec()
    key = index_key(corpus_hash(documents), chunking, embedder, spec)
    if cache is not None and (folder := cache.get(INDEX_KIND, key)) is not None:
        try:
            return RetrievalIndex.load(folder, embedder, spec, batch_size=batch_size, device=device)
        except (OSError, ValueError, RuntimeError, TypeError, json.JSONDecodeError):
            pass  # unreadable entry: rebuild it, and replace it below
    built = build_index(documents, chunking, embedder, spec, batch_size=batch_size, device=device)
    built.key = key
    meta = {
        "format": INDEX_FORMAT,
        "build_seconds": round(built.build_seconds, 3),
        "documents": len(documents),
        "chunks": len(built.chunks),
        "dimension": int(built.index.d),
        "chunking": asdict(chunking),
        "embedder": embedder,
        "index": spec.build_parameters(),
    }
    if cache is not None:
        with cache.put(INDEX_KIND, key) as folder:
            built.save(folder, meta)
    else:
        import faiss

        built.nbytes = int(faiss.serialize_index(built.index).nbytes)
    return built


# -- retrieval quality ---------------------------------------------------------------


def unique_documents(hits: Iterable[Hit]) -> tuple[str, ...]:
    """The documents of ranked hits, each once, in rank order (for recall@k and MRR)."""
    return tuple(dict.fromkeys(hit.chunk.doc_id for hit in hits))
