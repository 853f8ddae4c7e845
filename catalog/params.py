"""Parameter counts computed from a model's architecture, one formula per part.

Totals are cached per architecture (records are immutable and hashable).

Each function returns a count of parameters (unitless). Together they reproduce the published
totals of the shipped models exactly (tests/catalog/test_params.py), e.g. Llama-3.1-8B →
8,030,261,248.
"""

from __future__ import annotations

from functools import cache

from catalog.records import ModelArch

__all__ = [
    "active_params",
    "attention_params_per_layer",
    "embedding_params",
    "expert_params",
    "mlp_params_per_layer",
    "total_params",
]


def embedding_params(arch: ModelArch) -> int:
    """Token embedding plus the lm_head when it is not tied: vocab·hidden·(1 or 2)."""
    matrices = 1 if arch.tie_word_embeddings else 2
    return arch.vocab_size * arch.hidden_size * matrices


def attention_params_per_layer(arch: ModelArch) -> int:
    """q, k, v, o projections (+ biases, sinks, q/k norms) of one layer."""
    q_dim = arch.num_attention_heads * arch.head_dim
    kv_dim = arch.num_key_value_heads * arch.head_dim
    weights = arch.hidden_size * (q_dim + 2 * kv_dim) + q_dim * arch.hidden_size
    biases = (q_dim + 2 * kv_dim) * arch.attention_qkv_bias
    biases += arch.hidden_size * arch.attention_output_bias
    sinks = arch.num_attention_heads * arch.attention_sinks
    qk_norms = 2 * arch.head_dim * arch.qk_norm
    return weights + biases + sinks + qk_norms


def expert_params(arch: ModelArch) -> int:
    """One gated MLP (gate, up, down: 3·hidden·width, + biases): a dense MLP or one expert."""
    width = arch.moe_intermediate_size or arch.intermediate_size
    weights = 3 * arch.hidden_size * width
    biases = (2 * width + arch.hidden_size) * arch.mlp_bias
    return weights + biases


def _router_params(arch: ModelArch) -> int:
    experts = arch.num_experts or 0
    return arch.hidden_size * experts + experts * arch.router_bias


def mlp_params_per_layer(arch: ModelArch) -> int:
    """All MLP parameters of one layer: one dense MLP, or every expert plus the router."""
    if not arch.is_moe:
        return expert_params(arch)
    assert arch.num_experts is not None
    return arch.num_experts * expert_params(arch) + _router_params(arch)


def _norm_params_per_layer(arch: ModelArch) -> int:
    return arch.norms_per_layer * arch.hidden_size


@cache
def total_params(arch: ModelArch) -> int:
    """Every parameter: layers · (attention + MLP + norms) + embeddings + final norm."""
    per_layer = (
        attention_params_per_layer(arch) + mlp_params_per_layer(arch) + _norm_params_per_layer(arch)
    )
    return arch.num_layers * per_layer + embedding_params(arch) + arch.hidden_size


@cache
def active_params(arch: ModelArch) -> int:
    """Parameters one token passes through: total minus the experts it is not routed to."""
    if not arch.is_moe:
        return total_params(arch)
    assert arch.num_experts is not None and arch.num_experts_per_token is not None
    idle_experts = arch.num_experts - arch.num_experts_per_token
    return total_params(arch) - arch.num_layers * idle_experts * expert_params(arch)
