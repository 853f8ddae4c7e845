"""Calibrate the decode-step constants on published serving measurements; score FIT and TEST.

Fits ``planner.estimators.efficiency.DecodeEfficiency`` (bandwidth fraction, CDNA factor,
compute fraction, layer and sequence overheads) on the FIT split of
tests/data/published_measurements.yaml and reports the error on the disjoint TEST split, next to
the literature constants it replaces (DECODE_MBU / PREFILL_MFU midpoints, no overheads).

**Split rule (fixed before fitting; whole publications stay together).** A source is FIT when
the engine build it measured dates from ``FIT_FROM`` (2024-07) on, TEST when older or when its
date is unknown (``SOURCES``: the date and the evidence for it). The planner renders current
vLLM, so the constants come from the current engine generation; the older publications (vLLM
0.3–0.4 PRs, TensorRT-LLM 0.5/0.6, LMDeploy 0.1, the undated vLLM dashboard) test whether they
carry over. The brief's alternative split (fit on vLLM, test on other engines) is printed too.

**Measurement model (what each source timed).** Every row is a closed batch of ``b`` requests
(static batch, fixed concurrency, or an offline run whose running batch is what the KV cache
holds): time = prefill of the ``b`` prompts + (O − 1) decode steps at the mean context
I + O/2, throughput = b·O / time (one stream: O / time). ``b`` is capped at the KV capacity.
The fit minimizes the mean over sources of each source's mean |ln(estimate / measured)|, so no
publication outweighs another by its row count. Nelder–Mead, pure Python, deterministic.

Run: .venv/bin/python bench/fit_decode.py [--write] [--cross-validate]
(--write stores the fit in tests/data/decode_fit.json; --cross-validate adds leave-one-source-out)
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from catalog import GpuSku, ModelArch, load_catalog
from catalog.tables import Catalog
from planner.estimators.efficiency import (
    DECODE_EFFICIENCY,
    DECODE_MBU,
    PREFILL_MFU,
    DecodeEfficiency,
)
from planner.estimators.serving import DecodeModel, ServingSetup, replica_memory
from planner.serving_options import vllm_batch_limits
from planner.types import Quantization

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "published_measurements.yaml"
BENCH_MODELS = ROOT / "tests" / "data" / "bench_models.yaml"
FIT_JSON = ROOT / "tests" / "data" / "decode_fit.json"

QUANT = {"bf16": "bf16", "fp16": "bf16", "f16": "bf16", "fp8": "fp8", "int8": "int8"}
QUANT |= {"awq": "int4", "gptq": "int4", "int4": "int4"}
# Servers that batch requests continuously (or in static batches) on the GPU; llama.cpp and
# litgpt generate.py decode one stream with a different runtime and are not modelled.
BATCHING_ENGINES = {"vllm", "sglang", "tgi", "tensorrt-llm", "nim", "lmdeploy"}
# Running batch of an offline (batch: null) run: trtllm-bench caps max_batch_size at 4096
# (tensorrt_llm/bench/build/tuning.py finetune_setting: min(kv_cache_max_requests, 4096)).
OFFLINE_MAX_BATCH = {"tensorrt-llm": 4096}
FIT_FROM = "2024-07"
LEGACY = DecodeEfficiency(
    bandwidth_fraction=DECODE_MBU.mid,
    cdna_bandwidth_factor=1.0,
    compute_fraction=PREFILL_MFU.mid,
    layer_overhead_s=0.0,
    sequence_overhead_s=0.0,
    source="the constants before calibration: DECODE_MBU and PREFILL_MFU midpoints",
)
# Publication (engine build) date of each source, "YYYY-MM", and the evidence; None: unknown.
SOURCES: dict[str, tuple[str | None, str]] = {
    "InternLM/lmdeploy": ("2023-11", "LMDeploy v0.1.0a1, the version the page states"),
    "NVIDIA/TensorRT-LLM/blob/138f96d": ("2023-12", "TensorRT-LLM v0.6.1 / v0.5 tables"),
    "vllm-project/vllm/pull/3240": ("2024-03", "vLLM main of 2024-03-06 (row notes)"),
    "vllm-project/vllm/pull/3692": ("2024-03", "vLLM main of 2024-03-28 (row notes)"),
    "vllm-project/vllm/pull/4002": ("2024-04", "vLLM main of 2024-04-11 (row notes)"),
    "buildkite.com": (None, "vLLM nightly dashboard; build date not recorded"),
    "QwenLM/Qwen2.5": ("2024-10", "vLLM 0.6.3 (released 2024-10)"),
    "blogs.oracle.com": ("2024-10", "blog dated 2024-10-10"),
    "docs.nvidia.com/nim": ("2024-12", "NIM 1.8.0 of Llama-3.3 (released 2024-12-06)"),
    "NVIDIA/TensorRT-LLM/blob/00f3768": ("2025-05", "PyTorch backend (v0.19+), Qwen3 rows"),
    "vllm-project/vllm/pull/23197": ("2025-08", "vLLM main of 2025-08 (row notes)"),
}
BATCH_RANGES = ((1, 1, "1"), (2, 16, "2-16"), (17, 128, "17-128"), (129, 10**9, ">128/offline"))


@dataclass(frozen=True)
class DecodeRow:
    """One published throughput, mapped onto the planner's decode model."""

    id: str
    source: str
    engine: str
    arch: ModelArch
    gpu: GpuSku
    setup: ServingSetup  # batch = the running batch b (capped at the KV capacity)
    requested_batch: int | None  # as published; None: offline max throughput
    measured_tokens_per_s: float
    per_stream: bool  # measured is one stream's tokens/s, not the batch's


