"""Supervised fine-tuning recipe: full, LoRA or QLoRA with trl's SFTTrainer, from a JSON config.

Usage::

    python -m executor.recipes.train --config run.json
    python executor/recipes/train.py --config run.json     # the file alone, on a bare GPU machine

This script imports only the standard library, torch/transformers/peft/trl/datasets/bitsandbytes
and its sibling ``training_rows.py`` (stdlib only; it reads and checks the data file, and
``tailor launch`` runs the same checks locally first), never a tailor package, so the recipes
folder runs wherever those are installed.

Config keys (JSON object; relative paths are relative to the working directory):

==========================  =========================================================  ============
key                         meaning                                                    default
==========================  =========================================================  ============
model                       Hugging Face id or local folder of the base model          required
method                      "full", "lora" or "qlora" (4-bit NF4 base + LoRA)          "lora"
lora_rank                   LoRA rank r                                                16
lora_alpha                  LoRA alpha                                                 2 × rank
lora_dropout                dropout on the LoRA path                                   0.05
lora_targets                module names to adapt, or "all-linear"                     "all-linear"
modules_to_save             modules trained in full next to LoRA (["lm_head"] for a    []
                            random-init model)
seq_len_tokens              longest training sequence; longer rows are truncated       2048
micro_batch                 sequences per device per forward pass                      1
gradient_accumulation       micro-batches per optimizer step                           1
gradient_checkpointing      recompute activations to save memory                       false
optimizer                   "adamw", "adamw_8bit" or "paged_adamw_8bit"                "adamw"
learning_rate               peak learning rate (linear decay)                          2e-4
epochs                      passes over the training split                             1
max_steps                   optimizer steps; overrides epochs (smoke runs)             null
data_path                   JSONL file of examples                                     required
data_format                 "chat" ({"messages": [...]}), "instruction"                "chat"
                            ({"instruction", "input"?, "output"}) or "completion"
                            ({"prompt", "completion"})
on_bad_rows                 "error" (stop before training, listing the bad rows) or    "error"
                            "skip" (skip and count them)
validation_fraction         share of rows held out for eval loss, 0 to 0.5            0.1
output_dir                  folder for checkpoints/, metrics.jsonl, final/, DONE       required
save_steps                  checkpoint every N optimizer steps (the last 2 are kept)   100
eval_steps                  evaluate every N steps                                     save_steps
logging_steps               write a metrics line every N steps                         1
early_stopping_patience     stop after N evaluations without a better eval loss and    null
                            keep the best checkpoint (save_steps must be a multiple
                            of eval_steps)
merge                       also write LoRA merged into the base to output_dir/merged  false
precision                   "fp32"; "bf16-mixed" (bf16 autocast; full: fp32 weights   "fp32"
                            as master copy, LoRA: bf16 base, fp32 adapters);
                            "bf16-pure" (weights, adapters, grads and optimizer
                            state in bf16); "fp16-mixed" (fp16 autocast with loss
                            scaling, fp32 master weights / adapters: GPUs without
                            bf16, e.g. V100, T4)
sharding                    multi-GPU runs (torchrun): "ddp" (replicated), "fsdp"      "ddp"
                            (FSDP2 full shard), "fsdp-hybrid" (FSDP2 sharded within
                            a node, replicated across nodes) or "zero3" (DeepSpeed
                            ZeRO-3; needs deepspeed installed)
packing                     pack examples into seq_len_tokens blocks (trl "bfd",      false
                            padding-free: no attention across examples)
attention                   "sdpa", "flash" (flash-attn package) or "eager"           "sdpa"
seed                        seed of the split, the adapter init and the data order     42
==========================  =========================================================  ============

Outputs in output_dir: ``checkpoints/checkpoint-N`` (a rerun resumes from the newest one);
``metrics.jsonl`` (one line per logging step: step, epoch, loss, eval_loss when evaluated,
tokens_per_s, peak_memory_gib, time); ``final/`` (the adapter, or the full model, with the
tokenizer); ``merged/`` when merge is set; ``DONE`` (JSON summary), after which a rerun does
nothing. Bad configs and bad data rows exit with status 2 and one paragraph saying what is wrong
and how to fix it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import resource
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

if __package__:  # python -m executor.recipes.train, or imported
    from . import training_rows
else:  # python train.py, torchrun train.py: the script's own folder is on sys.path
    import training_rows

METHODS = ("full", "lora", "qlora")
DATA_FORMATS = training_rows.DATA_FORMATS
to_messages = training_rows.to_messages  # one row as chat messages (the shapes live there)
OPTIMIZERS = {
    "adamw": "adamw_torch",
    "adamw_8bit": "adamw_bnb_8bit",
    "paged_adamw_8bit": "paged_adamw_8bit",
}
GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")

# Used only when the tokenizer has no chat template (a base model): plain "role: text" turns,
# with assistant turns (and the end-of-sequence token) marked for assistant-only loss.
FALLBACK_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}{{ 'assistant: ' }}"
    "{%- generation -%}{{ message['content'] + eos_token }}{%- endgeneration -%}{{ '\\n' }}"
    "{%- else -%}{{ message['role'] + ': ' + message['content'] + '\\n' }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'assistant: ' }}{%- endif -%}"
)


class RecipeError(Exception):
    """A bad config, bad data or a bad output folder: one paragraph ending in "To fix: …"."""


def _rules(kinds: tuple[type, ...], *, choices=None, minimum=None, nullable=False) -> dict:
    """What values a config key accepts (dataclass field metadata)."""
    return {"kinds": kinds, "choices": choices, "minimum": minimum, "nullable": nullable}


_REQUIRED_KEYS = ("model", "data_path", "output_dir")
SHARDINGS = ("ddp", "fsdp", "fsdp-hybrid", "zero3")
ATTENTION = {"sdpa": "sdpa", "flash": "flash_attention_2", "eager": "eager"}
PRECISIONS = ("fp32", "bf16-mixed", "bf16-pure", "fp16-mixed")


@dataclass(frozen=True)
class Precision:
    """What a precision means for the recipe: the dtype the weights load in (frozen base
    weights for LoRA, every weight for full fine-tuning), the dtype trainable adapters are
    kept in, and the Trainer's autocast flag (fp16 also turns on its loss scaler)."""

    load: str  # torch dtype name of the loaded weights
    adapters: str  # torch dtype name of the LoRA adapters
    bf16: bool  # Trainer bf16 autocast
    fp16: bool  # Trainer fp16 autocast + GradScaler


