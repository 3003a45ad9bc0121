"""rag: retrieval-augmented generation over a suite's knowledge corpus.

The suite's documents (its `knowledge:` section, or the `corpus` setting) are chunked,
embedded with sentence-transformers and indexed with FAISS; the index is cached by the
corpus content, chunking, embedder and index settings (never the model). For each test
example the top-k chunks fill the prompt template's `{context}` slot (or precede the
prompt when the template has none), and the upstream predictor does the rest: alone,
that is the base model; in `lora+rag`, the LoRA-adapted model with the same context.

faiss and sentence-transformers are imported (by `harness.retrieval`) when the strategy
adapts, not when it is listed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness import AdaptContext, Example, Predictor, PromptedPredictor, Strategy, Suite, hookimpl
from harness.cache import Cache
from harness.embeddings import DEFAULT_EMBEDDER
from harness.errors import InputError, NotApplicable
from harness.registry import Registry
from harness.retrieval import (
    DEFAULT_OVERLAP,
    DEFAULT_SIZE,
    ChunkingSpec,
    Hit,
    IndexSpec,
    RetrievalIndex,
    load_or_build_index,
    read_documents,
    unique_documents,
)
from harness.suites import Document, template_slots

CONTEXT_SLOTS = frozenset({"title", "text", "doc_id"})
#: questions timed (from the targets' train and validation splits) for `retrieval_ms_per_query`
PROBE_QUERIES = 32


@dataclass(frozen=True)
class RAGSettings:
    """Settings of the `rag` strategy (`harness plugins -v` shows them with their help)."""

    k: int = field(
        default=3, metadata={"help": "chunks retrieved per question (the k of recall_at_k)"}
    )
    by: str = field(
        default="tokens",
        metadata={"help": "chunk by 'tokens' (of the embedder's tokenizer) or 'sentences'"},
    )
    size: int | None = field(
        default=None,
        metadata={"help": "chunk length in `by` units (default: 200 tokens or 5 sentences)"},
    )
    overlap: int | None = field(
        default=None,
        metadata={
            "help": "units shared by consecutive chunks, less than size "
            "(default: 40 tokens or 1 sentence)"
        },
    )
    embedder: str = field(
        default=DEFAULT_EMBEDDER,
        metadata={"help": "sentence-transformers model id or path (default: bundled, offline)"},
    )
    batch_size: int = field(default=64, metadata={"help": "texts per embedding batch"})
    device: str = field(
        default="auto", metadata={"help": "embedder device: auto (CUDA when present), cpu, cuda"}
    )
    index: str = field(
        default="flat",
        metadata={
            "help": "'flat' (exact inner product), 'ivf' or 'hnsw' (approximate, large corpora)"
        },
    )
    nlist: int = field(default=256, metadata={"help": "ivf: clusters (at most one per 39 chunks)"})
    nprobe: int = field(default=16, metadata={"help": "ivf: clusters searched per query"})
    hnsw_m: int = field(default=32, metadata={"help": "hnsw: links per node"})
    ef_construction: int = field(default=200, metadata={"help": "hnsw: build candidate list"})
    ef_search: int = field(default=128, metadata={"help": "hnsw: search candidate list"})
    context_template: str = field(
        default="{text}",
        metadata={"help": "how one retrieved chunk is written: {text}, {title}, {doc_id}"},
    )
    separator: str = field(default="\n\n", metadata={"help": "text between retrieved chunks"})
    corpus: str | None = field(
        default=None,
        metadata={
            "help": "documents JSONL (id, text, optional title) that replaces the target "
            "suites' corpus, e.g. an updated one; absolute or relative to the working folder"
        },
    )
    corpus_sha256: str = field(
        default="",
        init=False,
        metadata={"help": "(set by harness) hash of the `corpus` file: editing it invalidates"},
    )

    def __post_init__(self) -> None:
        # The run's cache keys hash the settings: with the file's content among them, an
        # edited `corpus` file is re-indexed and re-evaluated rather than served stale.
        digest = ""
        if self.corpus:
            try:
                digest = hashlib.sha256(Path(self.corpus).read_bytes()).hexdigest()
            except OSError:
                digest = ""  # reported by validate()
        object.__setattr__(self, "corpus_sha256", digest)

    @property
    def chunk_size(self) -> int:
        return self.size if self.size is not None else DEFAULT_SIZE.get(self.by, 1)

    @property
    def chunk_overlap(self) -> int:
        return self.overlap if self.overlap is not None else DEFAULT_OVERLAP.get(self.by, 0)

    def chunking(self) -> ChunkingSpec:
        return ChunkingSpec(self.by, self.chunk_size, self.chunk_overlap)  # type: ignore[arg-type]

    def index_spec(self) -> IndexSpec:
        return IndexSpec(
            self.index,  # type: ignore[arg-type]
            nlist=self.nlist,
            nprobe=self.nprobe,
            hnsw_m=self.hnsw_m,
            ef_construction=self.ef_construction,
            ef_search=self.ef_search,
        )

    def validate(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        self.chunking()
        self.index_spec()
        try:
            slots = template_slots(self.context_template)
        except ValueError as e:
            raise ValueError(f"context_template: {e}") from None
        unknown = slots - CONTEXT_SLOTS
        if unknown:
            raise ValueError(
                f"context_template: unknown slot(s) {sorted(unknown)}; use {sorted(CONTEXT_SLOTS)}"
            )
        if self.corpus is not None:
            self._check_corpus()

    def _check_corpus(self) -> None:
        """The `corpus` file's problems, each naming that file and the `corpus` setting."""
        assert self.corpus is not None
        if not Path(self.corpus).is_file():
            raise InputError.single(
                "",  # the run config
                "corpus",
                f"documents file {self.corpus!r} not found (looked for from the folder harness "
                f"runs in, {Path.cwd()})",
                "give a JSONL file of documents (id, text, optional title), absolute or "
                "relative to the folder harness runs in",
            )
        try:
            read_documents(Path(self.corpus))
        except InputError as e:
            raise InputError([replace(p, field="corpus") for p in e.problems]) from None

    def corpus_documents(self) -> tuple[Document, ...]:
        """The `corpus` file's documents (ValueError listing its problems)."""
        assert self.corpus is not None
        try:
            return read_documents(Path(self.corpus))
        except InputError as e:
            raise ValueError(f"corpus {self.corpus!r}: {e}") from None