def source_key(url: str) -> str:
    """The SOURCES key a row's source URL belongs to."""
    for key in SOURCES:
        if key in url:
            return key
    return url


def is_fit(row: DecodeRow) -> bool:
    """The split rule: FIT when the source's engine build dates from FIT_FROM on."""
    date = SOURCES.get(source_key(row.source), (None, ""))[0]
    return date is not None and date >= FIT_FROM


def is_vllm(row: DecodeRow) -> bool:
    """The brief's alternative split: FIT = vLLM and SGLang rows."""
    return row.engine in {"vllm", "sglang"}


def batch_range(row: DecodeRow) -> str:
    """1, 2-16, 17-128 or >128/offline, by the published batch."""
    if row.requested_batch is None:
        return BATCH_RANGES[-1][2]
    return next(label for low, high, label in BATCH_RANGES if low <= row.requested_batch <= high)


@cache
def bench_models() -> dict[str, ModelArch]:
    """tests/data/bench_models.yaml by every lower-case name (id, hf ids, aliases)."""
    found: dict[str, ModelArch] = {}
    for entry in yaml.safe_load(BENCH_MODELS.read_text(encoding="utf-8"))["models"]:
        arch = ModelArch(**entry)
        for name in (arch.id, arch.hf_id, arch.instruct_hf_id, *arch.aliases):
            if name:
                found[name.lower()] = found[name.lower().rsplit("/", 1)[-1]] = arch
    return found


def find_model(catalog: Catalog, name: str) -> ModelArch | None:
    """The catalog's model, else the bench-only architecture of that name."""
    extra = bench_models()
    return (
        catalog.find_model(name)
        or extra.get(name.lower())
        or extra.get(name.lower().rsplit("/", 1)[-1])
    )


def published_rows() -> list[dict]:
    """serving_throughput rows plus the serving_latency_load concurrency points they lack
    (requests in flight ≤ 50: beyond, the NIM sweep is saturated and requests queue)."""
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    rows = list(data["serving_throughput"])

    def key(r: dict) -> tuple:
        return (r["model"], r["gpu"], r.get("gpus"), r.get("batch"), r.get("input_len"),
                r.get("output_len"), r["engine"])  # fmt: skip

    seen = {key(r) for r in rows}
    for r in data.get("serving_latency_load", []):
        in_flight = r.get("batch") or 10**9
        if r.get("load") == "concurrency" and in_flight <= 50 and key(r) not in seen:
            rows.append(r)
    return rows


def _kv_bytes(row: dict, quant: str) -> float:
    """TensorRT-LLM FP8 runs keep an FP8 KV cache (v0.6.1 table: "FP8 weights + FP8 KV cache";
    assumed for the ModelOpt FP8 checkpoints of the perf overview); others keep 16-bit KV."""
    return 1.0 if row["engine"] == "tensorrt-llm" and quant == "fp8" else 2.0


