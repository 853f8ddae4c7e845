"""`tailor estimate train|serve --json` keeps its documented interface."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tui.cli import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_estimate_train_json_interface() -> None:
    result = invoke(
        "estimate",
        "train",
        "--model",
        "llama-3.1-8b",
        "--method",
        "qlora",
        "--gpu",
        "L4",
        "--seq-len",
        "2048",
        "--batch",
        "1",
        "--lora-rank",
        "16",
        "--gradient-checkpointing",
        "--optimizer",
        "paged_adamw_8bit",
        "--tokens",
        "9000000",
        "--json",
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["fits"] is True and 5 < out["peak_memory_gib_per_gpu"] < 22.5
    assert set(out["breakdown_gib"]) >= {"weights", "activations", "logits", "cuda_context"}
    assert out["tokens_per_s"] > 0 and out["hours"] > 0
    assert out["hours_low"] < out["hours"] < out["hours_high"]


def test_estimate_train_without_tokens_has_null_hours() -> None:
    out = json.loads(
        invoke(
            "estimate",
            "train",
            "--model",
            "llama-3.1-70b",
            "--method",
            "full",
            "--gpu",
            "H100",
            "--seq-len",
            "4096",
            "--batch",
            "1",
            "--no-gradient-checkpointing",
            "--json",
        ).output
    )
    assert out["hours"] is None and out["fits"] is False


def test_estimate_serve_json_interface() -> None:
    result = invoke(
        "estimate",
        "serve",
        "--model",
        "llama-3.1-8b",
        "--gpu",
        "H100",
        "--quantization",
        "bf16",
        "--batch",
        "32",
        "--input-len",
        "500",
        "--output-len",
        "500",
        "--json",
    )
    out = json.loads(result.output)
    for key in (
        "weights_gib_per_gpu",
        "kv_cache_gib",
        "fits",
        "decode_tokens_per_s",
        "per_sequence_tokens_per_s",
        "ttft_s",
        "max_concurrent_sequences",
    ):
        assert key in out
    assert out["decode_tokens_per_s"] == round(32 * out["per_sequence_tokens_per_s"], 0) or (
        abs(out["decode_tokens_per_s"] - 32 * out["per_sequence_tokens_per_s"]) < 1
    )


def test_estimate_unknown_model_is_exit_2() -> None:
    result = invoke(
        "estimate",
        "serve",
        "--model",
        "gpt-9",
        "--gpu",
        "H100",
        "--quantization",
        "bf16",
        "--batch",
        "1",
        "--input-len",
        "1",
        "--output-len",
        "1",
    )
    assert result.exit_code == 2 and "To fix:" in result.output


def test_estimate_bad_option_is_exit_2() -> None:
    result = invoke(
        "estimate",
        "train",
        "--model",
        "llama-3.1-8b",
        "--method",
        "dora",
        "--gpu",
        "H100",
        "--seq-len",
        "1",
        "--batch",
        "1",
    )
    assert result.exit_code == 2 and "--method" in result.output
