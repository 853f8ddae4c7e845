"""Serving choices for one model: weight format, GPUs per replica, replicas, cost, latency.

For each (format, GPU, GPUs per instance) the operating batch is the largest number of
concurrent sequences at which one stream still decodes at ``min_output_tokens_per_s`` and TTFT
stays under the target; replicas = peak requests/s ÷ what one replica sustains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from catalog import GpuSku, ModelArch
from planner.budget import budget_excesses
from planner.estimators.serving import DecodeModel, ServingSetup, replica_memory
from planner.estimators.terms import GIB, Term, num
from planner.offers import OfferIndex
from planner.pareto import pareto_front
from planner.plan import MAX_REPLICAS, OfferChoice, ServingPlan
from planner.rules import Reason
from planner.spec import GoalSpec
from planner.types import HOURS_PER_MONTH, Quantization

__all__ = ["HOURS_PER_MONTH", "TARGET_UTILIZATION", "serving_options"]

TARGET_UTILIZATION = 0.8  # plan replicas to run at ≤ 80 % of capacity, headroom for p95 latency
TENSOR_PARALLEL = (1, 2, 4, 8)


@dataclass(frozen=True)
class _Point:
    """A replica at its operating batch (numbers only)."""

    batch: int
    step_s: float
    prefill_s: float
    weights_gib_per_gpu: float
    model: DecodeModel

    @property
    def ttft_s(self) -> float:
        return self.prefill_s + self.step_s


def _step_limit_s(goal: GoalSpec, prefill_s: float) -> float:
    """Longest decode step the targets allow: 1/min speed, and TTFT target − prefill."""
    speed, ttft_ms = goal.latency.min_output_tokens_per_s, goal.latency.p95_time_to_first_token_ms
    limit = math.inf if speed is None else 1 / speed
    if ttft_ms is not None:
        limit = min(limit, ttft_ms / 1000 - prefill_s)
    return limit


def _operating_point(
    goal: GoalSpec, arch: ModelArch, sku: GpuSku, base: ServingSetup
) -> _Point | str:
    """Largest batch meeting the latency targets (within the KV capacity), or why none does."""
    weights, usable, capacity = replica_memory(arch, sku, base)
    if capacity < 1:
        return (
            f"weights {weights / GIB:.1f} GiB + runtime + one sequence's KV do not fit "
            f"{usable / GIB:.1f} usable GiB per GPU"
        )
    model = DecodeModel(arch, sku, base)
    prefill = model.prefill_s()
    limit = _step_limit_s(goal, prefill)
    if model.step_s(1) > limit:
        return (
            f"at batch 1: TTFT {(prefill + model.step_s(1)) * 1e3:.0f} ms, "
            f"{1 / model.step_s(1):.1f} tokens/s per stream — misses the latency targets"
        )
    # no latency target: every batch the KV cache holds qualifies (max_batch_within cannot
    # floor an infinite limit)
    low = capacity if math.isinf(limit) else model.max_batch_within(limit, capacity)
    return _Point(
        batch=low,
        step_s=model.step_s(low),
        prefill_s=prefill,
        weights_gib_per_gpu=weights / GIB,
        model=model,
    )


# Compute capability by architecture (NVIDIA CUDA GPUs table) and the minimum vLLM needs per
# weight format (vLLM docs, "Supported Hardware" for quantization kernels): vLLM itself needs
# 7.0; AWQ/GPTQ int4 and W8A8 int8 need 7.5; FP8 W8A8 needs 8.9. On AMD (ROCm) tailor plans
# bf16 and fp8 only.
_COMPUTE_CAPABILITY = {
    "pascal": 6.0,
    "volta": 7.0,
    "turing": 7.5,
    "ampere": 8.0,
    "ada": 8.9,
    "hopper": 9.0,
    "blackwell": 10.0,
}
_MIN_CAPABILITY = {
    Quantization.BF16: 7.0,
    Quantization.INT8: 7.5,
    Quantization.INT4: 7.5,
    Quantization.FP8: 8.9,
}


def _formats(sku: GpuSku) -> list[Quantization]:
    """Weight formats vLLM serves on this GPU."""
    if sku.vendor.value != "nvidia":
        return [Quantization.BF16, Quantization.FP8] if sku.supports_fp8 else [Quantization.BF16]
    capability = _COMPUTE_CAPABILITY.get(sku.architecture, 0.0)
    return [q for q in Quantization if capability >= _MIN_CAPABILITY[q]]


@dataclass(frozen=True)
class _Option:
    """A feasible replica setup, priced (numbers only until it makes the Pareto front)."""

    quantization: Quantization
    tp: int
    offer: OfferChoice
    point: _Point
    replicas: int
    rps_per_replica: float

    @property
    def monthly_usd(self) -> float:
        return self.replicas * self.offer.usd_per_hour * HOURS_PER_MONTH


def replica_requests_per_s(point: _Point, output_tokens: int) -> float:
    """Sustained requests/s of one replica, at TARGET_UTILIZATION.

    In steady state the GPU spends, per request, its prefill (exclusive compute) and its share
    of the decode steps it rides in (output × step ÷ batch), so
    rps = batch / (batch × prefill + output × step) × utilization.
    """
    busy = point.batch * point.prefill_s + output_tokens * point.step_s
    return point.batch / busy * TARGET_UTILIZATION


def _option(
    goal: GoalSpec, quant: Quantization, tp: int, offer: OfferChoice, point: _Point
) -> _Option:
    rps = replica_requests_per_s(point, goal.traffic.avg_output_tokens)
    replicas = max(1, math.ceil(goal.traffic.peak_requests_per_s / rps))
    return _Option(quant, tp, offer, point, replicas, rps)


def _offer_basis(offer: OfferChoice) -> str:
    kind = "spot" if offer.spot else "on-demand"
    return (
        f"{offer.cloud}/{offer.region} {offer.instance_type} ({offer.gpus_per_instance}× "
        f"{offer.gpu}) {kind} ${offer.usd_per_hour:.4g}/h, price of {offer.retrieved_on}"
    )


def _serving_terms(goal: GoalSpec, o: _Option) -> tuple[Term, ...]:
    """The chosen replica's terms, from the decode model and numbers that chose it."""
    p, output = o.point, goal.traffic.avg_output_tokens
    terms = [t.model_copy(update={"name": f"serve.{t.name}"}) for t in p.model.terms(p.batch)]
    speed, ttft_ms = goal.latency.min_output_tokens_per_s, goal.latency.p95_time_to_first_token_ms
    return (
        *terms,
        Term(
            name="serve.operating_batch",
            value=p.batch,
            unit="sequences",
            formula=num(p.batch),
            basis="the largest batch whose decode step keeps "
            + (f"≥ {speed:g} tokens/s per stream" if speed is not None else "no speed floor")
            + (f" and TTFT ≤ {ttft_ms:g} ms" if ttft_ms is not None else "")
            + ", within the KV capacity (serve.max_concurrent_sequences)",
        ),
        Term(
            name="serve.ttft",
            value=p.ttft_s,
            unit="s",
            formula=f"{num(p.prefill_s)} + {num(p.step_s)}",
            basis="prefill of one prompt + one decode step at the operating batch",
        ),
        Term(
            name="serve.requests_per_s_per_replica",
            value=o.rps_per_replica,
            unit="req/s",
            formula=f"{p.batch:,} / ({p.batch:,} × {num(p.prefill_s)} + {output:,} × "
            f"{num(p.step_s)}) × {num(TARGET_UTILIZATION)}",
            basis="batch / (batch × prefill + output tokens × decode step) × target "
            "utilization: each request's prefill is exclusive GPU time, decode steps are "
            "shared by the batch",
        ),
        Term(
            name="serve.replicas",
            value=o.replicas,
            unit="replicas",
            formula=f"max(1, ceil({num(goal.traffic.peak_requests_per_s, 12)} / "
            f"{num(o.rps_per_replica, 12)}))",
            basis="peak requests/s / what one replica sustains",
        ),
        Term(
            name="serve.monthly_usd",
            value=o.monthly_usd,
            unit="USD/month",
            formula=f"{o.replicas} × {num(o.offer.usd_per_hour)} × {HOURS_PER_MONTH}",
            basis=f"replicas × {_offer_basis(o.offer)} × hours per month",
        ),
    )


