"""Serving choices for one model: weight format, GPUs per replica, replicas, cost, latency.

For each (format, GPU, GPUs per instance) the replica's load is the highest arrival rate at
which the queue model of vLLM's scheduler (planner.estimators.load) keeps one stream at
``min_output_tokens_per_s``, the p95 TTFT — queueing and prefill interference included — under
the target, the p99.9 concurrency within ``max_num_seqs`` and the KV cache, and the replica at
≤ 80 % of saturation; replicas = peak requests/s ÷ that rate.

Replicas are billed as SkyServe's request-rate autoscaler keeps them (planner.estimators.
autoscale): between ``availability.min_replicas`` (DEFAULT_MIN_REPLICAS when unstated) and
``max_replicas`` (the peak's replicas when unstated), over the day's traffic profile. When the
goal leaves min_replicas unstated and scaling to zero would save at least
SCALE_TO_ZERO_SAVING of the bill, a scale-to-zero variant is offered too, its p95 TTFT the
cold start's whenever more than 5 % of requests meet no ready replica.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import NamedTuple

from catalog import GpuSku, ModelArch, total_params
from planner.budget import budget_excesses
from planner.estimators.autoscale import (
    HourlyProfile,
    ReplicaPlan,
    replica_plan,
    scale_to_zero_cold,
    scale_to_zero_up,
)
from planner.estimators.load import (
    CONCURRENCY_Z,
    TARGET_UTILIZATION,
    Beyond,
    Lengths,
    LoadPoint,
    ReplicaQueue,
    lognormal_sigma,
)
from planner.estimators.serving import (
    DecodeModel,
    ServingSetup,
    kv_cache_bytes_per_token,
    runtime_overhead_bytes,
    serving_weight_params,
    weights_and_usable,
)
from planner.estimators.terms import GIB, Term, num
from planner.offers import OfferIndex
from planner.pareto import pareto_front
from planner.plan import MAX_REPLICAS, OfferChoice, ServingPlan
from planner.quantization import ServedFormat, ServedFormats
from planner.rules import Reason
from planner.spec import DEFAULT_MIN_REPLICAS, GoalSpec
from planner.types import HOURS_PER_MONTH, SECONDS_PER_MONTH, Quantization, bytes_per_param

__all__ = [
    "HOURS_PER_MONTH",
    "TARGET_UTILIZATION",
    "SearchMemo",
    "cold_start_terms",
    "context_reason",
    "offer_basis",
    "replica_candidates",
    "request_lengths",
    "serving_options",
    "unservable",
    "vllm_batch_limits",
]

EngineStart = Callable[[int, float], Term | None]
TENSOR_PARALLEL = (1, 2, 4, 8)
SCALE_TO_ZERO_SAVING = 0.25  # offer min_replicas 0 only when it saves ≥ 25 % of replica-hours
TTFT_TAIL = 0.05  # the share of requests above the p95
PROVISION_S = 300.0
"""Assumption: seconds from a replica's launch to vLLM starting — provisioning the VM, the
image and ``pip install vllm`` in setup. No published figure was found; providers describe a
scale-from-zero cold start as "up to a few minutes" (Fireworks autoscaling docs)."""
DOWNLOAD_BYTES_PER_S = 250e6
"""Assumption: bytes/s a fresh replica downloads the weights at (~2 Gbit/s from the hub or
the bucket)."""
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
    read_basis: ReadBasis | None = None

    @property
    def ttft_s(self) -> float:
        return self.load.ttft_p95_s

    @property
    def load_rate_bound(self) -> float:
        """Most requests/s a replica could take at the planned utilisation (a bill's floor)."""
        return TARGET_UTILIZATION * self.queue.rate_upper_bound()


def _limits_s(goal: GoalSpec) -> tuple[float, float]:
    """(longest decode step, longest p95 TTFT) the latency targets allow, s."""
    return _facts(goal).limits_s


def _limits_of(goal: GoalSpec) -> tuple[float, float]:
    speed, ttft_ms = goal.latency.min_output_tokens_per_s, goal.latency.p95_time_to_first_token_ms
    return (
        math.inf if speed is None else 1 / speed,
        math.inf if ttft_ms is None else ttft_ms / 1000,
    )


def _kv_capacity_tokens(arch: ModelArch, sku: GpuSku, setup: ServingSetup) -> tuple[float, float]:
    """(weights bytes per GPU, KV tokens the cache holds after weights and runtime)."""
    return _kv_capacity(arch, sku, setup.quantization, setup.tensor_parallel)


def _kv_capacity(arch: ModelArch, sku: GpuSku, quant: Quantization, tp: int) -> tuple[float, float]:
    """``_kv_capacity_tokens`` of a bf16-KV replica of this format and tensor parallel."""
    weights, usable = weights_and_usable(arch, sku, quant, tp)
    budget = usable - weights - runtime_overhead_bytes(arch, tp)
    per_token = kv_cache_bytes_per_token(arch, tensor_parallel=tp)
    return weights, max(0.0, budget / per_token)


def _kv_room(
    arch: ModelArch, sku: GpuSku, quant: Quantization, tp: int, lengths: Lengths
) -> tuple[float, float] | str:
    """(weights bytes per GPU, KV tokens), or why the cache cannot hold one longest request
    (checked before the setup's decode model is built)."""
    weights, kv_tokens = _kv_capacity(arch, sku, quant, tp)
    if kv_tokens < lengths.max_model_len:
        return (
            f"weights {weights / GIB:.1f} GiB + runtime leave KV room for {kv_tokens:,.0f} "
            f"tokens per GPU, less than one longest request ({lengths.max_model_len:,} tokens: "
            "vLLM refuses to start)"
        )
    return weights, kv_tokens


@dataclass(frozen=True)
class ReplicaCandidate:
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
    load_replicas: float  # the month's mean rate / the most a replica could take
    ttft_floor_s: float  # p95 TTFT with no other traffic
    network_basis: str  # where the round trip to the users comes from; "" when not stated
    read_basis: ReadBasis | None = None  # serve.weight_read_bytes_per_param, when it applies


@dataclass
class SearchMemo:
    """What the serving searches of one goal share (made once per goal by the planner): a
    model is searched with and without retrieved context and for published and fine-tuned
    weights, and those searches meet the same GPU setups. Keys name the model, GPU, offer,
    format and lengths a value depends on; a value is reused only under its whole key."""

    reads: dict[tuple, tuple[float | None, ReadBasis | None]] = field(default_factory=dict)
    candidates: dict[tuple, ReplicaCandidate | str] = field(default_factory=dict)
    points: dict[ReplicaQueue, _Point | str] = field(default_factory=dict)
    cold_starts: dict[tuple, tuple[Term, ...]] = field(default_factory=dict)


def _candidate(
    goal: GoalSpec,
    arch: ModelArch,
    sku: GpuSku,
    offer: OfferChoice,
    setup: ServingSetup,
    lengths: Lengths,
    fmt: ServedFormat,
    network: tuple[float, str] = (0.0, ""),
    read_basis: ReadBasis | None = None,
    room: tuple[float, float] | None = None,
) -> ReplicaCandidate | str:
    """The replica's queue model and its cost and latency floors, or why it cannot serve.
    ``room``: its ``_kv_room`` when the caller has it."""
    if room is None:
        found = _kv_room(arch, sku, setup.quantization, setup.tensor_parallel, lengths)
        if isinstance(found, str):
            return found
        room = found
    weights, kv_tokens = room
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
    # A lower bound of any policy's bill: the stated minimum always up, and never fewer
    # replica-hours than the month's requests need at the most a replica could take.
    most = TARGET_UTILIZATION * queue.rate_upper_bound()
    mean_rate = goal.traffic.requests_per_month / SECONDS_PER_MONTH
    replicas = max(_least_replicas(goal), mean_rate / most)
    return ReplicaCandidate(
        fmt=fmt,
        tp=setup.tensor_parallel,
        offer=offer,
        queue=queue,
        model=model,
        limits=(seqs, tokens, basis),
        kv_capacity_tokens=kv_tokens,
        weights_gib_per_gpu=weights / GIB,
        cost_floor_usd=replicas * offer.usd_per_hour * HOURS_PER_MONTH,
        load_replicas=mean_rate / most,
        ttft_floor_s=floor,
        network_basis=network[1],
        read_basis=read_basis,
    )


def _operating_point(
    goal: GoalSpec, c: ReplicaCandidate, lengths: Lengths, ttft_cutoff_s: float = math.inf
) -> _Point | Beyond | str:
    """The highest load one replica takes within the latency targets, or why none does
    (``Beyond``: its p95 TTFT is above ``ttft_cutoff_s``, see ReplicaQueue.operating_rate)."""
    step_limit, ttft_limit = _limits_s(goal)
    load = c.queue.operating_rate(
        step_limit_s=step_limit, ttft_limit_s=ttft_limit, ttft_cutoff_s=ttft_cutoff_s
    )
    if isinstance(load, Beyond):
        return load
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
        read_basis=c.read_basis,
    )


