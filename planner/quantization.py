"""Served weight formats a plan may choose, how each is obtained, and what it does to speed.

The rules (issue 12, "quantization as launched"), for one model on one GPU:

- **bf16** is always an option: the 16-bit weights served as they are.
- **fp8** only on GPUs with FP8 support (``GpuSku.supports_fp8``: Ada, Hopper, Blackwell,
  MI300). Published weights: the catalog's FP8 checkpoint where one is listed, else vLLM's
  dynamic FP8. Fine-tuned weights: dynamic FP8 — ``--quantization fp8`` quantizes the 16-bit
  weights while vLLM loads them, per-tensor scales, no calibration step ("Dynamic quantization
  of an original precision BF16/FP16 model to FP8 can be achieved with vLLM without any
  calibration data required", vLLM docs, features/quantization/fp8).
- **int4** (AWQ / GPTQ, run by vLLM's Marlin kernels) only on NVIDIA GPUs of compute capability
  ≥ 7.5: for published weights a published checkpoint of the catalog; for fine-tuned weights
  (merged LoRA/QLoRA or full fine-tune) a priced AWQ step after merging — a published
  checkpoint holds the weights before training.
- **int8** only from a published GPTQ 8-bit or W8A8-INT8 checkpoint, or for fine-tuned weights
  a priced GPTQ 8-bit step; which one is in ``ServedFormat.checkpoint_format`` / ``step``.
- **bitsandbytes** is never offered: vLLM 0.32 has no such method (quantized_checkpoints.yaml
  header); :func:`bitsandbytes_speed_factor` prices it as what it measures, for the record.

vLLM's ``--quantization``: ``"fp8"`` for dynamic FP8; None (leave the flag out) for a
quantized checkpoint, whose config.json names its method — vLLM reads it and upgrades AWQ/GPTQ
to their Marlin kernels itself, and refuses a flag that disagrees with it
(vllm/config/model.py ``ModelConfig._verify_quantization``).

Speed factors are medians of the catalog's format_speed rows (tokens/s of the format ÷ 16-bit,
same GPU count), reported with the row count; a format without a published row has none
(absent, never imputed). Pure: pydantic and the catalog's records only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from functools import cache
from typing import Literal, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from catalog import (
    Catalog,
    CheckpointFormat,
    ColdStartScope,
    FormatSpeed,
    GpuSku,
    LoraServing,
    ModelArch,
    QuantizedCheckpoint,
    SpeedFormat,
    VllmMethod,
    total_params,
)
from catalog.quality_records import Variant
from planner.estimators.terms import Term, num
from planner.rules import Reason
from planner.types import Quantization

__all__ = [
    "INT8_W8A8_MAX_CAPABILITY",
    "MARLIN_MIN_CAPABILITY",
    "ObtainedBy",
    "QuantizationStep",
    "ServedFormat",
    "ServedFormats",
    "ServedWeights",
    "StepMethod",
    "bitsandbytes_speed_factor",
    "cold_start_seconds",
    "compute_capability",
    "quantization_step_hours",
    "served_formats",
    "speed_factor",
    "unmerged_lora_slowdown",
]

MARLIN_MIN_CAPABILITY = 7.5
"""Lowest CUDA compute capability vLLM 0.32 runs AWQ/GPTQ Marlin kernels on (marlin_utils.py:66,
auto_awq.py:233-234; quoted in catalog/data/quantized_checkpoints.yaml)."""
INT8_W8A8_MAX_CAPABILITY = 10.0
"""vLLM docs, features/quantization/int8: "INT8 is not supported on compute capability >= 10.0"."""

# Lowest compute capability of each architecture (NVIDIA, https://developer.nvidia.com/cuda-gpus):
# Ampere's A100 is 8.0 and its A10/A40 8.6, Blackwell's B200 10.0 and RTX 5090 12.0; no rule
# here has a threshold inside those ranges.
_CAPABILITY = {
    "pascal": 6.0,
    "volta": 7.0,
    "turing": 7.5,
    "ampere": 8.0,
    "ada": 8.9,
    "hopper": 9.0,
    "blackwell": 10.0,
}


class ServedWeights(StrEnum):
    """Whose weights a plan serves."""

    PUBLISHED = "published"  # the published instruct weights: prompt-only and RAG plans
    FINE_TUNED = "fine-tuned"  # tailor's merged LoRA/QLoRA or full fine-tune


class ObtainedBy(StrEnum):
    """How the served weights in a format come to exist."""

    AS_IS = "as-is"  # the 16-bit weights, unchanged
    PUBLISHED = "published"  # a published pre-quantized checkpoint, downloaded
    AT_LOAD = "at-load"  # vLLM quantizes the 16-bit weights while loading (dynamic FP8)
    QUANTIZE_AFTER_TRAINING = "quantize-after-training"  # a calibration step after merging


class StepMethod(StrEnum):
    """Post-training quantization algorithm of a step tailor runs."""

    AWQ = "awq"
    GPTQ = "gptq"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QuantizationStep(_Model):
    """A quantization job after training, for the lead to price on the plan's GPU."""

    method: StepMethod = Field(description="AWQ (int4) or GPTQ (8-bit).")
    weight_bits: Literal[4, 8] = Field(description="Bits per quantized weight.")
    gpu_hours: Term = Field(description="Estimated GPU-hours of the job (labelled assumption).")
    vllm_method: VllmMethod = Field(
        description="What vLLM runs the output as when saved in the AutoAWQ / GPTQ format."
    )


