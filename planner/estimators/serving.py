"""Serving with vLLM: memory per GPU, KV cache, decode throughput (roofline), TTFT.

Decode is memory-bandwidth bound at small batch: every step reads the (active) weights and the
batch's KV cache once; at large batch it becomes compute bound. The step time is the larger of
the two, plus tensor-parallel all-reduces. Prefill is compute bound.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from catalog import GpuSku, ModelArch, active_params
from catalog.params import embedding_params, expert_params, total_params
from planner.estimators.efficiency import DECODE_MBU, PREFILL_MFU
from planner.estimators.terms import GIB, Term
from planner.estimators.training_time import attention_flops_per_token
from planner.types import Quantization, bytes_per_param

__all__ = [
    "ServingEstimate",
    "ServingSetup",
    "estimate_serving",
    "kv_cache_bytes_per_token",
    "serving_weight_bytes",
]

GPU_MEMORY_UTILIZATION = 0.90  # vLLM's default --gpu-memory-utilization
RUNTIME_OVERHEAD_GIB = 1.0  # CUDA context + CUDA graphs captured by vLLM
MAX_BATCHED_TOKENS = 2048  # vLLM chunked-prefill budget the profiler runs with
ALLREDUCE_LATENCY_S = 10e-6  # per NCCL all-reduce of a small message


class ServingSetup(BaseModel):
    """One vLLM replica: model format, GPUs, and the load it runs at."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quantization: Quantization = Field(description="Weight format.")
    gpus: int = Field(default=1, gt=0, description="Tensor-parallel size.")
    batch: int = Field(default=1, gt=0, description="Concurrent sequences decoding.")
    input_tokens: int = Field(gt=0, description="Prompt tokens per request.")
    output_tokens: int = Field(gt=0, description="Generated tokens per request.")
    kv_cache_bytes_per_value: float = Field(default=2.0, description="2 = bf16 KV, 1 = fp8 KV.")