def map_row(catalog: Catalog, row: dict) -> DecodeRow | str:
    """The row as a DecodeRow, or why it cannot be modelled."""
    arch, gpu = find_model(catalog, row["model"]), catalog.find_gpu(row["gpu"])
    if arch is None or gpu is None:
        return f"not in catalog or bench_models: {row['model'] if arch is None else row['gpu']}"
    engine = str(row.get("engine", "")).lower()
    if engine not in BATCHING_ENGINES:
        return f"engine {engine} does not batch requests (single-stream runtime)"
    quant = QUANT.get(str(row.get("quantization", "")).lower())
    measured = row.get("decode_tokens_per_s") or row.get("per_sequence_tokens_per_s")
    if measured is None:
        return "no throughput measured (TTFT only, or the unit is ambiguous)"
    if quant is None or not row.get("input_len") or not row.get("output_len"):
        return "quantization or lengths not stated"
    setup = ServingSetup(
        quantization=Quantization(quant),
        tensor_parallel=row.get("gpus") or 1,
        input_tokens=row["input_len"],
        output_tokens=row["output_len"],
        kv_cache_bytes_per_value=_kv_bytes(row, quant),
    )
    capacity = replica_memory(arch, gpu, setup)[2]
    wanted = row.get("batch") or OFFLINE_MAX_BATCH.get(engine, vllm_batch_limits(gpu)[0])
    return DecodeRow(
        id=row["id"],
        source=row["source"],
        engine=engine,
        arch=arch,
        gpu=gpu,
        setup=setup.model_copy(update={"batch": max(1, min(wanted, capacity))}),
        requested_batch=row.get("batch"),
        measured_tokens_per_s=float(measured),
        per_stream=row.get("decode_tokens_per_s") is None,
    )


def load_rows() -> tuple[list[DecodeRow], list[tuple[str, str]]]:
    """(modelled rows, (id, reason) of the rows left out)."""
    catalog = load_catalog()
    rows, skipped = [], []
    for row in published_rows():
        mapped = map_row(catalog, row)
        if isinstance(mapped, str):
            skipped.append((row["id"], mapped))
        else:
            rows.append(mapped)
    return rows, skipped


def batch_prefill_s(model: DecodeModel, prompts: int) -> float:
    """One forward pass over ``prompts`` prompts: max(FLOPs at peak × prefill MFU, weights
    read) + their all-reduces + the step's layer overhead."""
    tokens = prompts * model.setup.input_tokens
    compute = tokens * model.prefill_flops_per_token() / model.flops_per_s
    memory = model.weights_read_bytes(tokens) / model.bandwidth_bytes_per_s
    return max(compute, memory) + model.allreduce_s(tokens) + model.step_overhead_s


def estimate(row: DecodeRow, efficiency: DecodeEfficiency) -> float:
    """The row's throughput as the source timed it (see the module docstring), tokens/s."""
    model = DecodeModel(row.arch, row.gpu, row.setup, efficiency=efficiency)
    b, out = row.setup.batch, row.setup.output_tokens
    total_s = batch_prefill_s(model, b) + (out - 1) * model.step_s(b)
    return out / total_s if row.per_stream else b * out / total_s


def decode_only_estimate(row: DecodeRow, efficiency: DecodeEfficiency) -> float:
    """What bench/accuracy.py compared before: steady decode at the batch, no prefill."""
    model = DecodeModel(row.arch, row.gpu, row.setup, efficiency=efficiency)
    step = model.step_s(row.setup.batch)
    return 1 / step if row.per_stream else row.setup.batch / step


def error_pct(row: DecodeRow, value: float) -> float:
    """Signed % error of an estimate against the row's measurement."""
    return (value - row.measured_tokens_per_s) / row.measured_tokens_per_s * 100


# --- the fit ------------------------------------------------------------------------------
_PARAMETERS = ("bandwidth_fraction", "cdna_bandwidth_factor", "compute_fraction")
_OVERHEADS = ("layer_overhead_s", "sequence_overhead_s")
_START = (0.675, 0.9, 0.475, 20e-6, 5e-6)  # the literature fractions; small overheads
_MICRO = 1e-6


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def to_efficiency(
    x: list[float], source: str = "trial constants of bench/fit_decode.py"
) -> DecodeEfficiency:
    """Unconstrained vector → constants: fractions through a logistic (0..1), overheads as
    exp(x) µs (≥ 0)."""
    fractions = {name: _sigmoid(v) for name, v in zip(_PARAMETERS, x, strict=False)}
    overheads = {name: math.exp(v) * _MICRO for name, v in zip(_OVERHEADS, x[3:], strict=True)}
    return DecodeEfficiency(**fractions, **overheads, source=source)