class _SuiteWithContext(Suite):
    """The same suite, whose `render` fills `{context}` for the examples being prompted.

    Upstream predictors render their prompts through the suite (`suite.render`), so
    the retrieved context lands where the template says, inside whatever they build
    around it (few-shot demonstrations, which get no context of their own).
    """

    def __init__(self, suite: Suite, contexts: Mapping[str, str]) -> None:
        super().__init__(suite.spec, suite.path)
        self._base = suite
        self._contexts = contexts

    def split(self, name: str) -> tuple[Example, ...]:
        return self._base.split(name)

    def render(self, example: Example, context: str | None = None) -> str:
        if context is None:
            context = self._contexts.get(example.id)
        return self._base.render(example, context)


class Retriever:
    """One index per suite with a corpus, built or loaded from the cache on first use."""

    def __init__(
        self, settings: RAGSettings, *, cache: Cache | None, targets: Sequence[str] = ()
    ) -> None:
        self.settings = settings
        self.cache = cache
        #: suites whose corpus the `corpus` setting replaces
        self.targets = frozenset(targets)
        self._indexes: dict[str, RetrievalIndex | None] = {}
        self._override: tuple[Document, ...] | None = None

    def documents(self, suite: Suite) -> tuple[Document, ...]:
        """The corpus retrieval uses for `suite` (empty when it has none)."""
        if self.settings.corpus is not None and suite.name in self.targets:
            if self._override is None:
                self._override = self.settings.corpus_documents()
            return self._override
        return suite.documents()

    def index_for(self, suite: Suite) -> RetrievalIndex | None:
        """The suite's index; None when it has no corpus (its prompts are left as they are)."""
        if suite.name not in self._indexes:
            documents = self.documents(suite)
            s = self.settings
            self._indexes[suite.name] = (
                load_or_build_index(
                    documents,
                    s.chunking(),
                    s.embedder,
                    s.index_spec(),
                    cache=self.cache,
                    batch_size=s.batch_size,
                    device=s.device,
                )
                if documents
                else None
            )
        return self._indexes[suite.name]

    def search(self, suite: Suite, queries: Sequence[str]) -> list[list[Hit]] | None:
        index = self.index_for(suite)
        return None if index is None else index.search(queries, self.settings.k)

    def costs(self, probe: Sequence[str]) -> dict[str, float]:
        """Index figures summed over the indexes built so far, and retrieval latency."""
        indexes = [i for i in self._indexes.values() if i is not None]
        costs = {
            "index_build_seconds": round(sum(i.build_seconds for i in indexes), 3),
            "index_bytes": float(sum(i.nbytes for i in indexes)),
            "index_chunks": float(sum(len(i.chunks) for i in indexes)),
            "index_cached": float(all(i.from_cache for i in indexes)),
            "retrieval_k": float(self.settings.k),
        }
        if indexes and probe:
            index = indexes[0]
            index.search(probe[:1], self.settings.k)  # the embedder's first call is not timed
            start = time.perf_counter()
            index.search(probe, self.settings.k)
            costs["retrieval_ms_per_query"] = round(
                1000 * (time.perf_counter() - start) / len(probe), 3
            )
        return costs