class ServedFormat(_Model):
    """One weight format a plan may serve, how it is obtained and its speed next to bf16."""

    quantization: Quantization = Field(description="tailor's served weight format.")
    obtained_by: ObtainedBy = Field(description="How the weights in this format are obtained.")
    hf_repo_id: str | None = Field(
        default=None, description="The published checkpoint to serve; None: the plan's weights."
    )
    checkpoint_format: CheckpointFormat | None = Field(
        default=None, description="Format of the served checkpoint (awq, gptq, fp8, w8a8-int8)."
    )
    vllm_method: VllmMethod | None = Field(
        default=None, description="The quantization method vLLM runs; None for bf16."
    )
    vllm_quantization: str | None = Field(
        default=None, description="Value of vLLM's --quantization; None: leave the flag out."
    )
    step: QuantizationStep | None = Field(
        default=None, description="The step to run after training, if any."
    )
    speed_vs_bf16: Term | None = Field(
        description="Decode speed ÷ bf16's from the catalog's rows; None: none published."
    )
    basis: str = Field(description="Why this format is allowed here and where it comes from.")


class ServedFormats(_Model):
    """The formats a plan may choose for one model on one GPU, and why the others may not."""

    options: tuple[ServedFormat, ...] = Field(description="At most one per Quantization.")
    refused: tuple[Reason, ...] = Field(description="One per Quantization left out.")


def compute_capability(sku: GpuSku) -> float | None:
    """Lowest CUDA compute capability of the GPU's architecture; None for AMD or unknown."""
    if sku.vendor.value != "nvidia":
        return None
    return _CAPABILITY.get(sku.architecture)


_Row = TypeVar("_Row")


def _median(
    rows: Sequence[_Row], value: Callable[[_Row], float], formula: Callable[[_Row], str]
) -> tuple[float, str]:
    """(median of value over rows, its formula): the middle row, or the mean of the two."""
    ordered = sorted(rows, key=value)
    mid = len(ordered) // 2
    middle = ordered[mid : mid + 1] if len(ordered) % 2 else ordered[mid - 1 : mid + 1]
    if len(middle) == 1:
        return value(middle[0]), formula(middle[0])
    a, b = middle
    return (value(a) + value(b)) / 2, f"({formula(a)} + {formula(b)}) / 2"


def _speed_ratio(row: FormatSpeed) -> str:
    fmt, base = num(row.value_format), num(row.value_baseline)
    return f"{fmt} / {base}" if row.higher_is_better else f"{base} / {fmt}"


def _speed_row(row: FormatSpeed) -> str:
    engine = f"{row.engine} {row.engine_version}" if row.engine_version else row.engine
    return (
        f"{row.model} {row.format.value} on {row.gpu} ({engine}): {row.baseline_dtype} "
        f"{row.value_baseline:g} vs {row.value_format:g} {row.unit}"
    )


def _rows(count: int, what: str) -> str:
    return f"{count} published {what}{'s' if count != 1 else ''}"


def _sources(urls: Iterable[str]) -> str:
    return " Sources: " + ", ".join(dict.fromkeys(urls)) + "."


