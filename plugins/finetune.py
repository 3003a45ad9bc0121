"""Fine-tuning strategies: full SFT, LoRA (QLoRA on CUDA), and multi-task with replay.

All three train a fresh copy of the base model through the same TRL path
(`harness.training`), keep what they produce in the run's artifact cache (a full model
under `models/`, an adapter under `adapters/`, keyed by `context.cache_key`), and write
their loss curves to `loss.jsonl` in their artifacts folder. An unchanged re-run loads
the cached artifact instead of training. torch, trl and peft are imported when a
strategy adapts, never when it is listed.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from harness import AdaptContext, Example, Predictor, Strategy, Suite, hookimpl
from harness.registry import Registry
from harness.training import TrainingExample, TrainSettings

#: what `training.json` in an artifact records (and a cache hit reports again)
_RECORD_FILE = "training.json"
_LOSS_FILE = "loss.jsonl"
_QUANTIZE = ("none", "4bit")
_METHODS = ("full", "lora")


# -- settings ------------------------------------------------------------------------


@dataclass(frozen=True)
class SFTSettings(TrainSettings):
    """Full supervised fine-tuning: every weight of the model is trained."""

    learning_rate: float = field(default=5e-5, metadata={"help": "peak AdamW learning rate"})


@dataclass(frozen=True)
class LoraSettings(TrainSettings):
    """LoRA: low-rank adapters on the chosen modules; the base weights stay frozen."""

    learning_rate: float = field(default=5e-4, metadata={"help": "peak AdamW learning rate"})
    r: int = field(default=4, metadata={"help": "LoRA rank"})
    alpha: int = field(default=8, metadata={"help": "LoRA scaling numerator (scale alpha / r)"})
    dropout: float = field(default=0.05, metadata={"help": "dropout on the LoRA input"})
    target_modules: tuple[str, ...] = field(
        default=("all-linear",),
        metadata={
            "help": "modules to adapt: 'all-linear' (every linear layer of the blocks, found "
            "per architecture, lm_head excluded), a list of module names (q_proj, v_proj, "
            "...), or an empty list for PEFT's default of the architecture"
        },
    )
    quantize: str = field(
        default="none",
        metadata={"help": "'4bit': QLoRA, the frozen base in 4-bit NF4 (CUDA + bitsandbytes)"},
    )

    def validate(self) -> None:
        super().validate()
        if self.r < 1:
            raise ValueError(f"r must be at least 1, got {self.r}")
        if self.alpha <= 0:
            raise ValueError(f"alpha must be positive, got {self.alpha}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.quantize not in _QUANTIZE:
            raise ValueError(f"quantize must be one of {list(_QUANTIZE)}, got {self.quantize!r}")
        if self.quantize == "4bit":
            problem = qlora_problem()
            if problem:
                raise ValueError(problem)


@dataclass(frozen=True)
class MultitaskSettings(LoraSettings):
    """One model for every target suite, optionally mixed with replayed general data."""

    learning_rate: float = field(default=5e-5, metadata={"help": "peak AdamW learning rate"})
    method: str = field(
        default="full",
        metadata={"help": "'full' (every weight) or 'lora' (uses r, alpha, dropout, ...)"},
    )
    replay_fraction: float = field(
        default=0.25,
        metadata={
            "help": "share of the training mix drawn from the forgetting suites' train "
            "splits, to reduce forgetting (0: none)"
        },
    )

    def validate(self) -> None:
        super().validate()
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {list(_METHODS)}, got {self.method!r}")
        if self.quantize != "none" and self.method != "lora":
            raise ValueError("quantize needs method: lora (a full fine-tune trains every weight)")
        if not 0 <= self.replay_fraction < 1:
            raise ValueError(f"replay_fraction must be in [0, 1), got {self.replay_fraction}")


def qlora_problem() -> str | None:
    """Why QLoRA cannot run on this machine (None when it can)."""
    missing = []
    if importlib.util.find_spec("bitsandbytes") is None:
        missing.append("bitsandbytes is not installed (pip install bitsandbytes)")
    import torch

    if not torch.cuda.is_available():
        missing.append("no CUDA GPU is available")
    if not missing:
        return None
    return (
        "quantize: 4bit (QLoRA) needs a CUDA GPU and bitsandbytes, but "
        + " and ".join(missing)
        + "; use quantize: none for plain LoRA"
    )


# -- the predictor -------------------------------------------------------------------


class FineTunedPredictor(Predictor):
    """A fine-tuned model prompted as the predictor it was trained from prompts."""

    def __init__(
        self,
        model: Any,
        upstream: Predictor,
        *,
        trainable_parameters: int,
        costs: dict[str, float],
    ) -> None:
        super().__init__(model, trainable_parameters=trainable_parameters, costs=costs)
        self.upstream = upstream

    def prompt(self, suite: Suite, example: Example) -> str:
        return self.upstream.prompt(suite, example)

    def prompts(self, suite: Suite, examples: Sequence[Example]) -> list[str]:
        return self.upstream.prompts(suite, examples)


# -- the shared adaptation -----------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What one fine-tuning adaptation trains, decided by the strategy."""

    settings: TrainSettings
    lora: bool
    replay_fraction: float = 0.0

    @property
    def kind(self) -> str:
        """The cache folder: adapters are small, models are whole."""
        return "adapters" if self.lora else "models"


