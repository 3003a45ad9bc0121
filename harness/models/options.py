"""What a model may be loaded with, and whether a local model folder can be loaded.

The one place that knows the valid `device` and `dtype` values: the run config, the
`harness run` flags and `HFModel.load` all check against it. `check_model_location`
reads only file headers (no torch, no weights), so a run can refuse a broken model
folder before it writes anything.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from harness.errors import InputError, Problem

#: dtype names accepted in configs and flags -> the torch dtype attribute
DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "float64": "float64",
    "fp64": "float64",
    "double": "float64",
}
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:[0-9]+)?)$")
DEVICE_HELP = "use 'auto', 'cpu', 'cuda', 'cuda:N' (N a GPU index) or 'mps'"
DTYPE_HELP = f"use 'auto' or one of {', '.join(sorted(DTYPES))}"
#: any one of these makes a folder's tokenizer loadable
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
)


def device_error(device: str) -> str | None:
    """Why `device` is not a valid device name (None when it is)."""
    if DEVICE_PATTERN.match(device):
        return None
    return f"unknown device {device!r}"


def dtype_error(dtype: str) -> str | None:
    """Why `dtype` is not a valid dtype name (None when it is)."""
    if dtype == "auto" or dtype in DTYPES:
        return None
    return f"unknown dtype {dtype!r}"


def looks_local(name_or_path: str) -> bool:
    """Whether `name_or_path` is meant as a folder rather than a Hub id ('org/model')."""
    path = Path(name_or_path).expanduser()
    return (
        path.exists()
        or path.is_absolute()
        or name_or_path.startswith((".", "~"))
        or name_or_path.count("/") > 1
        or "\\" in name_or_path
    )


def check_model_location(name_or_path: str) -> None:
    """Refuse a local model path that does not exist or cannot be loaded, with a fix.

    Hub ids pass unchecked. A local folder needs a readable `config.json` naming a
    `model_type`, tokenizer files, and weights whose files are complete (safetensors
    headers are read and checked against the file size; `.bin` files must be whole
    zip archives; every shard of an index must be there). Every problem is reported.
    """
    if not name_or_path.strip():
        raise InputError.single(
            "--model", "model", "the model name is empty", "give a Hub id or a local folder"
        )
    path = Path(name_or_path).expanduser()
    if not path.exists():
        if looks_local(name_or_path):
            raise InputError.single(
                file=name_or_path,
                field="model",
                message="model path does not exist",
                fix="check the path, or give a Hugging Face Hub id such as 'org/model'",
            )
        return
    if not (path.is_dir() and (path / "config.json").is_file()):
        raise InputError.single(
            file=name_or_path,
            field="model",
            message="not a model folder (no config.json)",
            fix="point to a folder saved with save_pretrained, or give a Hub id",
        )
    problems = _config_problems(path / "config.json")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        problems.append(
            Problem(
                str(path),
                "model",
                "the model folder has no tokenizer files",
                "save the tokenizer into it with tokenizer.save_pretrained (one of "
                f"{', '.join(TOKENIZER_FILES)})",
            )
        )
    problems += _weights_problems(path)
    if problems:
        raise InputError(problems)


def _config_problems(config: Path) -> list[Problem]:
    fix = "save the model again with save_pretrained, or restore config.json"
    try:
        data = json.loads(config.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return [Problem(str(config), "model", f"config.json is not valid JSON: {e}", fix)]
    if not isinstance(data, dict):
        return [Problem(str(config), "model", "config.json is not a JSON object", fix)]
    if not isinstance(data.get("model_type"), str):
        return [Problem(str(config), "model_type", "config.json names no model_type", fix)]
    return []


def _weights_problems(folder: Path) -> list[Problem]:
    fix = "download or save the weights again: the file is truncated or corrupt"
    problems: list[Problem] = []
    safetensors = sorted(folder.glob("*.safetensors"))
    bins = sorted(folder.glob("*.bin"))
    for index in sorted(folder.glob("*.index.json")):
        try:
            weight_map = json.loads(index.read_bytes()).get("weight_map", {})
            shards = {str(v) for v in weight_map.values()}
        except (OSError, UnicodeDecodeError, ValueError, AttributeError) as e:
            problems.append(Problem(str(index), "weight_map", f"unreadable index: {e}", fix))
            continue
        for shard in sorted(shards):
            if not (folder / shard).is_file():
                problems.append(
                    Problem(str(index), "weight_map", f"shard {shard!r} is missing", fix)
                )
    if not safetensors and not bins:
        problems.append(
            Problem(
                str(folder),
                "model",
                "the model folder has no weights (*.safetensors or *.bin)",
                "save the model with save_pretrained into this folder",
            )
        )
    for path in safetensors:
        error = _safetensors_error(path)
        if error:
            problems.append(Problem(str(path), "model", f"unreadable weights: {error}", fix))
    for path in bins:
        if path.name.startswith(("training_args", "optimizer", "scheduler", "rng_state")):
            continue
        if not zipfile.is_zipfile(path):
            problems.append(
                Problem(str(path), "model", "unreadable weights: not a whole torch archive", fix)
            )
    return problems


def _safetensors_error(path: Path) -> str | None:
    """Why a safetensors file cannot be loaded, from its header alone (None if it can)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy"):
            return None
    except Exception as e:  # SafetensorError and OSError: the library has no common base
        return str(e) or type(e).__name__
