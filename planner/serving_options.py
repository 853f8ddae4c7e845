"""Serving choices for one model: weight format, GPUs per replica, replicas, cost, latency.

For each (format, GPU, GPUs per instance) the replica's load is the highest arrival rate at
which the queue model of vLLM's scheduler (planner.estimators.load) keeps one stream at
``min_output_tokens_per_s``, the p95 TTFT — queueing and prefill interference included — under
the target, the p99.9 concurrency within ``max_num_seqs`` and the KV cache, and the replica at
≤ 80 % of saturation; replicas = peak requests/s ÷ that rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from catalog import GpuSku, ModelArch
from planner.budget import budget_excesses
from planner.estimators.load import (
    CONCURRENCY_Z,
    TARGET_UTILIZATION,
    Lengths,
    LoadPoint,
    ReplicaQueue,
    lognormal_sigma,
)
from planner.estimators.serving import (
    DecodeModel,
    ServingSetup,
    kv_cache_bytes_per_token,
    replica_memory,
    runtime_overhead_bytes,
)
from planner.estimators.terms import GIB, Term, num
from planner.offers import OfferIndex
from planner.pareto import pareto_front
from planner.plan import MAX_REPLICAS, OfferChoice, ServingPlan
from planner.quantization import ServedFormat, ServedFormats
from planner.rules import Reason
from planner.spec import GoalSpec
from planner.types import HOURS_PER_MONTH, Quantization

__all__ = [
    "HOURS_PER_MONTH",
    "TARGET_UTILIZATION",
    "request_lengths",
    "serving_options",
    "vllm_batch_limits",
]

TENSOR_PARALLEL = (1, 2, 4, 8)
CUDA_GRAPH_MAX_BATCH = 512  # vLLM's default max_cudagraph_capture_size (vllm/config/vllm.py)


def vllm_batch_limits(sku: GpuSku) -> tuple[int, int, str]:
    """(max_num_seqs, max_num_batched_tokens, basis) tailor renders for this GPU.

    vLLM's own defaults for its OpenAI server (vLLM 0.32 engine/arg_utils.py
    ``get_batch_defaults``): 1024 sequences and 16,384 tokens per step on GPUs of ≥ 160 GiB,
    1024 / 8,192 on ≥ 70 GiB GPUs other than the A100, else 256 / 2,048. Sequences are capped at
    512, the largest batch vLLM captures a CUDA graph for by default: beyond it decode steps run
    eagerly and slower than the step model assumes.
    """
    if sku.memory_gib >= 160:
        seqs, tokens = 1024, 16384
    elif sku.memory_gib >= 70 and not sku.name.startswith("A100"):
        seqs, tokens = 1024, 8192
    else:
        seqs, tokens = 256, 2048
    capped = min(seqs, CUDA_GRAPH_MAX_BATCH)
    basis = (
        f"vLLM's OpenAI-server defaults for a {sku.memory_gib:g} GiB GPU ({seqs} sequences, "
        f"{tokens:,} tokens per step; engine/arg_utils.py get_batch_defaults)"
        + (
            f", sequences capped at {CUDA_GRAPH_MAX_BATCH} (vLLM's largest CUDA-graph batch)"
            if capped < seqs
            else ""
        )
    )
    return capped, tokens, basis


def request_lengths(goal: GoalSpec, extra_input_tokens: int = 0) -> Lengths:
    """The goal's request lengths (+ retrieved context on every prompt)."""
    t = goal.traffic
    return Lengths(
        input_mean=t.avg_input_tokens + extra_input_tokens,
        input_p95=t.input_tokens_p95 + extra_input_tokens,
        input_max=t.input_tokens_max + extra_input_tokens,
        output_mean=t.avg_output_tokens,
        output_p95=t.output_tokens_p95,
        output_max=t.output_tokens_max,
    )


@dataclass(frozen=True)
class _Point:
    """A replica at its planned load (numbers only)."""

    load: LoadPoint
    max_num_seqs: int
    max_num_batched_tokens: int
    limits_basis: str
    kv_capacity_tokens: float
    weights_gib_per_gpu: float
    model: DecodeModel
    lengths: Lengths
    queue: ReplicaQueue
    network_basis: str = ""

    @property
    def ttft_s(self) -> float:
        return self.load.ttft_p95_s


