"""Serving with vLLM: memory per GPU, KV cache, decode throughput (roofline), TTFT.

Decode is memory-bandwidth bound at small batch: every step reads the (active) weights and the
batch's KV cache once; at large batch it becomes compute bound. The step time is the larger of
the two, plus tensor-parallel all-reduces, plus fixed costs per layer and per sequence; the
achieved fractions and the fixed costs are calibrated on published measurements
(planner.estimators.efficiency.DECODE_EFFICIENCY, bench/fit_decode.py). Prefill is compute bound.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from catalog import GpuSku, ModelArch, active_params
from catalog.params import embedding_params, expert_params, total_params
from planner.estimators.efficiency import DECODE_EFFICIENCY, PREFILL_MFU, DecodeEfficiency
from planner.estimators.load import StepLines
from planner.estimators.terms import GIB, Term, num
from planner.estimators.training_time import attention_flops_per_token
from planner.types import Quantization, bytes_per_param

__all__ = [
    "DecodeModel",
    "ServingEstimate",
    "ServingSetup",
    "dense_peak_tflops",
    "estimate_serving",
    "kv_cache_bytes_per_token",
    "replica_memory",
    "runtime_overhead_bytes",
    "serving_weight_bytes",
    "serving_weight_params",
    "weight_read_bytes",
    "weights_and_usable",
]

GPU_MEMORY_UTILIZATION = 0.90  # vLLM's default --gpu-memory-utilization
RUNTIME_OVERHEAD_GIB = 1.0  # CUDA context + CUDA graphs captured by vLLM
MAX_BATCHED_TOKENS = 2048  # vLLM chunked-prefill budget the profiler runs with
ALLREDUCE_LATENCY_S = 10e-6  # per NCCL all-reduce of a small message


class ServingSetup(BaseModel):
    """One vLLM replica: model format, GPUs, and the load it runs at."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quantization: Quantization = Field(description="Weight format.")
    tensor_parallel: int = Field(default=1, gt=0, description="GPUs per replica (vLLM TP).")
    batch: int = Field(default=1, gt=0, description="Concurrent sequences decoding.")
    input_tokens: int = Field(gt=0, description="Prompt tokens per request.")
    output_tokens: int = Field(gt=0, description="Generated tokens per request.")
    kv_cache_bytes_per_value: float = Field(default=2.0, description="2 = bf16 KV, 1 = fp8 KV.")
    weight_read_bytes_per_param: float | None = Field(
        default=None,
        gt=0,
        description="What reading one linear-layer weight costs a decode step, in bytes of "
        "bandwidth; None: its stored size (bytes_per_param). Quantized kernels that dequantize "
        "while they read run slower than their bytes say (planner.serving_options."
        "kernel_read_bytes derives it from the published decode speed of the format).",
    )


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


def serving_weight_params(arch: ModelArch) -> tuple[int, int]:
    """(parameters in the quantized linear layers, parameters kept 16-bit: embeddings,
    lm_head, norms)."""
    other = embedding_params(arch) + arch.hidden_size * (1 + arch.norms_per_layer * arch.num_layers)
    return total_params(arch) - other, other


_WEIGHT_BYTES: dict[tuple[int, Quantization], tuple[ModelArch, float]] = {}
"""serving_weight_bytes by (id of the arch, format), the arch kept beside its value so the id
names it while the entry lives: a lookup costs no hash of the arch's ~30 fields (the
planner's serving search asks thousands of times per goal)."""


def serving_weight_bytes(arch: ModelArch, quantization: Quantization) -> float:
    """Linear layers in the quantized format; embeddings, lm_head and norms stay 16-bit."""
    key = (id(arch), quantization)
    known = _WEIGHT_BYTES.get(key)
    if known is not None and known[0] is arch:
        return known[1]
    linear, other = serving_weight_params(arch)
    value = linear * bytes_per_param(quantization) + other * 2.0
    _WEIGHT_BYTES[key] = (arch, value)
    return value


def kv_cache_bytes_per_token(
    arch: ModelArch, *, tensor_parallel: int = 1, bytes_per_value: float = 2.0
) -> float:
    """KV bytes per token on one GPU: 2 (K and V) · layers · kv_heads/GPU · head_dim · bytes.

    KV heads split across tensor-parallel GPUs; fewer heads than GPUs are replicated.
    """
    heads_per_gpu = math.ceil(arch.num_key_value_heads / tensor_parallel)
    return 2 * arch.num_layers * heads_per_gpu * arch.head_dim * bytes_per_value


