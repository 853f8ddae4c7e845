"""Training choices for one model and method: hyperparameters, GPUs, nodes, cost.

Every rentable (GPU, GPUs per instance) shape is tried on 1 node, and 8-GPU shapes on 2–16
nodes; the cheapest one that fits in memory and in the training budget is chosen, and every
other shape gets a Reason.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from catalog import GpuSku, ModelArch, SpotInterruption, total_params
from planner.budget import budget_excesses
from planner.estimators.spot import (
    CAPACITY_WARNING_GPUS,
    MAX_LOST_SHARE,
    MIN_INTERVAL_H,
    SpotRun,
    checkpoint_bytes,
    spot_run,
)
from planner.estimators.terms import Term, num
from planner.estimators.training_memory import TrainingMemory, estimate_training_memory
from planner.estimators.training_setup import (
    LORA_TARGETS,
    MEMORY_LIMIT,
    TrainingSetup,
    lora_target_names,
)
from planner.estimators.training_time import TrainingTime, estimate_training_time
from planner.offers import OfferIndex
from planner.plan import MAX_TRAINING_HOURS, OfferChoice, SpotRisk, TrainingPlan
from planner.rules import Reason
from planner.spec import GoalSpec
from planner.types import AttentionImpl, Method, Optimizer, Precision, Sharding

__all__ = [
    "choose_training",
    "lora_rank_for",
    "precision_for",
    "startup_hours",
    "training_seq_len",
]

GLOBAL_BATCH_SEQUENCES = 16  # sequences per optimizer step (common SFT default, e.g. TRL docs)
MULTI_NODE_COUNTS = (2, 4, 8, 16)
PROVISION_HOURS = 0.1  # instance start + SkyPilot setup (pip install of the pinned recipe)
DOWNLOAD_BYTES_PER_S = 500e6  # base weights from the Hugging Face hub: ~0.5 GB/s per node
MICRO_BATCHES = (8, 4, 2, 1)
LEARNING_RATE = {Method.FULL: 1e-5, Method.LORA: 2e-4, Method.QLORA: 2e-4}
OPTIMIZER = {
    Method.FULL: Optimizer.ADAMW,
    Method.LORA: Optimizer.ADAMW,
    Method.QLORA: Optimizer.PAGED_ADAMW_8BIT,
}  # QLoRA paper: paged optimizers


def lora_rank_for(train_examples: int) -> int:
    """LoRA rank by data size: seed 001 uses r=16 for 3,000 pairs and r=32 for 5,000."""
    if train_examples < 2_000:
        return 8
    if train_examples < 4_000:
        return 16
    if train_examples < 50_000:
        return 32
    return 64


def training_seq_len(goal: GoalSpec, arch: ModelArch) -> int:
    """Sequence length: the power of two ≥ 1.5 × the average example (≥ 256), ≤ the context."""
    avg = goal.data.avg_example_tokens or 1
    return min(arch.max_context_tokens, max(256, 2 ** math.ceil(math.log2(avg * 1.5))))


def precision_for(sku: GpuSku) -> tuple[Precision, str]:
    """(precision, why): bf16 mixed precision where the GPU has bf16 (no loss scaling, fp32
    master weights or adapters); else fp16 mixed precision with loss scaling at the fp16
    tensor peak (V100, T4: Volta/Turing tensor cores have fp16, not bf16)."""
    if sku.supports_bf16 and sku.bf16_dense_tflops is not None:
        return Precision.BF16_MIXED, f"{sku.name} has bf16: bf16 autocast, fp32 master weights"
    return Precision.FP16_MIXED, (
        f"{sku.name} has no bf16 ({sku.architecture}): fp16 autocast with dynamic loss "
        f"scaling, fp32 master weights, at the fp16 tensor peak {sku.fp16_dense_tflops:g} TFLOP/s"
    )


@dataclass(frozen=True)
class Knobs:
    """The recipe's knobs for one goal: the team's (preferences.training) or the planner's."""

    lora_targets: tuple[str, ...] = LORA_TARGETS
    sharding: Sharding = Sharding.FSDP
    packing: bool = True
    attention: AttentionImpl = AttentionImpl.SDPA
    precision: Precision | None = None
    """None: the GPU's (precision_for)."""

    @classmethod
    def of(cls, goal: GoalSpec) -> Knobs:
        t = goal.preferences.training
        return cls(
            lora_targets=lora_target_names(t.lora_targets),
            sharding=t.sharding or Sharding.FSDP,
            packing=t.packing,
            attention=t.attention,
            precision=t.precision,
        )

    def why(self, goal: GoalSpec) -> dict[str, str]:
        """Why each knob has its value (given by the goal, or the planner's default)."""
        t = goal.preferences.training
        fixed = t.model_fields_set
        return {
            "sharding": "given (preferences.training.sharding)"
            if t.sharding is not None
            else "weights, gradients and optimizer state sharded over the GPUs: the memory "
            "estimate and the fitted multi-GPU factor assume it",
            "packing": "given (preferences.training.packing)"
            if "packing" in fixed
            else "trl bfd, padding-free: no compute on padding",
            "attention": "given (preferences.training.attention)"
            if "attention" in fixed
            else "torch's FlashAttention-2 / memory-efficient kernels, no extra package",
            "lora_targets": "given (preferences.training.lora_targets)"
            if "lora_targets" in fixed
            else "every linear layer: the QLoRA paper finds adapting all of them needed to "
            "match 16-bit full fine-tuning",
        }