def _limits_s(goal: GoalSpec) -> tuple[float, float]:
    """(longest decode step, longest p95 TTFT) the latency targets allow, s."""
    speed, ttft_ms = goal.latency.min_output_tokens_per_s, goal.latency.p95_time_to_first_token_ms
    return (
        math.inf if speed is None else 1 / speed,
        math.inf if ttft_ms is None else ttft_ms / 1000,
    )


def _kv_capacity_tokens(arch: ModelArch, sku: GpuSku, setup: ServingSetup) -> tuple[float, float]:
    """(weights bytes per GPU, KV tokens the cache holds after weights and runtime)."""
    weights, usable, _ = replica_memory(arch, sku, setup)
    budget = usable - weights - runtime_overhead_bytes(arch, setup.tensor_parallel)
    per_token = kv_cache_bytes_per_token(arch, tensor_parallel=setup.tensor_parallel)
    return weights, max(0.0, budget / per_token)


@dataclass(frozen=True)
class _Candidate:
    """A replica setup before its load is solved, with the bounds that may rule it out."""

    fmt: ServedFormat
    tp: int
    offer: OfferChoice
    queue: ReplicaQueue
    model: DecodeModel
    limits: tuple[int, int, str]
    kv_capacity_tokens: float
    weights_gib_per_gpu: float
    cost_floor_usd: float  # monthly $ at the rate upper bound
    ttft_floor_s: float  # p95 TTFT with no other traffic
    network_basis: str  # where the round trip to the users comes from; "" when not stated


def _candidate(
    goal: GoalSpec,
    arch: ModelArch,
    sku: GpuSku,
    offer: OfferChoice,
    setup: ServingSetup,
    lengths: Lengths,
    fmt: ServedFormat,
    network: tuple[float, str] = (0.0, ""),
) -> _Candidate | str:
    """The replica's queue model and its cost and latency floors, or why it cannot serve."""
    weights, kv_tokens = _kv_capacity_tokens(arch, sku, setup)
    if kv_tokens < lengths.max_model_len:
        return (
            f"weights {weights / GIB:.1f} GiB + runtime leave KV room for {kv_tokens:,.0f} "
            f"tokens per GPU, less than one longest request ({lengths.max_model_len:,} tokens: "
            "vLLM refuses to start)"
        )
    seqs, tokens, basis = vllm_batch_limits(sku)
    model = DecodeModel(arch, sku, setup)
    queue = ReplicaQueue(
        model.step_lines(lengths.context_in_flight),
        lengths,
        max_num_seqs=seqs,
        max_num_batched_tokens=tokens,
        kv_capacity_tokens=kv_tokens,
        moe_fixed_s=model.moe_memory_fixed_s if arch.is_moe else None,
        network_rtt_s=network[0],
    )
    _, ttft_limit = _limits_s(goal)
    floor = queue.ttft_lower_bound_s()
    if floor > ttft_limit:
        return (
            f"even with no other traffic the p95 prompt's prefill gives a p95 TTFT of "
            f"{floor * 1e3:.0f} ms — misses the latency target"
        )
    most = TARGET_UTILIZATION * queue.rate_upper_bound()
    replicas = max(1, math.ceil(goal.traffic.peak_requests_per_s / most))
    return _Candidate(
        fmt=fmt,
        tp=setup.tensor_parallel,
        offer=offer,
        queue=queue,
        model=model,
        limits=(seqs, tokens, basis),
        kv_capacity_tokens=kv_tokens,
        weights_gib_per_gpu=weights / GIB,
        cost_floor_usd=replicas * offer.usd_per_hour * HOURS_PER_MONTH,
        ttft_floor_s=floor,
        network_basis=network[1],
    )


