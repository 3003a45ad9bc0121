"""`manifest.json`: what a run's figures depend on, so they can be reproduced."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from harness import __version__
from harness.suites import Suite

PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "sentence-transformers",
    "faiss-cpu",
    "datasets",
)
MODEL_FILES = (".json", ".safetensors", ".bin", ".model", ".txt", ".py")


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def model_hash(name_or_path: str) -> str | None:
    """SHA-256 over a local model folder's files (None for a hub id)."""
    folder = Path(name_or_path)
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in MODEL_FILES):
        digest.update(path.relative_to(folder).as_posix().encode())
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def git_commit(cwd: Path | None = None) -> str | None:
    """The checkout's commit, when the current folder is inside a git work tree."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def build_manifest(model: str, suites: Sequence[Suite], seed: int) -> dict[str, Any]:
    return {
        "harness_version": __version__,
        "python": platform.python_version(),
        "packages": {p: _version(p) for p in PACKAGES},
        "model": {"name_or_path": model, "sha256": model_hash(model)},
        "suites": {
            s.name: {
                "version": s.version,
                "sha256": s.content_hash,
                # per split: a file's digest, or a dataset's revision, fingerprint and
                # records digest
                "sources": s.source_identities(),
            }
            for s in suites
        },
        "seed": seed,
        "git_commit": git_commit(),
    }
