"""llm-analysis on the same published measurements as bench/accuracy.py, side by side.

Runs in its own virtualenv (.venv-bench, see `make bench`): llm-analysis 0.2.x pins transformers
4.31 / huggingface-hub < 0.15, which tailor's environment cannot hold. It therefore imports only
the standard library, yaml and llm_analysis — never tailor — and reads tailor's data files as
plain YAML: the measurements (tests/data/published_measurements.yaml) and, so that both tools
see the same hardware and architectures, catalog/data/gpus.yaml and catalog/data/models.yaml.

Offline: every llm-analysis config (model, GPU, dtype, parallelism) is built here from those
files and passed to ``LLMAnalysis`` directly; nothing is looked up on the Hugging Face hub.

How each row is expressed in llm-analysis's knobs (its own documented meaning):
- training: ``LLMAnalysis.training``; activation_recomputation FULL when the row checkpoints,
  DeepSpeed ZeRO-3 with dp_size = GPUs for FSDP full-shard; full fine-tuning keeps its Adam
  default (fp32 master weights and moments, fp32 gradients) unless the recipe is pure bf16
  (torchtune, litgpt bf16-true): master_weights_dtype_bytes = 2, other_op_bytes = the moments'
  bytes. LoRA / QLoRA: the frozen base has no gradients or optimizer state (both byte counts 0);
  llm-analysis has no adapters (they are < 1 % of these peaks). QLoRA: dtype w4a16e16.
  Peak = its "(weight+op_state+grad+act)_memory_per_gpu".
- serving: ``LLMAnalysis.inference`` with its default efficiencies (1.0); throughput = its
  decode_tokens_per_sec (decode steps only, as tailor's decode_tokens_per_s). Rows without a
  batch (offline max throughput) use its decode_max_batch_size_per_gpu, as tailor fills the KV.
- a SwiGLU MLP (3 matrices of hidden × intermediate) is given as llm-analysis's two-matrix MLP
  with ffn_embed_dim = 1.5 × intermediate, which has the same parameter count.

What llm-analysis cannot express is printed per row; its median is shown over the same rows as
tailor's, and over the rows whose recipe it can express (no CPU offload, paged optimizer state or
optimizer in backward).

Run: .venv-bench/bin/python bench/llm_analysis_compare.py
"""

from __future__ import annotations

import logging
import os
import statistics
from collections import defaultdict
from pathlib import Path

import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # its import warns that torch is absent

from llm_analysis.analysis import ActivationRecomputation, DSZeRO, LLMAnalysis
from llm_analysis.config import (
    DtypeConfig,
    GPUConfig,
    ModelConfig,
    ParallelismConfig,
)
from llm_analysis.logger import logger as llm_analysis_logger

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "published_measurements.yaml"
GPUS = ROOT / "catalog" / "data" / "gpus.yaml"
MODELS = ROOT / "catalog" / "data" / "models.yaml"
GIB = 1024**3
SERVING_ENGINES = {"vllm", "tensorrt-llm", "nim", "sglang", "tgi"}
# Serving weight formats → llm-analysis dtype configs (weight / activation / embedding bits).
SERVING_DTYPES = {
    "bf16": (16, 16, 16),
    "fp16": (16, 16, 16),
    "f16": (16, 16, 16),
    "fp8": (8, 8, 16),
    "int8": (8, 16, 16),
    "awq": (4, 16, 16),
    "gptq": (4, 16, 16),
    "int4": (4, 16, 16),
}
# Bytes of the two Adam moments per parameter, by optimizer, in a pure-bf16 recipe.
PURE_BF16_MOMENT_BYTES = {"adamw": 4, "paged_adamw": 8, "adamw_8bit": 2, "paged_adamw_8bit": 2}
PURE_BF16_FRAMEWORKS = {"torchtune", "litgpt"}
# Training never asks llm-analysis whether the run fits: a capacity this large keeps its
# max-batch assertion from aborting; the capacity does not enter its memory sum.
UNBOUNDED_GIB = 1e6