def precision_of(config: TrainConfig) -> Precision:
    """The dtypes of ``config.precision`` for its method (see the module docstring)."""
    name, full = config.precision, config.method == "full"
    if name == "bf16-mixed":
        return Precision("float32" if full else "bfloat16", "float32", bf16=True, fp16=False)
    if name == "bf16-pure":
        return Precision("bfloat16", "bfloat16", bf16=True, fp16=False)
    if name == "fp16-mixed":
        return Precision("float32" if full else "float16", "float32", bf16=False, fp16=True)
    return Precision("float32", "float32", bf16=False, fp16=False)


_INT, _NUMBER, _BOOL, _STR = (int,), (int, float), (bool,), (str,)


@dataclass(frozen=True)
class TrainConfig:
    """The validated config; see the module docstring for each key."""

    model: str = field(default="", metadata=_rules(_STR))
    data_path: str = field(default="", metadata=_rules(_STR))
    output_dir: str = field(default="", metadata=_rules(_STR))
    method: str = field(default="lora", metadata=_rules(_STR, choices=METHODS))
    lora_rank: int = field(default=16, metadata=_rules(_INT, minimum=1))
    lora_alpha: int | None = field(default=None, metadata=_rules(_INT, minimum=1, nullable=True))
    lora_dropout: float = field(default=0.05, metadata=_rules(_NUMBER, minimum=0))
    lora_targets: str | list = field(default="all-linear", metadata=_rules((str, list)))
    modules_to_save: list | tuple = field(default=(), metadata=_rules((list,)))
    seq_len_tokens: int = field(default=2048, metadata=_rules(_INT, minimum=8))
    micro_batch: int = field(default=1, metadata=_rules(_INT, minimum=1))
    gradient_accumulation: int = field(default=1, metadata=_rules(_INT, minimum=1))
    gradient_checkpointing: bool = field(default=False, metadata=_rules(_BOOL))
    optimizer: str = field(default="adamw", metadata=_rules(_STR, choices=tuple(OPTIMIZERS)))
    learning_rate: float = field(default=2e-4, metadata=_rules(_NUMBER, minimum=0))
    epochs: int = field(default=1, metadata=_rules(_INT, minimum=1))
    max_steps: int | None = field(default=None, metadata=_rules(_INT, minimum=1, nullable=True))
    data_format: str = field(default="chat", metadata=_rules(_STR, choices=DATA_FORMATS))
    on_bad_rows: str = field(default="error", metadata=_rules(_STR, choices=("error", "skip")))
    validation_fraction: float = field(default=0.1, metadata=_rules(_NUMBER, minimum=0))
    save_steps: int = field(default=100, metadata=_rules(_INT, minimum=1))
    eval_steps: int | None = field(default=None, metadata=_rules(_INT, minimum=1, nullable=True))
    logging_steps: int = field(default=1, metadata=_rules(_INT, minimum=1))
    early_stopping_patience: int | None = field(
        default=None, metadata=_rules(_INT, minimum=1, nullable=True)
    )
    merge: bool = field(default=False, metadata=_rules(_BOOL))
    precision: str = field(default="fp32", metadata=_rules(_STR, choices=PRECISIONS))
    sharding: str = field(default="ddp", metadata=_rules(_STR, choices=tuple(SHARDINGS)))
    packing: bool = field(default=False, metadata=_rules(_BOOL))
    attention: str = field(default="sdpa", metadata=_rules(_STR, choices=tuple(ATTENTION)))
    seed: int = field(default=42, metadata=_rules(_INT, minimum=0))