def _setup(
    knobs: Knobs, method: Method, seq_len_tokens: int, rank: int, shape: tuple[int, int], micro: int
) -> TrainingSetup:
    gpus, nodes = shape
    pure = knobs.precision is Precision.BF16_PURE
    return TrainingSetup(
        method=method,
        seq_len_tokens=seq_len_tokens,
        micro_batch=micro,
        lora_rank=rank,
        lora_targets=knobs.lora_targets,
        gpus=gpus,
        nodes=nodes,
        sharding=knobs.sharding,
        packing=knobs.packing,
        attention=knobs.attention,
        optimizer=OPTIMIZER[method],
        gradient_checkpointing=True,
        master_weights=not pure,
    )


@lru_cache(maxsize=4096)
def _memory(
    knobs: Knobs,
    arch: ModelArch,
    method: Method,
    seq_len_tokens: int,
    rank: int,
    shape: tuple[int, int],
    micro: int,
) -> TrainingMemory:
    """The memory estimate of one setup (shape: GPUs, nodes), cached: many GPU shapes share a
    GPU count."""
    setup = _setup(knobs, method, seq_len_tokens, rank, shape, micro)
    return estimate_training_memory(arch, setup)


def _fitting_micro_batch(
    run: _Run, rank: int, shape: tuple[int, int], memory_gib: float
) -> tuple[int, TrainingMemory] | None:
    # Memory grows with the micro-batch: test 1 first, so a shape that cannot fit costs one
    # estimate, then the larger ones from the top.
    smallest = MICRO_BATCHES[-1]
    args = (run.knobs, run.arch, run.method, run.seq_len_tokens, rank, shape)
    first = _memory(*args, smallest)
    if first.peak_gib_per_gpu > memory_gib:
        return None
    for micro in MICRO_BATCHES[:-1]:
        bigger = _memory(*args, micro)
        if bigger.peak_gib_per_gpu <= memory_gib:
            return micro, bigger
    return smallest, first


PRECISION_FIELD = "preferences.training.precision"


def _precision(knobs: Knobs, sku: GpuSku) -> tuple[Precision, str] | str:
    """The precision the GPU trains in and why, or why the goal's precision cannot run."""
    if knobs.precision is None:
        return precision_for(sku)
    if knobs.precision is not Precision.FP16_MIXED and not (
        sku.supports_bf16 and sku.bf16_dense_tflops is not None
    ):
        return f"{PRECISION_FIELD} {knobs.precision}: {sku.name} has no bf16 ({sku.architecture})"
    return knobs.precision, f"given (preferences.training.precision {knobs.precision})"


def startup_hours(arch: ModelArch) -> float:
    """Billed time before the first step: provisioning + setup + downloading bf16 weights."""
    return PROVISION_HOURS + total_params(arch) * 2 / DOWNLOAD_BYTES_PER_S / 3600


