"""Training compute, time and throughput: FLOPs from the data, hours from peak × MFU.

There is no default runtime: time always comes from tokens = examples × tokens/example × epochs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from statistics import NormalDist

from catalog import GpuSku, ModelArch, active_params
from planner.estimators.efficiency import Efficiency, training_mfu
from planner.estimators.terms import Term, num
from planner.types import Method, Precision

__all__ = [
    "TrainingTime",
    "attention_flops_per_token",
    "estimate_training_time",
    "padding_factor",
    "peak_training_tflops",
    "training_flops_per_token",
    "training_tokens",
]


@dataclass(frozen=True)
class TrainingTime:
    """Throughput and wall-clock of a training run, low–high from the MFU range (numbers only;
    ``terms()`` explains them)."""

    tokens: int
    """Training tokens processed (all epochs)."""
    flops_per_token: float
    """FLOPs per training token."""
    gpus: int
    """GPUs the run uses (all nodes)."""
    gpu: GpuSku
    """The GPU type."""
    mfu: Efficiency
    """Model FLOPs utilization range used."""
    startup_hours: float
    """Billed hours before the first step (provisioning, setup, weights download)."""
    active_params: int
    """N: parameters a token passes through."""
    trainable_params: int
    """P: parameters that receive gradients."""
    method: Method
    """full, lora or qlora."""
    gradient_checkpointing: bool
    """Activations recomputed in backward."""
    attention_flops: float
    """A: forward attention-score FLOPs per token (see attention_flops_per_token)."""
    precision: Precision = Precision.BF16_MIXED
    """The arithmetic the run computes in: its dense peak is the bf16 or the fp16 one."""
    padding: float = 1.0
    """Tokens computed per real token: 1 when packed, E[longest of a micro-batch] / mean
    length when each micro-batch is padded to its longest example (``padding_factor``)."""

    @property
    def peak_tflops(self) -> float:
        """One GPU's dense tensor peak in the run's 16-bit type, TFLOP/s."""
        return peak_training_tflops(self.gpu, self.precision)

    @property
    def peak_flops_per_s(self) -> float:
        """Dense peak of all the GPUs, FLOP/s."""
        return self.gpus * self.peak_tflops * 1e12

    @property
    def tokens_per_s(self) -> float:
        """Cluster tokens/s at the mid MFU."""
        return self.peak_flops_per_s * self.mfu.mid / self.flops_per_token / self.padding

    def _compute_hours(self, mfu: float) -> float:
        computed = self.tokens * self.padding
        return computed * self.flops_per_token / (self.peak_flops_per_s * mfu) / 3600

    @cached_property
    def hours_low(self) -> float:
        """Billed hours at the high MFU, start-up included."""
        return self._compute_hours(self.mfu.high) + self.startup_hours

    @cached_property
    def hours_high(self) -> float:
        """Billed hours at the low MFU, start-up included."""
        return self._compute_hours(self.mfu.low) + self.startup_hours

    @cached_property
    def hours(self) -> float:
        """Mid estimate of billed hours."""
        return (self.hours_low + self.hours_high) / 2

    def terms(self) -> tuple[Term, ...]:
        """flops_per_token, tokens_per_s and hours, each with its formula and basis."""
        n, p, per, a = (
            self.active_params,
            self.trainable_params,
            self.flops_per_token,
            self.attention_flops,
        )
        full, gc = self.method is Method.FULL, self.gradient_checkpointing
        shape = "6N + 3A" if full else "4N + 6P + 3A"
        recompute = " + 2N + A (recomputed forward)" if gc else ""
        rate = f"{self.gpus} × {num(self.peak_tflops)}e12"
        padded = f" × {num(self.padding)}" if self.padding != 1 else ""
        compute = f"{self.tokens:,}{padded} × {num(per, 9)} / ({rate} × {{mfu}}) / 3600"
        return (
            Term(
                name="flops_per_token",
                value=per,
                unit="FLOP",
                formula=f"{'6' if full else '4'} × {n:,}"
                + ("" if full else f" + 6 × {p:,}")
                + f" + 3 × {num(a, 9)}"
                + (f" + 2 × {n:,} + {num(a, 9)}" if gc else ""),
                basis=f"{shape}{recompute}; N = active parameters, P = trainable parameters, "
                "A = forward attention-score FLOPs per token (causal: seq/2 keys)",
            ),
            Term(
                name="tokens_per_s",
                value=self.tokens_per_s,
                unit="tokens/s",
                formula=f"{rate} × {num(self.mfu.mid)} / {num(per, 9)}"
                + (f" / {num(self.padding)}" if self.padding != 1 else ""),
                basis=f"GPUs × dense {_PEAK_DTYPE[self.precision]} peak FLOP/s ({self.gpu.name}, "
                f"{self.precision}) × mid MFU / FLOPs per token"
                + (
                    " / padding (tokens computed per real token, unpacked)"
                    if self.padding != 1
                    else ""
                )
                + f". MFU: {self.mfu.source}",
            ),
            Term(
                name="hours",
                value=self.hours,
                unit="h",
                formula=f"({compute.format(mfu=num(self.mfu.high))} + "
                f"{compute.format(mfu=num(self.mfu.low))}) / 2 + {num(self.startup_hours)}",
                basis=f"tokens × FLOPs per token / (GPUs × peak × MFU), mid of MFU "
                f"{num(self.mfu.low)}–{num(self.mfu.high)} "
                f"({self.hours_low:.2f}–{self.hours_high:.2f} h), + start-up hours",
            ),
        )


_PEAK_DTYPE = {
    Precision.BF16_MIXED: "BF16",
    Precision.BF16_PURE: "BF16",
    Precision.FP16_MIXED: "FP16",
}


def peak_training_tflops(gpu: GpuSku, precision: Precision) -> float:
    """Dense tensor TFLOP/s of one GPU in the precision's 16-bit type. A bf16 precision on a
    GPU without bf16 is a programming error (the planner chooses fp16-mixed there)."""
    if precision is Precision.FP16_MIXED:
        return gpu.fp16_dense_tflops
    if gpu.bf16_dense_tflops is None:
        raise ValueError(f"{gpu.name} has no bf16: train it in {Precision.FP16_MIXED}")
    return gpu.bf16_dense_tflops


LENGTH_SIGMA = 0.5
"""Assumption: the log of an example's length has standard deviation 0.5 (lognormal lengths,
a spread typical of SFT chat sets; not measured on the user's data)."""