def _operating_point(goal: GoalSpec, c: _Candidate, lengths: Lengths) -> _Point | str:
    """The highest load one replica takes within the latency targets, or why none does."""
    step_limit, ttft_limit = _limits_s(goal)
    load = c.queue.operating_rate(step_limit_s=step_limit, ttft_limit_s=ttft_limit)
    if load is None:
        trickle = c.queue.at_concurrency(1e-6)
        return (
            f"even at a trickle of traffic: p95 TTFT {trickle.ttft_p95_s * 1e3:.0f} ms, "
            f"{trickle.tokens_per_s_per_stream:.1f} tokens/s per stream — misses the latency "
            "targets"
        )
    seqs, tokens, basis = c.limits
    return _Point(
        load=load,
        max_num_seqs=seqs,
        max_num_batched_tokens=tokens,
        limits_basis=basis,
        kv_capacity_tokens=c.kv_capacity_tokens,
        weights_gib_per_gpu=c.weights_gib_per_gpu,
        model=c.model,
        lengths=lengths,
        queue=c.queue,
        network_basis=c.network_basis,
    )


def _dominated(c: _Candidate, kept: list[_Option]) -> bool:
    """A solved option at most as dear and as slow as this one's floors (strictly better in
    one): this setup cannot reach the Pareto front, so its load is never solved."""
    for o in kept:
        cost, ttft = o.monthly_usd, o.point.ttft_s
        at_most = cost <= c.cost_floor_usd and ttft <= c.ttft_floor_s
        if at_most and (cost < c.cost_floor_usd or ttft < c.ttft_floor_s):
            return True
    return False


@dataclass(frozen=True)
class _Option:
    """A feasible replica setup, priced (numbers only until it makes the Pareto front)."""

    fmt: ServedFormat
    tp: int
    offer: OfferChoice
    point: _Point
    replicas: int

    @property
    def quantization(self) -> Quantization:
        return self.fmt.quantization

    @property
    def rps_per_replica(self) -> float:
        return self.point.load.rate_per_s

    @property
    def monthly_usd(self) -> float:
        return self.replicas * self.offer.usd_per_hour * HOURS_PER_MONTH


def _option(
    goal: GoalSpec, fmt: ServedFormat, tp: int, offer: OfferChoice, point: _Point
) -> _Option:
    replicas = max(1, math.ceil(goal.traffic.peak_requests_per_s / point.load.rate_per_s))
    return _Option(fmt, tp, offer, point, replicas)


def _offer_basis(offer: OfferChoice) -> str:
    kind = "spot" if offer.spot else "on-demand"
    return (
        f"{offer.cloud}/{offer.region} {offer.instance_type} ({offer.gpus_per_instance}× "
        f"{offer.gpu}) {kind} ${offer.usd_per_hour:.4g}/h, price of {offer.retrieved_on}"
    )