def _plan(
    goal: GoalSpec, arch: ModelArch, o: _Option, input_tokens: int, offers: OfferIndex
) -> ServingPlan:
    output = goal.traffic.avg_output_tokens
    context = min(arch.max_context_tokens, 2 ** math.ceil(math.log2(input_tokens + output)))
    plan = ServingPlan(
        quantization=o.quantization,
        tensor_parallel=o.tp,
        replicas=o.replicas,
        max_concurrent_sequences=o.point.batch,
        max_model_len=context,
        requests_per_s_per_replica=o.rps_per_replica,
        offer=o.offer,
        alternative_offers=offers.serving_alternatives(o.offer.gpu, o.tp),
        weights_gib_per_gpu=o.point.weights_gib_per_gpu,
        p95_ttft_s=o.point.ttft_s,
        output_tokens_per_s_per_stream=1 / o.point.step_s,
        monthly_usd=o.monthly_usd,
    )
    return plan.with_term_source(lambda: _serving_terms(goal, o))


def _too_many(subject: str, option: _Option) -> Reason:
    return Reason(
        subject=subject,
        constraint="replicas",
        detail=f"peak traffic needs {option.replicas:,} replicas, more than a plan may ask for "
        f"({MAX_REPLICAS:,})",
        fix="a faster GPU or format, or lower traffic.peak_requests_per_s",
    )