def _training_data(
    context: AdaptContext, plan: _Plan, seed: int
) -> tuple[list[TrainingExample], list[TrainingExample], int]:
    """Train examples (targets, then replay), validation examples, and the replay count."""
    from harness.training import replay_sample, suite_examples

    limit = plan.settings.max_train_examples
    train: list[TrainingExample] = []
    for suite in context.targets:
        rows = suite_examples(suite, "train", context.upstream, limit=limit, seed=seed)
        if not rows:
            raise ValueError(
                f"target suite {suite.name!r} has no train examples: "
                "fine-tuning needs a train split"
            )
        train += rows
    validation = [
        row
        for suite in context.targets
        for row in suite_examples(suite, "validation", context.upstream)
    ]
    replay: list[TrainingExample] = []
    if plan.replay_fraction > 0:
        pool = [
            row
            for suite in context.forgetting
            for row in suite_examples(suite, "train", context.upstream, limit=limit, seed=seed)
        ]
        replay = replay_sample(pool, plan.replay_fraction, len(train), seed)
    return train + replay, validation, len(replay)


def _lora_config(settings: TrainSettings) -> Any:
    from peft import LoraConfig

    assert isinstance(settings, LoraSettings), "LoRA needs LoRA settings"

    targets = settings.target_modules
    # "all-linear" is PEFT's per-architecture choice; an empty list, its model-type default
    target_modules: str | list[str] | None = (
        "all-linear" if targets == ("all-linear",) else list(targets) or None
    )
    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )


def _quantization_config(settings: TrainSettings, device: Any) -> Any:
    """BitsAndBytes NF4 for QLoRA, after checking that this machine can run it."""
    if getattr(settings, "quantize", "none") != "4bit":
        return None
    problem = qlora_problem()
    if problem is None and device.type != "cuda":
        problem = "quantize: 4bit (QLoRA) needs the model on a CUDA GPU; the run uses the CPU"
    if problem:
        raise ValueError(problem)
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def _shared_model_facts(context: AdaptContext) -> tuple[Any, Any, bool, int]:
    """Device, dtype, chat-template use and batch size of the run's base model."""
    from harness.training import training_device

    shared = context.load_model()
    device = training_device(shared)
    inner = getattr(shared, "model", None)
    dtype = next(inner.parameters()).dtype if inner is not None else None
    chat = bool(getattr(shared, "uses_chat_template", False))
    return device, dtype, chat, int(getattr(shared, "batch_size", 16))


def _for_inference(model: Any, plan: _Plan, device: Any, dtype: Any) -> Any:
    """Merge LoRA weights (unless quantized), cast to the base model's dtype, freeze."""
    quantized = getattr(plan.settings, "quantize", "none") != "none"
    if plan.lora and not quantized:
        model = model.merge_and_unload()
    if not quantized:
        model = model.to(device=device, dtype=dtype) if dtype is not None else model.to(device)
    model.eval()
    model.requires_grad_(False)
    return model


def _load_artifact(folder: Path, context: AdaptContext, plan: _Plan, device: Any) -> Any:
    """(model, tokenizer) from a cached artifact."""
    from harness.training import load_model, load_tokenizer

    if not plan.lora:
        return load_model(str(folder), device=device), load_tokenizer(str(folder))
    from peft import PeftModel

    base = load_model(
        context.model_name,
        device=device,
        quantization_config=_quantization_config(plan.settings, device),
    )
    model = PeftModel.from_pretrained(base, str(folder))
    return model, load_tokenizer(context.model_name)


def _save_artifact(model: Any, tokenizer: Any, folder: Path, plan: _Plan) -> None:
    model.save_pretrained(folder)  # a PEFT model saves its adapter only
    if not plan.lora:
        tokenizer.save_pretrained(folder)