def _problem(rules: dict, value: Any) -> str | None:
    """What is wrong with ``value`` under a field's rules, or None."""
    kinds = rules["kinds"]
    if value is None and rules["nullable"]:
        return None
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(kind.__name__ for kind in kinds)
        return f"is {json.dumps(value)}, expected {expected}"
    if rules["choices"] and value not in rules["choices"]:
        return f"is {json.dumps(value)}, expected one of {', '.join(rules['choices'])}"
    if rules["minimum"] is not None and value < rules["minimum"]:
        return f"is {value}, expected at least {rules['minimum']}"
    if isinstance(value, list) and not all(isinstance(v, str) and v for v in value):
        return f"is {json.dumps(value)}, expected a list of module names"
    if isinstance(value, str) and not value:
        return "is empty"
    return None


def _check_combination(config: TrainConfig) -> tuple[str, str, str] | None:
    """(key, problem, fix) for keys that cannot work together, or None."""
    eval_steps = config.eval_steps or config.save_steps
    if config.validation_fraction > 0.5:
        return "validation_fraction", f"is {config.validation_fraction}", "use 0 to 0.5"
    if config.early_stopping_patience and config.validation_fraction == 0:
        problem = "is set but validation_fraction is 0, so there is no eval loss to watch"
        return (
            "early_stopping_patience",
            problem,
            "set validation_fraction above 0, or this to null",
        )
    if config.early_stopping_patience and config.save_steps % eval_steps:
        problem = f"is {config.save_steps}, not a multiple of eval_steps ({eval_steps})"
        return "save_steps", problem, "make it a multiple, so the best checkpoint is kept"
    return None


