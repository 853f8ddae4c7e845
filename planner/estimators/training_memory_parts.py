"""Training memory: the model states and the sharding terms, one small formula per function.

Used by ``planner.estimators.training_memory`` (read its docstring first). States are the
weights, gradients, fp32 master copy and optimizer state; where they live depends on the recipe:

- pure bf16 (no master weights): trainable weights, grads and torch optimizer state in bf16;
- optimizer in backward: each gradient is applied and freed as soon as it is produced, so only
  the largest one is ever held (torchtune ``optimizer_in_bwd``);
- paged optimizer state (bitsandbytes): allocated with ``cudaMallocManaged`` outside PyTorch's
  caching allocator, so ``torch.cuda.max_memory_reserved/allocated`` never count it;
- FSDP CPU offload: sharded weights, grads and optimizer state stay on the host; the GPU holds
  the layers FSDP all-gathers for compute.
"""

from __future__ import annotations

from catalog import ModelArch
from catalog.params import embedding_params, expert_params, total_params
from planner.estimators.terms import GIB, Term, num
from planner.estimators.training_setup import Measure, TrainingSetup
from planner.types import Method, Optimizer, bytes_per_param

__all__ = [
    "largest_matrix_params",
    "matrix_shapes",
    "nf4_bytes_per_param",
    "optimizer_bytes_per_param",
    "sharding_terms",
    "state_terms",
]

BF16_BYTES = 2.0
FP32_BYTES = 4.0
# bitsandbytes 8-bit optimizers: two uint8 moments per parameter (Dettmers et al. 2022, "8-bit
# Optimizers via Block-wise Quantization"); block scales (one fp32 per 2048) are neglected.
EIGHT_BIT_STATE_BYTES = 2.0
# QLoRA §3 (Dettmers et al. 2023): 4-bit codes plus one fp32 absmax per 64-weight block
# = 0.5 + 4/64 B ("32/64 = 0.5 bits per parameter" of constants) without double quantization.
NF4_BLOCK_WEIGHTS = 64


def matrix_shapes(arch: ModelArch) -> dict[str, tuple[int, int, int]]:
    """Adaptable matrix of one layer → (d_in, d_out, copies per layer)."""
    h = arch.hidden_size
    q = arch.num_attention_heads * arch.head_dim
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


def largest_matrix_params(arch: ModelArch, *, with_embeddings: bool) -> int:
    """Parameters of the largest single weight matrix (a layer's, or the vocab × hidden one)."""
    largest = max(d_in * d_out for d_in, d_out, _ in matrix_shapes(arch).values())
    if with_embeddings:
        largest = max(largest, arch.vocab_size * arch.hidden_size)
    return largest


def linear_params(arch: ModelArch) -> int:
    """Parameters inside the decoder layers' linear layers (what NF4 quantizes)."""
    return (
        total_params(arch)
        - embedding_params(arch)
        - arch.hidden_size * (1 + arch.norms_per_layer * arch.num_layers)
    )


def nf4_bytes_per_param(*, double_quant: bool) -> float:
    """Bytes per NF4 weight: 0.5 + constants (double-quantized ≈ 0.516, plain 0.5625)."""
    if double_quant:
        return bytes_per_param("nf4")
    return 0.5 + FP32_BYTES / NF4_BLOCK_WEIGHTS


def optimizer_bytes_per_param(optimizer: Optimizer, *, param_bytes: float, paged: bool) -> float:
    """AdamW state per trainable parameter: two moments.

    torch.optim.AdamW allocates them like the parameter (``zeros_like``): 2 × param bytes, i.e.
    8 B next to fp32 weights, 4 B in pure bf16. bitsandbytes optimizers keep 32-bit moments
    (paged AdamW: 8 B) or 8-bit ones (2 B) whatever the parameter's dtype.
    """
    if optimizer in (Optimizer.ADAMW_8BIT, Optimizer.PAGED_ADAMW_8BIT):
        return EIGHT_BIT_STATE_BYTES
    if paged:
        return 2 * FP32_BYTES
    return 2 * param_bytes


def _is_paged(setup: TrainingSetup) -> bool:
    return setup.paged_optimizer or setup.optimizer is Optimizer.PAGED_ADAMW_8BIT


def _gib(name: str, value_bytes: float, formula: str, basis: str) -> Term:
    """A GiB term; ``formula`` is the arithmetic in bytes (0 when nothing is held)."""
    expression = "0" if value_bytes == 0 else f"{formula} / GiB"
    return Term(name=name, value=value_bytes / GIB, unit="GiB", formula=expression, basis=basis)


def _per_gpu(setup: TrainingSetup) -> tuple[str, str]:
    """The formula's divisor and the basis's words for the setup's sharding."""
    g = setup.shards
    return (f" / {g}", f"; sharded over {g} GPUs ({setup.sharding})") if g > 1 else ("", "")


