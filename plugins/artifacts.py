"""Models trained elsewhere, as rows next to the others: `checkpoint` and `adapter`.

`checkpoint` evaluates a full model (a folder saved with `save_pretrained`, or a Hub
id) with the suite's prompts; `adapter` puts a PEFT adapter folder on the run's base
model. Both are measured like any row: their deltas and forgetting against the base
model's zero-shot row, their costs the artifact's size and the parameters it changes.
Several in one run take labels: `{name: adapter, label: adapter-v2, path: ...}`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from harness import AdaptContext, Example, Predictor, Strategy, Suite, hookimpl
from harness.errors import InputError
from harness.registry import Registry

_ADAPTER_CONFIG = "adapter_config.json"


@dataclass(frozen=True)
class CheckpointSettings:
    """A full model trained elsewhere."""

    path: str = field(
        default="", metadata={"help": "a model folder (save_pretrained) or a Hub id (required)"}
    )

    def validate(self) -> None:
        if not self.path.strip():
            raise ValueError("checkpoint needs `path`: a model folder or a Hub id")
        from harness.models.options import check_model_location

        try:
            check_model_location(self.path)
        except InputError as e:
            raise ValueError("; ".join(f"{p.message} ({p.fix})" for p in e.problems)) from None


@dataclass(frozen=True)
class AdapterSettings:
    """A PEFT adapter trained elsewhere on the run's base model."""

    path: str = field(
        default="", metadata={"help": "a PEFT adapter folder (adapter_config.json) (required)"}
    )

    def validate(self) -> None:
        if not self.path.strip():
            raise ValueError("adapter needs `path`: a PEFT adapter folder")
        folder = Path(self.path).expanduser()
        if not (folder / _ADAPTER_CONFIG).is_file():
            raise ValueError(
                f"{self.path!r} is not a PEFT adapter folder (no {_ADAPTER_CONFIG}); save one "
                "with model.save_pretrained on a PeftModel"
            )
        _check_adapter_files(folder)