def speed_factor(
    rows: Iterable[FormatSpeed], formats: Iterable[SpeedFormat], weight_bits: int
) -> Term | None:
    """How many times bf16's decode speed a format serves at: the median over the catalog's
    measurements of these formats at this width (rows on unequal GPU counts left out), with
    the rows named; None when no row measures it."""
    wanted = set(formats)
    matching = [r for r in rows if r.format in wanted and r.weight_bits == weight_bits]
    kept = [r for r in matching if r.gpu_count_baseline == r.gpu_count_format]
    if not kept:
        return None
    value, formula = _median(kept, lambda r: r.speedup, _speed_ratio)
    names = "/".join(sorted(f.value for f in wanted))
    dropped = len(matching) - len(kept)
    return Term(
        name="serve.speed_vs_bf16",
        value=value,
        unit="×",
        formula=formula,
        basis=f"median of {_rows(len(kept), f'{names} {weight_bits}-bit measurement')} "
        "(format ÷ 16-bit speed, same GPU count"
        + (f"; {dropped} on unequal GPU counts left out" if dropped else "")
        + "): "
        + "; ".join(_speed_row(r) for r in kept)
        + _sources(r.source for r in kept),
    )


def bitsandbytes_speed_factor(catalog: Catalog, weight_bits: Literal[4, 8] = 4) -> Term | None:
    """bitsandbytes' measured speed next to bf16 (below 1: slower), priced as what it is."""
    fmt = SpeedFormat.BITSANDBYTES_NF4 if weight_bits == 4 else SpeedFormat.BITSANDBYTES_INT8
    return speed_factor(catalog.format_speeds(), (fmt,), weight_bits)


_CHECKPOINT_SPEEDS: dict[CheckpointFormat, tuple[SpeedFormat, ...]] = {
    CheckpointFormat.AWQ: (SpeedFormat.AWQ, SpeedFormat.AWQ_MARLIN),
    CheckpointFormat.GPTQ: (SpeedFormat.GPTQ, SpeedFormat.GPTQ_MARLIN),
    CheckpointFormat.FP8: (SpeedFormat.FP8,),
    CheckpointFormat.W8A8_INT8: (SpeedFormat.W8A8_INT8,),
    CheckpointFormat.W4A16: (),  # no published measurement of compressed-tensors W4A16
}
_STEP_FORMAT = {StepMethod.AWQ: CheckpointFormat.AWQ, StepMethod.GPTQ: CheckpointFormat.GPTQ}
_STEP_VLLM = {StepMethod.AWQ: VllmMethod.AWQ_MARLIN, StepMethod.GPTQ: VllmMethod.GPTQ_MARLIN}


def _gpu_refusal(fmt: CheckpointFormat, sku: GpuSku, min_cc: float | None) -> str | None:
    """Why vLLM cannot run weights of this format on the GPU as tailor prices them; None: it can."""
    cc = compute_capability(sku)
    if fmt is CheckpointFormat.FP8:
        if not sku.supports_fp8:
            return f"{sku.name} ({sku.architecture}) has no FP8 tensor cores"
        if cc is not None and min_cc is not None and cc < min_cc:
            return f"{sku.name} has compute capability {cc:g}, the checkpoint needs {min_cc:g}"
        return None
    if cc is None:
        return f"{sku.name} is not an NVIDIA GPU: vLLM's Marlin / INT8 kernels are CUDA-only"
    floor = max(MARLIN_MIN_CAPABILITY, min_cc or MARLIN_MIN_CAPABILITY)
    if cc < floor:
        return f"{sku.name} ({sku.architecture}) has compute capability {cc:g}, below {floor:g}"
    if fmt is CheckpointFormat.W8A8_INT8 and cc >= INT8_W8A8_MAX_CAPABILITY:
        return f"vLLM has no INT8 W8A8 kernels for compute capability {cc:g} (≥ 10.0)"
    return None