class _Front:
    """The priced options no other priced option is at most as dear and as slow as, by
    monthly $ rising (their p95 TTFT then falls): what ``_beats`` and ``_ttft_cutoff`` ask of
    all the priced options, answered from the staircase. An option some kept one is at most
    as dear and as slow as answers nothing the kept one does not."""

    def __init__(self) -> None:
        self.costs: list[float] = []
        self.ttfts: list[float] = []

    def add(self, cost: float, ttft: float) -> None:
        """Keep (cost, ttft) unless a kept option is at most as dear and as slow."""
        i = bisect.bisect_right(self.costs, cost)
        if i and self.ttfts[i - 1] <= ttft:
            return
        j = i
        while j < len(self.costs) and self.ttfts[j] >= ttft:
            j += 1
        k = i
        while k and self.costs[k - 1] == cost:  # as dear, slower: replaced
            k -= 1
        self.costs[k:j] = [cost]
        self.ttfts[k:j] = [ttft]

    def fastest_within(self, cost_floor_usd: float) -> float:
        """The lowest p95 TTFT of an option at most this dear (inf when none is)."""
        i = bisect.bisect_right(self.costs, cost_floor_usd)
        return self.ttfts[i - 1] if i else math.inf

    def beats(self, cost_floor_usd: float, ttft_floor_s: float) -> bool:
        """Some priced option is at most as dear and as slow as these floors, and strictly
        better in one."""
        i = bisect.bisect_right(self.costs, cost_floor_usd)
        if not i:
            return False
        ttft = self.ttfts[i - 1]
        return ttft < ttft_floor_s or (ttft == ttft_floor_s and self.costs[i - 1] < cost_floor_usd)