def runtime_overhead_bytes(arch: ModelArch, tensor_parallel: int) -> float:
    width = arch.moe_intermediate_size or arch.intermediate_size
    activations = MAX_BATCHED_TOKENS * (4 * arch.hidden_size + 2 * width) * 2 / tensor_parallel
    return RUNTIME_OVERHEAD_GIB * GIB + activations


def weight_read_bytes(arch: ModelArch, q: Quantization, per_param: float | None = None) -> float:
    """Bytes a decode step reads for all the weights: linear layers at ``per_param`` (their
    stored size when None), embeddings, lm_head and norms at 2."""
    if per_param is None:
        return serving_weight_bytes(arch, q)
    linear, other = serving_weight_params(arch)
    return linear * per_param + other * 2.0


def _weights_read_per_step(
    arch: ModelArch, q: Quantization, batch: float, per_param: float | None = None
) -> float:
    """Bytes of weights one decode step reads; MoE reads only the experts the batch routes to."""
    stored = weight_read_bytes(arch, q, per_param)
    if not arch.is_moe:
        return stored
    assert arch.num_experts and arch.num_experts_per_token
    share = arch.num_experts_per_token / arch.num_experts
    touched = arch.num_experts * (1 - (1 - share) ** batch)
    idle = (arch.num_experts - touched) * expert_params(arch) * arch.num_layers
    return stored - idle * (bytes_per_param(q) if per_param is None else per_param)


def dense_peak_tflops(gpu: GpuSku, quantization: Quantization) -> float:
    """Peak dense TFLOPs of one GPU for the GEMMs of this weight format.

    vLLM runs fp8 weights as W8A8 on FP8 tensor cores where the GPU has them (Ada, Hopper,
    Blackwell, MI300: "FP8 computation is supported on NVIDIA GPUs with compute capability >= 8.9",
    docs.vllm.ai features/quantization/fp8); every other format (and fp8 elsewhere, weight-only
    Marlin) computes in 16-bit.
    """
    if quantization == Quantization.FP8 and gpu.supports_fp8 and gpu.fp8_dense_tflops:
        return gpu.fp8_dense_tflops
    return gpu.matmul_dense_tflops


