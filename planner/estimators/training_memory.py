"""Peak GPU memory of a fine-tuning run, one small formula per component.

Model of the recipe tailor runs (executor/recipes/train.py: transformers + peft + trl, bf16
mixed precision, FSDP full-shard when more than one GPU) — the defaults of ``TrainingSetup``:

- full: bf16 weights (2 B) + bf16 grads (2 B) + fp32 master weights (4 B) + optimizer state;
- LoRA: frozen bf16 base (2 B) + fp32 adapters (PEFT's default autocast_adapter_dtype) with fp32
  grads and optimizer state — 16 B per adapter parameter with AdamW;
- QLoRA: linear layers in NF4 with double quantization (≈0.516 B), embeddings / lm_head / norms in
  bf16, adapters as LoRA; the 4-bit matrix being multiplied is dequantized to bf16;
- logits in bf16, upcast to fp32 for the loss, whose fp32 log-softmax autograd keeps;
- measured as the device sees it (nvidia-smi): CUDA context + the caching allocator's reserve.

Other recipes are described by the setup's fields (pure bf16 without master weights, optimizer
in backward, paged or CPU-offloaded optimizer state, chunked / fused / bf16 loss, and what is
measured: ``torch.cuda.max_memory_reserved`` or ``max_memory_allocated``); the per-component
formulas for them live in ``planner.estimators.training_memory_parts``.

Activations follow Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large
Transformer Models", §4) — the tensors autograd keeps per token per layer — adapted to SwiGLU
MLPs, GQA and FlashAttention (no score matrix). With gradient checkpointing only each layer's
input is kept, plus one layer's activations while it is recomputed; the logits are freed by the
loss's backward before that first recomputation, so only the larger of the two adds to the peak.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from catalog import ModelArch
from catalog.params import total_params
from planner.estimators.terms import GIB, Term, num
from planner.estimators.training_memory_parts import matrix_shapes, sharding_terms, state_terms
from planner.estimators.training_setup import LM_HEAD, LORA_TARGETS, Measure, TrainingSetup
from planner.types import AttentionImpl, Method

__all__ = [
    "LORA_TARGETS",
    "Measure",
    "TrainingMemory",
    "TrainingSetup",
    "activation_bytes_per_token_per_layer",
    "estimate_training_memory",
    "logits_bytes",
    "logits_bytes_per_element",
    "lora_adapter_params",
    "trainable_params",
]

ACTIVATION_BYTES = 2.0  # bf16 activations
LOGITS_BYTES = 2.0  # the lm_head's bf16 output, kept until the loss's backward
LOG_PROBS_BYTES = {True: 4.0, False: 2.0}  # log-softmax autograd saves: fp32 / bf16 loss
UPCAST_BYTES = 4.0  # fp32 copy of the logits made by `.float()` before the loss
# Legacy name: the default recipe's bytes per logit (bf16 + fp32 upcast + fp32 log-softmax).
LOGIT_BYTES = LOGITS_BYTES + UPCAST_BYTES + LOG_PROBS_BYTES[True]
# Assumed, not measured: CUDA context + cuBLAS/cuDNN workspaces outside PyTorch's allocator.
# With CUDA lazy module loading (PyTorch's default on CUDA ≥ 11.7) it is a few hundred MiB on
# current GPUs; 0.5 GiB is a round upper figure.
CUDA_CONTEXT_GIB = 0.5
# Assumed, not measured: caching-allocator fragmentation (reserved − allocated), 5 % of the
# estimate. PyTorch documents the gap ("CUDA semantics: memory management") but gives no figure.
ALLOCATOR_OVERHEAD = 0.05


class TrainingMemory(BaseModel):
    """Peak memory per GPU and what it is made of."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    peak_gib_per_gpu: float = Field(description="Sum of the breakdown, GiB.")
    breakdown: tuple[Term, ...] = Field(description="Each component with its formula (GiB).")
    trainable_params: int = Field(description="Parameters that receive gradients.")

    def breakdown_gib(self) -> dict[str, float]:
        """Component name → GiB, rounded to 0.01."""
        return {t.name: round(t.value, 2) for t in self.breakdown}


def lora_adapter_params(arch: ModelArch, rank: int, targets: tuple[str, ...]) -> int:
    """LoRA parameters: Σ over targeted matrices of r·(d_in + d_out), times layers.

    ``lm_head`` (LoRA on the output head, torchtune apply_lora_to_output) adds r·(hidden + vocab)
    once.
    """
    shapes = matrix_shapes(arch)
    layer_targets = [t for t in targets if t != LM_HEAD]
    per_layer = sum(rank * (shapes[t][0] + shapes[t][1]) * shapes[t][2] for t in layer_targets)
    head = rank * (arch.hidden_size + arch.vocab_size) if LM_HEAD in targets else 0
    return per_layer * arch.num_layers + head