def objective(rows: list[DecodeRow], efficiency: DecodeEfficiency) -> float:
    """Mean over sources of the source's mean |ln(estimate / measured)|."""
    by_source: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        ratio = estimate(row, efficiency) / row.measured_tokens_per_s
        by_source[source_key(row.source)].append(abs(math.log(ratio)))
    return statistics.fmean(statistics.fmean(v) for v in by_source.values())


def nelder_mead(
    f: Callable[[list[float]], float], x0: list[float], step: float, iterations: int
) -> tuple[list[float], float]:
    """Minimize f from x0 (Nelder–Mead, standard coefficients 1, 2, ½, ½)."""
    simplex = [list(x0)] + [[v + step * (i == j) for j, v in enumerate(x0)] for i in range(len(x0))]
    values = [f(x) for x in simplex]
    for _ in range(iterations):
        order = sorted(range(len(simplex)), key=values.__getitem__)
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        if values[-1] - values[0] < 1e-10:
            break
        centre = [statistics.fmean(p[j] for p in simplex[:-1]) for j in range(len(x0))]
        worst = simplex[-1]

        def towards(t: float, centre: list[float] = centre, worst: list[float] = worst):
            return [c + t * (w - c) for c, w in zip(centre, worst, strict=True)]

        reflected = towards(-1.0)
        fr = f(reflected)
        if fr < values[0]:
            expanded = towards(-2.0)
            fe = f(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            contracted = towards(0.5)
            fc = f(contracted)
            if fc < values[-1]:
                simplex[-1], values[-1] = contracted, fc
            else:  # shrink towards the best point
                best = simplex[0]
                simplex = [best] + [[b + (v - b) / 2 for b, v in zip(best, p, strict=True)]
                                    for p in simplex[1:]]  # fmt: skip
                values = [values[0]] + [f(p) for p in simplex[1:]]
    first = min(range(len(simplex)), key=values.__getitem__)
    return simplex[first], values[first]


def _round(value: float) -> float:
    return float(f"{value:.3g}")


def fit(rows: list[DecodeRow]) -> DecodeEfficiency:
    """The constants minimizing ``objective`` on ``rows`` (Nelder–Mead restarted four times
    from the previous best: it has converged to 1e-6 by the third), each rounded to 3
    significant digits."""
    x = [_logit(p) for p in _START[:3]] + [math.log(v / _MICRO) for v in _START[3:]]
    for _ in range(4):
        x, _value = nelder_mead(lambda v: objective(rows, to_efficiency(v)), x, 0.5, 1500)
    fitted = to_efficiency(x)
    names = (*_PARAMETERS, *_OVERHEADS)
    return DecodeEfficiency(
        **{name: _round(getattr(fitted, name)) for name in names},
        source="bench/fit_decode.py fit",
    )


# --- reporting ----------------------------------------------------------------------------
def errors(rows: Iterable[DecodeRow], efficiency: DecodeEfficiency) -> list[float]:
    """|% error| of each row's estimate."""
    return [abs(error_pct(r, estimate(r, efficiency))) for r in rows]


def stats(values: list[float]) -> dict[str, float]:
    """Rows, median and mean of |% error|."""
    if not values:
        return {"rows": 0, "median_abs_error_pct": math.nan, "mean_abs_error_pct": math.nan}
    return {
        "rows": len(values),
        "median_abs_error_pct": round(statistics.median(values), 2),
        "mean_abs_error_pct": round(statistics.fmean(values), 2),
    }


def _line(label: str, values: list[float]) -> str:
    s = stats(values)
    return (
        f"  {label:34s} median |error| {s['median_abs_error_pct']:6.1f}%  "
        f"mean {s['mean_abs_error_pct']:6.1f}%  ({s['rows']} rows)"
    )


def report(title: str, rows: list[DecodeRow], efficiency: DecodeEfficiency) -> None:
    """Median/mean |error| overall, per engine and per batch range."""
    print(title)
    print(_line("all", errors(rows, efficiency)))
    for label, key in (("engine", lambda r: r.engine), ("batch", batch_range)):
        groups: dict[str, list[DecodeRow]] = defaultdict(list)
        for row in rows:
            groups[key(row)].append(row)
        for name in sorted(groups):
            print(_line(f"{label} {name}", errors(groups[name], efficiency)))


def constants(efficiency: DecodeEfficiency) -> dict[str, float]:
    """The fitted numbers by name."""
    return {name: getattr(efficiency, name) for name in (*_PARAMETERS, *_OVERHEADS)}


def cross_validate(rows: list[DecodeRow]) -> list[float]:
    """Leave-one-source-out: |% error| of each row predicted by a fit without its source."""
    result = []
    for key in sorted({source_key(r.source) for r in rows}):
        held = [r for r in rows if source_key(r.source) == key]
        result += errors(held, fit([r for r in rows if source_key(r.source) != key]))
    return result


def summary(rows: list[DecodeRow], split: Callable[[DecodeRow], bool]) -> dict:
    """The fit on ``split``'s FIT rows and both splits' errors, fitted and legacy."""
    fit_rows = [r for r in rows if split(r)]
    test_rows = [r for r in rows if not split(r)]
    fitted = fit(fit_rows)
    return {
        "constants": constants(fitted),
        "objective": round(objective(fit_rows, fitted), 5),
        "fit": stats(errors(fit_rows, fitted)),
        "test": stats(errors(test_rows, fitted)),
        "legacy_fit": stats(errors(fit_rows, LEGACY)),
        "legacy_test": stats(errors(test_rows, LEGACY)),
        "fit_sources": sorted({source_key(r.source) for r in fit_rows}),
        "test_sources": sorted({source_key(r.source) for r in test_rows}),
        "efficiency": fitted,
        "fit_rows": fit_rows,
        "test_rows": test_rows,
    }


def _print_summary(title: str, result: dict) -> None:
    print(f"\n=== {title} ===")
    print("FIT sources: " + ", ".join(result["fit_sources"]))
    print("TEST sources: " + ", ".join(result["test_sources"]))
    for name, value in result["constants"].items():
        print(f"  {name:24s} {value:.3g}")
    report("TEST split, calibrated (the result):", result["test_rows"], result["efficiency"])
    report("TEST split, old constants:", result["test_rows"], LEGACY)
    report("FIT split, calibrated (in-sample):", result["fit_rows"], result["efficiency"])
    report("FIT split, old constants:", result["fit_rows"], LEGACY)


def write_fit(result: dict, path: Path = FIT_JSON) -> None:
    """Store the primary fit (constants, splits, errors) for the calibration test."""
    keep = ("constants", "objective", "fit", "test", "legacy_fit", "legacy_test")
    record = {
        "rule": f"FIT = sources whose engine build dates from {FIT_FROM} on (bench/fit_decode.py"
        " SOURCES); TEST = older or undated sources",
        **{k: result[k] for k in keep},
        "fit_sources": result["fit_sources"],
        "test_sources": result["test_sources"],
    }
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """Fit, print the constants and the FIT / TEST errors; optionally store and cross-validate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"store the fit in {FIT_JSON}")
    parser.add_argument("--cross-validate", action="store_true", help="leave-one-source-out")
    args = parser.parse_args(argv)
    rows, skipped = load_rows()
    print(f"{len(rows)} rows modelled, {len(skipped)} left out:")
    for row_id, reason in skipped:
        print(f"  {row_id}: {reason}")
    primary = summary(rows, is_fit)
    _print_summary(f"primary split: FIT = engine builds from {FIT_FROM} on", primary)
    print(f"\nshipped DECODE_EFFICIENCY: {constants(DECODE_EFFICIENCY)}")
    _print_summary("alternative split: FIT = vLLM + SGLang, TEST = other engines",
                   summary(rows, is_vllm))  # fmt: skip
    if args.cross_validate:
        print("\n=== leave-one-source-out over every source ===")
        print(_line("calibrated, each source held out", cross_validate(rows)))
        print(_line("old constants", errors(rows, LEGACY)))
    if args.write:
        write_fit(primary)
        print(f"\nwrote {FIT_JSON.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