class DecodeModel:
    """Decode-step and prefill time of one replica as functions of the batch (numbers only).

    A step of ``b`` sequences: ``max(memory, compute) + all-reduces + overheads``, with
    memory = (weights + the batch's KV) / (bandwidth × bandwidth fraction), compute = b × FLOPs
    per sequence / (GPUs × peak × compute fraction), overheads = layers × layer overhead + b ×
    sequence overhead (``DecodeEfficiency``, calibrated). Precomputes the constants once so the
    planner can search batch sizes cheaply.
    """

    def __init__(
        self,
        arch: ModelArch,
        gpu: GpuSku,
        setup: ServingSetup,
        *,
        efficiency: DecodeEfficiency = DECODE_EFFICIENCY,
    ) -> None:
        s = setup
        self.arch, self.gpu, self.setup, self.efficiency = arch, gpu, s, efficiency
        self.context_tokens = s.input_tokens + s.output_tokens / 2
        self.kv_bytes_per_token = kv_cache_bytes_per_token(
            arch, tensor_parallel=s.tensor_parallel, bytes_per_value=s.kv_cache_bytes_per_value
        )
        self.bandwidth_fraction = efficiency.bandwidth_fraction_on(gpu)
        self.bandwidth_bytes_per_s = gpu.memory_bandwidth_gb_per_s * 1e9 * self.bandwidth_fraction
        self.peak_tflops = dense_peak_tflops(gpu, s.quantization)
        self.flops_per_s = s.tensor_parallel * self.peak_tflops * 1e12 * PREFILL_MFU.mid
        self.decode_flops_per_s = (
            s.tensor_parallel * self.peak_tflops * 1e12 * efficiency.compute_fraction
        )
        self.step_flops_per_sequence = 2 * active_params(arch) + 2 * attention_flops_per_token(
            arch, int(self.context_tokens)
        )
        self.link_bytes_per_s = gpu.interconnect_gb_per_s / 2 * 1e9
        self.weights_bytes = weight_read_bytes(arch, s.quantization, s.weight_read_bytes_per_param)
        self.step_overhead_s = arch.num_layers * efficiency.layer_overhead_s
        self.sequence_overhead_s = efficiency.sequence_overhead_s

    def weights_read_bytes(self, batch: float) -> float:
        """Weight bytes one GPU reads per step."""
        if not self.arch.is_moe:
            return self.weights_bytes / self.setup.tensor_parallel
        return (
            _weights_read_per_step(
                self.arch, self.setup.quantization, batch, self.setup.weight_read_bytes_per_param
            )
            / self.setup.tensor_parallel
        )

    def memory_s(self, batch: int) -> float:
        """Memory-roofline time of a step: (weights + KV read) / (bandwidth × fraction)."""
        kv = batch * self.context_tokens * self.kv_bytes_per_token
        return (self.weights_read_bytes(batch) + kv) / self.bandwidth_bytes_per_s

    def compute_s(self, batch: int) -> float:
        """Compute time of a step: batch × FLOPs per sequence / (GPUs × peak × fraction)."""
        return batch * self.step_flops_per_sequence / self.decode_flops_per_s

    def overhead_s(self, batch: float) -> float:
        """Fixed costs of a step: layers × layer overhead + batch × sequence overhead."""
        return self.step_overhead_s + batch * self.sequence_overhead_s

    def allreduce_s(self, batch: int) -> float:
        """Two ring all-reduces per layer of batch × hidden × 2 B, plus their latency."""
        tp = self.setup.tensor_parallel
        if tp == 1:
            return 0.0
        ring = 2 * (tp - 1) / tp * batch * self.arch.hidden_size * 2 / self.link_bytes_per_s
        return 2 * self.arch.num_layers * (ring + ALLREDUCE_LATENCY_S)

    def step_s(self, batch: int) -> float:
        """Seconds per decode step at ``batch`` concurrent sequences."""
        return (
            max(self.memory_s(batch), self.compute_s(batch))
            + self.allreduce_s(batch)
            + self.overhead_s(batch)
        )

    def bandwidth_utilization(self, batch: int) -> float:
        """Achieved MBU of a step: bytes it must read / (step time × peak bandwidth)."""
        kv = batch * self.context_tokens * self.kv_bytes_per_token
        peak = self.gpu.memory_bandwidth_gb_per_s * 1e9
        return (self.weights_read_bytes(batch) + kv) / (self.step_s(batch) * peak)

    def max_batch_within(self, step_limit_s: float, capacity: int) -> int:
        """Largest batch ≤ capacity whose step takes ≤ step_limit_s (0 if even 1 is too slow).

        Dense models: every term is affine in the batch, so it is solved in closed form;
        MoE (weights read grow with the batch) falls back to a binary search.
        """
        if capacity < 1 or self.step_s(1) > step_limit_s:
            return 0
        if self.arch.is_moe:
            return self._search_batch(step_limit_s, capacity)
        per_seq = self._allreduce_per_token_s() + self.sequence_overhead_s
        room = step_limit_s - self._allreduce_fixed_s() - self.step_overhead_s
        memory_fixed = self.weights_bytes / self.setup.tensor_parallel / self.bandwidth_bytes_per_s
        memory_per_seq = self.context_tokens * self.kv_bytes_per_token / self.bandwidth_bytes_per_s
        by_memory = (room - memory_fixed) / (memory_per_seq + per_seq)
        by_compute = room / (self.step_flops_per_sequence / self.decode_flops_per_s + per_seq)
        return max(1, min(capacity, math.floor(min(by_memory, by_compute) * (1 - 1e-12))))

    def _search_batch(self, step_limit_s: float, capacity: int) -> int:
        low, high = 1, capacity
        while low < high:
            mid = (low + high + 1) // 2
            if self.step_s(mid) <= step_limit_s:
                low = mid
            else:
                high = mid - 1
        return low

    def _allreduce_per_token_s(self) -> float:
        tp = self.setup.tensor_parallel
        if tp == 1:
            return 0.0
        ring = 2 * (tp - 1) / tp * self.arch.hidden_size * 2 / self.link_bytes_per_s
        return 2 * self.arch.num_layers * ring

    def _allreduce_fixed_s(self) -> float:
        return (
            2 * self.arch.num_layers * ALLREDUCE_LATENCY_S if self.setup.tensor_parallel > 1 else 0
        )

    def prefill_flops_per_token(self) -> float:
        """FLOPs of one prompt token: 2 × active parameters + attention over the prompt."""
        return 2 * active_params(self.arch) + attention_flops_per_token(
            self.arch, self.setup.input_tokens
        )

    def step_lines(self, context_tokens: float) -> StepLines:
        """The engine step as two affine lines in (decoding sequences, prefill tokens), each
        decoding sequence reading ``context_tokens`` of KV (the mean context in flight).

        The overheads add to both lines (they do not overlap the reads or the FLOPs): the
        layer overhead to the fixed parts, the sequence overhead to each decoding sequence.
        """
        bw, flops = self.bandwidth_bytes_per_s, self.flops_per_s
        ar_token, ar_fixed = self._allreduce_per_token_s(), self._allreduce_fixed_s()
        fixed, per_seq = ar_fixed + self.step_overhead_s, ar_token + self.sequence_overhead_s
        decode_flops = 2 * active_params(self.arch) + 2 * attention_flops_per_token(
            self.arch, int(context_tokens)
        )
        return StepLines(
            memory_fixed_s=self.weights_read_bytes(10**9) / bw + fixed,
            memory_per_decode_s=context_tokens * self.kv_bytes_per_token / bw + per_seq,
            memory_per_prefill_s=self.kv_bytes_per_token / bw + ar_token,
            compute_fixed_s=fixed,
            compute_per_decode_s=decode_flops / self.decode_flops_per_s + per_seq,
            compute_per_prefill_s=self.prefill_flops_per_token() / flops + ar_token,
        )

    def moe_memory_fixed_s(self, tokens_per_step: float) -> float:
        """Fixed memory time of a step routing ``tokens_per_step`` tokens (MoE: only the
        experts they touch are read), overheads included as in ``step_lines``."""
        return (
            self.weights_read_bytes(tokens_per_step) / self.bandwidth_bytes_per_s
            + self._allreduce_fixed_s()
            + self.step_overhead_s
        )

    def prefill_s(self) -> float:
        """Prefill of one prompt: max(compute, reading the weights once)."""
        s = self.setup
        flops = s.input_tokens * (
            2 * active_params(self.arch) + attention_flops_per_token(self.arch, s.input_tokens)
        )
        return max(
            flops / self.flops_per_s,
            self.weights_bytes / s.tensor_parallel / self.bandwidth_bytes_per_s,
        )

    def step_formula(self, batch: int) -> str:
        """The step time's arithmetic with its numbers substituted (evaluates to step_s)."""
        weights, kv = num(self.weights_read_bytes(batch), 12), num(self.kv_bytes_per_token)
        memory = (
            f"({weights} + {batch:,} × {num(self.context_tokens)} × {kv}) / "
            f"{self._bandwidth_formula()}"
        )
        compute = (
            f"{batch:,} × {num(self.step_flops_per_sequence, 12)} / "
            f"{self._flops_rate_formula(self.efficiency.compute_fraction)}"
        )
        overhead = (
            f" + {self.arch.num_layers} × {num(self.efficiency.layer_overhead_s)}"
            f" + {batch:,} × {num(self.sequence_overhead_s)}"
        )
        return f"max({memory}, {compute}){self._allreduce_formula(batch)}{overhead}"

    def _flops_rate_formula(self, fraction: float) -> str:
        tflops = num(self.peak_tflops)
        return f"({self.setup.tensor_parallel} × {tflops}e12 × {num(fraction)})"

    def _bandwidth_formula(self) -> str:
        return f"({num(self.gpu.memory_bandwidth_gb_per_s)}e9 × {num(self.bandwidth_fraction)})"

    def _allreduce_formula(self, batch: int) -> str:
        tp = self.setup.tensor_parallel
        if tp == 1:
            return ""
        return (
            f" + 2 × {self.arch.num_layers} × (2 × {tp - 1} / {tp} × {batch:,} × "
            f"{self.arch.hidden_size} × 2 / {num(self.link_bytes_per_s, 9)} + "
            f"{num(ALLREDUCE_LATENCY_S)})"
        )

    def prefill_formula(self) -> str:
        """The prefill time's arithmetic (evaluates to prefill_s)."""
        s = self.setup
        attention = attention_flops_per_token(self.arch, s.input_tokens)
        return (
            f"max({s.input_tokens:,} × (2 × {active_params(self.arch):,} + {num(attention, 12)})"
            f" / {self._flops_rate_formula(PREFILL_MFU.mid)}, {num(self.weights_bytes, 12)} / "
            f"{s.tensor_parallel} / {self._bandwidth_formula()})"
        )

    def _step_basis(self, batch: int) -> str:
        e, gpu = self.efficiency, self.gpu
        return (
            f"at batch {batch}: max(memory: weights + the batch's KV read once at "
            f"{gpu.name}'s peak bandwidth × {self.bandwidth_fraction:.3g}, compute: FLOPs at "
            f"the {self.setup.quantization} dense peak ({num(self.peak_tflops)} TFLOPs per GPU) "
            f"× {e.compute_fraction:.3g}) + tensor-parallel all-reduces + {self.arch.num_layers}"
            f" layers × {e.layer_overhead_s * 1e6:.3g} µs + {batch} sequences × "
            f"{e.sequence_overhead_s * 1e6:.3g} µs (achieved MBU "
            f"{self.bandwidth_utilization(batch):.0%}). Constants: {e.source}"
        )

    def terms(self, batch: int) -> tuple[Term, ...]:
        """Weights, KV per token, KV capacity, decode step and prefill at ``batch``."""
        arch, s, gpu = self.arch, self.setup, self.gpu
        linear, other = serving_weight_params(arch)
        weights, usable, max_seqs = replica_memory(arch, gpu, s)
        overhead = runtime_overhead_bytes(arch, s.tensor_parallel)
        seq_tokens = s.input_tokens + s.output_tokens
        heads = math.ceil(arch.num_key_value_heads / s.tensor_parallel)
        bpp = bytes_per_param(s.quantization)
        return (
            Term(
                name="weights_per_gpu",
                value=weights / GIB,
                unit="GiB",
                formula=f"({linear:,} × {num(bpp)} + {other:,} × 2) / {s.tensor_parallel} / GiB",
                basis=f"linear layers in {s.quantization} ({num(bpp)} B per weight, scales "
                "included), embeddings / lm_head / norms in 16-bit, split over the "
                "tensor-parallel GPUs",
            ),
            Term(
                name="kv_cache_per_token",
                value=self.kv_bytes_per_token,
                unit="B",
                formula=f"2 × {arch.num_layers} × {heads} × {arch.head_dim} × "
                f"{num(s.kv_cache_bytes_per_value)}",
                basis="K and V × layers × KV heads per GPU × head dim × bytes per value",
            ),
            Term(
                name="max_concurrent_sequences",
                value=max_seqs,
                unit="sequences",
                formula=f"max(0, floor(({num(usable, 15)} − {num(weights, 15)} − "
                f"{num(overhead, 15)}) / ({num(self.kv_bytes_per_token)} × {seq_tokens:,})))",
                basis=f"(GPU memory × {GPU_MEMORY_UTILIZATION:.0%} vLLM utilization − weights − "
                f"runtime: {RUNTIME_OVERHEAD_GIB:g} GiB CUDA context and graphs + activations "
                f"of the {MAX_BATCHED_TOKENS}-token prefill chunk) B / KV bytes of one "
                "full-length sequence",
            ),
            Term(
                name="decode_step",
                value=self.step_s(batch),
                unit="s",
                formula=self.step_formula(batch),
                basis=self._step_basis(batch),
            ),
            Term(
                name="prefill",
                value=self.prefill_s(),
                unit="s",
                formula=self.prefill_formula(),
                basis="one prompt: max(FLOPs at peak × MFU, reading the weights once). "
                f"MFU: {PREFILL_MFU.source}",
            ),
        )


