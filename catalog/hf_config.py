"""Import a Hugging Face ``config.json`` (offline) as a ModelArch, and store it for the user."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from catalog.datafile import describe_validation_error, read_yaml_records
from catalog.errors import CatalogFileError
from catalog.files import write_text_atomic
from catalog.records import ModelArch

__all__ = ["arch_from_hf_config", "save_user_model"]

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


def arch_from_hf_config(
    path: Path, *, model_id: str | None = None, hf_id: str | None = None, license: str = "unknown"
) -> ModelArch:
    """Read a decoder-only model's config.json into a ModelArch (no network)."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CatalogFileError(
            f"cannot be read as JSON ({exc}).",
            path=path,
            line=getattr(exc, "lineno", None),
            fix="pass the model's config.json as downloaded from its Hugging Face repository.",
        ) from None
    if not isinstance(config, dict):
        raise CatalogFileError(
            "is not a JSON object.",
            path=path,
            line=1,
            fix="pass a config.json file.",
        )
    if config.get("is_encoder_decoder"):
        raise CatalogFileError(
            "describes an encoder-decoder model; tailor plans decoder-only LLMs.",
            path=path,
            fix="import a decoder-only model's config.json.",
        )
    config = config.get("text_config") or config  # multimodal wrappers keep the LM inside
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
            f"lacks fields a decoder-only LLM config has: {describe_validation_error(exc)}",
            path=path,
            fix="check that this is a causal-LM config.json (num_hidden_layers, hidden_size, "
            "num_attention_heads, intermediate_size, vocab_size, max_position_embeddings).",
        ) from None


def save_user_model(arch: ModelArch, models_file: Path) -> None:
    """Add (or replace by id) ``arch`` in the user's models.yaml, atomically."""
    existing = read_yaml_records(models_file, "models", ModelArch) if models_file.exists() else []
    kept = [m for m in existing if m.id != arch.id]
    rows = [m.model_dump(mode="json", exclude_defaults=True) for m in [*kept, arch]]
    write_text_atomic(models_file, yaml.safe_dump({"models": rows}, sort_keys=False))
