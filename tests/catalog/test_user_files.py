"""The user's catalog: add-model from config.json, refreshed offers, malformed files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from catalog import CatalogFileError, load_catalog, total_params
from catalog.datafile import read_yaml_records
from catalog.hf_config import arch_from_hf_config, save_user_model
from catalog.loaders import user_models_path
from catalog.records import ModelArch

# meta-llama/Llama-3.1-8B config.json (fields that matter; the rest omitted).
LLAMA_31_8B_CONFIG = {
    "_name_or_path": "meta-llama/Llama-3.1-8B",
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
    "max_position_embeddings": 131072,
    "attention_bias": False,
    "mlp_bias": False,
}
# Qwen/Qwen2.5-0.5B config.json: qkv biases are implied by model_type qwen2.
QWEN25_05B_CONFIG = {
    "model_type": "qwen2",
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "tie_word_embeddings": True,
    "max_position_embeddings": 32768,
}


def _write(tmp_path: Path, config: dict, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


def test_import_llama_config_reproduces_published_count(tmp_path: Path) -> None:
    arch = arch_from_hf_config(_write(tmp_path, LLAMA_31_8B_CONFIG), model_id="my-llama")
    assert arch.hf_id == "meta-llama/Llama-3.1-8B"
    assert total_params(arch) == 8_030_261_248


def test_import_qwen2_infers_qkv_bias(tmp_path: Path) -> None:
    arch = arch_from_hf_config(_write(tmp_path, QWEN25_05B_CONFIG), hf_id="Qwen/Qwen2.5-0.5B")
    assert arch.head_dim == 64 and arch.attention_qkv_bias
    assert total_params(arch) == 494_032_768  # published Qwen2.5-0.5B count


def test_saved_model_is_found_by_load_catalog(tmp_path: Path, tailor_home: Path) -> None:
    arch = arch_from_hf_config(_write(tmp_path, LLAMA_31_8B_CONFIG), model_id="acme-llama")
    save_user_model(arch, user_models_path())
    save_user_model(arch, user_models_path())  # idempotent: replaced by id, not duplicated
    assert len(read_yaml_records(user_models_path(), "models", ModelArch)) == 1
    catalog = load_catalog()
    assert catalog.model("acme-llama").num_layers == 32
    assert catalog.model("llama-3.1-70b")  # shipped models still there


def test_config_missing_fields_is_a_clear_error(tmp_path: Path) -> None:
    broken = {k: v for k, v in LLAMA_31_8B_CONFIG.items() if k != "num_hidden_layers"}
    with pytest.raises(CatalogFileError) as info:
        arch_from_hf_config(_write(tmp_path, broken))
    assert "num_layers" in str(info.value) and "To fix:" in str(info.value)


def test_config_not_json_names_line(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{\n  "hidden_size": 4096,\n  oops\n}')
    with pytest.raises(CatalogFileError) as info:
        arch_from_hf_config(path)
    assert f"{path}:3" in str(info.value)


def test_malformed_user_models_file_names_file_and_line(tailor_home: Path) -> None:
    path = user_models_path()
    path.parent.mkdir(parents=True)
    path.write_text(
        "models:\n"
        "  - id: ok-model\n    hf_id: a/b\n    family: llama\n    num_layers: 2\n"
        "    hidden_size: 64\n    num_attention_heads: 2\n    num_key_value_heads: 2\n"
        "    head_dim: 32\n    intermediate_size: 128\n    vocab_size: 100\n"
        "    tie_word_embeddings: true\n    max_context_tokens: 512\n    license: mit\n"
        "    source: x\n    retrieved_on: 2026-01-01\n"
        "  - id: bad-model\n    hf_id: a/c\n    num_layers: -3\n"
    )
    catalog = load_catalog()  # the bad entry is skipped and named, the good one kept
    (message,) = catalog.problems
    assert f"{path}:17" in message and "num_layers" in message and "To fix:" in message
    assert catalog.model("ok-model") and catalog.find_model("bad-model") is None


def test_invalid_yaml_syntax_names_line(tailor_home: Path) -> None:
    path = user_models_path()
    path.parent.mkdir(parents=True)
    path.write_text("models:\n  - id: x\n    hf_id: [unclosed\n")
    (message,) = load_catalog().problems
    assert re.search(r"models\.yaml:\d+: is not valid YAML", message) and "To fix:" in message