def _weights_term(arch: ModelArch, setup: TrainingSetup) -> Term:
    n, g = total_params(arch), setup.shards
    shard, sharded = _per_gpu(setup)
    if setup.method is Method.QLORA:
        linear, nf4 = linear_params(arch), nf4_bytes_per_param(double_quant=setup.nf4_double_quant)
        value = (linear * nf4 + (n - linear) * BF16_BYTES) / g
        formula = f"({linear:,} × {num(nf4)} + {n - linear:,} × 2){shard}"
        basis = f"linear weights in nf4 ({num(nf4)} B each, scales included), the rest bf16"
    else:
        value, formula = n * BF16_BYTES / g, f"{n:,} × 2{shard}"
        basis = f"{n:,} parameters × 2 B (bf16)"
    if setup.cpu_offload:
        return _gib("weights", 0.0, "", f"0 on GPU: {basis} kept on CPU (FSDP CPU offload)")
    return _gib("weights", value, formula, basis + sharded)


def _gradients_term(arch: ModelArch, setup: TrainingSetup) -> Term:
    n, g = total_params(arch), setup.shards
    if setup.cpu_offload:
        return _gib("gradients", 0.0, "", "0 on GPU: sharded gradients offloaded to CPU")
    shard, sharded = _per_gpu(setup)
    if setup.optimizer_in_backward:
        largest = largest_matrix_params(arch, with_embeddings=True)
        return _gib(
            "gradients",
            largest * BF16_BYTES / g,
            f"{largest:,} × 2{shard}",
            "largest tensor × 2 B (bf16): the optimizer in backward frees each gradient",
        )
    return _gib("gradients", n * BF16_BYTES / g, f"{n:,} × 2{shard}", "params × 2 B" + sharded)


def _optimizer_bytes(
    setup: TrainingSetup, count: int, param_bytes: float
) -> tuple[float, str, str]:
    """Optimizer state bytes on the GPU (as counted by ``setup.measure``), formula, basis."""
    per = optimizer_bytes_per_param(
        setup.optimizer, param_bytes=param_bytes, paged=_is_paged(setup)
    )
    shard, sharded = _per_gpu(setup)
    basis = f"{setup.optimizer}: {num(per)} B of state per trainable parameter"
    if setup.cpu_offload:
        return 0.0, "", f"0 on GPU: {basis}, on CPU (FSDP CPU offload)"
    if _is_paged(setup) and setup.measure is not Measure.DEVICE:
        return 0.0, "", f"0: {basis}, paged (CUDA managed memory, not in torch.cuda counters)"
    return count * per / setup.shards, f"{count:,} × {num(per)}{shard}", basis + sharded


def _full_terms(arch: ModelArch, setup: TrainingSetup) -> list[Term]:
    n, g = total_params(arch), setup.shards
    shard, sharded = _per_gpu(setup)
    master = n * FP32_BYTES / g if setup.master_weights and not setup.cpu_offload else 0.0
    master_basis = (
        "params × 4 B (fp32 master copy)" + sharded
        if setup.master_weights
        else "0: pure bf16, no fp32 copy"
    )
    param_bytes = FP32_BYTES if setup.master_weights else BF16_BYTES
    optimizer, optimizer_formula, optimizer_basis = _optimizer_bytes(setup, n, param_bytes)
    return [
        _gradients_term(arch, setup),
        _gib("master_weights", master, f"{n:,} × 4{shard}", master_basis),
        _gib("optimizer", optimizer, optimizer_formula, optimizer_basis),
    ]


def _adapter_term(setup: TrainingSetup, trainable: int) -> Term:
    param_bytes = FP32_BYTES if setup.master_weights else BF16_BYTES
    optimizer, optimizer_formula, optimizer_basis = _optimizer_bytes(setup, trainable, param_bytes)
    weights_grads = 0.0 if setup.cpu_offload else trainable * 2 * param_bytes / setup.shards
    shard, _ = _per_gpu(setup)
    parts = [f"{trainable:,} × 2 × {num(param_bytes)}{shard}"] if weights_grads else []
    parts += [optimizer_formula] if optimizer else []
    where = " on CPU (FSDP CPU offload)" if setup.cpu_offload else ""
    return _gib(
        "adapter+grads+optimizer",
        weights_grads + optimizer,
        f"({' + '.join(parts)})" if parts else "",
        f"adapter params × ({num(param_bytes)} B weight + {num(param_bytes)} B grad){where}; "
        + optimizer_basis,
    )


def state_terms(arch: ModelArch, setup: TrainingSetup, trainable: int) -> list[Term]:
    """Weights, gradients, master copy and optimizer state held on one GPU."""
    terms = [_weights_term(arch, setup)]
    if setup.method is Method.FULL:
        return terms + _full_terms(arch, setup)
    return [*terms, _adapter_term(setup, trainable)]


