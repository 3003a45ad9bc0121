"""The shared fine-tuning path: suites -> prompt/completion data -> TRL `SFTTrainer` -> model.

Strategies call `fine_tune(context, settings, peft_config=... | transform=...)`, which
does everything below plus the artifact cache and cost figures and returns the
predictor; `as_language_model(context, model, tokenizer)` wraps a model trained some
other way for harness's fast batched scoring. Every fine-tuning strategy (`sft`,
`lora`, `multitask`, third-party ones) trains through `train()`:

- data: one prompt/completion pair per train example, the prompt being what the
  predictor the strategy builds on shows at evaluation (the suite's template for a plain
  `sft`), the completion `suite.answer(reference)` + EOS, so TRL puts the prompt's
  tokens out of the loss (`completion_only_loss`); chat-formatted when the base model
  is evaluated with its chat template;
- schedule: `TrainSettings` (epochs or max steps, batch size, accumulation, seed...);
- validation: with a validation split, the eval loss after each epoch, the best
  checkpoint kept, early stopping after `early_stopping_patience` epochs without
  improvement;
- records: `loss.jsonl` (`{"step": 10, "loss": 1.9}`, `{"step": 75, "eval_loss": 2.1}`,
  the format the decision report plots), train tokens and tokens/s.

torch, transformers, trl and peft are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.progress import PhaseReporter, library_bars_off
from harness.resources import cuda_peak_memory_mb, peak_memory_mb
from harness.run_folder import train_scratch_prefix
from harness.strategy import AdaptContext, Predictor
from harness.suites import Example, Suite

if TYPE_CHECKING:
    from harness.models.base import LanguageModel


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters every fine-tuning strategy shares (run-config keys)."""

    learning_rate: float = field(default=5e-5, metadata={"help": "peak AdamW learning rate"})
    epochs: float = field(default=3.0, metadata={"help": "passes over the train data"})
    max_steps: int = field(default=0, metadata={"help": "optimiser steps; > 0 overrides epochs"})
    batch_size: int = field(default=8, metadata={"help": "examples per device per step"})
    gradient_accumulation: int = field(
        default=1, metadata={"help": "micro-batches per optimiser step"}
    )
    warmup_ratio: float = field(
        default=0.05, metadata={"help": "share of the steps with a linear learning-rate warm-up"}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    max_length: int = field(
        default=512, metadata={"help": "longest prompt + completion in tokens (longer: cut)"}
    )
    completion_only_loss: bool = field(
        default=True,
        metadata={"help": "loss on the completion only (false: on the prompt as well)"},
    )
    early_stopping_patience: int = field(
        default=2,
        metadata={
            "help": "epochs without a lower validation loss before stopping (0: never); "
            "needs a validation split"
        },
    )
    max_train_examples: int | None = field(
        default=None,
        metadata={"help": "train on at most N examples per target suite (seeded sample)"},
    )
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "recompute activations: less memory, ~20% slower"}
    )
    seed: int | None = field(
        default=None,
        metadata={"help": "seed of data order, initialisation and dropout; default: the run's"},
    )

    def validate(self) -> None:
        """Raise ValueError on values that cannot train."""
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.max_steps < 0:
            raise ValueError(f"max_steps must be 0 (use epochs) or more, got {self.max_steps}")
        if self.max_steps == 0 and not self.epochs > 0:
            raise ValueError(f"epochs must be positive when max_steps is 0, got {self.epochs}")
        for name in ("batch_size", "gradient_accumulation", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be 0 or more, got {self.weight_decay}")
        if self.early_stopping_patience < 0:
            raise ValueError(
                "early_stopping_patience must be 0 (off) or more, "
                f"got {self.early_stopping_patience}"
            )
        if self.max_train_examples is not None and self.max_train_examples < 1:
            raise ValueError(
                f"max_train_examples must be at least 1, got {self.max_train_examples}"
            )


# -- data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingExample:
    """One supervised pair: the prompt the model sees and the completion it learns."""

    prompt: str
    completion: str


def suite_examples(
    suite: Suite,
    split: str,
    prompter: Predictor | None = None,
    *,
    limit: int | None = None,
    seed: int = 0,
) -> list[TrainingExample]:
    """Prompt/completion pairs of a suite's `split` ("train" or "validation", never test).

    The prompt is `prompter.prompts(suite, examples)` (default: the suite's template),
    the completion the first reference as the suite scores it (`suite.answer`).
    `limit` keeps a seeded sample of that many examples.
    """
    if split == "test":
        raise ValueError("fine-tuning never reads the test split")
    examples = list(suite.split(split))
    if limit is not None and len(examples) > limit:
        examples = random.Random(f"{seed}\0{suite.name}").sample(examples, limit)
    examples = [e for e in examples if e.references]
    if not examples:
        return []
    prompts = (
        prompter.prompts(suite, examples)
        if prompter is not None
        else [suite.render(e) for e in examples]
    )
    return [
        TrainingExample(prompt, suite.answer(e.references[0]))
        for prompt, e in zip(prompts, examples, strict=True)
    ]


def replay_sample(
    pool: Sequence[TrainingExample], fraction: float, n_target: int, seed: int
) -> list[TrainingExample]:
    """Replay examples making up `fraction` of a mix with `n_target` target examples.

    Drawn without replacement from `pool` (seeded); repeated when the pool is smaller.
    """
    if fraction <= 0 or not pool or n_target == 0:
        return []
    wanted = round(n_target * fraction / (1 - fraction))
    rng = random.Random(seed)
    out: list[TrainingExample] = []
    while len(out) < wanted:
        batch = list(pool)
        rng.shuffle(batch)
        out += batch[: wanted - len(out)]
    return out


def to_dataset(examples: Sequence[TrainingExample], eos_token: str, *, chat: bool) -> Any:
    """A `datasets.Dataset` in TRL's prompt-completion format (conversational for chat).

    Plain: `{"prompt": text, "completion": answer + EOS}`. Chat: the prompt as a user
    turn and the answer as the assistant turn; the chat template closes the turn.
    """
    from datasets import Dataset

    if chat:
        rows: list[dict[str, Any]] = [
            {
                "prompt": [{"role": "user", "content": e.prompt}],
                "completion": [{"role": "assistant", "content": e.completion}],
            }
            for e in examples
        ]
    else:
        rows = [{"prompt": e.prompt, "completion": e.completion + eos_token} for e in examples]
    return Dataset.from_list(rows)


# -- models --------------------------------------------------------------------------


def training_device(shared_model: Any = None) -> Any:
    """Where to train: the device the run's base model is on, else CUDA when available."""
    import torch

    device = getattr(shared_model, "device", None)
    if isinstance(device, torch.device):
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_tokenizer(model_name: str) -> Any:
    """The base model's tokenizer, with a pad token (EOS stands in when it has none)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_name)
    if tokenizer.eos_token is None:
        raise ValueError(
            f"the tokenizer of {model_name!r} has no EOS token: fine-tuning needs one to end "
            "completions"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    model_name: str, *, device: Any, quantization_config: Any = None, dtype: Any = None
) -> Any:
    """A fresh copy of the base model for training: fp32 weights unless `dtype`; with a
    (4-bit) `quantization_config`, bf16 for the layers it leaves unquantised."""
    import torch
    from transformers import AutoModelForCausalLM

    default = torch.float32 if quantization_config is None else torch.bfloat16
    kwargs: dict[str, Any] = {"dtype": dtype or default}
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
        kwargs["device_map"] = {"": device.index or 0}
    with quiet():
        model = AutoModelForCausalLM.from_pretrained(model_name, **kwargs)
    if quantization_config is None:
        model = model.to(device)
    return model


def align_pad_token(model: Any, tokenizer: Any) -> None:
    """The model's configs agree with the tokenizer on the pad token."""
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, all) parameters; 4-bit packed weights counted at their true size."""
    trainable = total = 0
    for parameter in model.parameters():
        n = parameter.numel()
        if hasattr(parameter, "quant_state"):  # bitsandbytes packs two 4-bit values a byte
            n *= 2
        total += n
        if parameter.requires_grad:
            trainable += n
    return trainable, total


def folder_bytes(path: Path) -> int:
    """Size on disk of every file under `path`."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No transformers / datasets progress bars (the runner draws its own), no
    transformers notes below errors, and none of the deprecation warnings the libraries
    raise about each other's APIs. TRL's own warnings (e.g. about tokenisation) stay."""
    import datasets  # noqa: F401  (loaded first, so that its bars go off too)
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    # transformers' notes about checkpoint rotation and the like; TRL's warnings stay on
    hf_logging.set_verbosity(max(verbosity, hf_logging.ERROR))
    try:
        with library_bars_off(), warnings.catch_warnings():
            # peft and trl still read transformers 4's name for activation checkpointing
            warnings.filterwarnings(
                "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
            )
            yield
    finally:
        hf_logging.set_verbosity(verbosity)


# -- training ------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What training produced and what it cost."""

    #: the trained model (the best checkpoint when a validation split was used)
    model: Any
    tokenizer: Any
    #: non-padding tokens the optimiser saw (prompt and completion, every epoch)
    train_tokens: int
    #: wall time of the training loop (evaluations and checkpoints included)
    train_seconds: float
    train_examples: int
    steps: int
    epochs: float
    best_eval_loss: float | None
    stopped_early: bool
    #: `{"step", "loss"}` and `{"step", "eval_loss"}` records, as in `loss.jsonl`
    losses: list[dict[str, float]]

    @property
    def tokens_per_second(self) -> float:
        return self.train_tokens / self.train_seconds if self.train_seconds > 0 else 0.0


