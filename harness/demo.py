"""Where the built-in demo lab's model lives (shipped with the package)."""

from __future__ import annotations

from pathlib import Path

from harness.errors import InputError

DEMO_MODEL_DIR = Path(__file__).resolve().parent / "lab" / "model"
#: the run config `harness run` uses when it is given none
DEMO_CONFIG = Path(__file__).resolve().parent / "lab" / "demo.yaml"


def demo_model_path() -> str:
    """The shipped demo model's folder, or a clear error when it is not there."""
    if not (DEMO_MODEL_DIR / "config.json").is_file():
        raise InputError.single(
            DEMO_MODEL_DIR,
            "model",
            "the built-in demo model is not installed",
            "pass --model NAME_OR_PATH (a hub id or a local model folder), "
            "or build it with `harness lab build-model`",
        )
    return str(DEMO_MODEL_DIR)
