"""ia3: a third-party fine-tuning strategy (IA3, a PEFT method) in a few lines.

Everything but the PEFT config comes from `harness.training.fine_tune`: the data, the
validation split and early stopping, loss curves, cost figures and the artifact cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import harness
from harness import AdaptContext, Predictor, Strategy
from harness.registry import Registry
from harness.training import TrainSettings, fine_tune


@dataclass(frozen=True)
class IA3Settings(TrainSettings):
    """IA3: learned scaling vectors on the attention and feed-forward activations."""

    learning_rate: float = field(default=3e-3, metadata={"help": "peak AdamW learning rate"})
    target_modules: tuple[str, ...] = field(
        default=(), metadata={"help": "modules to scale; empty: PEFT's default for the model"}
    )
    feedforward_modules: tuple[str, ...] = field(
        default=(), metadata={"help": "which target modules are feed-forward (scaled on input)"}
    )


class IA3(Strategy):
    """IA3 (PEFT) trained through harness's shared TRL path."""

    name = "ia3"
    description = "IA3 scaling vectors (PEFT) on each target suite's train split"
    settings_class = IA3Settings
    scope: ClassVar[str] = "per-target"
    needs_train_split: ClassVar[str] = "targets"
    seed_dependent: ClassVar[bool] = True

    def adapt(self, context: AdaptContext) -> Predictor:
        from peft import IA3Config

        s = self.settings
        config = IA3Config(
            task_type="CAUSAL_LM",
            target_modules=list(s.target_modules) or None,
            feedforward_modules=list(s.feedforward_modules) or None,
        )
        return fine_tune(context, s, peft_config=config)


@harness.hookimpl
def harness_register_strategies(registry: Registry) -> None:
    registry.add(IA3)