def _multi_node_shapes(offers: OfferIndex, fits_one_node: set[str]) -> Iterator[tuple]:
    """Multi-node shapes of 8-GPU instances whose single node does not fit the run.

    A generator: it reads ``fits_one_node`` only once the single-node shapes were priced. When
    one node fits, more nodes cost more (the same compute-hours, and every extra node pays the
    start-up time again), so those shapes are never the cheapest and are not tried.
    """
    for gpu, count in offers.training_shapes():
        if count == 8 and gpu not in fits_one_node:
            for nodes in MULTI_NODE_COUNTS:
                yield (gpu, 8, nodes)


@dataclass(frozen=True)
class _Run:
    """Everything fixed for one model and method, whatever the GPUs."""

    arch: ModelArch
    method: Method
    seq_len_tokens: int
    rank: int
    trainable_params: int
    tokens: int
    startup_hours: float
    knobs: Knobs
    example_tokens: int | None


@dataclass(frozen=True)
class _Spot:
    """A spot run's preemption model at the source's calm, planned and worst rates."""

    row: SpotInterruption
    low: SpotRun
    mid: SpotRun
    high: SpotRun
    on_demand_usd_per_hour: float | None
    """All nodes together, of the shape's cheapest on-demand instance; None when none."""
    cloud: str
    """The cloud whose spot instances (and rate) this is."""


@dataclass(frozen=True)
class _Priced:
    """One GPU shape and instance kind that fits: its micro-batch, the memory and time
    estimates, and (spot) the preemption model."""

    shape: tuple[str, int, int]
    micro: int
    memory: TrainingMemory
    timing: TrainingTime
    usd_per_hour: float
    """All nodes together."""
    precision: tuple[Precision, str]
    """The precision the GPU trains in, and why (``precision_for``)."""
    spot: _Spot | None = None

    @property
    def hours_low(self) -> float:
        return self.spot.low.expected_hours if self.spot else self.timing.hours_low

    @property
    def hours_high(self) -> float:
        return self.spot.high.expected_hours if self.spot else self.timing.hours_high

    @property
    def cost_usd(self) -> float:
        """Mid of the low and high cost (spot: expected, preemptions included), $."""
        return (self.hours_low + self.hours_high) / 2 * self.usd_per_hour


def _run(goal: GoalSpec, arch: ModelArch, method: Method) -> _Run:
    rank = lora_rank_for(goal.data.train_examples) if method is not Method.FULL else 0
    seq_len_tokens = training_seq_len(goal, arch)
    knobs = Knobs.of(goal)
    trainable = _memory(knobs, arch, method, seq_len_tokens, max(rank, 1), (1, 1), 1)
    return _Run(
        arch,
        method,
        seq_len_tokens,
        rank,
        trainable.trainable_params,
        goal.data.training_tokens,
        startup_hours(arch),
        knobs,
        goal.data.avg_example_tokens,
    )


SpotRates = Callable[[str], SpotInterruption | None]