def _load_terms(p: _Point) -> list[Term]:
    """The queue model's numbers at the planned load (planner.estimators.load)."""
    q, n = p.load, p.lengths
    sigma_in = lognormal_sigma(n.input_mean, n.input_p95)
    own = f"{n.input_p95:,} tokens in ceil({n.input_p95:,} / {num(q.prefill_budget_tokens)}) steps"
    network = (
        [
            Term(
                name="serve.network_rtt_s",
                value=q.network_rtt_s,
                unit="s",
                formula=num(q.network_rtt_s),
                basis=p.network_basis,
            )
        ]
        if p.network_basis
        else []
    )
    return [
        *network,
        Term(
            name="serve.max_num_seqs",
            value=p.max_num_seqs,
            unit="sequences",
            formula=num(p.max_num_seqs),
            basis=p.limits_basis,
        ),
        Term(
            name="serve.max_num_batched_tokens",
            value=p.max_num_batched_tokens,
            unit="tokens",
            formula=num(p.max_num_batched_tokens),
            basis="the per-step token budget (chunked prefill): " + p.limits_basis,
        ),
        Term(
            name="serve.max_model_len",
            value=n.max_model_len,
            unit="tokens",
            formula=f"{n.input_max:,} + {n.output_max:,}",
            basis="longest prompt + longest output (traffic.max_*_tokens); vLLM rejects longer",
        ),
        Term(
            name="serve.context_in_flight",
            value=n.context_in_flight,
            unit="tokens",
            formula=f"{num(n.input_mean)} + {num(n.output_mean)} × "
            f"{num(math.exp(lognormal_sigma(n.output_mean, n.output_p95) ** 2))} / 2",
            basis="mean KV tokens of a decoding sequence: E[I] + E[O²] / (2 E[O]), output "
            "lengths lognormal with the goal's mean and p95",
        ),
        Term(
            name="serve.kv_capacity_tokens",
            value=p.kv_capacity_tokens,
            unit="tokens",
            formula=num(p.kv_capacity_tokens),
            basis="(GPU memory × vLLM utilization − weights − runtime) / KV bytes per token",
        ),
        Term(
            name="serve.operating_concurrency",
            value=q.decode_concurrency,
            unit="sequences",
            formula=num(q.decode_concurrency),
            basis="mean sequences decoding per replica at the planned load: the largest at "
            f"which utilization ≤ {TARGET_UTILIZATION:.0%} of saturation, the p99.9 "
            "concurrency ≤ max_num_seqs and within the KV cache, and the speed floor and the "
            "p95 TTFT target hold (bisection: each grows with the load)",
        ),
        Term(
            name="serve.rate_per_replica",
            value=q.rate_per_s,
            unit="req/s",
            formula=p.queue.rate_formula(q.decode_concurrency),
            basis="the arrival rate at that concurrency, 1 / (k × t_p + (O/d − k) × t_d): each "
            "second is shared by k prompt-chunk steps per request (t_p s each) and decode-only "
            "steps (t_d s), and the requests' O decode steps fill them (Little's law)",
        ),
        Term(
            name="serve.step_at_load",
            value=q.step_s,
            unit="s",
            formula=f"{num(q.decode_concurrency)} / ({num(q.rate_per_s, 12)} × "
            f"{num(n.output_mean)})",
            basis="mean engine step a stream sees at the planned load (concurrency / (rate × "
            "output tokens)): prompt chunks of other requests included"
            + (" — MoE: experts read at the tokens per step" if p.model.arch.is_moe else ""),
        ),
        Term(
            name="serve.concurrency_p999",
            value=q.concurrency_p999,
            unit="sequences",
            formula=f"{num(q.decode_concurrency)} + {CONCURRENCY_Z} × "
            f"{num(q.decode_concurrency)} ^ 0.5",
            basis="Poisson (M/G/∞) 99.9th percentile of the sequences in flight; ≤ "
            "max_num_seqs, and its KV within the cache",
        ),
        Term(
            name="serve.prefill_load",
            value=q.prefill_load,
            unit="fraction",
            formula=num(q.prefill_load),
            basis="ρ = rate × mean prompt service (M/G/1 prompt queue on the budget the decodes "
            "leave)",
        ),
        Term(
            name="serve.queue_wait_p95",
            value=q.queue_wait_p95_s,
            unit="s",
            formula=num(q.queue_wait_p95_s),
            basis="p95 wait for the prompts ahead: Pollaczek–Khinchine mean with an exponential "
            f"tail (0 when ρ ≤ 0.05); prompt lengths lognormal, σ = {num(sigma_in, 3)}",
        ),
        Term(
            name="serve.ttft",
            value=q.ttft_p95_s,
            unit="s",
            formula=f"{num(p.queue.decode_step_s(q.decode_concurrency))} / 2 + "
            f"{num(q.queue_wait_p95_s)} + {num(q.own_prefill_s)} + {num(q.network_rtt_s)}",
            basis="p95 TTFT at the planned load: half the decode step in progress on arrival "
            "(its mean residual) + the "
            f"wait for prompts ahead + the p95 prompt's own prefill ({own}) + network round "
            "trip",
        ),
        Term(
            name="serve.utilization",
            value=q.utilization,
            unit="fraction",
            formula=num(q.utilization),
            basis="max(rate / saturation rate, prefill load)",
        ),
    ]


