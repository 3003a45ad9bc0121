"""Fine-tuning strategies: full SFT, LoRA (QLoRA on CUDA), and multi-task with replay.

All three train a fresh copy of the base model through the public TRL path that
third-party fine-tuning strategies use too (`harness.training.fine_tune`): it keeps
what they produce in the run's artifact cache (a full model under `models/`, an adapter
under `adapters/`, keyed by `context.cache_key`) and writes their loss curves to
`loss.jsonl` in their artifacts folder. An unchanged re-run loads the cached artifact
instead of training. torch, trl and peft are imported when a strategy adapts, never
when it is listed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness import AdaptContext, Predictor, Strategy, hookimpl
from harness.registry import Registry
from harness.training import FineTunedPredictor, TrainSettings, fine_tune

__all__ = ["SFT", "FineTunedPredictor", "LoRA", "LoraSettings", "Multitask", "MultitaskSettings"]

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


# -- PEFT and quantisation configs ---------------------------------------------------


def _lora_config(settings: LoraSettings) -> Any:
    from peft import LoraConfig

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


def _quantization_config(settings: LoraSettings, context: AdaptContext) -> Any:
    """BitsAndBytes NF4 for QLoRA, after checking that this machine can run it."""
    if settings.quantize != "4bit":
        return None
    from harness.training import training_device

    problem = qlora_problem()
    if problem is None and training_device(context.load_model()).type != "cuda":
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


def _fine_tune_lora(
    context: AdaptContext, settings: LoraSettings, replay_fraction: float = 0.0
) -> Predictor:
    return fine_tune(
        context,
        settings,
        peft_config=_lora_config(settings),
        quantization_config=_quantization_config(settings, context),
        replay_fraction=replay_fraction,
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
        return fine_tune(context, self.settings)


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
        return _fine_tune_lora(context, self.settings)


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
        if settings.method == "lora":
            return _fine_tune_lora(context, settings, settings.replay_fraction)
        return fine_tune(context, settings, replay_fraction=settings.replay_fraction)


@hookimpl
def harness_register_strategies(registry: Registry) -> None:
    registry.add(SFT)
    registry.add(LoRA)
    registry.add(Multitask)