def load_config(path: Path) -> TrainConfig:
    """Read and validate the JSON config; RecipeError names the first bad key."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RecipeError(
            f"{path}: cannot be read as JSON ({exc}). To fix: pass a JSON object of config keys."
        ) from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: is not a JSON object. To fix: wrap the keys in {{}}.")
    rules = {f.name: (f.metadata, f.default) for f in fields(TrainConfig)}
    for key, value in data.items():
        if key not in rules:
            known = ", ".join(rules)
            raise RecipeError(f"{path}: unknown key {key!r}. To fix: remove it; keys are {known}.")
        problem = _problem(rules[key][0], value)
        if problem:
            default = "" if key in _REQUIRED_KEYS else f", or drop it for {rules[key][1]!r}"
            raise RecipeError(f"{path}: {key} {problem}. To fix: correct {key!r}{default}.")
    for key in _REQUIRED_KEYS:
        if key not in data:
            raise RecipeError(f"{path}: {key} is missing. To fix: add {key!r} to the config.")
    config = TrainConfig(**data)
    bad = _check_combination(config)
    if bad:
        raise RecipeError(f"{path}: {bad[0]} {bad[1]}. To fix: {bad[2]}.")
    return config


# ---- data --------------------------------------------------------------------------------------


def read_rows(path: Path, data_format: str, on_bad_rows: str) -> tuple[list[list[dict]], int]:
    """All conversations in ``path`` and how many bad rows were skipped (training_rows checks
    each row; with on_bad_rows "error" any bad row stops the run, listing them)."""
    try:
        scan = training_rows.scan_rows(path, data_format)
    except training_rows.DataFileError as exc:
        raise RecipeError(f"{exc}. To fix: check data_path.") from None
    problem = training_rows.usable_rows_problem(scan, on_bad_rows)
    if problem and scan.bad_rows:
        skip = ', or set "on_bad_rows": "skip" to skip and count them' if scan.rows else ""
        raise RecipeError(f"{problem}\nTo fix: correct or remove those rows{skip}.")
    if problem:
        raise RecipeError(f"{problem}. To fix: check data_path.")
    return scan.conversations, scan.bad_rows


def split_rows(rows: list, fraction: float, seed: int) -> tuple[list, list]:
    """A seeded shuffle, then floor(n × fraction) rows (at least 1 if fraction > 0) held out."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_val = min(max(1, math.floor(len(rows) * fraction)), len(rows) - 1) if fraction else 0
    return [rows[i] for i in order[n_val:]], [rows[i] for i in order[:n_val]]


# ---- checkpoints and metrics -------------------------------------------------------------------


def newest_checkpoint(folder: Path) -> Path | None:
    """The highest-step ``checkpoint-N`` whose trainer state (written last) exists."""
    done = [p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(done, key=lambda p: int(p.name.rsplit("-", 1)[1]), default=None)


def truncate_metrics(path: Path, last_step: int) -> None:
    """Drop lines past ``last_step``: those steps are trained again after a resume."""
    if not path.exists():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in kept if json.loads(line).get("step", 0) <= last_step]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def peak_memory_gib() -> float:
    """Peak CUDA memory allocated, else the process's peak resident set, GiB."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


class _MetricsLines:
    """The metrics writer's logic: one flushed JSON line per logging step to ``path``, the
    eval loss of a step joined to its train line. Mixed into a TrainerCallback by
    :func:`metrics_callback` (transformers is imported only there)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: dict | None = None  # a train line waiting for this step's eval loss
        self.last = (time.time(), 0)

    def on_train_begin(self, args, state, control, **kwargs):
        self.last = (time.time(), state.num_input_tokens_seen)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:  # the Trainer logs on every rank: rank 0 writes
            return
        logs = logs or {}
        if "loss" in logs:
            self.flush()
            self.pending = self.line(state, logs, loss=logs["loss"])
            if not control.should_evaluate:  # else wait for this step's eval loss
                self.flush()
        elif "eval_loss" in logs:
            if not self.pending or self.pending["step"] != state.global_step:
                self.flush()
                self.pending = self.line(state, logs, loss=None)
            self.pending["eval_loss"] = logs["eval_loss"]
            self.flush()

    def line(self, state, logs: dict, loss: float | None) -> dict:
        now, tokens = time.time(), logs.get("num_input_tokens_seen", self.last[1])
        rate = (tokens - self.last[1]) / max(now - self.last[0], 1e-9)
        self.last = (now, tokens)
        return {
            "step": state.global_step,
            "epoch": state.epoch,
            "loss": loss,
            "tokens_per_s": round(rate, 1),
            "peak_memory_gib": round(peak_memory_gib(), 4),
            "time": round(now, 3),
        }

    def flush(self, *args, **kwargs):
        if self.pending:
            line, self.pending = self.pending, None
            with self.path.open("a", encoding="utf-8") as file:  # closed, so flushed, per line
                file.write(json.dumps(line) + "\n")
            shown = {k: v for k, v in line.items() if k in ("loss", "eval_loss") and v}
            losses = " ".join(f"{k} {v:.4f}" for k, v in shown.items())
            print(f"step {line['step']} {losses} {line['tokens_per_s']:.0f} tok/s", flush=True)

    on_save = on_train_end = flush