def weights_and_usable(
    arch: ModelArch, gpu: GpuSku, quantization: Quantization, tensor_parallel: int
) -> tuple[float, float]:
    """(weights bytes per GPU, usable bytes per GPU: memory × vLLM's utilization)."""
    weights = serving_weight_bytes(arch, quantization) / tensor_parallel
    return weights, gpu.memory_gib * GIB * GPU_MEMORY_UTILIZATION


def replica_memory(arch: ModelArch, gpu: GpuSku, setup: ServingSetup) -> tuple[float, float, int]:
    """(weights bytes per GPU, usable bytes per GPU, max full-length sequences in the KV)."""
    weights, usable = weights_and_usable(arch, gpu, setup.quantization, setup.tensor_parallel)
    kv_token = kv_cache_bytes_per_token(
        arch, tensor_parallel=setup.tensor_parallel, bytes_per_value=setup.kv_cache_bytes_per_value
    )
    budget = usable - weights - runtime_overhead_bytes(arch, setup.tensor_parallel)
    seqs = max(0, math.floor(budget / (kv_token * (setup.input_tokens + setup.output_tokens))))
    return weights, usable, seqs


def estimate_serving(arch: ModelArch, gpu: GpuSku, setup: ServingSetup) -> ServingEstimate:
    """Memory, capacity, decode speed and TTFT of one vLLM replica."""
    s = setup
    model = DecodeModel(arch, gpu, s)
    weights, usable, max_seqs = replica_memory(arch, gpu, s)
    seq_tokens = s.input_tokens + s.output_tokens
    overhead = runtime_overhead_bytes(arch, s.tensor_parallel)
    kv_batch = s.batch * seq_tokens * model.kv_bytes_per_token
    step, prefill = model.step_s(s.batch), model.prefill_s()
    terms = model.terms(s.batch)
    return ServingEstimate(
        weights_gib_per_gpu=weights / GIB,
        kv_cache_gib=kv_batch * s.tensor_parallel / GIB,
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