class RAGPredictor(PromptedPredictor):
    """Puts the top-k chunks of the suite's corpus into the upstream predictor's prompts."""

    def __init__(self, inner: Predictor, settings: RAGSettings, retriever: Retriever) -> None:
        super().__init__(inner)
        self.settings = settings
        self.retriever = retriever
        self._retrieved: dict[tuple[str, str], tuple[str, ...]] = {}

    def render_context(self, hits: Sequence[Hit]) -> str:
        """The retrieved chunks as they appear in the prompt, best first."""
        template = self.settings.context_template
        return self.settings.separator.join(
            template.format(title=h.chunk.title, text=h.chunk.text, doc_id=h.chunk.doc_id).strip()
            for h in hits
        )

    def prompts(self, suite: Suite, examples: Sequence[Example]) -> list[str]:
        hits = self.retriever.search(suite, [e.input for e in examples]) if examples else None
        if hits is None:
            return self.inner.prompts(suite, examples)
        contexts: dict[str, str] = {}
        for example, found in zip(examples, hits, strict=True):
            self._retrieved[(suite.name, example.id)] = unique_documents(found)
            contexts[example.id] = self.render_context(found)
        prompts = self.inner.prompts(_SuiteWithContext(suite, contexts), examples)
        # an upstream that does not render through the suite still gets the context
        return [
            p if contexts[e.id] in p else f"{contexts[e.id]}\n\n{p}"
            for p, e in zip(prompts, examples, strict=True)
        ]

    def prompt(self, suite: Suite, example: Example) -> str:
        return self.prompts(suite, [example])[0]

    def retrieved_documents(self, suite: Suite, example: Example) -> tuple[str, ...] | None:
        key = (suite.name, example.id)
        if key not in self._retrieved:
            hits = self.retriever.search(suite, [example.input])
            if hits is None:
                return self.inner.retrieved_documents(suite, example)
            self._retrieved[key] = unique_documents(hits[0])
        return self._retrieved[key]


class RAG(Strategy):
    """Retrieves the top-k chunks of the suite's knowledge corpus into each prompt."""

    name = "rag"
    description = "top-k chunks of the suite's knowledge corpus (FAISS) in the prompt"
    settings_class = RAGSettings
    #: what it knows lives in its context (an index), not in trained weights
    knowledge_in_context = True

    def adapt(self, context: AdaptContext) -> Predictor:
        settings: RAGSettings = self.settings
        targets = context.targets
        retriever = Retriever(settings, cache=context.cache, targets=[t.name for t in targets])
        context.progress.phase("indexing", total=len(targets))
        indexed = []
        for target in targets:
            if retriever.index_for(target) is not None:
                indexed.append(target)
            context.progress.advance(1)
        if not indexed:
            names = ", ".join(t.name for t in targets) or "none"
            raise NotApplicable(
                f"rag needs a knowledge corpus, and no target suite has one ({names}): add a "
                "`knowledge:` section to the suite (docs/suites.md) or set `corpus`"
            )
        predictor = RAGPredictor(context.upstream, settings, retriever)
        predictor.costs.update(retriever.costs(_probe_queries(indexed, retriever)))
        return predictor


def _probe_queries(suites: Sequence[Suite], retriever: Retriever) -> list[str]:
    """Questions to time retrieval with: train / validation inputs (never test)."""
    suite = suites[0]
    queries = [e.input for e in (*suite.train, *suite.validation)][:PROBE_QUERIES]
    if not queries:
        index = retriever.index_for(suite)
        chunks = index.chunks if index is not None else ()
        queries = [c.text[:200] for c in chunks[:PROBE_QUERIES]]
    return queries


@hookimpl
def harness_register_strategies(registry: Registry) -> None:
    registry.add(RAG)
