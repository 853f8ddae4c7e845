"""Benchmark: achieved training FLOP utilization on published runs, fitted and held out.

Prints figures; asserts nothing. Run: .venv/bin/python bench/fit_training.py

Rows: tests/data/published_training_throughput.yaml (each with its source and quote). For each
row the utilization the planner's time formula implies is

    u = tokens/s per GPU × FLOPs per token (planner.estimators.training_time, the row's own
        method, sequence length and gradient checkpointing) / the GPU's dense peak
        (bf16; fp8 rows at the fp8 peak)

so u is what ``training_mfu`` must hold for the planner to reproduce the row. Rows are grouped
by GPU generation × method × framework class (optimized: llm-foundry, torchtitan, Megatron,
NeMo, NeMo AutoModel, VectorLM, XTuner; hf: the Hugging Face Trainer / trl — tailor's recipe;
native: torchtune).

Split (stated, deterministic): a row is held out when sha1(id) mod 3 == 0 (about a third);
the fit is the median and 20th–80th percentile range of the other rows in its group. Reported
per group and overall: median |error| of tokens/s on the held-out rows (fitted median vs the
planner's current single MFU range's mid), and the share of held-out rows whose u falls inside
each range. No number here is scored on the rows it was fitted on.
"""

from __future__ import annotations

import hashlib
import statistics
from collections import defaultdict
from pathlib import Path

import yaml

from catalog import active_params, load_catalog
from planner.estimators.efficiency import training_mfu
from planner.types import Method

ROOT = Path(__file__).resolve().parent.parent
ROWS = ROOT / "tests" / "data" / "published_training_throughput.yaml"

# (layers, attention q dim) of models not in the catalog, from their published configs:
# MPT: llm-foundry scripts/train/yamls/pretrain/mpt-*.yaml (n_layers, d_model); Qwen (v1):
# huggingface.co/Qwen/Qwen-*/config.json; Llama 2: meta-llama/Llama-2-*-hf config.json;
# GPT-3 / Nemotron: the NeMo / Megatron-Bridge recipe configs the rows cite.
ARCH = {
    "mpt-125m": (12, 768),
    "mpt-350m": (24, 1024),
    "mpt-760m": (24, 1536),
    "mpt-1b": (24, 2048),
    "mpt-3b": (32, 2560),
    "mpt-7b": (32, 4096),
    "mpt-13b": (40, 5120),
    "mpt-30b": (48, 7168),
    "mpt-70b": (80, 8192),
    "qwen-1.8b": (24, 2048),
    "qwen-7b": (32, 4096),
    "qwen-14b": (40, 5120),
    "qwen-72b": (80, 8192),
    "llama-2-7b": (32, 4096),
    "llama-2-13b": (40, 5120),
    "llama-2-70b": (80, 8192),
    "gpt3-5b": (24, 4096),
    "gpt3-20b": (44, 6144),
    "gpt3-175b": (96, 12288),
    "nemotron-8b": (32, 4096),
    "nemotron-22b": (40, 6144),
    "nemotron-4-340b": (96, 18432),
}
ALIAS = {"llama-3-8b": "llama-3.1-8b", "llama-3-70b": "llama-3.1-70b"}
GENERATION = {
    "A100-40GB": "ampere",
    "A100-80GB": "ampere",
    "A6000": "ampere",
    "H100": "hopper",
    "H200": "hopper",
    "B200": "blackwell",
    "RTX4090": "ada",
}
FRAMEWORK = {
    "llm-foundry": "optimized",
    "torchtitan": "optimized",
    "megatron": "optimized",
    "nemo": "optimized",
    "other": "optimized",
    "hf-trainer": "hf",
    "torchtune": "native",
}
PEAK = {  # dense TFLOP/s (bf16, fp8) from catalog gpus.yaml where listed, else the datasheet
    "RTX4090": (165.2, 330.3),  # NVIDIA Ada whitepaper, dense with FP32 accumulate: 165.2
}


def _held_out(row: dict) -> bool:
    return int(hashlib.sha1(row["id"].encode()).hexdigest(), 16) % 3 == 0


def _flops_per_token(row: dict, catalog) -> float | None:
    name = ALIAS.get(row["model"], row["model"])
    arch = catalog.find_model(name)
    seq = row["seq_len"]
    if arch is not None:
        n = active_params(arch)
        attention = 4 * arch.num_layers * arch.num_attention_heads * arch.head_dim * seq / 2
    elif name in ARCH and row["params_b"]:
        layers, q_dim = ARCH[name]
        n = row["params_b"] * 1e9
        attention = 4 * layers * q_dim * seq / 2
    else:
        return None
    full = row["method"] == "full"
    # LoRA adapters (6P) are left out for models without an architecture row: < 2 % of 4N at
    # rank ≤ 64 (an assumption of this bench, not of the planner).
    flops = 6 * n + 3 * attention if full else 4 * n + 3 * attention
    if row["gradient_checkpointing"]:
        flops += 2 * n + attention
    return flops