def _checkpoint_option(catalog: Catalog, c: QuantizedCheckpoint, q: Quantization) -> ServedFormat:
    speed = speed_factor(catalog.format_speeds(), _CHECKPOINT_SPEEDS[c.format], c.weight_bits)
    return ServedFormat(
        quantization=q,
        obtained_by=ObtainedBy.PUBLISHED,
        hf_repo_id=c.hf_repo_id,
        checkpoint_format=c.format,
        vllm_method=c.vllm_method,
        speed_vs_bf16=speed,
        basis=f"published {c.weight_bits}-bit {c.format.value} checkpoint {c.hf_repo_id} by "
        f"{c.publisher} [{c.source}, read {c.retrieved_on}]; vLLM reads its method "
        f"({c.vllm_method.value}) from its config.json",
    )


def _published(
    catalog: Catalog, arch: ModelArch, sku: GpuSku, q: Quantization
) -> ServedFormat | str:
    """The fastest published checkpoint of the instruct weights in this format that runs on
    the GPU (measured speed first, then file order), or why there is none."""
    listed = [
        c
        for c in catalog.quantized_checkpoints(arch.id)
        if c.of is Variant.INSTRUCT and c.quantization is not None and c.quantization.value == q
    ]
    if not listed:
        return (
            f"the catalog lists no published {q.value} checkpoint of {arch.id}'s instruct weights"
        )
    refusals = [(c, _gpu_refusal(c.format, sku, c.min_compute_capability)) for c in listed]
    runnable = [_checkpoint_option(catalog, c, q) for c, why in refusals if why is None]
    if not runnable:
        return "; ".join(f"{c.hf_repo_id}: {why}" for c, why in refusals)
    best = max(runnable, key=lambda o: o.speed_vs_bf16.value if o.speed_vs_bf16 else -math.inf)
    others = [o.hf_repo_id for o in runnable if o is not best and o.hf_repo_id]
    if others:
        best = best.model_copy(update={"basis": f"{best.basis} (also listed: {', '.join(others)})"})
    return best


def _dynamic_fp8(catalog: Catalog, sku: GpuSku) -> ServedFormat | str:
    if why := _gpu_refusal(CheckpointFormat.FP8, sku, None):
        return why
    return ServedFormat(
        quantization=Quantization.FP8,
        obtained_by=ObtainedBy.AT_LOAD,
        vllm_method=VllmMethod.FP8,
        vllm_quantization="fp8",
        speed_vs_bf16=speed_factor(catalog.format_speeds(), (SpeedFormat.FP8,), 8),
        basis=f"vLLM quantizes the 16-bit weights to FP8 E4M3 with per-tensor scales while "
        f"loading (--quantization fp8, no calibration); {sku.name} has FP8 tensor cores. "
        "Assumption: it serves as fast as the published FP8 checkpoints measured",
    )


class _JobRate(NamedTuple):
    gpu_hours_per_billion: float
    formula: str
    label: str


def _job_rates(catalog: Catalog, method: StepMethod) -> list[_JobRate]:
    rates = []
    for job in catalog.quantization_jobs():
        if job.method.upper() != method.name:
            continue
        gpus = 1 if job.hours_kind == "gpu-hours" else (job.gpu_count or 1)
        times = f" × {gpus}" if gpus > 1 else ""
        rates.append(
            _JobRate(
                job.hours * gpus / job.params_billion,
                f"{num(job.hours)}{times} / {num(job.params_billion)}",
                f"{job.model}: {job.hours:g} h {job.hours_kind} on {gpus}× "
                f"{job.gpu or 'GPU (not stated)'}, {job.tool} [{job.source}]",
            )
        )
    return rates


def quantization_step_hours(catalog: Catalog, arch: ModelArch, method: StepMethod) -> Term | None:
    """GPU-hours to quantize the model after training: parameters (billions) × the median of the
    published runs' GPU-hours per billion parameters; None when no run of the method is
    published. A labelled assumption: see the basis."""
    rates = _job_rates(catalog, method)
    if not rates:
        return None
    per_billion, formula = _median(rates, lambda r: r.gpu_hours_per_billion, lambda r: r.formula)
    params = total_params(arch)
    return Term(
        name="serve.quantize_gpu_hours",
        value=params / 1e9 * per_billion,
        unit="GPU-hours",
        formula=f"{num(params)} / {num(1e9)} × {formula}",
        basis=f"{arch.id}'s {params:,} parameters (in billions) × the median GPU-hours per "
        f"billion parameters of {_rows(len(rates), f'{method.name} run')}. Assumption: the "
        "time grows linearly with parameters, a wall-clock run whose GPU count is not stated "
        "used one GPU, and the published GPUs (mostly not stated) are as fast as the plan's. Runs: "
        + "; ".join(r.label for r in rates),
    )