def _gathered_layer_bytes(arch: ModelArch, setup: TrainingSetup) -> tuple[float, str, str]:
    """Bytes of one decoder layer as FSDP all-gathers it (its storage format), formula, basis."""
    layer = (total_params(arch) - embedding_params(arch)) / arch.num_layers
    if arch.is_moe:  # experts are gathered with their layer
        layer = max(layer, expert_params(arch))
    if setup.method is not Method.QLORA:
        return layer * BF16_BYTES, f"{num(layer, 9)} × 2", "a layer's params × 2 B (bf16)"
    linear = linear_params(arch) / arch.num_layers
    nf4 = nf4_bytes_per_param(double_quant=setup.nf4_double_quant)
    value = linear * nf4 + (layer - linear) * BF16_BYTES
    formula = f"({num(linear, 9)} × {num(nf4)} + {num(layer - linear, 9)} × 2)"
    return value, formula, "a layer's linear weights in nf4, the rest bf16"


def _ddp_buckets_term(arch: ModelArch, setup: TrainingSetup, trainable: int) -> Term:
    """DDP's all-reduce buckets: a second copy of every trainable gradient."""
    if setup.method is Method.FULL:
        count, grad_bytes = total_params(arch), BF16_BYTES
    else:
        count, grad_bytes = trainable, FP32_BYTES if setup.master_weights else BF16_BYTES
    return _gib(
        "ddp_grad_buckets",
        count * grad_bytes,
        f"{count:,} × {num(grad_bytes)}",
        "DDP copies every gradient into its all-reduce buckets (PyTorch DistributedDataParallel "
        "docs, gradient_as_bucket_view: 'the saved memory size will be equal to the total "
        "gradients size'; Accelerate leaves it False)",
    )


def _flat_param_grad_terms(
    arch: ModelArch, setup: TrainingSetup, layer_bytes: float, layer_formula: str
) -> list[Term]:
    """FSDP1 gradients of a FlatParameter that mixes frozen and trainable weights.

    torch's FullyShardedDataParallel docstring (use_orig_params): "FSDP supports mixing frozen
    and non-frozen parameters, but it's recommended to avoid doing so to prevent higher than
    expected gradient memory usage": the reduce-scattered gradient is one tensor the size of
    the flat parameter's shard (frozen parts zero-filled), kept until the optimizer step, and
    each unit's backward first makes its whole unsharded gradient.
    """
    n, g = total_params(arch), setup.shards
    grad_bytes = FP32_BYTES if setup.master_weights else BF16_BYTES
    shard, sharded = _per_gpu(setup)
    flat_basis = "FSDP1 use_orig_params=True, frozen weights in the adapters' FlatParameter"
    return [
        _gib(
            "fsdp_flat_param_grads",
            n * grad_bytes / g,
            f"{n:,} × {num(grad_bytes)}{shard}",
            f"params × {num(grad_bytes)} B: the sharded gradient of every flat parameter, "
            f"frozen parts zero-filled ({flat_basis}){sharded}",
        ),
        _gib(
            "fsdp_unsharded_grads",
            layer_bytes,
            layer_formula,
            f"1 layer's whole flat gradient before its reduce-scatter ({flat_basis})",
        ),
    ]


def sharding_terms(arch: ModelArch, setup: TrainingSetup, trainable: int) -> list[Term]:
    """FSDP's all-gathered layers and QLoRA's dequantized matrix (transient copies)."""
    terms = []
    if setup.gpus > 1 and setup.shards == 1:  # DDP
        terms.append(_ddp_buckets_term(arch, setup, trainable))
    if setup.shards > 1:
        layer_bytes, formula, basis = _gathered_layer_bytes(arch, setup)
        terms.append(
            _gib(
                "fsdp_gathered_layers",
                2 * layer_bytes,
                f"2 × {formula}",
                f"2 layers (all-gathered + prefetched): {basis}",
            )
        )
    if setup.shards > 1 and setup.method is Method.FULL:
        # FSDP computes a layer's whole gradient, then reduce-scatters it to the shards.
        terms.append(
            _gib(
                "fsdp_unsharded_grads",
                layer_bytes,
                formula,
                f"1 layer's gradient before its reduce-scatter: {basis}",
            )
        )
    if setup.shards > 1 and setup.flat_param_frozen_grads and setup.method is Method.LORA:
        terms += _flat_param_grad_terms(arch, setup, layer_bytes, formula)
    if setup.method is Method.QLORA:
        largest = largest_matrix_params(arch, with_embeddings=False)
        terms.append(
            _gib(
                "dequantized_weight",
                largest * BF16_BYTES,
                f"{largest:,} × 2",
                "largest linear matrix × 2 B: the 4-bit matrix being multiplied, dequantized",
            )
        )
    return terms