def _price_shape(
    run: _Run, shape: tuple[str, int, int], offers: OfferIndex, catalog_gpu, spot_rates: SpotRates
) -> list[_Priced | str] | str:
    gpu_name, per_node, nodes = shape
    sku, gpus = catalog_gpu(gpu_name), per_node * nodes
    if run.method is Method.QLORA and sku.vendor.value != "nvidia":
        return "QLoRA needs bitsandbytes' CUDA kernels (NVIDIA only)"
    precision = _precision(run.knobs, sku)
    if isinstance(precision, str):
        return precision
    rank = max(run.rank, 1)
    limit = MEMORY_LIMIT * sku.memory_gib
    fitting = _fitting_micro_batch(run, rank, (gpus, nodes), limit)
    if fitting is None:
        args = (run.knobs, run.arch, run.method, run.seq_len_tokens, rank, (gpus, nodes), 1)
        needed = _memory(*args).peak_gib_per_gpu
        return (
            f"needs {needed:.1f} GiB per GPU > {limit:.1f} GiB ({MEMORY_LIMIT * 100:.0f} % of "
            f"{sku.memory_gib:.1f} GiB: fragmentation headroom) (micro-batch 1, seq "
            f"{run.seq_len_tokens}, gradient checkpointing)"
        )
    prices = offers.training_prices(gpu_name, per_node)
    assert prices
    timing = estimate_training_time(
        run.arch,
        sku,
        gpus,
        run.method,
        tokens=run.tokens,
        seq_len_tokens=run.seq_len_tokens,
        trainable_params=run.trainable_params,
        gradient_checkpointing=True,
        startup_hours=run.startup_hours,
        precision=precision[0],
        micro_batch=fitting[0],
        nodes=nodes,
        packing=run.knobs.packing,
        example_tokens=run.example_tokens,
    )
    priced: list[_Priced | str] = []
    on_demand = prices.get(False)
    if on_demand is not None:
        priced.append(_Priced(shape, fitting[0], fitting[1], timing, on_demand * nodes, precision))
    for cloud in offers.spot_clouds(gpu_name, per_node) if True in prices else []:
        offer = offers.training_of(gpu_name, per_node, spot=True, cloud=cloud)
        assert offer is not None
        base = _Priced(shape, fitting[0], fitting[1], timing, offer.usd_per_hour * nodes, precision)
        ceiling = on_demand and on_demand * nodes
        priced.append(_with_spot(run, base, spot_rates(cloud), cloud, ceiling))
    return priced


def _with_spot(
    run: _Run,
    base: _Priced,
    row: SpotInterruption | None,
    cloud: str,
    on_demand_usd_per_hour: float | None,
) -> _Priced | str:
    """The spot variant of a priced shape: expected hours at the cloud's cited interruption
    rate (low, mid, high), checkpointing at Young's interval for the worst rate (so a stormy
    week still finishes; at calmer rates it only writes a few more checkpoints); or why spot
    is not planned (no rate known, or the worst rate would lose over half the run)."""
    if row is None:
        return f"spot on {cloud}: the catalog has no interruption rate to price it at"
    nodes, timing = base.shape[2], base.timing
    start = run.startup_hours
    size = checkpoint_bytes(
        run.trainable_params, total_params(run.arch), full=run.method is Method.FULL
    )

    def at(rate: float, hours: float, interval: float | None = None) -> SpotRun:
        return spot_run(
            rate_per_instance_hour=rate,
            nodes=nodes,
            checkpoint_bytes_total=size,
            startup_h=start,
            work_h=hours - start,
            interval_h=interval,
        )

    worst = at(row.per_hour_high, timing.hours)  # Young's interval for the worst rate
    mid = at(row.per_hour_mid, timing.hours, worst.interval_h)
    high = at(row.per_hour_high, timing.hours_high, worst.interval_h)
    if not high.feasible:
        return (
            f"spot on {cloud}: at the worst cited rate ({row.per_hour_high:g}/h per instance × "
            f"{nodes} node(s)) preemptions would take {high.lost_share:.0%} of the run's time "
            f"(more than {MAX_LOST_SHARE:.0%}: it might never finish)"
        )
    low = at(row.per_hour_low, timing.hours_low, mid.interval_h)
    spot = _Spot(row, low, mid, high, on_demand_usd_per_hour, cloud)
    return _Priced(
        base.shape, base.micro, base.memory, timing, base.usd_per_hour, base.precision, spot
    )


def offer_basis(offer: OfferChoice) -> str:
    kind = "spot" if offer.spot else "on-demand"
    return (
        f"{offer.cloud}/{offer.region} {offer.instance_type} ({offer.gpus_per_instance}× "
        f"{offer.gpu}) {kind} ${offer.usd_per_hour:.4g}/h, price of {offer.retrieved_on}"
    )