def _after_training(
    catalog: Catalog, arch: ModelArch, sku: GpuSku, q: Quantization
) -> ServedFormat | str:
    method, bits = (StepMethod.AWQ, 4) if q is Quantization.INT4 else (StepMethod.GPTQ, 8)
    fmt = _STEP_FORMAT[method]
    if why := _gpu_refusal(fmt, sku, None):
        return why
    hours = quantization_step_hours(catalog, arch, method)
    if hours is None:
        return f"no published {method.name} run in the catalog to price the step with"
    step = QuantizationStep(
        method=method, weight_bits=bits, gpu_hours=hours, vllm_method=_STEP_VLLM[method]
    )
    return ServedFormat(
        quantization=q,
        obtained_by=ObtainedBy.QUANTIZE_AFTER_TRAINING,
        checkpoint_format=fmt,
        vllm_method=step.vllm_method,
        step=step,
        speed_vs_bf16=speed_factor(catalog.format_speeds(), _CHECKPOINT_SPEEDS[fmt], bits),
        basis=f"fine-tuned weights are quantized after merging: a {bits}-bit {method.name} step "
        f"({num(hours.value, 3)} GPU-hours), served by vLLM as {step.vllm_method.value}",
    )


@cache
def _bf16() -> ServedFormat:
    """The bf16 format (one frozen value, made once)."""
    return ServedFormat(
        quantization=Quantization.BF16,
        obtained_by=ObtainedBy.AS_IS,
        speed_vs_bf16=Term(
            name="serve.speed_vs_bf16", value=1, unit="×", formula="1", basis="the baseline"
        ),
        basis="the 16-bit weights as they are (always served)",
    )


def _option(
    catalog: Catalog, arch: ModelArch, sku: GpuSku, q: Quantization, weights: ServedWeights
) -> ServedFormat | str:
    if q is Quantization.BF16:
        return _bf16()
    if weights is ServedWeights.FINE_TUNED:
        if q is Quantization.FP8:
            return _dynamic_fp8(catalog, sku)
        return _after_training(catalog, arch, sku, q)
    found = _published(catalog, arch, sku, q)
    if isinstance(found, str) and q is Quantization.FP8:
        return _dynamic_fp8(catalog, sku)
    return found


def served_formats(
    catalog: Catalog, arch: ModelArch, sku: GpuSku, *, weights: ServedWeights
) -> ServedFormats:
    """The weight formats a plan serving ``arch`` on ``sku`` may choose (bf16 first, then fp8,
    int8, int4), each with how it is obtained, its vLLM flag and speed factor, and a Reason
    for every format left out."""
    options: list[ServedFormat] = []
    refused: list[Reason] = []
    for q in Quantization:
        found = _option(catalog, arch, sku, q, weights)
        if isinstance(found, ServedFormat):
            options.append(found)
            continue
        refused.append(
            Reason(
                subject=f"serve {arch.id} {q.value} on {sku.name}",
                constraint="served weight format",
                detail=found,
                fix="another GPU, or bf16"
                if weights is ServedWeights.FINE_TUNED
                else "another GPU or format, or add a published checkpoint to the catalog",
            )
        )
    return ServedFormats(options=tuple(options), refused=tuple(refused))


def _lora_ratio(row: LoraServing) -> str:
    lora, base = num(row.value_lora), num(row.value_base)
    return f"{base} / {lora}" if row.higher_is_better else f"{lora} / {base}"


def unmerged_lora_slowdown(catalog: Catalog) -> Term | None:
    """How many times slower serving an adapter unmerged is than the base model: the median of
    the catalog's lora_serving rows, named. Reported only: one adapter is merged by default."""
    rows = catalog.lora_serving()
    if not rows:
        return None

    value, formula = _median(rows, lambda r: r.slowdown, _lora_ratio)
    labels = [
        f"{r.model} on {r.gpu} ({r.engine}{' ' + r.engine_version if r.engine_version else ''}): "
        f"base {r.value_base:g} vs adapter {r.value_lora:g} {r.unit}"
        for r in rows
    ]
    return Term(
        name="serve.unmerged_lora_slowdown",
        value=value,
        unit="×",
        formula=formula,
        basis=f"median of {_rows(len(rows), 'measurement')} of a LoRA adapter served unmerged "
        "next to its base model (merged, the default for one adapter, costs nothing): "
        + "; ".join(labels)
        + _sources(r.source for r in rows),
    )


