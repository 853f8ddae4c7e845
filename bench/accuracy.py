"""Benchmark: tailor's estimates against published measurements (tests/data/).

Prints one line per measurement (estimate, measured, % error) and the median absolute % error per
kind. Rows the estimators cannot reproduce (model or GPU not in the catalog, setup not stated)
are listed as skipped with the reason. Asserts nothing.

Targets (issue #3): training peak memory ≤ 10 %, decode throughput ≤ 20 % median error.
llm-analysis is compared in its own virtualenv (it pins transformers 4.31): not run here yet.

Run: .venv/bin/python bench/accuracy.py
"""

from __future__ import annotations

import statistics
from pathlib import Path

import yaml

from catalog import load_catalog
from planner.estimators.serving import ServingSetup, estimate_serving
from planner.estimators.training_memory import LORA_TARGETS, TrainingSetup
from planner.estimators.training_memory import estimate_training_memory as train_memory
from planner.types import Method, Optimizer, Quantization

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "published_measurements.yaml"
QUANT = {
    "bf16": "bf16",
    "fp16": "bf16",
    "f16": "bf16",
    "fp8": "fp8",
    "int8": "int8",
    "awq": "int4",
    "gptq": "int4",
    "int4": "int4",
    "q4_k_m": "int4",
}
SERVING_ENGINES = {"vllm", "tensorrt-llm", "nim", "sglang", "tgi"}


def _optimizer(name: str | None) -> Optimizer:
    name = (name or "adamw").lower()
    if "8bit" in name:
        return Optimizer.PAGED_ADAMW_8BIT if "paged" in name else Optimizer.ADAMW_8BIT
    return Optimizer.ADAMW


def _training_row(catalog, row: dict) -> tuple[float, str] | str:
    arch, gpu = catalog.find_model(row["model"]), catalog.find_gpu(row["gpu"])
    if arch is None or gpu is None:
        return f"not in catalog: {row['model'] if arch is None else row['gpu']}"
    if not row.get("seq_len") or not row.get("batch"):
        return "sequence length or batch not stated"
    targets = tuple(row.get("lora_targets") or LORA_TARGETS)
    targets = tuple(t for t in targets if t in LORA_TARGETS) or LORA_TARGETS
    setup = TrainingSetup(
        method=Method(row["method"]),
        seq_len_tokens=row["seq_len"],
        micro_batch=row["batch"],
        lora_rank=row.get("lora_rank") or 8,
        lora_targets=targets,
        gradient_checkpointing=bool(row.get("gradient_checkpointing")),
        optimizer=_optimizer(row.get("optimizer")),
        gpus=row.get("gpus") or 1,
    )
    return train_memory(arch, setup).peak_gib_per_gpu, "GiB"


def _serving_row(catalog, row: dict) -> tuple[float, str] | str:
    arch, gpu = catalog.find_model(row["model"]), catalog.find_gpu(row["gpu"])
    if arch is None or gpu is None:
        return f"not in catalog: {row['model'] if arch is None else row['gpu']}"
    if str(row.get("engine", "")).lower() not in SERVING_ENGINES:
        return f"engine {row.get('engine')} is not a batching server"
    quant = QUANT.get(str(row.get("quantization", "")).lower())
    if quant is None or not row.get("input_len") or not row.get("output_len"):
        return "quantization or lengths not stated"
    setup = ServingSetup(
        quantization=Quantization(quant),
        gpus=row.get("gpus") or 1,
        batch=row.get("batch") or 1,
        input_tokens=row["input_len"],
        output_tokens=row["output_len"],
    )
    if row.get("batch") is None:  # offline max-throughput runs: the scheduler fills the KV cache
        full = estimate_serving(arch, gpu, setup).max_concurrent_sequences
        setup = setup.model_copy(update={"batch": max(1, full)})
    e = estimate_serving(arch, gpu, setup)
    if row.get("decode_tokens_per_s") is not None:
        return e.decode_tokens_per_s, "tok/s"
    return e.per_sequence_tokens_per_s, "tok/s/stream"


def _report(kind: str, rows: list[dict], estimate, measured_key) -> list[float]:
    errors, skipped = [], []
    print(f"\n== {kind} ==")
    print(f"{'id':48s} {'estimate':>10s} {'measured':>10s} {'error':>8s}")
    for row in rows:
        result = estimate(row)
        measured = measured_key(row)
        if isinstance(result, str) or measured is None:
            skipped.append((row["id"], result if isinstance(result, str) else "no measurement"))
            continue
        value, unit = result
        error = (value - measured) / measured * 100
        errors.append(abs(error))
        print(f"{row['id']:48s} {value:10.2f} {measured:10.2f} {error:+7.1f}%  {unit}")
    for row_id, reason in skipped:
        print(f"{row_id:48s} skipped: {reason}")
    if errors:
        print(
            f"-- {kind}: median |error| {statistics.median(errors):.1f}% over {len(errors)} "
            f"rows (mean {statistics.mean(errors):.1f}%)"
        )
    return errors


def main() -> None:
    """Compare every published measurement with tailor's estimate of it."""
    catalog = load_catalog()
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    _report(
        "training peak memory (GiB)",
        data["training_memory"],
        lambda r: _training_row(catalog, r),
        lambda r: r.get("measured_peak_gib"),
    )
    _report(
        "serving throughput",
        data["serving_throughput"],
        lambda r: _serving_row(catalog, r),
        lambda r: r.get("decode_tokens_per_s") or r.get("per_sequence_tokens_per_s"),
    )


if __name__ == "__main__":
    main()
