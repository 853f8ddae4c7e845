"""What a training run is, as the memory and time estimators see it: the recipe's knobs.

Shared by ``planner.estimators.training_memory`` and ``training_memory_parts`` (and the
planner's training choices), so neither imports the other to know the setup.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from planner.types import AttentionImpl, Method, Optimizer

__all__ = ["LM_HEAD", "LORA_TARGETS", "Measure", "TrainingSetup"]

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LM_HEAD = "lm_head"  # LoRA on the output head: one matrix, not one per layer


class Measure(StrEnum):
    """Which peak a number is: what the device holds, or one of PyTorch's allocator counters."""

    DEVICE = "device"  # nvidia-smi: CUDA context + all the caching allocator reserved
    RESERVED = "reserved"  # torch.cuda.max_memory_reserved(): allocator segments, no context
    ALLOCATED = "allocated"  # torch.cuda.max_memory_allocated(): live tensors only


class TrainingSetup(BaseModel):
    """What is trained, how, and on how many GPUs; defaults are tailor's own recipe."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method = Field(description="full, lora or qlora.")
    seq_len_tokens: int = Field(gt=0, description="Tokens per training sequence.")
    micro_batch: int = Field(default=1, gt=0, description="Sequences per GPU per step.")
    lora_rank: int = Field(default=16, gt=0, description="LoRA rank r (lora / qlora).")
    lora_targets: tuple[str, ...] = Field(
        default=LORA_TARGETS, description="Adapted matrices (LORA_TARGETS names, or lm_head)."
    )
    lora_dropout: bool = Field(default=True, description="LoRA dropout > 0 (keeps input copies).")
    gradient_checkpointing: bool = Field(default=True, description="Recompute layer activations.")
    optimizer: Optimizer = Field(default=Optimizer.ADAMW, description="Optimizer state format.")
    attention: AttentionImpl = Field(default=AttentionImpl.FLASH, description="Attention kernel.")
    gpus: int = Field(default=1, gt=0, description="GPUs the run is sharded over (FSDP).")
    master_weights: bool = Field(
        default=True,
        description="Trainable weights have an fp32 copy (full: fp32 master weights; LoRA: fp32 "
        "adapters). False: pure bf16 training (torchtune dtype=bf16, litgpt bf16-true) — "
        "trainable weights, grads and torch optimizer state all in bf16.",
    )
    optimizer_in_backward: bool = Field(
        default=False,
        description="Each gradient is applied and freed in the backward pass (torchtune "
        "optimizer_in_bwd): no persistent gradient buffer.",
    )
    paged_optimizer: bool = Field(
        default=False,
        description="Optimizer state in CUDA unified memory (bitsandbytes paged optimizers; "
        "implied by paged_adamw_8bit): outside PyTorch's allocator, evictable to host.",
    )
    cpu_offload: bool = Field(
        default=False,
        description="FSDP CPU offload: sharded weights, grads and optimizer state live on CPU.",
    )
    loss_fp32: bool = Field(
        default=True, description="Logits upcast to fp32 for the loss (False: bf16 loss)."
    )
    loss_chunks: int = Field(
        default=1, gt=0, description="The fp32 upcast is made one chunk of tokens at a time."
    )
    fused_loss: bool = Field(
        default=False,
        description="Loss kernel recomputes the softmax in backward (torch.compile'd or fused "
        "cross-entropy): no log-probabilities are saved.",
    )
    nf4_double_quant: bool = Field(
        default=True, description="QLoRA block constants are themselves quantized (8-bit)."
    )
    measure: Measure = Field(default=Measure.DEVICE, description="Which peak is estimated.")
