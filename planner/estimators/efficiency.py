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

import math

from pydantic import BaseModel, ConfigDict, Field

from catalog import GpuSku
from planner.types import Method

__all__ = [
    "DECODE_EFFICIENCY",
    "DECODE_MBU",
    "PREFILL_MFU",
    "TRAINING_EFFICIENCY",
    "DecodeEfficiency",
    "Efficiency",
    "TrainingEfficiency",
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


class TrainingEfficiency(BaseModel):
    """The fitted model of achieved training FLOP utilization (``training_mfu``).

    u = utilization[method] × generation × multi_gpu^(GPUs > 1) × multi_node^(nodes > 1)
        × node_doubling^log2(nodes) / (1 + T0[method] / T + k / (T × d²))

    T: tokens per micro-step per GPU (micro-batch × sequence length); d: the model's width.
    ``k / (T·d²)`` sets a micro-step's fixed per-layer costs (kernel launches, norms, Python and
    optimizer overhead) against its GEMM work, which grows as T·d²; ``T0 / T`` is a cost per
    weight per micro-step amortised over its tokens (QLoRA dequantizes every 4-bit weight each
    pass; full and LoRA fitted none). Fitted by bench/fit_training.py on the Hugging Face
    Trainer / trl rows (tailor's recipe) of tests/data/published_training_throughput.yaml, the
    generation and scaling factors on all its rows, a third held out.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    utilization: dict[Method, float] = Field(
        description="Saturated utilization of the dense 16-bit peak on Ampere (A100) with "
        "tailor's recipe (HF Trainer / trl), per method, unitless."
    )
    generation: dict[str, float] = Field(
        description="Multiplier per GPU micro-architecture (Ampere = 1) fitted on at least "
        "MIN_GENERATION_ROWS rows, unitless."
    )
    assumed_generation: dict[str, tuple[str, float]] = Field(
        description="Micro-architectures the rows measure too thinly: (why, multiplier)."
    )
    multi_gpu: float = Field(gt=0, le=1, description="Multiplier once a run spans > 1 GPU.")
    multi_node: float = Field(gt=0, description="Further multiplier once it spans > 1 node.")
    node_doubling: float = Field(gt=0, le=1, description="Multiplier per doubling of nodes.")
    qlora_t0_tokens: float = Field(ge=0, description="T0 of QLoRA, tokens per micro-step.")
    k: float = Field(ge=0, description="k of the recipe's framework class, tokens × width².")
    range_low: float = Field(gt=0, le=1, description="10th percentile of measured / fitted.")
    range_high: float = Field(ge=1, description="90th percentile of measured / fitted.")
    source: str = Field(description="Where the constants come from.")


TRAINING_EFFICIENCY = TrainingEfficiency(
    utilization={Method.FULL: 0.319, Method.LORA: 0.376, Method.QLORA: 0.418},
    generation={"ampere": 1.0, "hopper": 0.710},
    assumed_generation={
        "blackwell": ("assumed as Hopper (2 fp8 rows measure it: 0.94 × Hopper)", 0.710),
        "cdna3": ("assumed as Hopper (no row measures it; a peak ~4× A100's like Hopper's)", 0.710),
        "ada": ("assumed as Ampere (1 row measures it)", 1.0),
        "volta": ("assumed as Ampere (no row measures it), of its fp16 peak", 1.0),
        "turing": ("assumed as Ampere (no row measures it), of its fp16 peak", 1.0),
        "pascal": ("assumed as Ampere (no row measures it), of its fp16 peak", 1.0),
    },
    multi_gpu=0.781,
    multi_node=1.055,
    node_doubling=0.993,
    qlora_t0_tokens=1000.0,
    k=5.62e9,
    range_low=0.730,
    range_high=1.307,
    source="fitted by bench/fit_training.py on 253 of the 399 costable rows of "
    "tests/data/published_training_throughput.yaml (Qwen's HF-Trainer speed tables on A100 "
    "for the recipe's class; llm-foundry, torchtitan, NeMo, Megatron, VectorLM, NeMo "
    "AutoModel, torchtune for the generation and scaling factors), rows with sha1(id) % 3 == "
    "0 held out: held-out median |error| 12.7 % (HF class 9.7 %, 31 rows), 78 % inside the "
    "range (was 28.4 % and 38 % with one range per method). The range is the 10th-90th "
    "percentile of measured / fitted on the fit rows. Multi-node rows ran on InfiniBand / "
    "RoCE clusters: a cloud without a fast interconnect is slower than this",
)


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


def training_mfu(
    method: Method,
    gpu: GpuSku,
    *,
    tokens_per_micro_step: int,
    hidden_size: int,
    gpus_per_node: int = 1,
    nodes: int = 1,
) -> Efficiency:
    """The MFU range of tailor's recipe for this method, GPU, micro-step and scale: the fitted
    value (TRAINING_EFFICIENCY) times the 10th and 90th percentile of measured / fitted."""
    fit = TRAINING_EFFICIENCY
    generation = fit.generation.get(gpu.architecture)
    why = f"{gpu.architecture} × {generation:.3g} (fitted)" if generation is not None else ""
    if generation is None:
        reason, generation = fit.assumed_generation.get(
            gpu.architecture, ("assumed as Ampere (no row measures it)", 1.0)
        )
        why = f"{gpu.architecture} × {generation:.3g}, {reason} (assumption)"
    gpus = gpus_per_node * nodes
    scale = fit.multi_gpu if gpus > 1 else 1.0
    if nodes > 1:
        scale *= fit.multi_node * fit.node_doubling ** math.log2(nodes)
    t, d = tokens_per_micro_step, hidden_size
    t0 = fit.qlora_t0_tokens if method is Method.QLORA else 0.0
    saturation = 1 / (1 + t0 / t + fit.k / (t * d * d))
    u = fit.utilization[method] * generation * scale * saturation
    return Efficiency(
        low=min(1.0, u * fit.range_low),
        high=min(1.0, u * fit.range_high),
        source=f"{num3(fit.utilization[method])} ({method}, A100, HF Trainer / trl) × {why} "
        f"× {num3(scale)} ({gpus} GPU{'s' if gpus > 1 else ''}, {nodes} node"
        f"{'s' if nodes > 1 else ''}) / (1 + {num3(t0)}/{t} + {num3(fit.k)}/({t} × {d}²)) = "
        f"{num3(u)}, range × {fit.range_low:.2f}–{fit.range_high:.2f}; {fit.source}",
    )


def num3(value: float) -> str:
    """Three significant figures."""
    return f"{value:.3g}"
