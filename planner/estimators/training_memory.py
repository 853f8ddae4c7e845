"""Peak GPU memory of a fine-tuning run, one small formula per component.

Model of the recipe tailor runs (executor/recipes/train.py: transformers + peft + trl, bf16
mixed precision, FSDP full-shard when more than one GPU):

- full: bf16 weights (2 B) + bf16 grads (2 B) + fp32 master weights (4 B) + optimizer state;
- LoRA: frozen bf16 base (2 B) + fp32 adapters (PEFT's default autocast_adapter_dtype) with fp32
  grads and optimizer state — 16 B per adapter parameter with AdamW;
- QLoRA: linear layers in NF4 with double quantization (≈0.516 B), embeddings / lm_head / norms in
  bf16, adapters as LoRA.

Activations follow Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large
Transformer Models", §4) — the tensors autograd keeps per token per layer — adapted to SwiGLU
MLPs, GQA and FlashAttention (no score matrix). With gradient checkpointing only each layer's
input is kept, plus one layer's activations while it is recomputed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from catalog import ModelArch
from catalog.params import embedding_params, expert_params, total_params
from planner.estimators.terms import GIB, Term
from planner.types import AttentionImpl, Method, Optimizer, bytes_per_param

__all__ = [
    "TrainingMemory",
    "TrainingSetup",
    "activation_bytes_per_token_per_layer",
    "estimate_training_memory",
    "logits_bytes",
    "lora_adapter_params",
]

ACTIVATION_BYTES = 2.0  # bf16 activations
LOGIT_BYTES = 2.0 + 4.0 + 4.0  # bf16 logits + fp32 upcast for the loss + fp32 log-softmax saved
CUDA_CONTEXT_GIB = 0.5  # CUDA context + cuBLAS/cuDNN workspaces outside PyTorch's allocator
ALLOCATOR_OVERHEAD = 0.05  # caching-allocator fragmentation on the dynamic part (5 %)
OPTIMIZER_BYTES = {Optimizer.ADAMW: 8.0, Optimizer.ADAMW_8BIT: 2.0, Optimizer.PAGED_ADAMW_8BIT: 2.0}
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class TrainingSetup(BaseModel):
    """What is trained, how, and on how many GPUs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method = Field(description="full, lora or qlora.")
    seq_len_tokens: int = Field(gt=0, description="Tokens per training sequence.")
    micro_batch: int = Field(default=1, gt=0, description="Sequences per GPU per step.")
    lora_rank: int = Field(default=16, gt=0, description="LoRA rank r (lora / qlora).")
    lora_targets: tuple[str, ...] = Field(default=LORA_TARGETS, description="Adapted matrices.")
    lora_dropout: bool = Field(default=True, description="LoRA dropout > 0 (keeps input copies).")
    gradient_checkpointing: bool = Field(default=True, description="Recompute layer activations.")
    optimizer: Optimizer = Field(default=Optimizer.ADAMW, description="Optimizer state format.")
    attention: AttentionImpl = Field(default=AttentionImpl.FLASH, description="Attention kernel.")
    gpus: int = Field(default=1, gt=0, description="GPUs the run is sharded over (FSDP).")


class TrainingMemory(BaseModel):
    """Peak memory per GPU and what it is made of."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    peak_gib_per_gpu: float = Field(description="Sum of the breakdown, GiB.")
    breakdown: tuple[Term, ...] = Field(description="Each component with its formula (GiB).")
    trainable_params: int = Field(description="Parameters that receive gradients.")

    def breakdown_gib(self) -> dict[str, float]:
        """Component name → GiB, rounded to 0.01."""
        return {t.name: round(t.value, 2) for t in self.breakdown}


def _matrix_shapes(arch: ModelArch) -> dict[str, tuple[int, int, int]]:
    """Adaptable matrix → (d_in, d_out, copies per layer)."""
    h, q, kv = arch.hidden_size, arch.num_attention_heads * arch.head_dim, 0
    kv = arch.num_key_value_heads * arch.head_dim
    width = arch.moe_intermediate_size or arch.intermediate_size
    experts = arch.num_experts or 1
    return {
        "q_proj": (h, q, 1),
        "k_proj": (h, kv, 1),
        "v_proj": (h, kv, 1),
        "o_proj": (q, h, 1),
        "gate_proj": (h, width, experts),
        "up_proj": (h, width, experts),
        "down_proj": (width, h, experts),
    }


def lora_adapter_params(arch: ModelArch, rank: int, targets: tuple[str, ...]) -> int:
    """LoRA parameters: Σ over targeted matrices of r·(d_in + d_out), times layers."""
    shapes = _matrix_shapes(arch)
    per_layer = sum(rank * (shapes[t][0] + shapes[t][1]) * shapes[t][2] for t in targets)
    return per_layer * arch.num_layers


def _linear_params(arch: ModelArch) -> int:
    """Parameters inside the decoder layers' linear layers (what NF4 quantizes)."""
    return (
        total_params(arch)
        - embedding_params(arch)
        - arch.hidden_size * (1 + arch.norms_per_layer * arch.num_layers)
    )