def _peak(row: dict, catalog) -> float | None:
    fp8 = str(row["precision"] or "").startswith("fp8")
    sku = catalog.find_gpu(row["gpu"])
    if sku is not None:
        peak = sku.fp8_dense_tflops if fp8 else sku.matmul_dense_tflops
        return peak if peak else None
    if row["gpu"] in PEAK:
        return PEAK[row["gpu"]][1 if fp8 else 0]
    return None


def _points(catalog) -> list[dict]:
    rows = yaml.safe_load(ROWS.read_text(encoding="utf-8"))["training_throughput"]
    points = []
    for row in rows:
        flops, peak = _flops_per_token(row, catalog), _peak(row, catalog)
        if flops is None or peak is None or row["gpu"] not in GENERATION:
            continue
        u = row["tokens_per_s_per_gpu"] * flops / (peak * 1e12)
        points.append(
            {
                "id": row["id"],
                "group": (GENERATION[row["gpu"]], row["method"], FRAMEWORK[row["framework"]]),
                "u": u,
                "test": _held_out(row),
                "tokens_per_s": row["tokens_per_s_per_gpu"],
                "gpus": row["gpus"],
            }
        )
    return points


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    at = q * (len(ordered) - 1)
    lo = int(at)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (at - lo)


def fit(points: list[dict]) -> dict[tuple, tuple[float, float, float, int]]:
    """(low, median, high, fit rows) of u per group, from the rows not held out."""
    by_group: dict[tuple, list[float]] = defaultdict(list)
    for p in points:
        if not p["test"]:
            by_group[p["group"]].append(p["u"])
    return {
        g: (_quantile(us, 0.2), statistics.median(us), _quantile(us, 0.8), len(us))
        for g, us in by_group.items()
        if len(us) >= 2
    }


def main() -> None:
    """Print the per-group fit and the held-out errors."""
    catalog = load_catalog()
    points = _points(catalog)
    fitted = fit(points)
    print(
        f"{len(points)} rows with a model and GPU the bench can cost; held out: sha1(id) % 3 == 0"
    )
    columns = ("fit n", "low", "median", "high", "test n", "|err| fit", "|err| now", "in fit")
    print(
        f"{'generation':10s} {'method':6s} {'framework':9s} "
        + " ".join(f"{c:>9s}" for c in columns)
        + f" {'in now':>9s}"
    )
    all_fit, all_now, inside_fit, inside_now, tested = [], [], 0, 0, 0
    for group in sorted(fitted):
        low, mid, high, n = fitted[group]
        now = training_mfu(Method(group[1]))
        tests = [p for p in points if p["test"] and p["group"] == group]
        err_fit = [abs(mid / p["u"] - 1) for p in tests]
        err_now = [abs(now.mid / p["u"] - 1) for p in tests]
        in_fit = sum(low <= p["u"] <= high for p in tests)
        in_now = sum(now.low <= p["u"] <= now.high for p in tests)
        all_fit += err_fit
        all_now += err_now
        inside_fit += in_fit
        inside_now += in_now
        tested += len(tests)
        show = (lambda e: f"{statistics.median(e):9.1%}") if tests else (lambda e: f"{'-':>9s}")
        print(
            f"{group[0]:10s} {group[1]:6s} {group[2]:9s} {n:9d} {low:9.3f} {mid:9.3f} "
            f"{high:9.3f} {len(tests):9d} {show(err_fit)} {show(err_now)} {in_fit:9d} "
            f"{in_now:9d}"
        )
    print(
        f"held out: {tested} rows; tokens/s median |error| fitted {statistics.median(all_fit):.1%}"
        f", planner now {statistics.median(all_now):.1%}; inside the range: fitted "
        f"{inside_fit / tested:.0%}, planner now {inside_now / tested:.0%}"
    )
    ratio = [
        fitted[("hopper", m, "optimized")][1] / fitted[("ampere", m, "optimized")][1]
        for m in ("full",)
        if ("hopper", m, "optimized") in fitted and ("ampere", m, "optimized") in fitted
    ]
    if ratio:
        print(f"hopper / ampere median u (full, optimized frameworks): {ratio[0]:.2f}")


if __name__ == "__main__":
    main()