def _training_terms(best: _Priced, offer: OfferChoice, sku) -> tuple[Term, ...]:
    """The chosen shape's memory, time and cost terms, from the numbers that chose it."""
    memory, timing, nodes = best.memory, best.timing, best.shape[2]
    terms = [t.model_copy(update={"name": f"train.memory.{t.name}"}) for t in memory.breakdown]
    terms.append(
        Term(
            name="train.memory.peak_per_gpu",
            value=memory.peak_gib_per_gpu,
            unit="GiB",
            formula=" + ".join(num(t.value) for t in memory.breakdown),
            basis=f"sum of the train.memory terms; fits in {sku.memory_gib:.2f} GiB "
            f"({sku.name}: {sku.memory_note or sku.source})",
        )
    )
    terms.append(
        Term(
            name="train.memory.utilization",
            value=memory.peak_gib_per_gpu / sku.memory_gib,
            unit="fraction",
            formula=f"{num(memory.peak_gib_per_gpu)} / {num(sku.memory_gib)}",
            basis="estimated peak / the GPU's memory; a setup fits at ≤ "
            f"{MEMORY_LIMIT * 100:.0f} % (assumption, MEMORY_LIMIT: allocator fragmentation and "
            "step-to-step variation)",
        )
    )
    terms += [t.model_copy(update={"name": f"train.{t.name}"}) for t in timing.terms()]
    if best.spot is not None:
        terms += _spot_terms(best, best.spot, offer)
    hours = (best.hours_low + best.hours_high) / 2
    terms.append(
        Term(
            name="train.cost_usd",
            value=best.cost_usd,
            unit="USD",
            formula=f"{num(hours)} × {nodes} × {num(offer.usd_per_hour)}",
            basis=f"mid hours ({best.hours_low:.2f}–{best.hours_high:.2f} h"
            + (", preemptions included: train.spot.hours_*" if best.spot else "")
            + ") × nodes × "
            + offer_basis(offer),
        )
    )
    return tuple(terms)


def _spot_terms(best: _Priced, spot: _Spot, offer: OfferChoice) -> list[Term]:
    """The preemption model's numbers (planner.estimators.spot)."""
    mid, row, nodes = spot.mid, spot.row, best.shape[2]
    rate_basis = (
        f"{row.per_hour_mid:g} preemptions per instance-hour (range {row.per_hour_low:g}–"
        f"{row.per_hour_high:g}) × {nodes} node(s): {row.applies_to} ({row.source}, read "
        f"{row.retrieved_on})"
    )
    terms = [
        Term(
            name="train.spot.rate_per_hour",
            value=mid.rate_per_hour,
            unit="1/h",
            formula=f"{num(row.per_hour_mid)} × {nodes}",
            basis=rate_basis,
        ),
        Term(
            name="train.spot.checkpoint_write_h",
            value=mid.checkpoint_write_h,
            unit="h",
            formula=f"{num(mid.checkpoint_write_h * nodes * 200e6 * 3600)} / {nodes} / 200e6 "
            "/ 3600",
            basis="full: 14 B per parameter (bf16 weights, fp32 master, Adam moments), LoRA: 12 B "
            "per trainable parameter, each node writing its share at 200 MB/s (assumption, "
            "CHECKPOINT_WRITE_BYTES_PER_S)",
        ),
        Term(
            name="train.spot.checkpoint_interval_h",
            value=mid.interval_h,
            unit="h",
            formula=f"min(max((2 × {num(mid.checkpoint_write_h, 12)} / "
            f"{num(spot.high.rate_per_hour, 12)}) ^ 0.5, {num(MIN_INTERVAL_H, 12)}), "
            f"max({num(mid.work_h, 12)}, {num(MIN_INTERVAL_H, 12)}))",
            basis="Young (1974) first-order optimum √(2C/λ) at the worst cited rate, at least "
            "5 min, at most the run; "
            f"rendered as save_steps = {best.timing.tokens_per_s:,.0f} tokens/s × interval / "
            "tokens per optimizer step",
        ),
    ]
    for name, run in (("low", spot.low), ("mid", spot.mid), ("high", spot.high)):
        terms.append(
            Term(
                name=f"train.spot.hours_{name}",
                value=run.expected_hours,
                unit="h",
                formula=run.formula(),
                basis=f"expected billed hours at the {name} rate: (start-up + work × (1 + C/τ)) "
                "/ (1 − λ × (restart + τ/2)); restart = the start-up hours again",
            )
        )
    terms.append(
        Term(
            name="train.spot.expected_cost_usd",
            value=mid.expected_hours * best.usd_per_hour,
            unit="USD",
            formula=f"{num(mid.expected_hours)} × {num(best.usd_per_hour)}",
            basis="expected hours at the mid rate and mid MFU × the spot $/h of all nodes",
        )
    )
    if spot.on_demand_usd_per_hour is not None:
        terms.append(
            Term(
                name="train.spot.on_demand_ceiling_usd",
                value=best.timing.hours * spot.on_demand_usd_per_hour,
                unit="USD",
                formula=f"{num(best.timing.hours)} × {num(spot.on_demand_usd_per_hour)}",
                basis="the same run's mid hours on the shape's cheapest on-demand instance "
                f"(never preempted), against the spot plan on {offer.cloud}",
            )
        )
    return terms


