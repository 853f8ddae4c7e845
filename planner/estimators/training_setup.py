"""What a training run is, as the memory and time estimators see it: the recipe's knobs.

Shared by ``planner.estimators.training_memory`` and ``training_memory_parts`` (and the
planner's training choices), so neither imports the other to know the setup.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from planner.types import AttentionImpl, Method, Optimizer, Precision, Sharding

__all__ = [
    "ATTENTION_TARGETS",
    "LM_HEAD",
    "LORA_TARGETS",
    "LORA_TARGET_SETS",
    "MEMORY_LIMIT",
    "Measure",
    "TrainingSetup",
    "lora_target_names",
]

MEMORY_LIMIT = 0.90
"""Assumption: a training setup fits only if its estimated peak is at most 90 % of the GPU's
memory as the driver reports it. The estimate is of the steady peak; PyTorch's caching
allocator also leaves freed blocks it cannot reuse for a larger request (fragmentation: its
docs, "CUDA memory management", name expandable_segments as the remedy), sequence lengths and
NCCL buffers vary step to step, and a run at 97–98 % of the device (what the estimate alone
accepted) fails with an out-of-memory error at the first long batch. 10 % is a margin chosen,
not measured."""

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LM_HEAD = "lm_head"  # LoRA on the output head: one matrix, not one per layer
ATTENTION_TARGETS = LORA_TARGETS[:4]  # q, k, v, o projections
LORA_TARGET_SETS = {"all-linear": LORA_TARGETS, "attention": ATTENTION_TARGETS}


def lora_target_names(spec: str) -> tuple[str, ...]:
    """``all-linear``, ``attention`` or a comma list of LORA_TARGETS / lm_head names; a
    ValueError names what is wrong (``TrainingSetup`` reports it as the field's error)."""
    if spec in LORA_TARGET_SETS:
        return LORA_TARGET_SETS[spec]
    names = tuple(n.strip() for n in spec.split(",") if n.strip())
    unknown = [n for n in names if n not in (*LORA_TARGETS, LM_HEAD)]
    if not names or unknown:
        raise ValueError(
            f"lora targets {spec!r}: {', '.join(unknown) or 'nothing named'} is not a "
            f"module tailor estimates. To fix: use all-linear, attention, or a comma list of "
            f"{', '.join((*LORA_TARGETS, LM_HEAD))}."
        )
    return names


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
    gpus: int = Field(default=1, gt=0, description="GPUs the run uses (all nodes).")
    nodes: int = Field(default=1, gt=0, description="Machines the GPUs are spread over.")
    sharding: Sharding = Field(
        default=Sharding.FSDP,
        description="ddp (replicated), fsdp (sharded over all GPUs), fsdp-hybrid (sharded "
        "within a node) or zero3 (like fsdp); one GPU shards nothing.",
    )
    packing: bool = Field(
        default=True,
        description="Examples packed into full seq_len blocks (trl bfd, padding-free); False: "
        "each micro-batch is padded to its longest example.",
    )
    example_tokens: int | None = Field(
        default=None,
        gt=0,
        description="Mean tokens of one example (unpacked runs pad to the longest of a "
        "micro-batch); None: examples fill seq_len.",
    )
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
    flat_param_frozen_grads: bool = Field(
        default=False,
        description="FSDP1 with use_orig_params=True and the frozen base weights in the same "
        "FlatParameter as the trainable adapters (Lightning Fabric's FSDPStrategy, litgpt): "
        "the gradient is kept for the whole flat parameter, frozen parts zero-filled. False: "
        "per-parameter sharding (FSDP2, tailor's recipe) or adapters wrapped apart.",
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
    precision: Precision | None = Field(
        default=None,
        description="bf16-mixed, bf16-pure or fp16-mixed; None: the GPU's (bf16-mixed where "
        "it has bf16, else fp16-mixed). bf16-pure goes with master_weights False, the mixed "
        "ones with True.",
    )

    @property
    def shards(self) -> int:
        """GPUs each weight, gradient and optimizer state is split over (ddp: 1)."""
        if self.gpus == 1 or self.sharding is Sharding.DDP:
            return 1
        if self.sharding is Sharding.FSDP_HYBRID:
            return self.gpus // self.nodes
        return self.gpus

    @model_validator(mode="after")
    def _nodes_divide_gpus(self) -> TrainingSetup:
        if self.gpus % self.nodes:
            raise ValueError(
                f"gpus {self.gpus} cannot be spread evenly over nodes {self.nodes}. To fix: "
                "give gpus as nodes × GPUs per node."
            )
        return self

    @model_validator(mode="after")
    def _precision_matches_master_weights(self) -> TrainingSetup:
        if self.precision is None:
            return self
        pure = self.precision is Precision.BF16_PURE
        if pure == self.master_weights:
            raise ValueError(
                f"precision {self.precision} keeps {'no' if pure else 'an'} fp32 copy of the "
                f"trainable weights, but master_weights is {self.master_weights}. To fix: set "
                f"master_weights to {not pure}, or leave precision unset."
            )
        return self