def _index(records: list[dict], keys: tuple[str, ...]) -> dict[str, dict]:
    """Lower-cased name / id / alias → record."""
    out = {}
    for record in records:
        for key in keys:
            for name in [record.get(key)] if key != "aliases" else record.get(key) or []:
                if name:
                    out[str(name).lower()] = record
    return out


def model_config(arch: dict) -> ModelConfig:
    """llm-analysis ModelConfig of a catalog architecture (SwiGLU → 1.5 × intermediate)."""
    width = arch.get("moe_intermediate_size") or arch["intermediate_size"]
    ffn = int(1.5 * width)
    return ModelConfig(
        name=arch["id"],
        num_layers=arch["num_layers"],
        n_head=arch["num_attention_heads"],
        hidden_dim=arch["hidden_size"],
        vocab_size=arch["vocab_size"],
        max_seq_len=arch["max_context_tokens"],
        num_key_value_heads=arch["num_key_value_heads"],
        ffn_embed_dim=ffn,
        expansion_ratio=ffn / arch["hidden_size"],
        model_type=arch["family"],
        moe_num_experts=arch.get("num_experts") or 1,
        moe_top_k=arch.get("num_experts_per_token") or 1,
    )


def gpu_config(gpu: dict, *, memory_gib: float | None = None) -> GPUConfig:
    """llm-analysis GPUConfig from tailor's GPU catalog row (dense tensor figures)."""
    fp16 = gpu.get("bf16_dense_tflops") or gpu["fp16_dense_tflops"]
    int8 = gpu.get("fp8_dense_tflops") or gpu.get("int8_dense_tops") or 2 * fp16
    return GPUConfig(
        name=gpu["name"],
        mem_per_GPU_in_GB=memory_gib or gpu["memory_gib"],
        hbm_bandwidth_in_GB_per_sec=gpu["memory_bandwidth_gb_per_s"],
        intra_node_bandwidth_in_GB_per_sec=gpu.get("interconnect_gb_per_s") or 32,
        intra_node_min_message_latency=8e-06,  # llm-analysis's own GPU configs use 8 µs
        peak_fp16_TFLOPS=fp16,
        peak_i8_TFLOPS=int8,
    )


def dtype_config(bits: tuple[int, int, int]) -> DtypeConfig:
    """llm-analysis DtypeConfig of (weight, activation, embedding) bits, named as its own."""
    weight, activation, embedding = bits
    return DtypeConfig(
        name=f"w{weight}a{activation}e{embedding}",
        weight_bits=weight,
        activation_bits=activation,
        embedding_bits=embedding,
    )


def measured_peak_gib(row: dict) -> float | None:
    """Same rule as bench/accuracy.py: decimal-GB sources are converted from raw_value."""
    if row.get("raw_unit") != "decimal_gb":
        return row.get("measured_peak_gib")
    return float(str(row["raw_value"]).split()[0]) * 1e9 / GIB


def _training_skip(row: dict, arch: dict | None, gpu: dict | None) -> str | None:
    """The same skip rules as bench/accuracy.py (so both tools see the same rows)."""
    if arch is None or gpu is None:
        return f"not in catalog: {row['model'] if arch is None else row['gpu']}"
    needed = ["seq_len", "batch", "gradient_checkpointing", "optimizer", "framework"]
    if row["method"] != "full":
        needed += ["lora_rank", "lora_targets"]
    missing = [key for key in needed if row.get(key) is None]
    return f"{missing[0]} not stated" if missing else None


def arch_notes(arch: dict) -> list[str]:
    """Architecture details llm-analysis's ModelConfig cannot hold (they shift its counts)."""
    notes = []
    if not arch["tie_word_embeddings"]:
        notes.append("untied lm_head not counted")
    if arch["num_attention_heads"] * arch["head_dim"] != arch["hidden_size"]:
        notes.append("head_dim ≠ hidden/heads")
    return notes