def metrics_callback(path: Path):
    """A TrainerCallback writing one flushed JSON line per logging step to ``path``."""
    from transformers import TrainerCallback

    class MetricsWriter(_MetricsLines, TrainerCallback):
        pass

    return MetricsWriter(path)


# ---- model and trainer -------------------------------------------------------------------------


def load_tokenizer(config: TrainConfig):
    """The base tokenizer, with a fallback chat template if it has none."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(config.model)
    except OSError as exc:
        raise RecipeError(
            f"model {config.model!r} cannot be loaded ({exc}). To fix: set model to a local model "
            "folder or a Hugging Face id this machine can download (log in for gated models)."
        ) from None
    if not tokenizer.chat_template:
        print("tokenizer has no chat template; using a plain 'role: text' template", flush=True)
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def supports_assistant_only_loss(tokenizer) -> bool:
    """Whether the template marks assistant turns ({% generation %}), or trl can patch it to."""
    if GENERATION_TAG.search(str(tokenizer.chat_template)):
        return True
    try:
        from trl.chat_template_utils import get_training_chat_template

        get_training_chat_template(tokenizer)
    except (ImportError, ValueError):
        return False
    return True


def load_model(config: TrainConfig):
    """The base model in the precision's load dtype, or NF4 double-quantised for QLoRA (its
    compute dtype the precision's 16-bit type)."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    dtype = getattr(torch, precision_of(config).load)
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": ATTENTION[config.attention]}
    if config.method == "qlora":
        sharded = config.sharding != "ddp"
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
            # FSDP / ZeRO-3 shard flat tensors of one dtype: store the 4-bit weights in it
            **({"bnb_4bit_quant_storage": dtype} if sharded else {}),
        )
        if torch.cuda.is_available() and not sharded:
            # each DDP rank's whole 4-bit model on its own GPU (torchrun's LOCAL_RANK); the
            # current device is still GPU 0 on every rank until the Trainer sets it
            kwargs["device_map"] = {"": local_rank()}
    model = AutoModelForCausalLM.from_pretrained(config.model, **kwargs)
    bits = "4-bit NF4" if getattr(model, "is_loaded_in_4bit", False) else str(dtype)
    print(f"loaded {config.model} for {config.method} ({bits})", flush=True)
    if config.method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=config.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    return model


def lora_config(config: TrainConfig):
    """peft's LoraConfig, or None for full fine-tuning."""
    if config.method == "full":
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha or 2 * config.lora_rank,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_targets,
        modules_to_save=list(config.modules_to_save) or None,
        task_type="CAUSAL_LM",
    )