class ServingEstimate(BaseModel):
    """What one replica holds and how fast it answers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weights_gib_per_gpu: float = Field(description="Weights on each GPU, GiB.")
    kv_cache_gib: float = Field(description="KV cache of the whole batch, all GPUs, GiB.")
    kv_cache_gib_per_gpu: float = Field(description="KV cache of the batch on each GPU, GiB.")
    usable_gib_per_gpu: float = Field(description="GPU memory × vLLM utilization, GiB.")
    fits: bool = Field(description="Weights + overhead + the batch's KV fit on each GPU.")
    max_concurrent_sequences: int = Field(description="Full-length sequences the KV budget holds.")
    decode_step_s: float = Field(description="Seconds per decode step at this batch.")
    decode_tokens_per_s: float = Field(description="Output tokens/s over the whole batch.")
    per_sequence_tokens_per_s: float = Field(description="Output tokens/s of one stream.")
    prefill_s: float = Field(description="Prefill time of one prompt, s.")
    ttft_s: float = Field(description="Time to first token: prefill + one decode step, s.")
    terms: tuple[Term, ...] = Field(description="Each number with its formula.")


def serving_weight_bytes(arch: ModelArch, quantization: Quantization) -> float:
    """Linear layers in the quantized format; embeddings, lm_head and norms stay 16-bit."""
    n = total_params(arch)
    other = embedding_params(arch) + arch.hidden_size * (1 + arch.norms_per_layer * arch.num_layers)
    return (n - other) * bytes_per_param(quantization) + other * 2.0


def kv_cache_bytes_per_token(
    arch: ModelArch, *, gpus: int = 1, bytes_per_value: float = 2.0
) -> float:
    """KV bytes per token on one GPU: 2 (K and V) · layers · kv_heads/GPU · head_dim · bytes.

    KV heads split across tensor-parallel GPUs; fewer heads than GPUs are replicated.
    """
    heads_per_gpu = math.ceil(arch.num_key_value_heads / gpus)
    return 2 * arch.num_layers * heads_per_gpu * arch.head_dim * bytes_per_value


def _runtime_overhead_bytes(arch: ModelArch, gpus: int) -> float:
    width = arch.moe_intermediate_size or arch.intermediate_size
    activations = MAX_BATCHED_TOKENS * (4 * arch.hidden_size + 2 * width) * 2 / gpus
    return RUNTIME_OVERHEAD_GIB * GIB + activations


def _weights_read_per_step(arch: ModelArch, q: Quantization, batch: int) -> float:
    """Bytes of weights one decode step reads; MoE reads only the experts the batch routes to."""
    stored = serving_weight_bytes(arch, q)
    if not arch.is_moe:
        return stored
    assert arch.num_experts and arch.num_experts_per_token
    share = arch.num_experts_per_token / arch.num_experts
    touched = arch.num_experts * (1 - (1 - share) ** batch)
    idle = (arch.num_experts - touched) * expert_params(arch) * arch.num_layers
    return stored - idle * bytes_per_param(q)


def _decode_step_s(arch: ModelArch, gpu: GpuSku, s: ServingSetup) -> tuple[float, str]:
    context = s.input_tokens + s.output_tokens / 2
    weights = _weights_read_per_step(arch, s.quantization, s.batch) / s.gpus
    kv = (
        s.batch
        * context
        * kv_cache_bytes_per_token(arch, gpus=s.gpus, bytes_per_value=s.kv_cache_bytes_per_value)
    )
    memory_s = (weights + kv) / (gpu.memory_bandwidth_gb_per_s * 1e9 * DECODE_MBU.mid)
    flops = s.batch * (2 * active_params(arch) + attention_flops_per_token(arch, int(context)) * 2)
    compute_s = flops / (s.gpus * gpu.matmul_dense_tflops * 1e12 * PREFILL_MFU.mid)
    comm_s = 0.0
    if s.gpus > 1:
        message = s.batch * arch.hidden_size * 2
        ring = 2 * (s.gpus - 1) / s.gpus * message / (gpu.interconnect_gb_per_s / 2 * 1e9)
        comm_s = 2 * arch.num_layers * (ring + ALLREDUCE_LATENCY_S)
    step = max(memory_s, compute_s) + comm_s
    formula = (
        f"max(memory {(weights + kv) / 1e9:.2f} GB / ({gpu.memory_bandwidth_gb_per_s:g} "
        f"GB/s × MBU {DECODE_MBU.mid:.2f}) = {memory_s * 1e3:.2f} ms, compute "
        f"{compute_s * 1e3:.2f} ms) + TP all-reduce {comm_s * 1e3:.2f} ms. "
        f"MBU: {DECODE_MBU.source}"
    )
    return step, formula


def _prefill_s(arch: ModelArch, gpu: GpuSku, s: ServingSetup) -> float:
    flops = s.input_tokens * (
        2 * active_params(arch) + attention_flops_per_token(arch, s.input_tokens)
    )
    compute = flops / (s.gpus * gpu.matmul_dense_tflops * 1e12 * PREFILL_MFU.mid)
    memory = (
        serving_weight_bytes(arch, s.quantization)
        / s.gpus
        / (gpu.memory_bandwidth_gb_per_s * 1e9 * DECODE_MBU.mid)
    )
    return max(compute, memory)


def estimate_serving(arch: ModelArch, gpu: GpuSku, setup: ServingSetup) -> ServingEstimate:
    """Memory, capacity, decode speed and TTFT of one vLLM replica."""
    s = setup
    weights = serving_weight_bytes(arch, s.quantization) / s.gpus
    kv_token = kv_cache_bytes_per_token(
        arch, gpus=s.gpus, bytes_per_value=s.kv_cache_bytes_per_value
    )
    seq_tokens = s.input_tokens + s.output_tokens
    usable = gpu.memory_gib * GIB * GPU_MEMORY_UTILIZATION
    overhead = _runtime_overhead_bytes(arch, s.gpus)
    kv_budget = usable - weights - overhead
    max_seqs = max(0, math.floor(kv_budget / (kv_token * seq_tokens)))
    kv_batch = s.batch * seq_tokens * kv_token
    step, step_formula = _decode_step_s(arch, gpu, s)
    prefill = _prefill_s(arch, gpu, s)
    terms = (
        Term(
            name="weights_per_gpu",
            value=weights / GIB,
            unit="GiB",
            formula=f"{serving_weight_bytes(arch, s.quantization) / GIB:.2f} GiB "
            f"({s.quantization}: linear × {bytes_per_param(s.quantization):g} B, rest × 2 B) "
            f"/ {s.gpus} GPUs",
        ),
        Term(
            name="kv_cache_per_token",
            value=kv_token,
            unit="B",
            formula=f"2 × {arch.num_layers} layers × {math.ceil(arch.num_key_value_heads / s.gpus)}"
            f" KV heads/GPU × {arch.head_dim} × {s.kv_cache_bytes_per_value:g} B",
        ),
        Term(
            name="max_concurrent_sequences",
            value=max_seqs,
            unit="sequences",
            formula=f"({usable / GIB:.2f} usable − {weights / GIB:.2f} weights − "
            f"{overhead / GIB:.2f} runtime) GiB / ({kv_token:,.0f} B × {seq_tokens} tokens)",
        ),
        Term(name="decode_step", value=step, unit="s", formula=step_formula),
        Term(
            name="prefill",
            value=prefill,
            unit="s",
            formula=f"{s.input_tokens} tokens × 2 × {active_params(arch):,} FLOP / ({s.gpus} × "
            f"{gpu.matmul_dense_tflops:g} TFLOPs × MFU {PREFILL_MFU.mid:.2f}). "
            f"MFU: {PREFILL_MFU.source}",
        ),
    )
    return ServingEstimate(
        weights_gib_per_gpu=weights / GIB,
        kv_cache_gib=kv_batch * s.gpus / GIB,
        kv_cache_gib_per_gpu=kv_batch / GIB,
        usable_gib_per_gpu=usable / GIB,
        fits=weights + overhead + kv_batch <= usable,
        max_concurrent_sequences=max_seqs,
        decode_step_s=step,
        decode_tokens_per_s=s.batch / step,
        per_sequence_tokens_per_s=1 / step,
        prefill_s=prefill,
        ttft_s=prefill + step,
        terms=terms,
    )