def recipe_caveats(row: dict) -> list[str]:
    """Recipe features the row uses that llm-analysis has no knob for (state placement)."""
    caveats = []
    if row.get("cpu_offload"):
        caveats.append("CPU offload")
    if "paged" in str(row.get("optimizer")):
        caveats.append("paged optimizer")
    if row.get("optimizer_in_backward"):
        caveats.append("optimizer in backward")
    return caveats


def _optimizer_bytes(row: dict) -> dict:
    """master_weights_dtype_bytes / other_op_bytes for llm-analysis's training()."""
    if row["method"] != "full":
        return {"master_weights_dtype_bytes": 0, "other_op_bytes": 0}  # frozen base
    if row["framework"] in PURE_BF16_FRAMEWORKS:
        moments = PURE_BF16_MOMENT_BYTES.get(row["optimizer"], 4)
        return {"master_weights_dtype_bytes": 2, "other_op_bytes": moments}
    return {}  # llm-analysis default: fp32 master weights + fp32 Adam moments


def train_peak_gib(row: dict, arch: dict, gpu: dict) -> float:
    """llm-analysis's training peak per GPU for the row's setup, GiB."""
    gpus = row.get("gpus") or 1
    bits = (4, 16, 16) if row["method"] == "qlora" else (16, 16, 16)
    analysis = LLMAnalysis(
        model_config(arch),
        gpu_config(gpu, memory_gib=UNBOUNDED_GIB),
        dtype_config(bits),
        ParallelismConfig(dp_size=gpus),
    )
    summary = analysis.training(
        batch_size_per_gpu=row["batch"],
        seq_len=row["seq_len"],
        activation_recomputation=ActivationRecomputation.FULL
        if row["gradient_checkpointing"]
        else ActivationRecomputation.NONE,
        ds_zero=DSZeRO.STAGE_3 if gpus > 1 else DSZeRO.NONE,
        flash_attn=True,
        mlp_gated_linear_units=True,
        **_optimizer_bytes(row),
    )
    return summary["(weight+op_state+grad+act)_memory_per_gpu"] / GIB


def _serving_skip(row: dict, arch: dict | None, gpu: dict | None) -> str | None:
    if arch is None or gpu is None:
        return f"not in catalog: {row['model'] if arch is None else row['gpu']}"
    if str(row.get("engine", "")).lower() not in SERVING_ENGINES:
        return f"engine {row.get('engine')} is not a batching server"
    quant = str(row.get("quantization", "")).lower()
    if quant not in SERVING_DTYPES or not row.get("input_len") or not row.get("output_len"):
        return "quantization or lengths not stated"
    if row.get("decode_tokens_per_s") is None and row.get("per_sequence_tokens_per_s") is None:
        return "no measurement"
    return None


def _inference(row: dict, arch: dict, gpu: dict, batch: int) -> dict:
    bits = SERVING_DTYPES[str(row["quantization"]).lower()]
    tp = row.get("gpus") or 1
    analysis = LLMAnalysis(
        model_config(arch),
        gpu_config(gpu),
        dtype_config(bits),
        ParallelismConfig(tp_size=tp),
    )
    return analysis.inference(
        batch_size_per_gpu=batch,
        seq_len=row["input_len"],
        num_tokens_to_generate=row["output_len"],
    )


def serve_tokens_per_s(row: dict, arch: dict, gpu: dict) -> tuple[float, str]:
    """llm-analysis's decode tokens/s for the row (aggregate, or per stream)."""
    batch = row.get("batch")
    if batch is None:  # offline max-throughput rows: as many sequences as the KV cache holds
        batch = max(1, _inference(row, arch, gpu, 1)["decode_max_batch_size_per_gpu"])
    decode = _inference(row, arch, gpu, batch)["decode_tokens_per_sec"]
    if row.get("decode_tokens_per_s") is not None:
        return decode, "tok/s"
    return decode / batch, "tok/s/stream"