class _Anchor(NamedTuple):
    """A published engine start-up: the model's parameters and the rows whose phases add up."""

    params: int
    source: str
    phases: tuple[str, ...]
    multi_gpu_phases: tuple[str, ...] = ()


# Engine start-ups with every phase after weight loading published. Parameters: Meta-Llama-3-8B
# 8,030,261,248 and Llama-3.1-70B 70,553,706,496 (their config.json through catalog.params);
# "Llama-70B-FP8" of issue 19824 is assumed to be a Llama 3 70B. The 8B figure is vLLM's
# "init engine" with torch.compile (-O3, the V1 default), which includes compile and CUDA graphs.
_ENGINE_ANCHORS = (
    _Anchor(
        8_030_261_248,
        "https://github.com/vllm-project/vllm/pull/11005",
        ("engine init (profile, KV cache, warmup), -O3 with torch.compile",),
    ),
    _Anchor(
        70_553_706_496,
        "https://github.com/vllm-project/vllm/issues/19824",
        ("Dynamo bytecode transform", "torch.compile (Inductor)", "CUDA graph capture"),
        multi_gpu_phases=("P2P access check",),
    ),
)
_DISK_LOAD_SOURCE = "https://spotinference.com/research/anatomy-of-a-gpu-wake"
_DISK_LOAD_BYTES = 70e9 * 2  # "70B-class checkpoint": assumed 70e9 parameters in bf16


def _phase_seconds(catalog: Catalog, source: str, phases: Iterable[str]) -> list[float] | None:
    by_phase = {
        r.phase: r.seconds
        for r in catalog.cold_starts()
        if r.source == source and r.scope is ColdStartScope.ENGINE
    }
    wanted = list(phases)
    if any(p not in by_phase for p in wanted):
        return None
    return [by_phase[p] for p in wanted]


def cold_start_seconds(
    catalog: Catalog, arch: ModelArch, *, tensor_parallel: int = 1, bytes_per_weight: float = 2.0
) -> Term | None:
    """Seconds from a fresh replica's vLLM start to serving, from published phases: the engine
    phases of the measured model nearest in size (the P2P check only with tensor parallelism)
    plus reading the weights from local disk, scaled by bytes from the one published read.
    ``bytes_per_weight``: of the checkpoint on disk (2 for bf16, and for dynamic FP8, which
    quantizes after reading). None when the catalog lacks those rows."""
    params = total_params(arch)
    anchor = min(_ENGINE_ANCHORS, key=lambda a: abs(math.log(params / a.params)))
    phases = anchor.phases + (anchor.multi_gpu_phases if tensor_parallel > 1 else ())
    engine = _phase_seconds(catalog, anchor.source, phases)
    disk = next(
        (
            r
            for r in catalog.cold_starts()
            if r.scope is ColdStartScope.REPLICA and r.source == _DISK_LOAD_SOURCE
        ),
        None,
    )
    if engine is None or disk is None:
        return None
    weight_bytes = params * bytes_per_weight
    load = disk.seconds * weight_bytes / _DISK_LOAD_BYTES
    return Term(
        name="serve.cold_start",
        value=sum(engine) + load,
        unit="s",
        formula=" + ".join(num(s) for s in engine)
        + f" + {num(disk.seconds)} × {num(weight_bytes)} / {num(_DISK_LOAD_BYTES)}",
        basis=f"engine phases published for a {anchor.params / 1e9:.1f} B-parameter model, "
        f"the nearest in size to {arch.id} ({', '.join(phases)} [{anchor.source}]) + reading "
        f"{weight_bytes / 1e9:,.1f} GB of weights from local disk at the published "
        f"{disk.seconds:g} s per 140 GB (a 70B-class checkpoint, assumed bf16 [{disk.source}]). "
        "Assumption: start-up phases do not depend on the GPU. Not included: provisioning the "
        "VM, pulling the image and downloading the weights (no published figure in the "
        "catalog), so this is a lower bound",
    )