def _dominated(goal: GoalSpec, c: ReplicaCandidate, cold_s: float, kept: _Front) -> bool:
    """For each replica policy this setup could have, a solved option at most as dear and as
    slow as that policy's floors (strictly better in one): this setup cannot reach the Pareto
    front, so its load is never solved. Warm: at least min_replicas (or the default) up, the
    TTFT floor; scale to zero: at least the mean chance a replica is up, and the cold wait on
    top of the TTFT floor when more than TTFT_TAIL of requests meet a cold service."""
    a, per_replica = goal.availability, c.offer.usd_per_hour * HOURS_PER_MONTH
    if goal.traffic.requests_per_month == 0 or a.min_replicas is not None:
        return _beats(kept, c.cost_floor_usd, c.ttft_floor_s)
    warm = max(DEFAULT_MIN_REPLICAS, c.load_replicas) * per_replica
    if not _beats(kept, warm, c.ttft_floor_s):
        return False
    if not prices_scale_to_zero(goal):
        return True
    profile, rpm = traffic_profile(goal), goal.traffic.requests_per_month
    p_cold, wait = scale_to_zero_cold(profile, rpm, cold_s)
    ttft = c.ttft_floor_s + (wait if p_cold > TTFT_TAIL else 0.0)
    zero = max(scale_to_zero_up(profile, rpm)[1], c.load_replicas) * per_replica
    return _beats(kept, zero, ttft)


def _ttft_cutoff(goal: GoalSpec, c: ReplicaCandidate, cold_s: float, kept: _Front) -> float:
    """The p95 TTFT (s) of this setup's operating point above which every replica policy it
    could have is beaten by a solved option (the same floors as ``_dominated``, the TTFT left
    free): its search stops there. inf when some policy cannot be beaten that way."""
    a, per_replica = goal.availability, c.offer.usd_per_hour * HOURS_PER_MONTH

    fastest_within = kept.fastest_within

    if goal.traffic.requests_per_month == 0 or a.min_replicas is not None:
        return fastest_within(c.cost_floor_usd)
    warm = fastest_within(max(DEFAULT_MIN_REPLICAS, c.load_replicas) * per_replica)
    if not prices_scale_to_zero(goal) or warm == math.inf:
        return warm
    profile, rpm = traffic_profile(goal), goal.traffic.requests_per_month
    p_cold, wait = scale_to_zero_cold(profile, rpm, cold_s)
    zero_cost = max(scale_to_zero_up(profile, rpm)[1], c.load_replicas) * per_replica
    zero = fastest_within(zero_cost) - (wait if p_cold > TTFT_TAIL else 0.0)
    return max(warm, zero)


def _beats(kept: _Front, cost_floor_usd: float, ttft_floor_s: float) -> bool:
    """Some option in ``kept`` is at most as dear and as slow as these floors, and strictly
    better in one."""
    return kept.beats(cost_floor_usd, ttft_floor_s)


@dataclass(frozen=True)
class _Option:
    """A feasible replica setup, priced (numbers only until it makes the Pareto front)."""

    fmt: ServedFormat
    tp: int
    offer: OfferChoice
    point: _Point
    replicas: int
    policy: ReplicaPlan
    cold_start: tuple[Term, ...]

    @property
    def quantization(self) -> Quantization:
        return self.fmt.quantization

    @property
    def rps_per_replica(self) -> float:
        return self.point.load.rate_per_s

    @property
    def cold_dominates(self) -> bool:
        """More than 5 % of requests meet no ready replica: the p95 is a cold start's."""
        return self.policy.p_cold_start > TTFT_TAIL

    @property
    def ttft_s(self) -> float:
        return self.policy.cold_start_ttft_s if self.cold_dominates else self.point.ttft_s

    @property
    def monthly_usd(self) -> float:
        return self.policy.replica_hours_per_month * self.offer.usd_per_hour


MAX_PEAK_TO_AVERAGE = 3.0
"""Assumption: without availability.hourly_profile, the busiest hour runs at most 3 × the
day's average rate (a business-hours day); a peak_requests_per_s above that is a burst within
the hour, which max_replicas still covers."""


def traffic_profile(goal: GoalSpec) -> HourlyProfile:
    """The goal's hourly profile, or a one-peak day whose busiest hour is the peak rate (at
    most MAX_PEAK_TO_AVERAGE × the average)."""
    profile = _facts(goal).profile
    return _profile_of(goal) if profile is None else profile  # batch only: says why not


