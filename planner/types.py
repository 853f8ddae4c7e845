"""Closed sets the planner decides between, and the bytes each numeric format takes."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "HOURS_PER_MONTH",
    "SECONDS_PER_MONTH",
    "AttentionImpl",
    "Method",
    "Optimizer",
    "Quantization",
    "Sharding",
    "Strategy",
    "bytes_per_param",
]


HOURS_PER_MONTH = 730
"""One month, everywhere in tailor: 8,760 h / 12, the convention cloud price pages use."""
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
"""The same month in seconds (2,628,000 s), for traffic rates."""


class Strategy(StrEnum):
    """How the goal is met."""

    PROMPT_API = "prompt-api"
    PROMPT_SELF_HOSTED = "prompt-self-hosted"
    RAG_API = "rag-api"
    RAG_SELF_HOSTED = "rag-self-hosted"
    FINE_TUNE = "fine-tune"
    FINE_TUNE_RAG = "fine-tune+rag"
    API_FINE_TUNE = "api-fine-tune"
    API_FINE_TUNE_RAG = "api-fine-tune+rag"

    @property
    def uses_rag(self) -> bool:
        """Retrieval adds context to every prompt."""
        return self.value.endswith("+rag") or self.value.startswith("rag-")

    @property
    def hosted_api(self) -> bool:
        """A third-party hosted model answers."""
        return self in {
            Strategy.PROMPT_API,
            Strategy.RAG_API,
            Strategy.API_FINE_TUNE,
            Strategy.API_FINE_TUNE_RAG,
        }

    @property
    def trains_own_model(self) -> bool:
        """tailor fine-tunes an open model on rented GPUs."""
        return self in {Strategy.FINE_TUNE, Strategy.FINE_TUNE_RAG}


class Method(StrEnum):
    """How the weights are trained."""

    FULL = "full"
    LORA = "lora"
    QLORA = "qlora"


class Optimizer(StrEnum):
    """Optimizer and the form of its state."""

    ADAMW = "adamw"  # two fp32 moments: 8 bytes per trainable parameter
    ADAMW_8BIT = "adamw_8bit"  # bitsandbytes block-wise 8-bit moments: 2 bytes (+ block scales)
    PAGED_ADAMW_8BIT = "paged_adamw_8bit"  # same, in paged (evictable) memory


class Precision(StrEnum):
    """The arithmetic a training run computes in (the recipe's ``precision``)."""

    BF16_MIXED = "bf16-mixed"  # bf16 autocast, fp32 master weights (full) / fp32 adapters
    BF16_PURE = "bf16-pure"  # weights, grads and optimizer state in bf16, no fp32 copy
    FP16_MIXED = "fp16-mixed"  # fp16 autocast with loss scaling, fp32 master weights / adapters


class Quantization(StrEnum):
    """Weight format of a served model."""

    BF16 = "bf16"
    FP8 = "fp8"
    INT8 = "int8"
    INT4 = "int4"


class AttentionImpl(StrEnum):
    """Attention kernel; decides whether the s×s score matrix is materialised."""

    SDPA = "sdpa"  # torch scaled_dot_product_attention: flash / memory-efficient kernels
    FLASH = "flash"  # FlashAttention-2 (the flash-attn package): no score matrix kept
    EAGER = "eager"  # softmax(QKᵀ) kept for backward: heads·seq² per layer


class Sharding(StrEnum):
    """How a multi-GPU run spreads the training state (one GPU: nothing to spread)."""

    DDP = "ddp"  # every GPU holds all weights, grads and optimizer state; grads all-reduced
    FSDP = "fsdp"  # weights, grads and optimizer state sharded over all GPUs (FSDP2)
    FSDP_HYBRID = "fsdp-hybrid"  # sharded within a node, replicated across nodes (HSDP)
    ZERO3 = "zero3"  # DeepSpeed ZeRO stage 3: sharded over all GPUs, like fsdp


# Bytes per weight of a linear layer, including the per-group scales each format stores.
# int4: AWQ/GPTQ 4-bit, group size 128 with a 16-bit scale and 16-bit zero per group
#       = 0.5 + 4/128 = 0.53125 bytes.
# nf4 (QLoRA training): 0.5 + fp32 absmax per 64 weights, double-quantized to 8 bits with one
#       fp32 second-level constant per 256 blocks = 0.5 + 1/64 + 4/(64·256) ≈ 0.51587 bytes
#       (Dettmers et al. 2023, QLoRA, §3 "Double Quantization": 0.127 bits → ~0.016 bytes).
_BYTES = {
    "fp32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5 + 4 / 128,
    "nf4": 0.5 + 1 / 64 + 4 / (64 * 256),
}


def bytes_per_param(fmt: str | Quantization) -> float:
    """Bytes one weight occupies in ``fmt`` (bf16, fp8, int8, int4, nf4, fp32), scales included."""
    return _BYTES[str(fmt)]
