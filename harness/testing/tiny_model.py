"""Tiny real Llama models, built from a config in a second, for tests and benchmarks.

The model is a genuine `LlamaForCausalLM` with random (seeded) weights and a genuine
byte-level BPE tokenizer trained on a small built-in corpus, saved with
`save_pretrained` so that it loads through the same path as any Hugging Face model
(`HFModel.load(path)`). It knows no language; it exists so that code paths are real.
"""

from __future__ import annotations

from pathlib import Path

#: Byte-level BPE can encode any text; this corpus only decides which merges exist.
_CORPUS = """\
The quick brown fox jumps over the lazy dog. A model reads a prompt and writes an answer.
Question: What is the capital of France?
Answer: Paris.
Question: How many legs does a spider have?
Answer: 8
Review: The film was wonderful, the acting superb and the story moving.
Sentiment: positive
Review: A dull, slow and badly written movie; I want my money back!
Sentiment: negative
Translate to French: Good morning, how are you today?
Summarise the following text in one sentence.
The committee met on Tuesday, 14 March 2023, to discuss the budget (about $1,250,000)
and the plan for the next 3 years. Members agreed: costs must fall by 10% - or more.
def add(a, b):
    return a + b
print(add(2, 3))  # prints 5
Email: support@example.com; phone: +1 (555) 010-9999; version 1.2.3
"Yes," she said. "No," he replied. It's fine; they're here, aren't they?
Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 20 42 100 365 1000 2024
Options: A) red B) green C) blue D) yellow
The answer is A. The answer is B. The answer is C. The answer is D.
Paris London Berlin Madrid Rome Tokyo yes no true false maybe
"""

#: A minimal chat template in the style of Zephyr; BOS comes from the template itself.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>")


def build_tiny_llama(
    path: Path,
    *,
    seed: int = 0,
    chat_template: bool = False,
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 1024,
    initializer_range: float = 0.2,
) -> Path:
    """Build and save a tiny random Llama with a real BPE tokenizer under `path`.

    Deterministic given `seed`. `initializer_range` is larger than Llama's 0.02 so that
    the random model has peaked next-token distributions (greedy choices are not
    near-ties, which keeps batched-versus-single comparisons meaningful).
    Returns `path`, ready for `AutoModelForCausalLM.from_pretrained`.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS.splitlines(keepends=True), trainer=trainer)
    bos_id = bpe.token_to_id("<s>")
    # Like Llama: BOS in front of every encoded text unless add_special_tokens=False.
    bpe.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos_id)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        model_max_length=max_position_embeddings,
    )
    if chat_template:
        tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(path)

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        initializer_range=initializer_range,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(generator_state)
    model.save_pretrained(path)
    return path