def _profile_of(goal: GoalSpec) -> HourlyProfile:
    weights = goal.availability.hourly_profile
    t = goal.traffic
    return _profile(None if weights is None else tuple(weights), t.peak_rate, t.requests_per_month)


@lru_cache(maxsize=64)
def _profile(
    weights: tuple[float, ...] | None, peak_rate: float, requests_per_month: float
) -> HourlyProfile:
    if weights is not None:
        return HourlyProfile(weights=weights, basis="availability.hourly_profile")
    ratio = peak_rate / (requests_per_month / SECONDS_PER_MONTH)
    profile = HourlyProfile.from_peak_to_average(min(max(ratio, 1.0), MAX_PEAK_TO_AVERAGE))
    if ratio > MAX_PEAK_TO_AVERAGE:
        basis = (
            f"{profile.basis}; traffic.peak_requests_per_s is {ratio:,.3g} × the average, "
            f"taken as a burst: the busiest hour is capped at {MAX_PEAK_TO_AVERAGE:g} × "
            "(assumption, MAX_PEAK_TO_AVERAGE)"
        )
        profile = profile.model_copy(update={"basis": basis})
    return profile


def cold_start_terms(
    arch: ModelArch, fmt: ServedFormat, tp: int, engine_start: EngineStart
) -> tuple[Term, ...]:
    """A fresh replica's launch to serving: provisioning and setup (assumed) + downloading the
    checkpoint (assumed rate) + vLLM's start (published phases, ``engine_start``)."""
    dynamic = fmt.vllm_quantization is not None or fmt.quantization is Quantization.BF16
    per_weight = 2.0 if dynamic else bytes_per_param(fmt.quantization)
    weight_bytes = total_params(arch) * per_weight
    engine = engine_start(tp, per_weight)
    engine_s = engine.value if engine is not None else 0.0
    total = Term(
        name="serve.replica_cold_start",
        value=PROVISION_S + weight_bytes / DOWNLOAD_BYTES_PER_S + engine_s,
        unit="s",
        formula=f"{num(PROVISION_S)} + {num(weight_bytes)} / {num(DOWNLOAD_BYTES_PER_S)} + "
        f"{num(engine_s)}",
        basis=f"provisioning, image and setup {PROVISION_S:g} s (assumption, PROVISION_S) + "
        f"downloading {weight_bytes / 1e9:,.1f} GB of weights at {DOWNLOAD_BYTES_PER_S / 1e6:g} "
        "MB/s (assumption, DOWNLOAD_BYTES_PER_S) + vLLM's start (serve.cold_start"
        + ("" if engine is not None else ": no published phases in the catalog, counted 0")
        + ")",
    )
    return (total,) if engine is None else (engine, total)


SCALE_TO_ZERO_SKIP_UP = 0.9
"""Scale to zero is not priced where a replica would be up ≥ 90 % of every hour
(``scale_to_zero_up``): it then bills at least 90 % of the one-replica plan's hours (both floor
the autoscaler's target at one replica), far from SCALE_TO_ZERO_SAVING; the 15-point margin
covers the hourly sampling of both."""


def prices_scale_to_zero(goal: GoalSpec) -> bool:
    """Whether a scale-to-zero variant is worth pricing: min_replicas unstated, and traffic
    sparse enough that a replica is not up nearly all the time."""
    return _facts(goal).scale_to_zero


def _scale_to_zero_of(goal: GoalSpec, profile: HourlyProfile) -> bool:
    if goal.availability.min_replicas is not None or DEFAULT_MIN_REPLICAS != 1:
        return False
    if goal.traffic.requests_per_month == 0:  # batch jobs: no service
        return False
    least, _ = scale_to_zero_up(profile, goal.traffic.requests_per_month)
    return least < SCALE_TO_ZERO_SKIP_UP


def _least_replicas(goal: GoalSpec) -> float:
    """Replicas every hour bills at least, whatever the policy: the stated minimum; unstated,
    one, or with scale to zero priced the mean chance a replica is up (scale_to_zero_up)."""
    return _facts(goal).least_replicas


def _least_replicas_of(goal: GoalSpec, profile: HourlyProfile | None, scale_to_zero: bool) -> float:
    if (stated := goal.availability.min_replicas) is not None:
        return stated
    if goal.traffic.requests_per_month == 0:  # batch jobs: no service
        return 0.0
    if scale_to_zero:
        assert profile is not None
        return scale_to_zero_up(profile, goal.traffic.requests_per_month)[1]
    return DEFAULT_MIN_REPLICAS


class _GoalFacts(NamedTuple):
    """What the serving search asks of the goal at every setup, worked out once per goal."""

    limits_s: tuple[float, float]
    profile: HourlyProfile | None  # None: a batch-only goal, no service traffic
    scale_to_zero: bool
    least_replicas: float