def _train_and_store(
    context: AdaptContext, plan: _Plan, device: Any, chat: bool, loss_path: Path
) -> tuple[Any, Any, dict[str, float]]:
    """Train, then publish the artifact in the cache; (model, tokenizer, record)."""
    from harness.training import count_parameters, folder_bytes, load_model, load_tokenizer, train

    settings = plan.settings
    seed = settings.seed if settings.seed is not None else context.seed
    train_rows, eval_rows, n_replay = _training_data(context, plan, seed)
    tokenizer = load_tokenizer(context.model_name)
    quantization = _quantization_config(settings, device)
    base = load_model(context.model_name, device=device, quantization_config=quantization)
    if quantization is not None:  # QLoRA: freeze the 4-bit base, norms in fp32
        from peft import prepare_model_for_kbit_training

        base = prepare_model_for_kbit_training(
            base, use_gradient_checkpointing=settings.gradient_checkpointing
        )
    result = train(
        base,
        tokenizer,
        train_rows,
        eval_rows,
        settings,
        seed=seed,
        loss_path=loss_path,
        peft_config=_lora_config(settings) if plan.lora else None,
        chat=chat,
    )
    model = result.model
    trainable, total = count_parameters(model)
    base_parameters = total - trainable if plan.lora else total
    record = {
        "trainable_parameters": float(trainable),
        "trainable_share": trainable / base_parameters if base_parameters else 0.0,
        "train_tokens": float(result.train_tokens),
        "train_tokens_per_second": round(result.tokens_per_second, 1),
        "train_seconds": round(result.train_seconds, 3),
        "train_examples": float(result.train_examples),
        "replay_examples": float(n_replay),
        "train_steps": float(result.steps),
        "train_epochs": round(result.epochs, 3),
    }
    if result.best_eval_loss is not None:
        record["best_eval_loss"] = round(result.best_eval_loss, 6)
    if context.cache is not None and context.cache_key:
        # published atomically: an exception before the block ends leaves no entry
        with context.cache.put(plan.kind, context.cache_key) as folder:
            _save_artifact(model, tokenizer, folder, plan)
            record["artifact_bytes"] = float(folder_bytes(folder))
            shutil.copyfile(loss_path, folder / _LOSS_FILE)
            (folder / _RECORD_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")
    else:  # outside a run there is no cache: the size the saved weights would take
        record["artifact_bytes"] = float(
            sum(
                p.numel() * p.element_size()
                for p in model.parameters()
                if p.requires_grad or not plan.lora
            )
        )
    return model, tokenizer, record


def fine_tune(context: AdaptContext, plan: _Plan) -> Predictor:
    """Train (or load the cached artifact) and return the fine-tuned predictor."""
    from harness.models.hf import HFModel
    from harness.training import quiet

    device, dtype, chat, batch_size = _shared_model_facts(context)
    context.work_dir.mkdir(parents=True, exist_ok=True)
    loss_path = context.work_dir / _LOSS_FILE
    hit = (
        context.cache.get(plan.kind, context.cache_key)
        if context.cache is not None and context.cache_key
        else None
    )
    with quiet():
        if hit is not None:
            model, tokenizer = _load_artifact(hit, context, plan, device)
            record = json.loads((hit / _RECORD_FILE).read_text(encoding="utf-8"))
            if (hit / _LOSS_FILE).is_file():
                shutil.copyfile(hit / _LOSS_FILE, loss_path)
        else:
            model, tokenizer, record = _train_and_store(context, plan, device, chat, loss_path)
        model = _for_inference(model, plan, device, dtype)
    record["artifact_cached"] = float(hit is not None)
    (context.work_dir / _RECORD_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")
    label = f"{plan.kind[:-1]} {context.cache_key[:12]}" if context.cache_key else plan.kind[:-1]
    return FineTunedPredictor(
        HFModel(
            model,
            tokenizer,
            name=f"{context.model_name} ({label})",
            chat_template="on" if chat else "off",
            batch_size=batch_size,
        ),
        context.upstream,
        trainable_parameters=int(record["trainable_parameters"]),
        costs={k: float(v) for k, v in record.items() if k != "trainable_parameters"},
    )


# -- strategies ----------------------------------------------------------------------


class SFT(Strategy):
    """Full supervised fine-tuning (TRL SFTTrainer), loss on the completion only."""

    name = "sft"
    description = "full fine-tuning on each target suite's train split (TRL)"
    settings_class = SFTSettings
    scope: ClassVar[str] = "per-target"
    needs_train_split: ClassVar[str] = "targets"
    seed_dependent: ClassVar[bool] = True
    needs_local_weights: ClassVar[bool] = True

    def adapt(self, context: AdaptContext) -> Predictor:
        return fine_tune(context, _Plan(self.settings, lora=False))


class LoRA(Strategy):
    """LoRA adapters (PEFT) trained through the same TRL path; QLoRA with quantize: 4bit."""

    name = "lora"
    description = "LoRA adapters (PEFT) on each target suite's train split; QLoRA on CUDA"
    settings_class = LoraSettings
    scope: ClassVar[str] = "per-target"
    needs_train_split: ClassVar[str] = "targets"
    seed_dependent: ClassVar[bool] = True
    needs_local_weights: ClassVar[bool] = True

    def adapt(self, context: AdaptContext) -> Predictor:
        return fine_tune(context, _Plan(self.settings, lora=True))


class Multitask(Strategy):
    """One model on the union of the target suites, with a replay share of general data."""

    name = "multitask"
    description = "one model on all target suites, mixed with forgetting-suite replay"
    settings_class = MultitaskSettings
    needs_train_split: ClassVar[str] = "targets"
    seed_dependent: ClassVar[bool] = True
    needs_local_weights: ClassVar[bool] = True
    #: replay reads the forgetting suites' train splits
    uses_forgetting_data: ClassVar[bool] = True

    def adapt(self, context: AdaptContext) -> Predictor:
        settings: MultitaskSettings = self.settings
        return fine_tune(
            context,
            _Plan(
                settings, lora=settings.method == "lora", replay_fraction=settings.replay_fraction
            ),
        )


@hookimpl
def harness_register_strategies(registry: Registry) -> None:
    registry.add(SFT)
    registry.add(LoRA)
    registry.add(Multitask)
