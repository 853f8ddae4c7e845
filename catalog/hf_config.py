"""Import a Hugging Face ``config.json`` (offline) as a ModelArch, and store it for the user."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from catalog.datafile import read_text, read_yaml_list
from catalog.errors import CatalogFileError
from catalog.files import write_text_atomic
from catalog.records import ModelArch

__all__ = ["MAX_CONFIG_BYTES", "arch_from_hf_config", "save_user_model"]

# Families whose q/k/v projections always carry a bias, though config.json has no flag for it.
_QKV_BIAS_FAMILIES = {"qwen2", "qwen2_moe"}
_QK_NORM_FAMILIES = {"qwen3", "qwen3_moe", "olmo2", "gemma3_text"}
_FOUR_NORM_FAMILIES = {"gemma2", "gemma3", "gemma3_text", "olmo2"}


def _first(config: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if config.get(key) is not None:
            return config[key]
    return None


def _fields_from_config(config: dict[str, Any]) -> dict[str, Any]:
    family = str(config.get("model_type", "unknown"))
    heads = config.get("num_attention_heads")
    hidden = config.get("hidden_size")
    head_dim = config.get("head_dim") or (hidden // heads if hidden and heads else None)
    attention_bias = bool(config.get("attention_bias", False))
    experts = _first(config, "num_local_experts", "num_experts", "n_routed_experts")
    return {
        "family": family,
        "num_layers": config.get("num_hidden_layers"),
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_key_value_heads": config.get("num_key_value_heads") or heads,
        "head_dim": head_dim,
        "intermediate_size": config.get("intermediate_size"),
        "vocab_size": config.get("vocab_size"),
        "tie_word_embeddings": bool(config.get("tie_word_embeddings", False)),
        "max_context_tokens": config.get("max_position_embeddings"),
        "sliding_window_tokens": config.get("sliding_window") or None,
        "num_experts": experts or None,
        "num_experts_per_token": _first(config, "num_experts_per_tok") if experts else None,
        "moe_intermediate_size": config.get("moe_intermediate_size") if experts else None,
        "attention_qkv_bias": attention_bias or family in _QKV_BIAS_FAMILIES,
        "attention_output_bias": attention_bias and family not in _QKV_BIAS_FAMILIES,
        "mlp_bias": bool(config.get("mlp_bias", False)) or family == "gpt_oss",
        "router_bias": family == "gpt_oss",
        "attention_sinks": family == "gpt_oss",
        "qk_norm": family in _QK_NORM_FAMILIES,
        "norms_per_layer": 4 if family in _FOUR_NORM_FAMILIES else 2,
    }


# config.json keys that must be JSON integers when present (no "4096", 4096.0 or true).
_COUNT_KEYS = (
    "num_hidden_layers",
    "hidden_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "intermediate_size",
    "vocab_size",
    "max_position_embeddings",
    "num_local_experts",
    "num_experts",
    "n_routed_experts",
    "num_experts_per_tok",
    "moe_intermediate_size",
)
_TEXT_KEYS = ("model_type", "_name_or_path")
# ModelArch field -> the config.json key it is read from, for errors that name what to edit.
_CONFIG_KEY = {
    "num_layers": "num_hidden_layers",
    "max_context_tokens": "max_position_embeddings",
    "sliding_window_tokens": "sliding_window",
    "num_experts": "num_local_experts",
    "num_experts_per_token": "num_experts_per_tok",
    "family": "model_type",
    "hf_id": "_name_or_path (or --hf-id)",
    "id": "--id",
}
MAX_CONFIG_BYTES = 4 * 1024 * 1024
_ID_FIX = (
    "pass --id with 1 to 64 lower-case letters, digits, '.', '_' or '-' (starting with a letter "
    "or digit)."
)


def _read_config(path: Path) -> dict[str, Any]:
    text = read_text(path, max_bytes=MAX_CONFIG_BYTES)
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogFileError(
            f"cannot be read as JSON ({exc.msg}).",
            path=path,
            line=exc.lineno,
            fix="pass the model's config.json as downloaded from its Hugging Face repository.",
        ) from None
    except RecursionError:
        raise CatalogFileError(
            "nests JSON arrays or objects too deeply to read.",
            path=path,
            fix="pass the model's config.json as downloaded from its Hugging Face repository.",
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise CatalogFileError(
            f"cannot be read as JSON ({str(exc).split(';')[0]}).",
            path=path,
            fix="pass the model's config.json as downloaded from its Hugging Face repository.",
        ) from None
    if not isinstance(config, dict):
        raise CatalogFileError(
            "is not a JSON object.", path=path, line=1, fix="pass a config.json."
        )
    return config


def _language_model_config(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """The LM part: multimodal wrappers keep it under ``text_config``."""
    inner = config.get("text_config")
    if inner is not None and not isinstance(inner, dict):
        raise CatalogFileError(
            f"`text_config` is a {type(inner).__name__}, not an object.",
            path=path,
            fix="pass a config.json whose text_config (if any) is a JSON object of the language "
            "model's fields.",
        )
    return inner or config


def _check_types(config: dict[str, Any], path: Path) -> None:
    for key in _COUNT_KEYS:
        value = config.get(key)
        if value is not None and type(value) is not int:
            raise CatalogFileError(
                f"`{key}` is {str(value)[:40]!r} ({type(value).__name__}), not a whole number.",
                path=path,
                fix=f"write {key} as a JSON integer, as in the model's published config.json.",
            )
    for key in _TEXT_KEYS:
        value = config.get(key)
        if value is not None and not isinstance(value, str):
            raise CatalogFileError(
                f"`{key}` is a {type(value).__name__}, not a string.",
                path=path,
                fix=f"write {key} as a JSON string.",
            )
    experts = _first(config, "num_local_experts", "num_experts", "n_routed_experts")
    if experts and config.get("num_experts_per_tok") is None:
        raise CatalogFileError(
            f"describes a mixture of experts ({experts} experts) without `num_experts_per_tok`.",
            path=path,
            fix="add num_experts_per_tok (experts routed per token) from the model's published "
            "config.json.",
        )


def _describe(exc: ValidationError) -> str:
    parts = []
    for item in exc.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(config)"
        key = f"{_CONFIG_KEY[field]} ({field})" if field in _CONFIG_KEY else field
        parts.append(f"{key}: {item['msg']}")
    return "; ".join(parts) + "."


def arch_from_hf_config(
    path: Path, *, model_id: str | None = None, hf_id: str | None = None, license: str = "unknown"
) -> ModelArch:
    """Read a decoder-only model's config.json into a ModelArch (no network).

    Everything is checked before a record exists: the file is UTF-8 JSON of at most
    ``MAX_CONFIG_BYTES``, ``text_config`` (if any) is an object, the dimensions are JSON
    integers within ModelArch's bounds, an MoE names its experts per token, the id is a safe
    name. Any failure is a CatalogFileError naming the file and the config key.
    """
    config = _read_config(path)
    if config.get("is_encoder_decoder"):
        raise CatalogFileError(
            "describes an encoder-decoder model; tailor plans decoder-only LLMs.",
            path=path,
            fix="import a decoder-only model's config.json.",
        )
    config = _language_model_config(config, path)
    _check_types(config, path)
    name = hf_id or config.get("_name_or_path") or path.parent.name
    fields = _fields_from_config(config)
    fields.update(
        id=(model_id or str(name).rsplit("/", 1)[-1]).lower(),
        hf_id=str(name),
        license=license,
        source=str(path.resolve()),
        retrieved_on=date.today(),
    )
    try:
        return ModelArch.model_validate(fields)
    except ValidationError as exc:
        raise CatalogFileError(
            f"does not describe a decoder-only LLM tailor can plan: {_describe(exc)}",
            path=path,
            fix=_fix_for(exc),
        ) from None


def _fix_for(exc: ValidationError) -> str:
    fields = {item["loc"][0] for item in exc.errors() if item["loc"]}
    if "id" in fields:
        return _ID_FIX
    if "hf_id" in fields:
        return "pass --hf-id with the weights' Hugging Face repository id (owner/name)."
    return (
        "check that this is a causal-LM config.json (num_hidden_layers, hidden_size, "
        "num_attention_heads, intermediate_size, vocab_size, max_position_embeddings), with "
        "the values of the published model."
    )


def save_user_model(arch: ModelArch, models_file: Path) -> None:
    """Add (or replace by id) ``arch`` in the user's models.yaml, atomically.

    The other entries are kept as they are written, even ones this version of tailor cannot
    read (the loader skips and names them); a file that cannot be read as a whole is refused
    with a CatalogFileError and left untouched.
    """
    kept = []
    if models_file.exists():
        try:
            kept = read_yaml_list(models_file, "models")
        except CatalogFileError as exc:
            raise CatalogFileError(
                f"{exc.problem} {arch.id} was not added.",
                path=models_file,
                line=exc.line,
                fix=f"repair the file or move it away, then add the model again ({exc.fix})",
            ) from None
    kept = [m for m in kept if not (isinstance(m, dict) and m.get("id") == arch.id)]
    row = arch.model_dump(mode="json", exclude_defaults=True)
    try:
        text = yaml.safe_dump({"models": [*kept, row]}, sort_keys=False)
    except RecursionError:
        raise CatalogFileError(
            f"nests an entry too deeply to write back; {arch.id} was not added.",
            path=models_file,
            fix="remove the deeply nested entry from the file, then add the model again.",
        ) from None
    write_text_atomic(models_file, text)