_LAST_FACTS: tuple[GoalSpec, _GoalFacts] | None = None
"""The last goal's facts, by identity (a goal is frozen; one reference, swapped whole, so a
second thread planning another goal never reads this goal's facts)."""


def _facts(goal: GoalSpec) -> _GoalFacts:
    global _LAST_FACTS  # noqa: PLW0603 - a one-entry cache, replaced whole
    last = _LAST_FACTS
    if last is not None and last[0] is goal:
        return last[1]
    if goal.traffic.requests_per_month == 0:
        facts = _GoalFacts(_limits_of(goal), None, False, _least_replicas_of(goal, None, False))
    else:
        profile = _profile_of(goal)
        zero = _scale_to_zero_of(goal, profile)
        facts = _GoalFacts(_limits_of(goal), profile, zero, _least_replicas_of(goal, profile, zero))
    _LAST_FACTS = (goal, facts)
    return facts


def _policies(
    goal: GoalSpec,
    point: _Point,
    cold_s: float,
    beaten: Callable[[float, float], bool] = lambda replicas, ttft_s: False,
) -> tuple[list[ReplicaPlan], str]:
    """The replica policies to price for this setup (min_replicas as stated or the default,
    and scale to zero when unstated and ≥ SCALE_TO_ZERO_SAVING cheaper), or why none holds.

    ``beaten(replicas, ttft_s)``: whether a priced option already beats any plan billing at
    least ``replicas`` × 730 hours with a p95 TTFT of at least ``ttft_s``; such a policy is
    left out unpriced (it cannot reach the Pareto front)."""
    a, t = goal.availability, goal.traffic
    rps = point.load.rate_per_s
    profile = traffic_profile(goal)
    busiest = t.requests_per_month / SECONDS_PER_MONTH * max(profile.weights)
    need = max(1, math.ceil(max(t.peak_rate, busiest) / rps - 1e-9))
    if a.max_replicas is not None and a.max_replicas < need:
        return [], (
            f"the peak needs {need:,} replicas at {rps:.3g} requests/s each, more than "
            f"availability.max_replicas ({a.max_replicas})"
        )
    low = DEFAULT_MIN_REPLICAS if a.min_replicas is None else a.min_replicas
    high = a.max_replicas or max(need, low, 1)

    def plan(minimum: int) -> ReplicaPlan:
        return replica_plan(
            profile=profile,
            rate_per_replica=rps,
            min_replicas=minimum,
            max_replicas=high,
            cold_start_s=cold_s,
            ttft_s=point.ttft_s,
            requests_per_month=t.requests_per_month,
        )

    # Floors of each policy's bill in replicas (see _candidate): warm, at least the minimum;
    # scale to zero, at least the mean chance a replica is up (scale_to_zero_up).
    load_floor = t.requests_per_month / SECONDS_PER_MONTH / point.load_rate_bound
    zero_priced = prices_scale_to_zero(goal)
    warm_beaten = beaten(max(low, load_floor), point.ttft_s)
    zero_beaten = not zero_priced or beaten(
        max(scale_to_zero_up(profile, t.requests_per_month)[1], load_floor), point.ttft_s
    )
    if warm_beaten and zero_beaten:
        return [], ""
    warm = plan(low)  # scale to zero is weighed against it even when it is beaten
    plans = [] if warm_beaten else [warm]
    if not zero_beaten:
        zero = plan(0)
        if zero.replica_hours_per_month <= (1 - SCALE_TO_ZERO_SAVING) * (
            warm.replica_hours_per_month
        ):
            plans.append(zero)
    return plans, ""


def _options(
    goal: GoalSpec,
    c: ReplicaCandidate,
    point: _Point,
    replicas: int,
    cold: tuple[Term, ...],
    priced: _Front | None = None,
) -> tuple[list[_Option], list[str]]:
    """The priced options of one solved setup (one per replica policy; ``cold``: its cold
    start terms), and why a policy that was tried cannot serve; a policy an option in
    ``priced`` already beats is not priced."""
    per_replica_month = c.offer.usd_per_hour * HOURS_PER_MONTH

    def beaten(least_replicas: float, ttft_s: float) -> bool:
        return priced is not None and _beats(priced, least_replicas * per_replica_month, ttft_s)

    policies, why = _policies(goal, point, cold[-1].value, beaten)
    options = [_Option(c.fmt, c.tp, c.offer, point, replicas, pol, cold) for pol in policies]
    _, ttft_limit = _limits_s(goal)
    kept = [o for o in options if o.ttft_s <= ttft_limit]
    problems = [why] if why else []
    for o in options:
        if o.ttft_s > ttft_limit:
            pol = o.policy
            problems.append(
                f"scale to zero ({pol.replica_hours_per_month:,.0f} replica-h/month, "
                f"${o.monthly_usd:,.0f}/month): {pol.p_cold_start:.0%} of requests meet no "
                f"ready replica and wait {pol.cold_start_ttft_s:,.0f} s (replica cold start "
                f"{cold[-1].value:,.0f} s), so the p95 TTFT misses the target"
            )
    return kept, problems


