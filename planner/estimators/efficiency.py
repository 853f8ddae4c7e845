"""Achieved fractions of peak hardware throughput, each with where it comes from.

MFU (model FLOPs utilization) = useful model FLOPs / (GPUs × peak dense TFLOPs). MBU (model
bandwidth utilization) = bytes that must be read per decode step / (time × peak HBM bandwidth).
The planner multiplies peak datasheet figures by these; a range gives the low–high estimate.

The decode step has its own calibrated constants (``DecodeEfficiency``): the fraction of peak
bandwidth its weight and KV reads achieve, the fraction of peak FLOPs its GEMMs reach once compute
bound, and the fixed costs a step pays whatever the bandwidth (per layer, per sequence). They
were fitted by bench/fit_decode.py on published serving measurements
(tests/data/published_measurements.yaml); tests/planner/test_decode_calibration.py re-runs the
fit and checks these numbers against it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from catalog import GpuSku
from planner.types import Method

__all__ = [
    "DECODE_EFFICIENCY",
    "DECODE_MBU",
    "PREFILL_MFU",
    "DecodeEfficiency",
    "Efficiency",
    "training_mfu",
]


class Efficiency(BaseModel):
    """A utilization range with its citation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    low: float = Field(gt=0, le=1, description="Pessimistic fraction of peak.")
    high: float = Field(gt=0, le=1, description="Optimistic fraction of peak.")
    source: str = Field(description="Where the range comes from.")

    @property
    def mid(self) -> float:
        """Midpoint of the range."""
        return (self.low + self.high) / 2


_TRAINING_MFU = {
    Method.FULL: Efficiency(
        low=0.30,
        high=0.45,
        source="Llama 3 paper (Dubey et al. 2024, Table 4): 38–43 % BF16 MFU on H100 at scale; "
        "MosaicML llm-foundry benchmarks: 40–50 % for 7B–70B on A100/H100. Fine-tuning with "
        "short sequences and small batches sits at the low end.",
    ),
    Method.LORA: Efficiency(
        low=0.25,
        high=0.40,
        source="LoRA skips weight gradients (4·N instead of 6·N FLOPs) but keeps the same "
        "kernels; we count only the FLOPs done, so MFU is a little below full fine-tuning "
        "(more, smaller kernels for the adapters). Not yet calibrated on a GPU: "
        "tests/data/measured/ has no measurement yet.",
    ),
    Method.QLORA: Efficiency(
        low=0.15,
        high=0.30,
        source="QLoRA dequantizes NF4 weights on every forward and backward pass; Dettmers et "
        "al. 2023 and Hugging Face's bitsandbytes/QLoRA blog report QLoRA runs ~30–60 % slower "
        "than 16-bit LoRA on the same GPU, i.e. this range is LoRA's scaled by ~0.6–0.75.",
    ),
}

PREFILL_MFU = Efficiency(
    low=0.35,
    high=0.60,
    source="Prefill is a large-batch GEMM workload; vLLM and TensorRT-LLM prefill reach "
    "35–60 % of dense peak (NVIDIA TensorRT-LLM performance overview; Databricks 'LLM "
    "Inference Performance Engineering: Best Practices', 2023).",
)

DECODE_MBU = Efficiency(
    low=0.55,
    high=0.80,
    source="Databricks 'LLM Inference Performance Engineering: Best Practices' (2023): MBU "
    "≈ 60 % for a 7B model on A100 at batch 1; optimized engines (vLLM, TensorRT-LLM) reach "
    "70–80 % of HBM bandwidth on H100. The literature prior the calibrated decode model "
    "(DECODE_EFFICIENCY) replaced; bench/fit_decode.py scores both.",
)

_FIT_BASIS = (
    "fitted by bench/fit_decode.py (result: tests/data/decode_fit.json) on the FIT rows of "
    "tests/data/published_measurements.yaml, the engine builds from 2024-07 on: "
    "qwen-qwen2.5-*-bs1 (5 rows, vLLM 0.6.3, A100), oracle-vllm-llama3.1-405b-mi300x8-* (9, "
    "MI300X), nim-llama3.3-70b-* and nim180-*-c5/c25 (5, NIM 1.8, H100), trtllm-llama3.1-* / "
    "-llama3.3-* / -qwen3-* (7, TensorRT-LLM perf overview, H100/H200), "
    "vllm-pr23197-* (8, vLLM 2025-08, H100); TEST rows (older engines) are held out"
)


class DecodeEfficiency(BaseModel):
    """The decode step's calibrated constants (see planner.estimators.serving.DecodeModel).

    One step of ``d`` sequences takes ``max(bytes read / (peak bandwidth × bandwidth fraction),
    FLOPs / (peak FLOPs × compute fraction)) + all-reduces + layers × layer overhead + d ×
    sequence overhead``: the achieved bandwidth utilization therefore falls with the batch (the
    per-sequence and compute terms grow) and rises with the context (more KV bytes per fixed
    cost), and differs by GPU family (``cdna_bandwidth_factor``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    bandwidth_fraction: float = Field(
        gt=0,
        le=1,
        description="Fraction of peak HBM bandwidth the weight and KV reads of a decode step "
        "achieve on NVIDIA GPUs (Ampere, Ada, Hopper; Blackwell assumed alike), unitless.",
    )
    cdna_bandwidth_factor: float = Field(
        gt=0,
        le=1,
        description="Multiplier of bandwidth_fraction on AMD CDNA GPUs (ROCm kernels reach a "
        "smaller share of the MI300-class 5.3 TB/s), unitless.",
    )
    compute_fraction: float = Field(
        gt=0,
        le=1,
        description="Fraction of the dense peak (FP8 peak for fp8 weights on FP8 tensor "
        "cores) a decode step's GEMMs and attention reach once compute bound, unitless.",
    )
    layer_overhead_s: float = Field(
        ge=0,
        description="Seconds per transformer layer per step that no bandwidth shortens: the "
        "launch and tail latency of the layer's ~10–20 kernels (norms, projections, rotary, "
        "attention, activation), s.",
    )
    sequence_overhead_s: float = Field(
        ge=0,
        description="Seconds per decoding sequence per step: sampling, scheduler and "
        "block-table bookkeeping, detokenization, s.",
    )
    source: str = Field(description="Where the constants come from.")

    def bandwidth_fraction_on(self, gpu: GpuSku) -> float:
        """The bandwidth fraction on this GPU's family (CDNA × cdna_bandwidth_factor)."""
        if gpu.architecture.startswith("cdna"):
            return self.bandwidth_fraction * self.cdna_bandwidth_factor
        return self.bandwidth_fraction


DECODE_EFFICIENCY = DecodeEfficiency(
    bandwidth_fraction=0.768,
    cdna_bandwidth_factor=0.54,
    compute_fraction=0.426,
    layer_overhead_s=32.1e-6,
    sequence_overhead_s=8.7e-6,
    source=f"Each constant {_FIT_BASIS}. Physical reasons: streaming GEMV / paged-attention "
    "reads reach ~75–90 % of peak HBM bandwidth; ROCm decode kernels reach about half as much "
    "of MI300X's; decode GEMMs have few rows and share the step with attention and "
    "element-wise kernels, so they stay well below the dense peak; each layer's kernels cost "
    "tens of µs of launch and tail latency even in CUDA graphs; sampling and scheduling cost "
    "µs per sequence.",
)


def training_mfu(method: Method) -> Efficiency:
    """The MFU range for a training method, with its source."""
    return _TRAINING_MFU[method]