def _serving_terms(goal: GoalSpec, o: _Option) -> tuple[Term, ...]:
    """The chosen replica's terms, from the decode model and numbers that chose it."""
    p = o.point
    batch = max(1, round(p.load.decode_concurrency))
    base = [t.model_copy(update={"name": f"serve.{t.name}"}) for t in p.model.terms(batch)]
    base = [t for t in base if t.name != "serve.max_concurrent_sequences"]
    return (
        *base,
        *_load_terms(p),
        Term(
            name="serve.replicas",
            value=o.replicas,
            unit="replicas",
            formula=f"max(1, ceil({num(goal.traffic.peak_requests_per_s, 12)} / "
            f"{num(o.rps_per_replica, 12)}))",
            basis="peak requests/s / the rate one replica takes within the targets",
        ),
        Term(
            name="serve.monthly_usd",
            value=o.monthly_usd,
            unit="USD/month",
            formula=f"{o.replicas} × {num(o.offer.usd_per_hour)} × {HOURS_PER_MONTH}",
            basis=f"replicas × {_offer_basis(o.offer)} × hours per month",
        ),
    )


def _plan(goal: GoalSpec, o: _Option, offers: OfferIndex) -> ServingPlan:
    p = o.point
    plan = ServingPlan(
        quantization=o.quantization,
        tensor_parallel=o.tp,
        replicas=o.replicas,
        max_concurrent_sequences=p.max_num_seqs,
        max_num_batched_tokens=p.max_num_batched_tokens,
        max_model_len=p.lengths.max_model_len,
        operating_concurrency=p.load.decode_concurrency,
        concurrency_p999=p.load.concurrency_p999,
        utilization=p.load.utilization,
        requests_per_s_per_replica=o.rps_per_replica,
        offer=o.offer,
        alternative_offers=offers.serving_alternatives(o.offer.gpu, o.tp),
        weights_gib_per_gpu=p.weights_gib_per_gpu,
        network_rtt_s=p.load.network_rtt_s,
        served_repo_id=o.fmt.hf_repo_id,
        vllm_quantization=o.fmt.vllm_quantization,
        format_basis=o.fmt.basis,
        p95_ttft_s=p.ttft_s,
        output_tokens_per_s_per_stream=p.load.tokens_per_s_per_stream,
        monthly_usd=o.monthly_usd,
    )
    return plan.with_term_source(lambda: _serving_terms(goal, o))


def _unservable(arch: ModelArch, quant: Quantization, tp: int, gpu: str, detail: str) -> Reason:
    return Reason(
        subject=f"serve {arch.id} {quant} on {tp}× {gpu}",
        constraint="GPU memory / latency targets",
        detail=detail,
        fix="a faster or larger GPU, more tensor parallelism, or a smaller weight format",
    )


def _too_many(subject: str, option: _Option) -> Reason:
    return Reason(
        subject=subject,
        constraint="replicas",
        detail=f"peak traffic needs {option.replicas:,} replicas, more than a plan may ask for "
        f"({MAX_REPLICAS:,})",
        fix="a faster GPU or format, or lower traffic.peak_requests_per_s",
    )


def _candidates(
    goal: GoalSpec,
    arch: ModelArch,
    offers: OfferIndex,
    gpus: dict[str, GpuSku],
    lengths: Lengths,
    reasons: list[Reason],
    formats: Callable[[GpuSku], ServedFormats],
) -> list[_Candidate]:
    """Every (GPU shape, format) the budget allows with its queue model and floors; a Reason
    appended for each one that cannot serve at all."""
    candidates: list[_Candidate] = []
    seen: dict[str, ServedFormats] = {}
    for gpu_name, count in offers.serving_shapes():
        if count not in TENSOR_PARALLEL or arch.num_attention_heads % count:
            continue
        sku = gpus[gpu_name]
        for offer, rtt_s, rtt_basis in offers.serving_choices(gpu_name, count):
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
            first = gpu_name not in seen
            if first:
                seen[gpu_name] = formats(sku)
            for fmt in _launchable(seen[gpu_name], arch, offer, reasons, first):
                quant = fmt.quantization
                setup = ServingSetup(
                    quantization=quant,
                    tensor_parallel=count,
                    batch=1,
                    input_tokens=lengths.input_mean,
                    output_tokens=goal.traffic.avg_output_tokens,
                )
                found = _candidate(
                    goal, arch, sku, offer, setup, lengths, fmt, network=(rtt_s, rtt_basis)
                )
                if isinstance(found, str):
                    reasons.append(_unservable(arch, quant, count, gpu_name, found))
                    continue
                candidates.append(found)
    return candidates