def sft_config(config: TrainConfig, *, has_eval: bool, assistant_only: bool):
    """trl's SFTConfig for this run; checkpoints go to output_dir/checkpoints."""
    import torch
    from trl import SFTConfig

    eval_steps = config.eval_steps or config.save_steps
    return SFTConfig(
        output_dir=str(Path(config.output_dir) / "checkpoints"),
        per_device_train_batch_size=config.micro_batch,
        per_device_eval_batch_size=config.micro_batch,
        gradient_accumulation_steps=config.gradient_accumulation,
        # FSDP checkpoints activations itself (fsdp_config): the Trainer's would all-gather twice
        gradient_checkpointing=config.gradient_checkpointing and not _fsdp(config),
        gradient_checkpointing_kwargs={"use_reentrant": False},
        optim=OPTIMIZERS[config.optimizer],
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=eval_steps if has_eval else None,
        load_best_model_at_end=bool(config.early_stopping_patience),
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        bf16=precision_of(config).bf16,
        fp16=precision_of(config).fp16,
        seed=config.seed,
        data_seed=config.seed,
        max_length=config.seq_len_tokens,
        packing=config.packing,  # trl "bfd": padding-free, per-example position ids
        assistant_only_loss=assistant_only,
        **distributed_args(config),
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        disable_tqdm=True,
        dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=not torch.cuda.is_available(),  # the Trainer refuses bf16 on a CPU otherwise
    )


def _fsdp(config: TrainConfig) -> bool:
    return config.sharding in ("fsdp", "fsdp-hybrid")


def distributed_args(config: TrainConfig) -> dict[str, Any]:
    """The Trainer arguments of ``config.sharding`` (nothing for ddp: torchrun + the Trainer
    is DDP). fsdp: FSDP2 full shard of each decoder layer; fsdp-hybrid: the same within a node
    and replicated across nodes (torchrun's LOCAL_WORLD_SIZE GPUs per node); zero3: DeepSpeed
    ZeRO-3 with its values left to the Trainer ("auto")."""
    if config.sharding == "ddp":
        return {}
    if config.sharding == "zero3":
        return {
            "deepspeed": {
                "zero_optimization": {
                    "stage": 3,
                    "stage3_gather_16bit_weights_on_model_save": True,
                },
                "bf16": {"enabled": "auto"},
                "fp16": {"enabled": "auto"},
                "train_micro_batch_size_per_gpu": "auto",
                "gradient_accumulation_steps": "auto",
                "gradient_clipping": "auto",
            }
        }
    fsdp_config = {
        "version": 2,
        "reshard_after_forward": True,
        "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "state_dict_type": "FULL_STATE_DICT",
        "cpu_ram_efficient_loading": False,
        "activation_checkpointing": config.gradient_checkpointing,
    }
    args: dict[str, Any] = {"fsdp": True, "fsdp_config": fsdp_config}
    if config.sharding == "fsdp-hybrid":
        from accelerate.parallelism_config import ParallelismConfig

        world = int(os.environ.get("WORLD_SIZE", "1"))
        per_node = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
        args["parallelism_config"] = ParallelismConfig(
            dp_replicate_size=world // per_node, dp_shard_size=per_node
        )
    return args


