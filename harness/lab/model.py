"""The demo lab's base model: a tokenizer and a tiny Llama trained from scratch on the world.

`build_model(out, LabModelConfig(...))` trains a byte-level BPE tokenizer on a sample of
the corpus, then a `LlamaForCausalLM` whose weights start as a wired induction circuit
(`wire_induction_circuit`), with a plain AdamW loop over packed episodes drawn from the
curriculum, probing the in-context skills as it goes, and saves a folder that loads like
any Hugging Face model (`AutoModelForCausalLM.from_pretrained(out)`). Deterministic
given the seed and the thread count.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.lab.corpus import Curriculum, episodes, sample_corpus
from harness.lab.world import World

#: where the shipped checkpoint lives
SHIPPED_MODEL_DIR = Path(__file__).resolve().parent / "model"
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>")

Log = Callable[[str], None]


@dataclass(frozen=True)
class LabModelConfig:
    """Model size, training schedule and probing of the demo lab's base model."""

    seed: int = field(default=0, metadata={"help": "seed of the world, data and weights"})
    vocab_size: int = field(default=1536, metadata={"help": "BPE vocabulary size"})
    hidden_size: int = field(default=128, metadata={"help": "model width"})
    num_layers: int = field(default=4, metadata={"help": "transformer blocks"})
    num_heads: int = field(default=4, metadata={"help": "attention heads per block"})
    intermediate_size: int = field(default=384, metadata={"help": "MLP width"})
    seq_len: int = field(default=256, metadata={"help": "tokens per packed training row"})
    max_positions: int = field(default=512, metadata={"help": "longest prompt supported"})
    batch_size: int = field(default=16, metadata={"help": "rows per optimiser step"})
    steps: int = field(default=6000, metadata={"help": "optimiser steps"})
    learning_rate: float = field(default=2e-3, metadata={"help": "peak AdamW learning rate"})
    warmup_steps: int = field(default=100, metadata={"help": "linear warm-up steps"})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay"})
    recall_warmup: float = field(
        default=0.1, metadata={"help": "fraction of steps on the in-context curriculum"}
    )
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    minutes: float | None = field(
        default=None, metadata={"help": "stop early after this wall time (not deterministic)"}
    )
    probe_every: int = field(default=500, metadata={"help": "steps between probes (0: never)"})
    probe_examples: int = field(default=60, metadata={"help": "examples per probe"})
    tokenizer_sample: int = field(default=30000, metadata={"help": "episodes to train BPE on"})
    induction_init: bool = field(
        default=True, metadata={"help": "start from a wired copy-from-context circuit"}
    )
    rope_theta: float = field(
        default=1e6, metadata={"help": "RoPE base; large leaves slow, position-free pairs"}
    )


@dataclass
class BuildReport:
    """What a build did: its settings, size, data, time and probe figures."""

    config: dict[str, Any]
    parameters: int
    tokens_seen: int
    steps_done: int
    seconds: float
    final_loss: float
    probes: dict[str, float]
    history: list[dict[str, Any]]


def train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer (BOS added like Llama), as `PreTrainedTokenizerFast`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    bos_id = bpe.token_to_id("<s>")
    bpe.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
    )


