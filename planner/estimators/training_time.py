"""Training compute, time and throughput: FLOPs from the data, hours from peak × MFU.

There is no default runtime: time always comes from tokens = examples × tokens/example × epochs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from catalog import GpuSku, ModelArch, active_params
from planner.estimators.efficiency import training_mfu
from planner.estimators.terms import Term
from planner.types import Method

__all__ = [
    "TrainingTime",
    "attention_flops_per_token",
    "estimate_training_time",
    "training_flops_per_token",
    "training_tokens",
]


class TrainingTime(BaseModel):
    """Throughput and wall-clock of a training run, low–high from the MFU range."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: int = Field(description="Training tokens processed (all epochs).")
    flops_per_token: float = Field(description="FLOPs per training token.")
    tokens_per_s: float = Field(description="Cluster tokens/s at the mid MFU.")
    hours_low: float = Field(description="Wall-clock hours at the high MFU.")
    hours_high: float = Field(description="Wall-clock hours at the low MFU.")
    terms: tuple[Term, ...] = Field(description="Each number with its formula.")

    @property
    def hours(self) -> float:
        """Mid estimate of wall-clock hours."""
        return (self.hours_low + self.hours_high) / 2


def training_tokens(examples: int, tokens_per_example: int, epochs: float) -> int:
    """Tokens processed: examples × tokens per example × epochs."""
    return round(examples * tokens_per_example * epochs)


def attention_flops_per_token(arch: ModelArch, seq_len: int) -> float:
    """Forward attention-score FLOPs per token: 2 matmuls × 2 FLOPs × layers × q_dim × seq/2.

    Causal attention sees seq/2 keys on average.
    """
    q_dim = arch.num_attention_heads * arch.head_dim
    return 4 * arch.num_layers * q_dim * seq_len / 2


def training_flops_per_token(
    arch: ModelArch,
    method: Method,
    *,
    seq_len: int,
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
    attention = attention_flops_per_token(arch, seq_len)
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
    seq_len: int,
    trainable_params: int,
    gradient_checkpointing: bool,
) -> TrainingTime:
    """Hours = tokens × FLOPs/token / (GPUs × peak dense TFLOPs × MFU)."""
    per_token = training_flops_per_token(
        arch,
        method,
        seq_len=seq_len,
        trainable_params=trainable_params,
        gradient_checkpointing=gradient_checkpointing,
    )
    mfu = training_mfu(method)
    peak = gpu.matmul_dense_tflops * 1e12 * gpus
    tokens_per_s = peak * mfu.mid / per_token
    hours = [tokens * per_token / (peak * u) / 3600 for u in (mfu.high, mfu.low)]
    terms = (
        Term(
            name="flops_per_token",
            value=per_token,
            unit="FLOP",
            formula=f"{'6N' if method is Method.FULL else '4N + 6P'}"
            f"{' + 2N recompute' if gradient_checkpointing else ''} + attention, "
            f"N = {active_params(arch):,}, P = {trainable_params:,}",
        ),
        Term(
            name="tokens_per_s",
            value=tokens_per_s,
            unit="tokens/s",
            formula=f"{gpus} × {gpu.matmul_dense_tflops:g} TFLOPs ({gpu.name} dense) × MFU "
            f"{mfu.mid:.2f} / {per_token:.3g} FLOP. MFU: {mfu.source}",
        ),
        Term(
            name="hours",
            value=(hours[0] + hours[1]) / 2,
            unit="h",
            formula=f"{tokens:,} tokens × {per_token:.3g} FLOP / ({gpus} × "
            f"{gpu.matmul_dense_tflops:g} TFLOPs × MFU {mfu.low:.2f}–{mfu.high:.2f}) = "
            f"{hours[0]:.2f}–{hours[1]:.2f} h",
        ),
    )
    return TrainingTime(
        tokens=tokens,
        flops_per_token=per_token,
        tokens_per_s=tokens_per_s,
        hours_low=hours[0],
        hours_high=hours[1],
        terms=terms,
    )