def offer_basis(offer: OfferChoice) -> str:
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
    load = _load_terms(p)
    if o.cold_dominates:
        pol = o.policy
        load = [
            t.model_copy(update={"name": "serve.warm_ttft"}) if t.name == "serve.ttft" else t
            for t in load
        ]
        load.append(
            Term(
                name="serve.ttft",
                value=pol.cold_start_ttft_s,
                unit="s",
                formula=num(pol.cold_start_ttft_s),
                basis=f"p95 TTFT with scale to zero: {pol.p_cold_start:.1%} of requests "
                f"(serve.p_cold_start, more than {TTFT_TAIL:.0%}) meet no ready replica, so "
                "the p95 is a cold request's wait (serve.cold_start_ttft_s)",
            )
        )
    return (
        *read_terms(p.read_basis),
        *base,
        *load,
        *o.cold_start,
        *o.policy.terms,
        Term(
            name="serve.replicas",
            value=o.replicas,
            unit="replicas",
            formula=f"max(1, ceil({num(goal.traffic.peak_rate, 12)} / "
            f"{num(o.rps_per_replica, 12)}))",
            basis="peak requests/s / the rate one replica takes within the targets",
        ),
        Term(
            name="serve.monthly_usd",
            value=o.monthly_usd,
            unit="USD/month",
            formula=f"{num(o.policy.replica_hours_per_month)} × {num(o.offer.usd_per_hour)}",
            basis=f"replica-hours per month (serve.replica_hours_per_month) × "
            f"{offer_basis(o.offer)}",
        ),
    )


def _plan(goal: GoalSpec, o: _Option, offers: OfferIndex) -> ServingPlan:
    p = o.point
    plan = ServingPlan(
        quantization=o.quantization,
        tensor_parallel=o.tp,
        replicas=o.replicas,
        min_replicas=o.policy.min_replicas,
        max_replicas=o.policy.max_replicas,
        replica_hours_per_month=o.policy.replica_hours_per_month,
        p_cold_start=o.policy.p_cold_start,
        replica_cold_start_s=o.cold_start[-1].value,
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
        p95_ttft_s=o.ttft_s,
        output_tokens_per_s_per_stream=p.load.tokens_per_s_per_stream,
        monthly_usd=o.monthly_usd,
    )
    return plan.with_term_source(lambda: _serving_terms(goal, o))


def unservable(arch: ModelArch, quant: Quantization, tp: int, gpu: str, detail: str) -> Reason:
    return Reason(
        subject=f"serve {arch.id} {quant} on {tp}× {gpu}",
        constraint="GPU memory / latency targets",
        detail=detail,
        fix="a faster or larger GPU, more tensor parallelism, or a smaller weight format",
    )


def _too_many(subject: str, replicas: int) -> Reason:
    return Reason(
        subject=subject,
        constraint="replicas",
        detail=f"peak traffic needs {replicas:,} replicas, more than a plan may ask for "
        f"({MAX_REPLICAS:,})",
        fix="a faster GPU or format, or lower traffic.peak_requests_per_s",
    )


SPEED_CONTEXT_TOKENS = (1, 2048)
"""(prompt, output) tokens of the published format-speed measurements (the Qwen2.5 and Qwen3
speed benchmarks: batch 1, one prompt token, 2,048 generated), where the weights' read sets
the decode step."""


@dataclass(frozen=True)
class ReadBasis:
    """The numbers ``kernel_read_bytes`` solved with, kept so its Term is written only for a
    setup that reaches a plan (numbers only until then)."""

    quantization: Quantization
    speed: float  # serve.speed_vs_bf16, × bf16 at batch 1
    base_step_s: float  # the step model's batch-1 bf16 step
    target_s: float
    fixed_s: float
    bandwidth_bytes_per_s: float
    kv_bytes: float
    tp: int
    other: int
    linear: int
    nominal: float
    per_param: float

    def term(self) -> Term:
        """serve.weight_read_bytes_per_param with its formula and basis."""
        b = self
        return Term(
            name="serve.weight_read_bytes_per_param",
            value=b.per_param,
            unit="B",
            formula=f"max({num(b.nominal)}, ((({num(b.target_s, 12)} − {num(b.fixed_s, 12)}) "
            f"× {num(b.bandwidth_bytes_per_s, 12)} − {num(b.kv_bytes, 12)}) × {b.tp} − "
            f"{b.other:,} × 2) / {b.linear:,})",
            basis=f"the {b.quantization} kernels' read per linear weight that gives the "
            f"published decode speed (serve.speed_vs_bf16 = {b.speed:.3g}× bf16 at batch 1): "
            f"the step model's batch-1 bf16 step {b.base_step_s * 1e3:.3g} ms ÷ {b.speed:.3g}, "
            "less the fixed overheads and the KV read, over the linear weights; at least the "
            f"stored {num(b.nominal)} B",
        )


def read_terms(basis: ReadBasis | None) -> tuple[Term, ...]:
    """The read term of a setup, () when its weights read at their stored size."""
    return () if basis is None else (basis.term(),)