def serving_options(
    goal: GoalSpec,
    arch: ModelArch,
    offers: OfferIndex,
    gpus: dict[str, GpuSku],
    *,
    input_tokens: int,
) -> tuple[list[ServingPlan], list[Reason]]:
    """The Pareto front (cost × TTFT) of replica setups that meet the latency targets, and a
    Reason for every (format, GPU, tensor-parallel) setup that does not."""
    options, reasons = [], []
    for gpu_name, count in offers.serving_shapes():
        if count not in TENSOR_PARALLEL or arch.num_attention_heads % count:
            continue
        sku, offer = gpus[gpu_name], offers.serving(gpu_name, count)
        assert offer is not None
        floor_usd = offer.usd_per_hour * HOURS_PER_MONTH
        if over := budget_excesses(goal.budget, monthly_usd=floor_usd):
            reasons.append(
                Reason(
                    subject=f"serve {arch.id} on {count}× {gpu_name}",
                    constraint=over[0].field,
                    detail=f"one replica costs {over[0].detail}",
                    fix="raise budget.monthly_usd",
                )
            )
            continue
        for quant in _formats(sku):
            setup = ServingSetup(
                quantization=quant,
                tensor_parallel=count,
                batch=1,
                input_tokens=input_tokens,
                output_tokens=goal.traffic.avg_output_tokens,
            )
            point = _operating_point(goal, arch, sku, setup)
            if isinstance(point, str):
                reasons.append(
                    Reason(
                        subject=f"serve {arch.id} {quant} on {count}× {gpu_name}",
                        constraint="GPU memory / latency targets",
                        detail=point,
                        fix="a faster or larger GPU, more tensor parallelism, or a smaller "
                        "weight format",
                    )
                )
                continue
            option = _option(goal, quant, count, offer, point)
            if option.replicas > MAX_REPLICAS:
                reasons.append(_too_many(f"serve {arch.id} {quant} on {count}× {gpu_name}", option))
                continue
            options.append(option)
    front = pareto_front(
        options, cost=lambda o: o.monthly_usd, latency=lambda o: o.point.ttft_s, tiebreak=_tp
    )
    return [_plan(goal, arch, o, input_tokens, offers) for o in front], reasons


def _tp(option: _Option) -> int:
    return option.tp