def _training_plan(
    goal: GoalSpec, run: _Run, best: _Priced, offers: OfferIndex, catalog_gpu
) -> TrainingPlan:
    gpu_name, per_node, nodes = best.shape
    spot = best.spot is not None
    cloud = best.spot.cloud if best.spot is not None else None
    offer = offers.training_of(gpu_name, per_node, spot=spot, cloud=cloud)
    assert offer is not None
    lora, gpus = run.method is not Method.FULL, per_node * nodes
    timing, sku = best.timing, catalog_gpu(gpu_name)
    accumulation = max(1, math.ceil(GLOBAL_BATCH_SEQUENCES / (best.micro * gpus)))
    step_tokens = best.micro * accumulation * gpus * run.seq_len_tokens
    risk, save_steps = None, DEFAULT_SAVE_STEPS
    if best.spot is not None:
        steps_per_hour = timing.tokens_per_s * 3600 / step_tokens
        save_steps = max(1, math.floor(best.spot.mid.interval_h * steps_per_hour))
        if save_steps >= DEFAULT_SAVE_STEPS:  # a multiple of the eval cadence (early stopping)
            save_steps -= save_steps % DEFAULT_SAVE_STEPS
        risk = _spot_risk(best, best.spot, per_node)
    plan = TrainingPlan(
        method=run.method,
        lora_rank=run.rank if lora else None,
        lora_alpha=2 * run.rank if lora else None,
        lora_targets=run.knobs.lora_targets if lora else (),
        sharding=run.knobs.sharding if gpus > 1 else None,
        packing=run.knobs.packing,
        attention=run.knobs.attention,
        seq_len_tokens=run.seq_len_tokens,
        micro_batch=best.micro,
        gradient_accumulation=accumulation,
        gradient_checkpointing=True,
        precision=best.precision[0],
        optimizer=str(OPTIMIZER[run.method]),
        learning_rate=LEARNING_RATE[run.method],
        epochs=goal.data.epochs,
        train_examples=goal.data.training_examples,
        tokens=run.tokens,
        gpus_per_node=per_node,
        nodes=nodes,
        offer=offer,
        alternative_offers=offers.training_alternatives_of(
            gpu_name, per_node, spot=spot, cloud=cloud
        ),
        peak_memory_gib_per_gpu=round(best.memory.peak_gib_per_gpu, 2),
        gpu_memory_gib=sku.memory_gib,
        hours_low=best.hours_low,
        hours_high=best.hours_high,
        cost_usd_low=best.hours_low * best.usd_per_hour,
        cost_usd_high=best.hours_high * best.usd_per_hour,
        save_steps=save_steps,
        spot=risk,
    )
    return plan.with_term_source(lambda: _training_terms(best, offer, sku))


DEFAULT_SAVE_STEPS = 100  # on demand: a checkpoint every 100 optimizer steps (resume after a fault)