def activation_bytes_per_token_per_layer(
    arch: ModelArch, *, seq_len_tokens: int, attention: AttentionImpl, lora_dropout_targets: int = 0
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
        scores = arch.num_attention_heads * seq_len_tokens * 6.0
    return elements * ACTIVATION_BYTES + scores


def logits_bytes_per_element(*, loss_fp32: bool, loss_chunks: int, fused_loss: bool) -> float:
    """Bytes per (token, vocab) entry at the loss: bf16 logits + saved log-probs + fp32 upcast.

    The lm_head output (2 B) is kept for the loss's backward; log-softmax saves its output (4 B
    fp32, or 2 B with a bf16 loss), unless a fused loss recomputes it; ``.float()`` makes an fp32
    copy (4 B) that lives until the log-softmax is taken — one chunk at a time when chunked.
    Default recipe: 2 + 4 + 4 = 10 B.
    """
    if fused_loss:
        return LOGITS_BYTES
    upcast = UPCAST_BYTES / loss_chunks if loss_fp32 else 0.0
    return LOGITS_BYTES + LOG_PROBS_BYTES[loss_fp32] + upcast


def logits_bytes(
    arch: ModelArch,
    tokens: int,
    *,
    loss_fp32: bool = True,
    loss_chunks: int = 1,
    fused_loss: bool = False,
) -> float:
    """Logits of one micro-batch at the loss: tokens · vocab · bytes per element (10 B default)."""
    per = logits_bytes_per_element(
        loss_fp32=loss_fp32, loss_chunks=loss_chunks, fused_loss=fused_loss
    )
    return tokens * arch.vocab_size * per


def trainable_params(arch: ModelArch, setup: TrainingSetup) -> int:
    """Parameters that receive gradients: all of them (full) or the LoRA adapters."""
    if setup.method is Method.FULL:
        return total_params(arch)
    return lora_adapter_params(arch, setup.lora_rank, setup.lora_targets)


def _gib_term(name: str, value_bytes: float, formula: str, basis: str) -> Term:
    expression = "0" if value_bytes == 0 else f"{formula} / GiB"
    return Term(name=name, value=value_bytes / GIB, unit="GiB", formula=expression, basis=basis)


def _activation_terms(arch: ModelArch, setup: TrainingSetup) -> list[Term]:
    tokens = setup.micro_batch * setup.seq_len_tokens
    adapted = [t for t in setup.lora_targets if t != LM_HEAD]
    dropout = len(adapted) if setup.method is not Method.FULL and setup.lora_dropout else 0
    per_layer = activation_bytes_per_token_per_layer(
        arch,
        seq_len_tokens=setup.seq_len_tokens,
        attention=setup.attention,
        lora_dropout_targets=dropout,
    )
    logits = logits_bytes(
        arch,
        tokens,
        loss_fp32=setup.loss_fp32,
        loss_chunks=setup.loss_chunks,
        fused_loss=setup.fused_loss,
    )
    per_logit = logits / (tokens * arch.vocab_size)
    logits_formula = f"{tokens:,} × {arch.vocab_size:,} × {num(per_logit)}"
    logits_basis = (
        f"micro-batch tokens × vocab × {num(per_logit)} B per logit (bf16 output, fp32 "
        "upcast and log-softmax as the loss keeps them)"
    )
    if not setup.gradient_checkpointing:
        kept = tokens * per_layer * arch.num_layers
        return [
            _gib_term(
                "activations",
                kept,
                f"{tokens:,} × {num(per_layer, 9)} × {arch.num_layers}",
                "micro-batch tokens × bytes kept per token per layer (Korthikanti et al. "
                "2022, §4) × layers",
            ),
            _gib_term("logits", logits, logits_formula, logits_basis),
        ]
    checkpoints = tokens * arch.hidden_size * ACTIVATION_BYTES * arch.num_layers
    recomputed = tokens * per_layer
    excess = max(0.0, logits - recomputed)
    return [
        _gib_term(
            "activations",
            checkpoints + recomputed,
            f"{tokens:,} × ({arch.num_layers} × {arch.hidden_size} × 2 + {num(per_layer, 9)})",
            "micro-batch tokens × (each layer's bf16 input kept as a checkpoint + one layer's "
            "activations while it is recomputed)",
        ),
        _gib_term(
            "logits",
            excess,
            f"max(0, {logits_formula} − {tokens:,} × {num(per_layer, 9)})",
            f"{logits_basis}, less the recomputed layer: the loss's backward frees the logits "
            "before the first layer is recomputed",
        ),
    ]


def _overhead_terms(setup: TrainingSetup, dynamic_gib: float) -> list[Term]:
    counts_reserve = setup.measure is not Measure.ALLOCATED
    overhead = dynamic_gib * ALLOCATOR_OVERHEAD if counts_reserve else 0.0
    context = CUDA_CONTEXT_GIB if setup.measure is Measure.DEVICE else 0.0
    reserve_basis = (
        f"{ALLOCATOR_OVERHEAD:.0%} of the terms above: the caching allocator's fragmentation "
        "(assumption)"
        if counts_reserve
        else "0: max_memory_allocated counts live tensors only"
    )
    context_basis = (
        "CUDA context and library workspaces, outside PyTorch's allocator (assumption)"
        if setup.measure is Measure.DEVICE
        else f"0: outside PyTorch's allocator, not in torch.cuda {setup.measure} counters"
    )
    return [
        Term(
            name="allocator_overhead",
            value=overhead,
            unit="GiB",
            formula=f"{num(ALLOCATOR_OVERHEAD)} × {num(dynamic_gib)}" if overhead else "0",
            basis=reserve_basis,
        ),
        Term(
            name="cuda_context",
            value=context,
            unit="GiB",
            formula=num(context),
            basis=context_basis,
        ),
    ]


def estimate_training_memory(arch: ModelArch, setup: TrainingSetup) -> TrainingMemory:
    """Peak memory per GPU: states + activations + logits + gathered layers + overheads."""
    trainable = trainable_params(arch, setup)
    terms = state_terms(arch, setup, trainable) + _activation_terms(arch, setup)
    terms += sharding_terms(arch, setup, trainable)
    terms += _overhead_terms(setup, sum(t.value for t in terms))
    peak = sum(t.value for t in terms)
    return TrainingMemory(peak_gib_per_gpu=peak, breakdown=tuple(terms), trainable_params=trainable)