#: the weights file names PEFT saves an adapter under
_ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def _check_adapter_files(folder: Path) -> None:
    """The adapter folder's config is a PEFT config and its weights are whole, checked
    before the run (PEFT would fail only when the row adapts, or look for the folder on
    the Hub)."""
    import zipfile

    from harness.models.options import _safetensors_error

    again = "save the adapter again with model.save_pretrained on a PeftModel"
    config = folder / _ADAPTER_CONFIG
    try:
        data = json.loads(config.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{config} is not valid JSON ({e}): {again}") from None
    if not isinstance(data, dict) or not isinstance(data.get("peft_type"), str):
        raise ValueError(f"{config} is not a PEFT adapter config (no peft_type): {again}")
    weights = [folder / name for name in _ADAPTER_WEIGHTS if (folder / name).is_file()]
    if not weights:
        names = " or ".join(_ADAPTER_WEIGHTS)
        raise ValueError(f"{folder} has no adapter weights ({names}): {again}")
    for path in weights:
        error = (
            _safetensors_error(path)
            if path.suffix == ".safetensors"
            else None
            if zipfile.is_zipfile(path)
            else "not a whole torch archive"
        )
        if error:
            raise ValueError(f"{path} is unreadable ({error}): {again}")


class ArtifactPredictor(Predictor):
    """Another model, prompted as the predictor it replaces prompts."""

    def __init__(self, model: Any, upstream: Predictor, *, changed: int, costs: dict[str, float]):
        super().__init__(model, trainable_parameters=changed, costs=costs)
        self.upstream = upstream

    def prompt(self, suite: Suite, example: Example) -> str:
        return self.upstream.prompt(suite, example)

    def prompts(self, suite: Suite, examples: Sequence[Example]) -> list[str]:
        return self.upstream.prompts(suite, examples)

    def retrieved_documents(self, suite: Suite, example: Example) -> tuple[str, ...] | None:
        return self.upstream.retrieved_documents(suite, example)


def _base_facts(context: AdaptContext) -> tuple[Any, Any, dict[str, Any]]:
    """(base HFModel or None, its torch model or None, load options matching it)."""
    base = context.load_model()
    inner = getattr(base, "model", None)
    if inner is None or not hasattr(inner, "parameters"):  # a remote base: defaults
        return None, None, {}
    parameter = next(inner.parameters())
    return (
        base,
        inner,
        {
            "device": str(parameter.device),
            "dtype": str(parameter.dtype).removeprefix("torch."),
            "chat_template": "on" if getattr(base, "uses_chat_template", False) else "off",
            "batch_size": int(getattr(base, "batch_size", 16)),
        },
    )


def _changed_parameters(model: Any, base: Any) -> int:
    """Elements that differ from the base model's (all of them when shapes differ)."""
    import torch

    total = sum(p.numel() for p in model.parameters())
    if base is None:
        return total
    reference = dict(base.named_parameters())
    changed = 0
    for name, parameter in model.named_parameters():
        other = reference.get(name)
        if other is None or other.shape != parameter.shape:
            changed += parameter.numel()
        else:
            changed += int(torch.ne(parameter, other.to(parameter.device, parameter.dtype)).sum())
    return changed


def _size(path: str) -> float:
    from harness.training import folder_bytes

    folder = Path(path).expanduser()
    return float(folder_bytes(folder)) if folder.is_dir() else 0.0


def _content_hash(path: str) -> str | None:
    from harness.manifest import model_hash

    return model_hash(str(Path(path).expanduser()))


class Checkpoint(Strategy):
    """A full model trained elsewhere, evaluated with the suite's prompts."""

    name = "checkpoint"
    description = "a model folder or Hub id trained elsewhere, as a row (path: ...)"
    settings_class = CheckpointSettings

    def inputs_identity(self) -> object:
        return _content_hash(self.settings.path)

    def adapt(self, context: AdaptContext) -> Predictor:
        from harness.models.hf import HFModel

        _, base_model, options = _base_facts(context)
        model = HFModel.load(self.settings.path, **options)
        changed = _changed_parameters(model.model, base_model)
        return ArtifactPredictor(
            model,
            context.upstream,
            changed=changed,
            costs={"artifact_bytes": _size(self.settings.path), "parameters_changed": changed},
        )


class Adapter(Strategy):
    """A PEFT adapter trained elsewhere, put on the run's base model."""

    name = "adapter"
    description = "a PEFT adapter folder trained elsewhere on the base model (path: ...)"
    settings_class = AdapterSettings
    needs_local_weights: ClassVar[bool] = True

    def inputs_identity(self) -> object:
        return _content_hash(self.settings.path)

    def adapt(self, context: AdaptContext) -> Predictor:
        import torch
        from peft import PeftModel

        from harness.models.hf import HFModel
        from harness.training import load_model, load_tokenizer, quiet

        _, _, options = _base_facts(context)
        folder = str(Path(self.settings.path).expanduser())
        device = torch.device(options["device"])
        with quiet():
            fresh = load_model(
                context.model_name, device=device, dtype=getattr(torch, options["dtype"])
            )
            peft_model = PeftModel.from_pretrained(fresh, folder)
        changed = _adapter_parameters(Path(folder))
        model = peft_model.merge_and_unload()
        model.eval()
        model.requires_grad_(False)
        tokenizer = load_tokenizer(context.model_name)
        return ArtifactPredictor(
            HFModel(
                model,
                tokenizer,
                name=f"{context.model_name} (adapter {Path(folder).name})",
                chat_template=options["chat_template"],
                batch_size=options["batch_size"],
            ),
            context.upstream,
            changed=changed,
            costs={"artifact_bytes": _size(folder), "parameters_changed": changed},
        )


def _adapter_parameters(folder: Path) -> int:
    """Elements in the adapter's weights file (what it adds to or changes in the base)."""
    from safetensors import safe_open

    total = 0
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), framework="numpy") as f:
            for key in f.keys():  # noqa: SIM118 - safe_open is no mapping
                shape = f.get_slice(key).get_shape()
                n = 1
                for d in shape:
                    n *= int(d)
                total += n
    if total == 0 and (folder / _ADAPTER_CONFIG).is_file():
        json.loads((folder / _ADAPTER_CONFIG).read_text(encoding="utf-8"))  # readable at least
    return total


@hookimpl
def harness_register_strategies(registry: Registry) -> None:
    registry.add(Checkpoint)
    registry.add(Adapter)