def _launchable(
    found: ServedFormats, arch: ModelArch, offer: OfferChoice, reasons: list[Reason], first: bool
) -> list[ServedFormat]:
    """The formats tailor can launch; the refused ones and those that need a quantization
    step after training (priced here, but no recipe runs it yet) become Reasons, once per GPU
    (``first``)."""
    if first:
        reasons.extend(found.refused)
    kept = []
    for fmt in found.options:
        if fmt.step is None:
            kept.append(fmt)
            continue
        if not first:
            continue
        hours = fmt.step.gpu_hours.value
        usd = hours * offer.usd_per_hour / offer.gpus_per_instance
        reasons.append(
            Reason(
                subject=f"serve {arch.id} {fmt.quantization} on {offer.gpu}",
                constraint="served weight format",
                detail=f"fine-tuned weights need a {fmt.step.method.value.upper()} "
                f"{fmt.step.weight_bits}-bit quantization step after merging (≈ "
                f"{hours:.2g} GPU-h, ≈ ${usd:.2f} on {offer.gpu}; "
                f"{fmt.step.gpu_hours.basis}); tailor has no recipe that runs it yet, so "
                "no plan may depend on it",
                fix="serve bf16 or fp8 (dynamic, on an fp8 GPU), or a prompt-only plan that "
                "serves a published quantized checkpoint",
            )
        )
    return kept


def serving_options(
    goal: GoalSpec,
    arch: ModelArch,
    offers: OfferIndex,
    gpus: dict[str, GpuSku],
    *,
    formats: Callable[[GpuSku], ServedFormats],
    extra_input_tokens: int = 0,
) -> tuple[list[ServingPlan], list[Reason]]:
    """The Pareto front (cost × TTFT) of replica setups that meet the latency targets, and a
    Reason for every (format, GPU, tensor-parallel) setup that does not. ``formats(sku)``
    gives the weight formats the plan may serve on a GPU (planner.quantization)."""
    lengths = request_lengths(goal, extra_input_tokens)
    if lengths.max_model_len > arch.max_context_tokens:
        return [], [
            Reason(
                subject=f"serve {arch.id}",
                constraint="traffic.max_input_tokens / max_output_tokens",
                detail=f"the longest request ({lengths.input_max:,} prompt + "
                f"{lengths.output_max:,} output tokens) exceeds the model's "
                f"{arch.max_context_tokens:,}-token context",
                fix="state traffic.max_input_tokens and max_output_tokens (the defaults are "
                "4 × the averages), or choose a model with a longer context",
            )
        ]
    reasons: list[Reason] = []
    candidates = _candidates(goal, arch, offers, gpus, lengths, reasons, formats)
    options: list[_Option] = []
    candidates.sort(key=lambda c: (c.cost_floor_usd, c.ttft_floor_s, c.tp))
    for c in candidates:
        if _dominated(c, options):
            continue
        subject = f"serve {arch.id} {c.fmt.quantization} on {c.tp}× {c.offer.gpu}"
        point = _operating_point(goal, c, lengths)
        if isinstance(point, str):
            reasons.append(_unservable(arch, c.fmt.quantization, c.tp, c.offer.gpu, point))
            continue
        option = _option(goal, c.fmt, c.tp, c.offer, point)
        if option.replicas > MAX_REPLICAS:
            reasons.append(_too_many(subject, option))
            continue
        options.append(option)
    front = pareto_front(
        options, cost=lambda o: o.monthly_usd, latency=lambda o: o.point.ttft_s, tiebreak=_tp
    )
    return [_plan(goal, o, offers) for o in front], reasons


def _tp(option: _Option) -> int:
    return option.tp