def kernel_read_bytes(
    arch: ModelArch, sku: GpuSku, tp: int, fmt: ServedFormat
) -> tuple[float | None, ReadBasis | None]:
    """(bytes a decode step pays per linear weight, how it was solved) of a quantized format
    whose decode speed is published (``fmt.speed_vs_bf16``, ×bf16 at batch 1): the read that
    makes the step model's batch-1 step bf16's ÷ that speed. Dequantizing kernels read slower
    than their bytes say (AWQ int4 at 0.5 B per weight decodes ~1.8× bf16, not ~4×); never
    below the stored size. (None, None) for bf16 and for formats without a published speed."""
    speed, quant = fmt.speed_vs_bf16, fmt.quantization
    if speed is None or quant is Quantization.BF16:
        return None, None
    prompt, output = SPEED_CONTEXT_TOKENS
    base = DecodeModel(
        arch,
        sku,
        ServingSetup(
            quantization=Quantization.BF16,
            tensor_parallel=tp,
            input_tokens=prompt,
            output_tokens=output,
        ),
    )
    # the all-reduces, overheads, KV read and bandwidth of a step do not depend on the
    # weights' format: the bf16 model's are the quantized one's
    base_step = base.step_s(1)
    target = base_step / speed.value
    fixed = base.allreduce_s(1) + base.overhead_s(1)
    kv = base.context_tokens * base.kv_bytes_per_token
    linear, other = serving_weight_params(arch)
    solved = ((target - fixed) * base.bandwidth_bytes_per_s - kv) * tp - other * 2.0
    nominal = bytes_per_param(quant)
    per_param = max(nominal, solved / linear)
    if per_param == nominal:
        return None, None
    return per_param, ReadBasis(
        quantization=quant,
        speed=speed.value,
        base_step_s=base_step,
        target_s=target,
        fixed_s=fixed,
        bandwidth_bytes_per_s=base.bandwidth_bytes_per_s,
        kv_bytes=kv,
        tp=tp,
        other=other,
        linear=linear,
        nominal=nominal,
        per_param=per_param,
    )


def replica_candidates(
    goal: GoalSpec,
    arch: ModelArch,
    offers: OfferIndex,
    gpus: dict[str, GpuSku],
    lengths: Lengths,
    reasons: list[Reason],
    formats: Callable[[GpuSku], ServedFormats],
    memo: SearchMemo | None = None,
) -> list[ReplicaCandidate]:
    """Every (GPU shape, format) the budget allows with its queue model and floors; a Reason
    appended for each one that cannot serve at all."""
    memo = SearchMemo() if memo is None else memo
    candidates: list[ReplicaCandidate] = []
    seen: dict[str, ServedFormats] = {}
    for gpu_name, count in offers.serving_shapes():
        if count not in TENSOR_PARALLEL or arch.num_attention_heads % count:
            continue
        sku = gpus[gpu_name]
        for offer, rtt_s, rtt_basis in offers.serving_choices(gpu_name, count):
            # the replicas always up: the stated minimum, else one unless scale to zero
            # (tried when min_replicas is unstated) could be cheaper
            always = goal.availability.min_replicas
            floor_usd = (0 if always is None else always) * offer.usd_per_hour * HOURS_PER_MONTH
            if over := budget_excesses(goal.budget, monthly_usd=floor_usd):
                reasons.append(
                    Reason(
                        subject=f"serve {arch.id} on {count}× {gpu_name}",
                        constraint=over[0].field,
                        detail=f"{always} replicas always up cost {over[0].detail}",
                        fix="raise budget.monthly_usd",
                    )
                )
                continue
            first = gpu_name not in seen
            if first:
                seen[gpu_name] = formats(sku)
            for fmt in _launchable(seen[gpu_name], arch, offer, reasons, first):
                found = _memo_candidate(
                    memo, goal, arch, sku, offer, count, lengths, fmt, (rtt_s, rtt_basis)
                )
                if isinstance(found, str):
                    reasons.append(unservable(arch, fmt.quantization, count, gpu_name, found))
                else:
                    candidates.append(found)
    return candidates


def _memo_candidate(
    memo: SearchMemo,
    goal: GoalSpec,
    arch: ModelArch,
    sku: GpuSku,
    offer: OfferChoice,
    count: int,
    lengths: Lengths,
    fmt: ServedFormat,
    network: tuple[float, str],
) -> ReplicaCandidate | str:
    """``_candidate`` of this setup, or the one another search of the goal built for it."""
    quant, speed = fmt.quantization, fmt.speed_vs_bf16
    room = _kv_room(arch, sku, quant, count, lengths)
    if isinstance(room, str):  # no decode model, read or queue is needed to say so
        return room
    read_key = (arch.id, sku.name, count, quant, speed and speed.value)
    if read_key not in memo.reads:
        memo.reads[read_key] = kernel_read_bytes(arch, sku, count, fmt)
    read, read_basis = memo.reads[read_key]
    key = (*read_key, offer, network, lengths)
    if key in memo.candidates:
        found = memo.candidates[key]
        return found if isinstance(found, str) else replace(found, fmt=fmt)
    setup = ServingSetup(
        quantization=quant,
        tensor_parallel=count,
        batch=1,
        input_tokens=lengths.input_mean,
        output_tokens=goal.traffic.avg_output_tokens,
        weight_read_bytes_per_param=read,
    )
    memo.candidates[key] = found = _candidate(
        goal,
        arch,
        sku,
        offer,
        setup,
        lengths,
        fmt,
        network=network,
        read_basis=read_basis,
        room=room,
    )
    return found


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