def padding_factor(example_tokens: int | None, micro_batch: int, seq_len_tokens: int) -> float:
    """Tokens computed per real token when a micro-batch is padded to its longest example:
    E[longest of micro_batch lognormal lengths] / mean, the longest capped at seq_len.
    Blom's approximation of the expected maximum: z = Φ⁻¹((m − 0.375) / (m + 0.25)),
    longest = mean × exp(σz − σ²/2). 1 for one example per micro-batch (nothing to pad)."""
    if example_tokens is None or micro_batch == 1:
        return 1.0
    z = NormalDist().inv_cdf((micro_batch - 0.375) / (micro_batch + 0.25))
    longest = example_tokens * math.exp(LENGTH_SIGMA * z - LENGTH_SIGMA**2 / 2)
    return max(1.0, min(longest, seq_len_tokens) / example_tokens)


def training_tokens(examples: int, tokens_per_example: int, epochs: float) -> int:
    """Tokens processed: examples × tokens per example × epochs."""
    return round(examples * tokens_per_example * epochs)


def attention_flops_per_token(arch: ModelArch, seq_len_tokens: int) -> float:
    """Forward attention-score FLOPs per token: 2 matmuls × 2 FLOPs × layers × q_dim × seq/2.

    Causal attention sees seq/2 keys on average.
    """
    q_dim = arch.num_attention_heads * arch.head_dim
    return 4 * arch.num_layers * q_dim * seq_len_tokens / 2


def training_flops_per_token(
    arch: ModelArch,
    method: Method,
    *,
    seq_len_tokens: int,
    trainable_params: int,
    gradient_checkpointing: bool,
) -> float:
    """FLOPs per token for one training step.

    full:  forward 2N + backward 4N (input and weight gradients) = 6N;
    LoRA/QLoRA: forward 2N + backward input gradients 2N + adapters 6·P = 4N + 6P;
    gradient checkpointing recomputes the forward: + 2N. Attention scores add
    3 × attention_flops_per_token (forward + 2× backward), +1× when recomputed.
    N = active parameters (MoE: routed experts only).
    """
    n = active_params(arch)
    attention = attention_flops_per_token(arch, seq_len_tokens)
    if method is Method.FULL:
        flops = 6 * n + 3 * attention
    else:
        flops = 4 * n + 6 * trainable_params + 3 * attention
    if gradient_checkpointing:
        flops += 2 * n + attention
    return float(flops)


def estimate_training_time(
    arch: ModelArch,
    gpu: GpuSku,
    gpus: int,
    method: Method,
    *,
    tokens: int,
    seq_len_tokens: int,
    trainable_params: int,
    gradient_checkpointing: bool,
    startup_hours: float = 0.0,
    precision: Precision = Precision.BF16_MIXED,
    micro_batch: int = 1,
    nodes: int = 1,
    packing: bool = True,
    example_tokens: int | None = None,
) -> TrainingTime:
    """Hours = tokens × FLOPs/token / (GPUs × peak dense TFLOPs × MFU) + start-up hours; the
    MFU is the fitted one for the micro-step (micro_batch × seq_len tokens), width and scale
    (``gpus`` over ``nodes`` nodes)."""
    padding = 1.0 if packing else padding_factor(example_tokens, micro_batch, seq_len_tokens)
    # packed: full seq_len blocks; unpacked: micro-batch × the longest example's length
    step_tokens = micro_batch * seq_len_tokens
    if not packing and example_tokens is not None:
        step_tokens = max(1, round(micro_batch * example_tokens * padding))
    per_token = training_flops_per_token(
        arch,
        method,
        seq_len_tokens=seq_len_tokens,
        trainable_params=trainable_params,
        gradient_checkpointing=gradient_checkpointing,
    )
    return TrainingTime(
        tokens=tokens,
        flops_per_token=per_token,
        gpus=gpus,
        gpu=gpu,
        mfu=training_mfu(
            method,
            gpu,
            tokens_per_micro_step=step_tokens,
            hidden_size=arch.hidden_size,
            gpus_per_node=max(1, gpus // nodes),
            nodes=nodes,
        ),
        startup_hours=startup_hours,
        active_params=active_params(arch),
        trainable_params=trainable_params,
        method=method,
        gradient_checkpointing=gradient_checkpointing,
        attention_flops=attention_flops_per_token(arch, seq_len_tokens),
        precision=precision,
        padding=padding,
    )