def _median_line(label: str, errors: list[float]) -> str:
    if not errors:
        return f"-- {label}: no rows"
    return (
        f"-- {label}: median |error| {statistics.median(errors):.1f}% over {len(errors)} rows "
        f"(mean {statistics.mean(errors):.1f}%)"
    )


def _print_row(row: dict, group: str, value: float, measured: float, unit: str, notes) -> float:
    error = (value - measured) / measured * 100
    flag = f"  [cannot express: {', '.join(notes)}]" if notes else ""
    print(
        f"{row['id']:48s} {group:12s} {value:10.2f} {measured:10.2f} {error:+7.1f}%  {unit}{flag}"
    )
    return abs(error)


def _summarise(kind: str, results: list[tuple[str, float, bool]], group_key: str) -> None:
    errors = [e for _, e, _ in results]
    print(_median_line(f"llm-analysis, {kind}", errors))
    by_group = defaultdict(list)
    for group, error, _ in results:
        by_group[group].append(error)
    for group, group_errors in sorted(by_group.items()):
        print(_median_line(f"  {group_key} {group}", group_errors))
    clean = [e for _, e, caveat in results if not caveat]
    print(_median_line("  rows whose recipe it can express (no offload / paging)", clean))


def _report(kind, rows, lookup, skip, estimate, measured_of, caveats_of, group_key) -> None:
    """Print llm-analysis's estimate per row; ``caveats_of(row)`` lists recipe features it
    cannot express (those rows are left out of the last median)."""
    print(f"\n== llm-analysis: {kind} ==")
    print(f"{'id':48s} {'group':12s} {'estimate':>10s} {'measured':>10s} {'error':>8s}")
    results, skipped = [], []
    for row in rows:
        arch, gpu = lookup(row)
        reason = skip(row, arch, gpu)
        if reason:
            skipped.append((row["id"], reason))
            continue
        try:
            value, unit = estimate(row, arch, gpu)
        except (AssertionError, ValueError, ZeroDivisionError) as error:  # its own checks
            skipped.append((row["id"], f"llm-analysis refused: {str(error)[:90]}"))
            continue
        caveats = caveats_of(row)
        group = str(row.get(group_key) or "?")
        error = _print_row(row, group, value, measured_of(row), unit, caveats + arch_notes(arch))
        results.append((group, error, bool(caveats)))
    for row_id, reason in skipped:
        print(f"{row_id:48s} skipped: {reason}")
    _summarise(kind, results, group_key)


def main() -> None:
    """Print llm-analysis's estimate of every measurement tailor's bench compares."""
    llm_analysis_logger.setLevel(logging.ERROR)
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    models = _index(
        yaml.safe_load(MODELS.read_text(encoding="utf-8"))["models"], ("id", "hf_id", "aliases")
    )
    gpus = _index(yaml.safe_load(GPUS.read_text(encoding="utf-8"))["gpus"], ("name", "aliases"))

    def lookup(row: dict) -> tuple[dict | None, dict | None]:
        return models.get(str(row["model"]).lower()), gpus.get(str(row["gpu"]).lower())

    _report(
        "training peak memory (GiB)",
        data["training_memory"],
        lookup,
        _training_skip,
        lambda row, arch, gpu: (train_peak_gib(row, arch, gpu), "GiB"),
        measured_peak_gib,
        recipe_caveats,
        "framework",
    )
    _report(
        "serving throughput",
        data["serving_throughput"],
        lookup,
        _serving_skip,
        serve_tokens_per_s,
        lambda row: row.get("decode_tokens_per_s") or row.get("per_sequence_tokens_per_s"),
        lambda row: [],
        "engine",
    )


if __name__ == "__main__":
    main()