def context_reason(arch: ModelArch, lengths: Lengths) -> Reason | None:
    """Why the model cannot take the goal's longest request, or None when it can."""
    if lengths.max_model_len <= arch.max_context_tokens:
        return None
    return Reason(
        subject=f"serve {arch.id}",
        constraint="traffic.max_input_tokens / max_output_tokens",
        detail=f"the longest request ({lengths.input_max:,} prompt + "
        f"{lengths.output_max:,} output tokens) exceeds the model's "
        f"{arch.max_context_tokens:,}-token context",
        fix="state traffic.max_input_tokens and max_output_tokens (the defaults are "
        "4 × the averages), or choose a model with a longer context",
    )


def serving_options(
    goal: GoalSpec,
    arch: ModelArch,
    offers: OfferIndex,
    gpus: dict[str, GpuSku],
    *,
    formats: Callable[[GpuSku], ServedFormats],
    engine_start: EngineStart = lambda tp, per_weight: None,
    extra_input_tokens: int = 0,
    memo: SearchMemo | None = None,
) -> tuple[list[ServingPlan], list[Reason]]:
    """The Pareto front (cost × TTFT) of replica setups that meet the latency targets, and a
    Reason for every (format, GPU, tensor-parallel) setup that does not. ``formats(sku)``
    gives the weight formats the plan may serve on a GPU (planner.quantization);
    ``engine_start(tensor_parallel, bytes_per_weight)`` vLLM's start-up time
    (planner.quantization.cold_start_seconds), None when unpublished."""
    lengths = request_lengths(goal, extra_input_tokens)
    if (too_long := context_reason(arch, lengths)) is not None:
        return [], [too_long]
    reasons: list[Reason] = []
    memo = SearchMemo() if memo is None else memo
    candidates = replica_candidates(goal, arch, offers, gpus, lengths, reasons, formats, memo)
    options: list[_Option] = []
    front = _Front()
    candidates.sort(key=lambda c: (c.cost_floor_usd, c.ttft_floor_s, c.tp))
    for c in candidates:
        cold = _cold_start(memo, arch, c, engine_start)
        if _dominated(goal, c, cold[-1].value, front):
            continue
        subject = f"serve {arch.id} {c.fmt.quantization} on {c.tp}× {c.offer.gpu}"
        point = _memo_point(memo, goal, c, lengths, _ttft_cutoff(goal, c, cold[-1].value, front))
        if isinstance(point, Beyond):  # beaten on every policy: it cannot reach the front
            continue
        if isinstance(point, str):
            reasons.append(unservable(arch, c.fmt.quantization, c.tp, c.offer.gpu, point))
            continue
        replicas = max(1, math.ceil(goal.traffic.peak_rate / point.load.rate_per_s))
        if replicas > MAX_REPLICAS:
            reasons.append(_too_many(subject, replicas))
            continue
        found, problems = _options(goal, c, point, replicas, cold, front)
        options.extend(found)
        for o in found:
            front.add(o.monthly_usd, o.ttft_s)
        reasons.extend(
            unservable(arch, c.fmt.quantization, c.tp, c.offer.gpu, why) for why in problems
        )
    kept = pareto_front(
        options, cost=lambda o: o.monthly_usd, latency=lambda o: o.ttft_s, tiebreak=_tp
    )
    return [_plan(goal, o, offers) for o in kept], reasons


def _memo_point(
    memo: SearchMemo, goal: GoalSpec, c: ReplicaCandidate, lengths: Lengths, cutoff_s: float
) -> _Point | Beyond | str:
    """``_operating_point``, once per queue (a candidate reused from another search of the
    goal shares its queue); a ``Beyond`` depends on the search's options, so is not kept."""
    if (known := memo.points.get(c.queue)) is not None:
        return known
    point = _operating_point(goal, c, lengths, cutoff_s)
    if not isinstance(point, Beyond):
        memo.points[c.queue] = point
    return point


def _cold_start(
    memo: SearchMemo, arch: ModelArch, c: ReplicaCandidate, engine_start: EngineStart
) -> tuple[Term, ...]:
    """``cold_start_terms`` of the candidate, once per (model, format, tensor parallel)."""
    fmt = c.fmt
    key = (arch.id, fmt.quantization, fmt.vllm_quantization is not None, c.tp)
    if key not in memo.cold_starts:
        memo.cold_starts[key] = cold_start_terms(arch, fmt, c.tp, engine_start)
    return memo.cold_starts[key]


def _tp(option: _Option) -> int:
    return option.tp