def _spot_risk(best: _Priced, spot: _Spot, per_node: int) -> SpotRisk:
    mid = spot.mid
    capacity = (
        f"{per_node}-GPU spot instances are often unobtainable (SkyPilot's AWS trace: 8× V100 "
        "spot could be launched 47–48 % of the time against 72–79 % for 1× V100; no trace of "
        "newer 8-GPU shapes): the job may wait for capacity"
        if per_node >= CAPACITY_WARNING_GPUS
        else None
    )
    return SpotRisk(
        rate_per_hour=mid.rate_per_hour,
        rate_low_per_hour=spot.low.rate_per_hour,
        rate_high_per_hour=spot.high.rate_per_hour,
        rate_source=f"{spot.row.cloud}: {spot.row.source}",
        checkpoint_every_hours=mid.interval_h,
        checkpoint_write_hours=mid.checkpoint_write_h,
        restart_hours=mid.restart_h,
        expected_preemptions=mid.expected_preemptions,
        expected_usd=mid.expected_hours * best.usd_per_hour,
        uninterrupted_usd=best.timing.hours * best.usd_per_hour,
        on_demand_usd=(
            None
            if spot.on_demand_usd_per_hour is None
            else best.timing.hours * spot.on_demand_usd_per_hour
        ),
        capacity_warning=capacity,
    )


def _too_long(subject: str, hours: float) -> Reason:
    return Reason(
        subject=subject,
        constraint="training time",
        detail=f"{hours:,.0f} h (pessimistic) is longer than a plan may run "
        f"({MAX_TRAINING_HOURS:,.0f} h)",
        fix="train on fewer examples or epochs, or a smaller model",
    )


def choose_training(
    goal: GoalSpec,
    arch: ModelArch,
    method: Method,
    offers: OfferIndex,
    catalog_gpu,
    spot_rates: SpotRates = lambda cloud: None,
) -> tuple[TrainingPlan | None, list[Reason]]:
    """The cheapest training setup that fits memory and budget (spot at its expected cost,
    ``spot_rates(cloud)`` giving the cited interruption rate), and why each other was not."""
    run = _run(goal, arch, method)
    feasible: list[_Priced] = []
    reasons: list[Reason] = []
    single = [(gpu, count, 1) for gpu, count in offers.training_shapes()]
    fits_one_node: set[str] = set()
    for shape in itertools.chain(single, _multi_node_shapes(offers, fits_one_node)):
        subject = f"train {arch.id} {method} on {shape[2]}×{shape[1]}× {shape[0]}"
        found = _price_shape(run, shape, offers, catalog_gpu, spot_rates)
        if isinstance(found, str) and found.startswith(PRECISION_FIELD):
            reasons.append(
                Reason(
                    subject=subject,
                    constraint=PRECISION_FIELD,
                    detail=found.removeprefix(PRECISION_FIELD + " ").strip(),
                    fix="set preferences.training.precision to fp16-mixed, or leave it out",
                )
            )
            continue
        if isinstance(found, str):
            reasons.append(
                Reason(
                    subject=subject,
                    constraint="GPU memory",
                    detail=found,
                    fix="use a GPU with more memory, more GPUs, or QLoRA",
                )
            )
            continue
        if shape[1:] == (8, 1):
            fits_one_node.add(shape[0])
        for priced in found:
            _judge(goal, subject, priced, feasible, reasons)
    if not feasible:
        return None, reasons
    best = min(feasible, key=lambda p: (p.cost_usd, p.hours_high, p.shape, p.spot is not None))
    return _training_plan(goal, run, best, offers, catalog_gpu), reasons


def _judge(
    goal: GoalSpec,
    subject: str,
    priced: _Priced | str,
    feasible: list[_Priced],
    reasons: list[Reason],
) -> None:
    """Keep a priced setup that is short enough and within budget, else say why not."""
    if isinstance(priced, str):
        reasons.append(
            Reason(
                subject=subject + " spot",
                constraint="preferences.spot",
                detail=priced,
                fix="train on demand (preferences.spot: never), or on fewer nodes",
            )
        )
    elif priced.hours_high > MAX_TRAINING_HOURS:
        reasons.append(_too_long(subject, priced.hours_high))
    elif over := budget_excesses(goal.budget, one_time_usd=priced.cost_usd):
        reasons.append(
            Reason(
                subject=subject,
                constraint=over[0].field,
                detail=over[0].detail,
                fix="raise budget.training_usd or train on fewer tokens",
            )
        )
    else:
        feasible.append(priced)