def _loss_log_class() -> type:
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):
        """Appends each logged train / eval loss to `loss.jsonl` as it comes."""

        def __init__(self, path: Path | None) -> None:
            self.path = path
            self.records: list[dict[str, float]] = []

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            for key in ("loss", "eval_loss"):
                value = (logs or {}).get(key)
                if isinstance(value, int | float):
                    record = {"step": int(state.global_step), key: round(float(value), 6)}
                    self.records.append(record)
                    if self.path is not None:
                        with self.path.open("a", encoding="utf-8") as f:
                            f.write(json.dumps(record) + "\n")

    return LossLog


def _progress_class() -> type:
    from transformers import TrainerCallback

    class TrainingProgress(TrainerCallback):
        """Tells the run's progress display the step, of how many, and the last loss."""

        def __init__(self, progress: PhaseReporter) -> None:
            self.progress = progress

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.progress.phase("training", total=int(state.max_steps) or None)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.progress.update(int(state.global_step))

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            figures = {
                key: round(float(value), 4)
                for key, value in (logs or {}).items()
                if key in ("loss", "eval_loss") and isinstance(value, int | float)
            }
            if figures:
                self.progress.update(int(state.global_step), **figures)

    return TrainingProgress


def sft_config(
    settings: TrainSettings,
    *,
    output_dir: Path,
    seed: int,
    device: Any,
    has_eval: bool,
    steps_per_epoch: int,
) -> Any:
    """The `trl.SFTConfig` for `settings`: the one place TRL's options are chosen."""
    import dataclasses

    import torch
    from trl import SFTConfig

    on_cuda = device.type == "cuda"
    options: dict[str, Any] = dict(
        output_dir=str(output_dir),
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps if settings.max_steps > 0 else -1,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation,
        warmup_steps=math.ceil(settings.warmup_ratio * _total_steps(settings, steps_per_epoch)),
        weight_decay=settings.weight_decay,
        max_length=settings.max_length,
        completion_only_loss=settings.completion_only_loss,
        seed=seed,
        data_seed=seed,
        # mixed precision where it is fast and exact enough; fp32 on CPU
        bf16=on_cuda and torch.cuda.is_bf16_supported(),
        fp16=False,
        use_cpu=not on_cuda,
        logging_steps=max(1, min(10, steps_per_epoch // 4)),
        logging_strategy="steps",
        report_to="none",
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        save_only_model=True,
        save_total_limit=1,
        dataloader_num_workers=0,
        dataloader_pin_memory=on_cuda,
    )
    # transformers 5 renamed gradient checkpointing; the old name warns
    names = {f.name for f in dataclasses.fields(SFTConfig)}
    checkpointing = (
        "activation_checkpointing"
        if "activation_checkpointing" in names
        else "gradient_checkpointing"
    )
    options[checkpointing] = settings.gradient_checkpointing
    if has_eval:
        options.update(
            eval_strategy="epoch",
            save_strategy="best",
            load_best_model_at_end=True,
            metric_for_best_model="eval_loss",
            greater_is_better=False,
        )
    else:
        options.update(eval_strategy="no", save_strategy="no")
    return SFTConfig(**options)


def _total_steps(settings: TrainSettings, steps_per_epoch: int) -> int:
    if settings.max_steps > 0:
        return settings.max_steps
    return max(1, math.ceil(settings.epochs * steps_per_epoch))


def _trainer_class() -> type:
    from trl import SFTTrainer

    class HarnessSFTTrainer(SFTTrainer):
        """TRL's SFTTrainer without its usage ping: harness runs on private models, offline."""

        def _send_telemetry(self) -> None:
            return None

    return HarnessSFTTrainer


def build_trainer(
    model: Any,
    tokenizer: Any,
    train_examples: Sequence[TrainingExample],
    eval_examples: Sequence[TrainingExample],
    settings: TrainSettings,
    *,
    seed: int,
    output_dir: Path,
    loss_path: Path | None = None,
    peft_config: Any = None,
    chat: bool = False,
    progress: PhaseReporter | None = None,
) -> Any:
    """A ready `SFTTrainer` (datasets tokenised and labelled, callbacks set); not trained.
    `progress` is told the steps and losses as training goes."""
    from transformers import EarlyStoppingCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    if not train_examples:
        raise ValueError("no train examples to fine-tune on")
    device = training_device(model)
    align_pad_token(model, tokenizer)
    has_eval = bool(eval_examples)
    steps_per_epoch = max(
        1, math.ceil(len(train_examples) / (settings.batch_size * settings.gradient_accumulation))
    )
    args = sft_config(
        settings,
        output_dir=output_dir,
        seed=seed,
        device=device,
        has_eval=has_eval,
        steps_per_epoch=steps_per_epoch,
    )
    callbacks: list[Any] = [_loss_log_class()(loss_path)]
    if progress is not None:
        callbacks.append(_progress_class()(progress))
    if has_eval and settings.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(settings.early_stopping_patience))
    eos = tokenizer.eos_token
    with quiet():
        trainer = _trainer_class()(
            model=model,
            args=args,
            train_dataset=to_dataset(train_examples, eos, chat=chat),
            eval_dataset=to_dataset(eval_examples, eos, chat=chat) if has_eval else None,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=callbacks,
        )
    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    return trainer


def train(
    model: Any,
    tokenizer: Any,
    train_examples: Sequence[TrainingExample],
    eval_examples: Sequence[TrainingExample],
    settings: TrainSettings,
    *,
    seed: int,
    loss_path: Path | None = None,
    peft_config: Any = None,
    chat: bool = False,
    progress: PhaseReporter | None = None,
) -> TrainResult:
    """Fine-tune `model` (wrapped with `peft_config` when given) and return the best model.

    Checkpoints go to a temporary folder that is removed afterwards; the caller saves
    what it keeps. `loss_path` receives the loss log as training goes.
    """
    if loss_path is not None:
        loss_path.parent.mkdir(parents=True, exist_ok=True)
        loss_path.write_text("", encoding="utf-8")
    # named after this process, so that a later run removes it if this one is killed
    with tempfile.TemporaryDirectory(prefix=train_scratch_prefix()) as scratch:
        trainer = build_trainer(
            model,
            tokenizer,
            train_examples,
            eval_examples,
            settings,
            seed=seed,
            output_dir=Path(scratch),
            loss_path=loss_path,
            peft_config=peft_config,
            chat=chat,
            progress=progress,
        )
        start = time.perf_counter()
        with quiet():
            trainer.train()
        seconds = time.perf_counter() - start
        state = trainer.state
        losses = next(c for c in trainer.callback_handler.callbacks if hasattr(c, "records"))
        trained = trainer.model
    trained.eval()
    return TrainResult(
        model=trained,
        tokenizer=tokenizer,
        train_tokens=int(state.num_input_tokens_seen),
        train_seconds=seconds,
        train_examples=len(train_examples),
        steps=int(state.global_step),
        epochs=float(state.epoch or 0.0),
        best_eval_loss=None if state.best_metric is None else float(state.best_metric),
        stopped_early=0 < state.global_step < state.max_steps,
        losses=list(losses.records),
    )


# -- the strategy-facing API ---------------------------------------------------------

#: what `training.json` in an artifact records (and a cache hit reports again)
RECORD_FILE = "training.json"
LOSS_FILE = "loss.jsonl"
#: a transform callback: receives the freshly loaded base model, returns the model to train
ModelTransform = Callable[[Any], Any]


class FineTunedPredictor(Predictor):
    """A fine-tuned model prompted as the predictor it was trained from prompts."""

    def __init__(
        self,
        model: LanguageModel,
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


def as_language_model(
    context: AdaptContext, model: Any, tokenizer: Any, *, label: str = ""
) -> LanguageModel:
    """A trained `transformers` model and tokenizer as a harness model, scored fast.

    The result is an `HFModel` (batched generation, shared-prefix candidate scoring, as
    the base model gets) with the base model's chat-template use and batch size, on its
    device and in its dtype, in eval mode with gradients off. `label` is shown after the
    base model's name (e.g. "ia3 3f2a...").
    """
    from harness.models.hf import HFModel

    shared = context.load_model()
    device = training_device(shared)
    inner = getattr(shared, "model", None)
    dtype = next(inner.parameters()).dtype if inner is not None else None
    if not _is_quantized(model):
        model = model.to(device=device, dtype=dtype) if dtype is not None else model.to(device)
    model.eval()
    model.requires_grad_(False)
    chat = bool(getattr(shared, "uses_chat_template", False))
    return HFModel(
        model,
        tokenizer,
        name=f"{context.model_name} ({label})" if label else context.model_name,
        chat_template="on" if chat else "off",
        batch_size=int(getattr(shared, "batch_size", 16)),
    )


def fine_tune(
    context: AdaptContext,
    settings: TrainSettings,
    *,
    peft_config: Any = None,
    transform: ModelTransform | None = None,
    replay_fraction: float = 0.0,
    quantization_config: Any = None,
) -> Predictor:
    """Fine-tune a fresh copy of the base model on the context's target suites.

    The shared path of every fine-tuning strategy: prompt/completion data from the
    target suites' train splits as `context.upstream` prompts them (plus a
    `replay_fraction` share drawn from the forgetting suites' train splits), TRL's
    `SFTTrainer` with `settings`, the validation split for the best checkpoint and early
    stopping, `loss.jsonl` and `training.json` in `context.work_dir`, cost figures
    (trainable parameters, train tokens and tokens/s, artifact bytes), and the run's
    artifact cache: an unchanged re-run loads the artifact instead of training.

    What is trained is the base model as loaded (every weight), wrapped by
    `peft_config` (any PEFT config: `LoraConfig`, `IA3Config`, ...), or what
    `transform(base_model)` returns (freeze layers, attach a PEFT model yourself...).
    A PEFT model is cached as its adapter and merged into the base weights for
    evaluation when the method allows it; anything else is cached whole.
    `quantization_config` loads the base model quantised (QLoRA). Returns a
    `FineTunedPredictor` prompting as `context.upstream` does.
    """
    started = time.perf_counter()
    settings.validate()
    if not 0 <= replay_fraction < 1:
        raise ValueError(f"replay_fraction must be in [0, 1), got {replay_fraction}")
    if peft_config is not None and transform is not None:
        raise ValueError("give peft_config or transform, not both")
    shared = context.load_model()
    device = training_device(shared)
    chat = bool(getattr(shared, "uses_chat_template", False))
    context.work_dir.mkdir(parents=True, exist_ok=True)
    loss_path = context.work_dir / LOSS_FILE
    cache = context.cache if context.cache_key else None
    hit = None
    if cache is not None:
        hit = cache.get("adapters", context.cache_key) or cache.get("models", context.cache_key)
    with quiet():
        if hit is not None:
            context.progress.phase("loading the cached artifact")
            model, tokenizer = _load_artifact(hit, context, device, quantization_config)
            record = json.loads((hit / RECORD_FILE).read_text(encoding="utf-8"))
            if (hit / LOSS_FILE).is_file():
                shutil.copyfile(hit / LOSS_FILE, loss_path)
            # the adaptation costs what producing the artifact took, cached or not
            produced = float(record.get("produce_seconds", 0.0))
            record["cache_saved_seconds"] = round(
                max(produced - (time.perf_counter() - started), 0.0), 3
            )
        else:
            model, tokenizer, record = _train_and_store(
                context,
                settings,
                device=device,
                chat=chat,
                loss_path=loss_path,
                peft_config=peft_config,
                transform=transform,
                replay_fraction=replay_fraction,
                quantization_config=quantization_config,
                started=started,
            )
        kind = "adapter" if _is_peft(model) else "model"
        model = _merged(model)
    record["artifact_cached"] = float(hit is not None)
    (context.work_dir / RECORD_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")
    label = f"{kind} {context.cache_key[:12]}" if context.cache_key else kind
    return FineTunedPredictor(
        as_language_model(context, model, tokenizer, label=label),
        context.upstream,
        trainable_parameters=int(record["trainable_parameters"]),
        costs={k: float(v) for k, v in record.items() if k != "trainable_parameters"},
    )


def _is_peft(model: Any) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "get_base_model")


def _is_quantized(model: Any) -> bool:
    return bool(getattr(model, "is_quantized", False) or getattr(model, "is_loaded_in_4bit", False))


def _merged(model: Any) -> Any:
    """A PEFT model's adapter merged into the base weights, where the method allows it."""
    if not _is_peft(model) or _is_quantized(model) or not hasattr(model, "merge_and_unload"):
        return model
    try:
        return model.merge_and_unload()
    except (ValueError, NotImplementedError, AttributeError):  # e.g. prompt-learning methods
        return model


def _training_data(
    context: AdaptContext, settings: TrainSettings, seed: int, replay_fraction: float
) -> tuple[list[TrainingExample], list[TrainingExample], int]:
    """Train examples (targets, then replay), validation examples, and the replay count."""
    limit = settings.max_train_examples
    rows: list[TrainingExample] = []
    for suite in context.targets:
        examples = suite_examples(suite, "train", context.upstream, limit=limit, seed=seed)
        if not examples:
            raise ValueError(
                f"target suite {suite.name!r} has no train examples: "
                "fine-tuning needs a train split"
            )
        rows += examples
    validation = [
        row
        for suite in context.targets
        for row in suite_examples(suite, "validation", context.upstream)
    ]
    replay: list[TrainingExample] = []
    if replay_fraction > 0:
        pool = [
            row
            for suite in context.forgetting
            for row in suite_examples(suite, "train", context.upstream, limit=limit, seed=seed)
        ]
        replay = replay_sample(pool, replay_fraction, len(rows), seed)
    return rows + replay, validation, len(replay)


def _load_artifact(
    folder: Path, context: AdaptContext, device: Any, quantization_config: Any
) -> tuple[Any, Any]:
    """(model, tokenizer) from a cached artifact: an adapter on the base, or a model."""
    if not (folder / "adapter_config.json").is_file():
        return load_model(str(folder), device=device), load_tokenizer(str(folder))
    from peft import PeftModel

    base = load_model(context.model_name, device=device, quantization_config=quantization_config)
    model = PeftModel.from_pretrained(base, str(folder))
    return model, load_tokenizer(context.model_name)


def _save_artifact(model: Any, tokenizer: Any, folder: Path) -> None:
    model.save_pretrained(folder)  # a PEFT model saves its adapter only
    if not _is_peft(model):
        tokenizer.save_pretrained(folder)


def _train_and_store(
    context: AdaptContext,
    settings: TrainSettings,
    *,
    device: Any,
    chat: bool,
    loss_path: Path,
    peft_config: Any,
    transform: ModelTransform | None,
    replay_fraction: float,
    quantization_config: Any,
    started: float,
) -> tuple[Any, Any, dict[str, float]]:
    """Train, then publish the artifact in the cache; (model, tokenizer, record).

    The record keeps what producing the artifact cost (`produce_seconds` since
    `started`, the peak memory of training), so that a run serving it from the cache
    reports the same adaptation cost."""
    seed = settings.seed if settings.seed is not None else context.seed
    train_rows, eval_rows, n_replay = _training_data(context, settings, seed, replay_fraction)
    context.progress.phase("loading")
    tokenizer = load_tokenizer(context.model_name)
    base = load_model(context.model_name, device=device, quantization_config=quantization_config)
    if quantization_config is not None:  # QLoRA: freeze the quantised base, norms in fp32
        from peft import prepare_model_for_kbit_training

        base = prepare_model_for_kbit_training(
            base, use_gradient_checkpointing=settings.gradient_checkpointing
        )
    if transform is not None:
        base = transform(base)
        if base is None:
            raise ValueError("the model transform returned None: return the model to train")
    result = train(
        base,
        tokenizer,
        train_rows,
        eval_rows,
        settings,
        seed=seed,
        loss_path=loss_path,
        peft_config=peft_config,
        chat=chat,
        progress=context.progress,
    )
    context.progress.phase("saving")
    model = result.model
    adapter = _is_peft(model)
    trainable, total = count_parameters(model)
    base_parameters = total - trainable if adapter else total
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
    record["train_peak_memory_mb"] = round(max(peak_memory_mb(), cuda_peak_memory_mb()), 1)
    record["produce_seconds"] = round(time.perf_counter() - started, 3)
    if context.cache is not None and context.cache_key:
        # published atomically: an exception before the block ends leaves no entry
        with context.cache.put("adapters" if adapter else "models", context.cache_key) as folder:
            _save_artifact(model, tokenizer, folder)
            record["artifact_bytes"] = float(folder_bytes(folder))
            shutil.copyfile(loss_path, folder / LOSS_FILE)
            (folder / RECORD_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")
    else:  # outside a run there is no cache: the size the saved weights would take
        record["artifact_bytes"] = float(
            sum(
                p.numel() * p.element_size()
                for p in model.parameters()
                if p.requires_grad or not adapter
            )
        )
    return model, tokenizer, record