def build_trainer(config: TrainConfig, train_rows: list, val_rows: list, out: Path):
    """SFTTrainer with the model, the LoRA config, metrics and early stopping wired in."""
    from datasets import Dataset
    from transformers import EarlyStoppingCallback, PrinterCallback
    from trl import SFTTrainer

    tokenizer = load_tokenizer(config)
    assistant_only = supports_assistant_only_loss(tokenizer)
    print(f"loss on {'assistant tokens only' if assistant_only else 'all tokens'}", flush=True)
    callbacks = [metrics_callback(out / "metrics.jsonl")]
    if config.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(config.early_stopping_patience))
    trainer = SFTTrainer(
        model=load_model(config),
        args=sft_config(config, has_eval=bool(val_rows), assistant_only=assistant_only),
        train_dataset=Dataset.from_list([{"messages": m} for m in train_rows]),
        eval_dataset=Dataset.from_list([{"messages": m} for m in val_rows]) if val_rows else None,
        processing_class=tokenizer,
        peft_config=lora_config(config),
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # MetricsWriter prints one line per step instead
    cast_adapters(trainer.model, precision_of(config).adapters)
    return trainer, tokenizer, assistant_only


def cast_adapters(model, dtype_name: str) -> None:
    """Keep the trainable LoRA parameters in ``dtype_name`` (peft makes 16-bit adapters fp32;
    bf16-pure keeps them bf16). Full fine-tuning: nothing to do (its weights loaded so)."""
    import torch

    dtype = getattr(torch, dtype_name)
    for name, param in model.named_parameters():
        if param.requires_grad and "lora_" in name and param.dtype != dtype:
            param.data = param.data.to(dtype)


def merge_adapter(config: TrainConfig, adapter_dir: Path, merged_dir: Path) -> None:
    """Load the unquantised base, fold the adapter in and save a plain model."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    load = precision_of(config).load
    dtype = torch.float32 if load == "float32" else getattr(torch, load)
    base = AutoModelForCausalLM.from_pretrained(config.model, dtype=dtype)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(merged_dir)


def last_logged(trainer, key: str) -> float | None:
    """The newest value of ``key`` in the trainer's log history."""
    values = [entry[key] for entry in trainer.state.log_history if key in entry]
    return values[-1] if values else None


def rank() -> int:
    """This process's global rank under torchrun (``RANK``); 0 when run alone."""
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """This process's GPU on its node under torchrun (``LOCAL_RANK``); 0 when run alone."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def save_outputs(config: TrainConfig, trainer, tokenizer, out: Path) -> None:
    """final/ (adapter or full model, + tokenizer) and, when asked, merged/.

    Every rank calls ``save_model`` (FSDP and ZeRO-3 gather the shards collectively; the
    Trainer writes on rank 0 only); the tokenizer and the merge are rank 0's alone, after
    every rank has finished saving."""
    trainer.save_model(str(out / "final"))
    trainer.accelerator.wait_for_everyone()
    if rank() != 0:
        return
    tokenizer.save_pretrained(out / "final")
    if config.merge and config.method != "full":
        merge_adapter(config, out / "final", out / "merged")
        tokenizer.save_pretrained(out / "merged")


def run(config: TrainConfig) -> dict[str, Any]:
    """Train (resuming from the newest checkpoint), save final/ and merged/, write DONE."""
    started = time.time()
    rows, skipped = read_rows(Path(config.data_path), config.data_format, config.on_bad_rows)
    train_rows, val_rows = split_rows(rows, config.validation_fraction, config.seed)
    print(
        f"{len(train_rows)} training rows, {len(val_rows)} validation rows, "
        f"{skipped} bad rows skipped",
        flush=True,
    )
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = newest_checkpoint(out / "checkpoints")
    resumed_from = int(checkpoint.name.rsplit("-", 1)[1]) if checkpoint else None
    if checkpoint:
        print(f"resuming from {checkpoint} (step {resumed_from})", flush=True)
    if rank() == 0:  # the only writer of metrics.jsonl
        truncate_metrics(out / "metrics.jsonl", resumed_from or 0)  # steps to be (re)trained
    _quiet_progress_bars()
    trainer, tokenizer, assistant_only = build_trainer(config, train_rows, val_rows, out)
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    save_outputs(config, trainer, tokenizer, out)
    best = trainer.state.best_metric if config.early_stopping_patience else None
    summary = {
        "final_step": trainer.state.global_step,
        "train_loss": last_logged(trainer, "loss"),
        "eval_loss": best if best is not None else last_logged(trainer, "eval_loss"),
        "skipped_rows": skipped,
        "seconds": round(time.time() - started, 1),
        "resumed_from_step": resumed_from,
        "train_rows": len(train_rows),
        "validation_rows": len(val_rows),
        "assistant_only_loss": assistant_only,
    }
    if rank() == 0:  # one DONE, once rank 0 has saved final/ and merged/
        (out / "DONE").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        print(f"done: {json.dumps(summary)}", flush=True)
    return summary


def _quiet_progress_bars() -> None:
    # One metrics line per step is the progress report; tqdm bars would bury it in logs.
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Supervised fine-tuning from a JSON config.")
    parser.add_argument("--config", type=Path, required=True, help="JSON config file")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        done = Path(config.output_dir) / "DONE"
        if done.exists():
            print(f"{done} exists; the run is complete. Delete it to train again.", flush=True)
            return 0
        run(config)
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