def activation_bytes_per_token_per_layer(
    arch: ModelArch, *, seq_len: int, attention: AttentionImpl, lora_dropout_targets: int = 0
) -> float:
    """Bytes autograd keeps per token for one decoder layer (no checkpointing).

    Elements: 2 norm inputs + 2 norm outputs (4·h), q and the attention output (2·q_dim), k and v
    (2·kv_dim), MLP gate, up, act(gate), act·up (4·width·experts_per_token), times 2 bytes;
    eager attention adds the softmax output heads·seq (fp32 + bf16 copy = 6 bytes each).
    LoRA dropout keeps one input copy per adapted matrix (counted by the caller as extra h's).
    """
    h = arch.hidden_size
    q = arch.num_attention_heads * arch.head_dim
    kv = arch.num_key_value_heads * arch.head_dim
    width = (arch.moe_intermediate_size or arch.intermediate_size) * (
        arch.num_experts_per_token or 1
    )
    elements = 4 * h + 2 * q + 2 * kv + 4 * width + lora_dropout_targets * h
    scores = 0.0
    if attention is AttentionImpl.EAGER:
        scores = arch.num_attention_heads * seq_len * 6.0
    return elements * ACTIVATION_BYTES + scores


def logits_bytes(arch: ModelArch, tokens: int) -> float:
    """Logits of one micro-batch: tokens·vocab·(2 bf16 + 4 fp32 upcast + 4 fp32 log-softmax)."""
    return tokens * arch.vocab_size * LOGIT_BYTES


def _state_terms(arch: ModelArch, setup: TrainingSetup, trainable: int) -> list[Term]:
    n, g = total_params(arch), setup.gpus
    shard = f" / {g} GPUs (FSDP)" if g > 1 else ""
    opt = OPTIMIZER_BYTES[setup.optimizer]
    terms = []
    if setup.method is Method.QLORA:
        linear = _linear_params(arch)
        nf4 = bytes_per_param("nf4")
        weights = (linear * nf4 + (n - linear) * 2) / g
        formula = f"{linear:,} linear × {nf4:.4f} B (nf4) + {n - linear:,} other × 2 B{shard}"
    else:
        weights, formula = n * 2 / g, f"{n:,} params × 2 B (bf16){shard}"
    terms.append(Term(name="weights", value=weights / GIB, unit="GiB", formula=formula))
    if setup.method is Method.FULL:
        for name, b in (("gradients", 2.0), ("master_weights", 4.0), ("optimizer", opt)):
            terms.append(
                Term(
                    name=name,
                    value=n * b / g / GIB,
                    unit="GiB",
                    formula=f"{n:,} params × {b:g} B{shard}",
                )
            )
    else:
        adapter = trainable * (4 + 4 + opt) / g
        terms.append(
            Term(
                name="adapter+grads+optimizer",
                value=adapter / GIB,
                unit="GiB",
                formula=f"{trainable:,} adapter params × (4 fp32 + 4 grad + "
                f"{opt:g} {setup.optimizer}) B{shard}",
            )
        )
    return terms


def _activation_terms(arch: ModelArch, setup: TrainingSetup) -> list[Term]:
    tokens = setup.micro_batch * setup.seq_len_tokens
    dropout_copies = len(setup.lora_targets) if setup.method is not Method.FULL else 0
    per_layer = activation_bytes_per_token_per_layer(
        arch,
        seq_len=setup.seq_len_tokens,
        attention=setup.attention,
        lora_dropout_targets=dropout_copies if setup.lora_dropout else 0,
    )
    if setup.gradient_checkpointing:
        kept = tokens * arch.hidden_size * ACTIVATION_BYTES * arch.num_layers + tokens * per_layer
        formula = (
            f"{tokens:,} tokens × ({arch.num_layers} layers × {arch.hidden_size} × 2 B "
            f"checkpoints + {per_layer:,.0f} B one recomputed layer)"
        )
    else:
        kept = tokens * per_layer * arch.num_layers
        formula = f"{tokens:,} tokens × {per_layer:,.0f} B × {arch.num_layers} layers"
    logits = logits_bytes(arch, tokens)
    return [
        Term(name="activations", value=kept / GIB, unit="GiB", formula=formula),
        Term(
            name="logits",
            value=logits / GIB,
            unit="GiB",
            formula=f"{tokens:,} tokens × {arch.vocab_size:,} vocab × {LOGIT_BYTES:g} B",
        ),
    ]


def _fsdp_gather_term(arch: ModelArch, setup: TrainingSetup) -> list[Term]:
    if setup.gpus == 1:
        return []
    layer = (total_params(arch) - embedding_params(arch)) / arch.num_layers
    if arch.is_moe:  # experts are gathered with their layer
        layer = max(layer, expert_params(arch))
    gathered = 2 * layer * 2  # current + prefetched layer, bf16
    return [
        Term(
            name="fsdp_gathered_layers",
            value=gathered / GIB,
            unit="GiB",
            formula=f"2 layers × {layer:,.0f} params × 2 B (all-gathered + prefetched)",
        )
    ]


def estimate_training_memory(arch: ModelArch, setup: TrainingSetup) -> TrainingMemory:
    """Peak memory per GPU: states + activations + logits + gathered layers + overheads."""
    trainable = (
        total_params(arch)
        if setup.method is Method.FULL
        else lora_adapter_params(arch, setup.lora_rank, setup.lora_targets)
    )
    terms = _state_terms(arch, setup, trainable) + _activation_terms(arch, setup)
    terms += _fsdp_gather_term(arch, setup)
    dynamic = sum(t.value for t in terms)
    terms.append(
        Term(
            name="allocator_overhead",
            value=dynamic * ALLOCATOR_OVERHEAD,
            unit="GiB",
            formula=f"{ALLOCATOR_OVERHEAD:.0%} of {dynamic:.2f} GiB (fragmentation)",
        )
    )
    terms.append(
        Term(
            name="cuda_context",
            value=CUDA_CONTEXT_GIB,
            unit="GiB",
            formula="CUDA context and library workspaces (constant)",
        )
    )
    peak = sum(t.value for t in terms)
    return TrainingMemory(peak_gib_per_gpu=peak, breakdown=tuple(terms), trainable_params=trainable)