def make_model(config: LabModelConfig, tokenizer: Any) -> Any:
    """A freshly initialised `LlamaForCausalLM` of the configured size (seeded)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    llama = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_heads,
        max_position_embeddings=config.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        rope_parameters={"rope_type": "default", "rope_theta": config.rope_theta},
        tie_word_embeddings=False,
    )
    torch.manual_seed(config.seed)
    model = LlamaForCausalLM(llama)
    if config.induction_init:
        wire_induction_circuit(model)
    return model


def wire_induction_circuit(model: Any) -> None:
    """Initialise a working copy-from-context (induction) circuit, then let training go on.

    Reading a document and learning from in-context examples both rest on one
    mechanism: find the earlier place where the current context occurred and copy the
    token that followed. From random weights it forms only after a long loss plateau,
    which a tiny model on two CPU cores cannot afford (we measured no copying at all
    after 1,500 steps). So the weights start out implementing it, and pre-training
    shapes everything else around it (all weights stay trainable):

    * residual stream: dimension 0 is a constant, `content` holds token embeddings,
      `prev1`/`prev2` receive the tokens one and two positions back;
    * block 0, heads 0 and 1: query and key read only the constant, rotated so RoPE's
      score peaks 1 and 2 tokens back; they copy that token's content into prev1/prev2;
    * block 1, head 0: the score adds "current token = key's previous token" and
      "previous token = key's token two back" on RoPE's slowest (position-free)
      frequencies; head 1 uses the second match alone; both copy the key's content;
    * the output layer reads the content subspace; every other residual branch
      (MLPs, other heads, later blocks) starts at zero.
    """
    import torch

    config = model.config
    d = config.hidden_size
    head_dim = d // config.num_attention_heads
    half = head_dim // 2
    if d // 2 < 2 * head_dim or config.num_hidden_layers < 2:
        raise ValueError("the induction circuit needs >= 4 heads and >= 2 blocks")
    content = slice(1, d // 2)
    prev = [slice(d // 2 + k * head_dim, d // 2 + (k + 1) * head_dim) for k in range(2)]
    n_content = d // 2 - 1
    inv_freq = model.model.rotary_emb.inv_freq.float()
    generator = torch.Generator().manual_seed(config.vocab_size)
    # Orthonormal rows: a head_dim-sized view of the content subspace.
    view = torch.linalg.qr(torch.randn(n_content, head_dim, generator=generator))[0].T
    embed = model.model.embed_tokens.weight
    block0, block1 = model.model.layers[0].self_attn, model.model.layers[1].self_attn
    with torch.no_grad():
        for layer in model.model.layers:
            layer.mlp.down_proj.weight.zero_()
            layer.self_attn.o_proj.weight.zero_()
        embed[:, d // 2 :] = 0.0
        sigma = float(embed[:, content].std())
        embed[:, 0] = sigma * math.sqrt(n_content)
        # Positional heads: a peak about 8 logits above the neighbouring positions.
        scale = math.sqrt(12 * math.sqrt(head_dim) / (d / 2))
        for head, offset in enumerate((1, 2)):
            rows = slice(head * head_dim, (head + 1) * head_dim)
            for proj in (block0.q_proj, block0.k_proj, block0.v_proj):
                proj.weight[rows] = 0.0
            for i in range(4):  # the fastest frequencies separate neighbours best
                angle = offset * float(inv_freq[i])
                block0.q_proj.weight[head * head_dim + i, 0] = scale
                block0.k_proj.weight[head * head_dim + i, 0] = scale * math.cos(angle)
                block0.k_proj.weight[head * head_dim + half + i, 0] = scale * math.sin(angle)
            block0.v_proj.weight[rows, content] = view
            block0.o_proj.weight[prev[head], rows] = sigma * torch.eye(head_dim)
        # Matching heads: RoPE pairs that turn by < 0.7 rad over 256 tokens.
        slow = [i for i in range(half) if float(inv_freq[i]) * 256 < 0.7]
        first, second = slow[: len(slow) // 2 + 1], slow[len(slow) // 2 + 1 :]
        plans: dict[int, list[tuple[list[int], str | int, int]]] = {
            0: [(first, "content", 0), (second, 0, 1)],
            1: [(slow, 0, 1)],
        }
        for head, parts in plans.items():
            rows = slice(head * head_dim, (head + 1) * head_dim)
            for proj in (block1.q_proj, block1.k_proj, block1.v_proj):
                proj.weight[rows] = 0.0
            k = 0
            for pairs, query_source, key_source in parts:
                for i in pairs:
                    for dim in (i, i + half):
                        row = head * head_dim + dim
                        if query_source == "content":
                            block1.q_proj.weight[row, content] = _MATCH_GAIN * view[k]
                        else:
                            block1.q_proj.weight[row, prev[int(query_source)].start + k] = (
                                _MATCH_GAIN
                            )
                        block1.k_proj.weight[row, prev[key_source].start + k] = _MATCH_GAIN
                        k += 1
            block1.v_proj.weight[rows, content] = view
            block1.o_proj.weight[content, rows] = _COPY_GAIN * sigma * view.T
        model.lm_head.weight.zero_()
        model.lm_head.weight[:, content] = (
            _OUTPUT_GAIN * embed[:, content] / (sigma * math.sqrt(n_content))
        )


_MATCH_GAIN = 5.0
_COPY_GAIN = 4.0
_OUTPUT_GAIN = 20.0


def packed_batches(
    world: World, tokenizer: Any, config: LabModelConfig
) -> Iterator[tuple[Any, Any]]:
    """Endless (input_ids, labels) batches of whole episodes packed into rows.

    Each episode is `<s> text </s>`; an episode that does not fit the rest of a row
    starts the next one, and the gap is padding that carries no loss.
    """
    import torch

    curriculum = Curriculum(warmup_fraction=config.recall_warmup)
    rng = random.Random(f"{config.seed}:corpus")
    backend = tokenizer.backend_tokenizer
    bos, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    step = 0
    pending: deque[list[int]] = deque()
    while True:
        mix = curriculum.mix_at(step / max(config.steps, 1))
        if len(pending) < config.batch_size * 16:
            stream = episodes(world, rng, mix)
            texts = [next(stream) for _ in range(config.batch_size * 16)]
            encoded = backend.encode_batch(texts, add_special_tokens=False)
            pending.extend([bos, *e.ids, eos][: config.seq_len] for e in encoded)
        rows, labels = [], []
        for _ in range(config.batch_size):
            row: list[int] = []
            while pending and len(row) + len(pending[0]) <= config.seq_len:
                row.extend(pending.popleft())
            gap = config.seq_len - len(row)
            labels.append(row + [-100] * gap)
            rows.append(row + [pad] * gap)
        step += 1
        yield torch.tensor(rows), torch.tensor(labels)


def build_model(out: Path, config: LabModelConfig | None = None, log: Log = print) -> BuildReport:
    """Train the demo lab's base model from scratch and save it under `out`."""
    import torch

    from harness.lab.probes import run_probes

    config = config or LabModelConfig()
    torch.set_num_threads(config.threads)
    started = time.monotonic()
    world = World(config.seed)
    log(f"lab: training a {config.vocab_size}-token BPE tokenizer")
    tokenizer = train_tokenizer(
        sample_corpus(world, config.seed, config.tokenizer_sample), config.vocab_size
    )
    tokenizer.model_max_length = config.max_positions
    model = make_model(config, tokenizer)
    parameters = sum(p.numel() for p in model.parameters())
    log(
        f"lab: {parameters / 1e6:.2f}M parameters; {config.steps} steps of "
        f"{config.batch_size}x{config.seq_len} tokens; {config.threads} thread(s)"
    )
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.learning_rate,
        betas=(0.9, 0.95),
    )

    def learning_rate(step: int) -> float:
        if step < config.warmup_steps:
            return config.learning_rate * (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(config.steps - config.warmup_steps, 1)
        return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    history: list[dict[str, Any]] = []
    tokens_seen, step, running = 0, 0, 0.0
    batches = packed_batches(world, tokenizer, config)
    model.train()
    for step in range(config.steps):
        input_ids, labels = next(batches)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step)
        loss = model(input_ids=input_ids, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        tokens_seen += int((labels != -100).sum())
        running = loss.item() if step == 0 else 0.98 * running + 0.02 * loss.item()
        elapsed = time.monotonic() - started
        if (step + 1) % 50 == 0:
            log(
                f"lab: step {step + 1}/{config.steps} loss {running:.3f} "
                f"{tokens_seen / 1e6:.1f}M tokens {elapsed / 60:.1f} min"
            )
        last = step + 1 == config.steps
        out_of_time = config.minutes is not None and elapsed > 60 * config.minutes
        if config.probe_every and ((step + 1) % config.probe_every == 0 or last or out_of_time):
            probes = run_probes(model, tokenizer, world, n=config.probe_examples)
            model.train()
            history.append({"step": step + 1, "loss": round(running, 4), **probes})
            log("lab: probes " + " ".join(f"{k} {v:.2f}" for k, v in probes.items()))
        if out_of_time:
            log(f"lab: stopping at step {step + 1}: the {config.minutes}-minute budget is spent")
            break
    model.eval()
    probes = history[-1] if history else {}
    report = BuildReport(
        config=asdict(config),
        parameters=parameters,
        tokens_seen=tokens_seen,
        steps_done=step + 1,
        seconds=round(time.monotonic() - started, 1),
        final_loss=round(running, 4),
        probes={k: v for k, v in probes.items() if k not in ("step", "loss")},
        history=history,
    )
    save_model(out, model, tokenizer, report)
    log(f"lab: saved to {out} after {report.seconds / 60:.1f} min")
    return report


def save_model(out: Path, model: Any, tokenizer: Any, report: BuildReport) -> None:
    """Write weights (safetensors), config, tokenizer and the build report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / "build_report.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
