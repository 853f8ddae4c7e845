"""Build a tiny random-init Llama model and its tokenizer, fully offline.

Usage::

    python -m executor.recipes.tiny_model --out .cache/tiny-llama

The result is a standard Hugging Face model folder (``config.json``, ``model.safetensors``,
``generation_config.json``, ``tokenizer.json``, ``tokenizer_config.json``) that
``AutoModelForCausalLM``/``AutoTokenizer`` and vLLM load as a ``LlamaForCausalLM``. It exists so
that tests and demos can run a real fine-tune and a real server in seconds on a CPU:

- 2 layers, hidden 128, 2 attention heads (head_dim 64, which vLLM's CPU attention needs),
  2 KV heads, MLP 256, 2,048 positions, untied embeddings, bfloat16 weights;
- a byte-level BPE tokenizer trained with the ``tokenizers`` library on a small generated
  English corpus, with ChatML special tokens and a chat template that marks assistant turns with
  ``{% generation %}…{% endgeneration %}`` (so trl can train on assistant tokens only).

The weights are random: the model learns only what it is fine-tuned on (train its ``lm_head``
too, e.g. LoRA ``modules_to_save=["lm_head"]``). Re-running with a complete folder does nothing.
This recipe imports only the standard library, torch, tokenizers and transformers.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

BOS_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD_TOKEN = "<|pad|>"
SPECIAL_TOKENS = (BOS_TOKEN, IM_START, IM_END, PAD_TOKEN)
VOCAB_SIZE_TARGET = 2048
CORPUS_LINES = 400
SEED = 0

# ChatML. The assistant's content and its <|im_end|> sit inside {% generation %}, so an
# assistant-only loss also trains the model to stop.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{%- generation -%}"
    "{{ message['content'] + '<|im_end|>' }}"
    "{%- endgeneration -%}"
    "{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

# Files whose presence means a previous run finished (the folder is renamed into place last).
REQUIRED_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
)


def _items(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


# Word lists the corpus is generated from, "|"-separated.
_SUBJECTS = _items(
    "the customer|my account|the invoice|our team|the order|this device|the app|your plan|"
    "the password|the report|a user|the server|the package"
)
_VERBS = _items(
    "needs|shows|sends|updates|blocks|opens|resets|checks|cancels|returns|loads|changes|"
    "explains|charges|ships"
)
_OBJECTS = _items(
    "a refund|the settings page|an email|the billing address|two factor login|"
    "the shipping status|a new password|the monthly plan|an error message|the support ticket|"
    "the download link|a tracking number|the receipt"
)
_TAILS = _items(
    "today.|within five minutes.|after the update.|every morning.|again.|for the second time.|"
    "without any warning.|as expected.|on the mobile app.|from the dashboard.|right now.|"
    "next week."
)
_QUESTIONS = _items(
    "How do I reset my password?|Where is my order?|Can I get a refund?|"
    "Why was I charged twice?|How do I change my plan?|The app will not open.|"
    "How do I add a team member?|Can you cancel my subscription?|"
    "Where can I download my invoice?|How do I turn on two factor login?"
)
_ANSWERS = _items(
    "Open Settings, choose Security and click Reset password.|"
    "Your order has shipped and the tracking number is in your email.|"
    "Yes, refunds are possible within thirty days of purchase.|"
    "Sorry about that, the second charge will be returned in three days.|"
    "Go to Billing, choose Plans and pick the plan you want.|"
    "Please update the app and restart your phone, then try again.|"
    "Open Team, click Invite and enter their email address.|"
    "Your subscription is cancelled and stays active until the end of the month.|"
    "Invoices are under Billing, then History, as PDF files.|"
    "Open Settings, choose Security and turn on two factor login."
)


def build_corpus(lines: int = CORPUS_LINES, seed: int = SEED) -> list[str]:
    """Generated English-ish sentences and ChatML snippets, the same on every call."""
    rng = random.Random(seed)
    corpus = []
    for i in range(lines):
        if i % 4 == 3:
            k = rng.randrange(len(_QUESTIONS))
            corpus.append(
                f"{IM_START}user\n{_QUESTIONS[k]}{IM_END}\n"
                f"{IM_START}assistant\n{_ANSWERS[k]}{IM_END}\n"
            )
        else:
            sentence = " ".join(
                (
                    rng.choice(_SUBJECTS),
                    rng.choice(_VERBS),
                    rng.choice(_OBJECTS),
                    rng.choice(_TAILS),
                )
            )
            corpus.append(sentence[0].upper() + sentence[1:])
    return corpus


def train_tokenizer(corpus: list[str]):  # -> transformers.PreTrainedTokenizerFast
    """A byte-level BPE tokenizer (GPT-2 style) trained on ``corpus``, with the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE_TARGET,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS_TOKEN,
        eos_token=IM_END,
        pad_token=PAD_TOKEN,
        model_max_length=2048,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )


def build_model(tokenizer, seed: int = SEED):  # -> transformers.LlamaForCausalLM
    """A random-init 2-layer Llama sized to ``tokenizer``'s vocabulary, in bfloat16."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_length=2048,
    )
    return model


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` already holds every file of a built model."""
    return all((folder / name).is_file() for name in REQUIRED_FILES)


def _update_json(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    data = {key: value for key, value in data.items() if value is not None}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _make_portable(folder: Path) -> None:
    """Keep the folder loadable by transformers 4.x too (the one a vLLM install may pin)."""
    # transformers 5 writes "dtype"; releases before 4.56 read only "torch_dtype".
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    _update_json(folder / "config.json", torch_dtype=config.get("dtype", "bfloat16"))
    # transformers 5 names its tokenizers.json-backed class "TokenizersBackend", which 4.x does
    # not know; both load "PreTrainedTokenizerFast" from tokenizer.json.
    _update_json(
        folder / "tokenizer_config.json", tokenizer_class="PreTrainedTokenizerFast", backend=None
    )
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


def build(out: Path) -> bool:
    """Build the model into ``out`` unless it is already complete; True when it was built.

    Everything is written to a temporary sibling folder that is renamed into place at the end,
    so an interrupted build never leaves a folder that looks complete.
    """
    if is_complete(out):
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(build_corpus())
    model = build_model(tokenizer)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model.save_pretrained(staging)
        # save_jinja_files=False puts the chat template in tokenizer_config.json, where every
        # transformers and vLLM release looks for it.
        tokenizer.save_pretrained(staging, save_jinja_files=False)
        _make_portable(staging)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="model folder to create")
    args = parser.parse_args(argv)
    if build(args.out):
        print(f"built tiny Llama model in {args.out}")
    else:
        print(f"{args.out} already holds a complete model; nothing to do")
    return 0


if __name__ == "__main__":
    sys.exit(main())
