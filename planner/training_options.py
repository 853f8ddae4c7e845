"""Training choices for one model and method: hyperparameters, GPUs, nodes, cost.

Every rentable (GPU, GPUs per instance) shape is tried on 1 node, and 8-GPU shapes on 2–16
nodes; the cheapest one that fits in memory and in the training budget is chosen, and every
other shape gets a Reason.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from catalog import GpuSku, ModelArch, total_params
from planner.budget import budget_excesses
from planner.estimators.terms import Term, num
from planner.estimators.training_memory import TrainingMemory, estimate_training_memory
from planner.estimators.training_setup import LORA_TARGETS, MEMORY_LIMIT, TrainingSetup
from planner.estimators.training_time import TrainingTime, estimate_training_time
from planner.offers import OfferIndex
from planner.plan import MAX_TRAINING_HOURS, OfferChoice, TrainingPlan
from planner.rules import Reason
from planner.spec import GoalSpec
from planner.types import Method, Optimizer, Precision

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


def _setup(method: Method, seq_len_tokens: int, rank: int, gpus: int, micro: int) -> TrainingSetup:
    return TrainingSetup(
        method=method,
        seq_len_tokens=seq_len_tokens,
        micro_batch=micro,
        lora_rank=rank,
        gpus=gpus,
        optimizer=OPTIMIZER[method],
        gradient_checkpointing=True,
    )


@lru_cache(maxsize=4096)
def _memory(
    arch: ModelArch, method: Method, seq_len_tokens: int, rank: int, gpus: int, micro: int
) -> TrainingMemory:
    """The memory estimate of one setup, cached: many GPU shapes share a GPU count."""
    return estimate_training_memory(arch, _setup(method, seq_len_tokens, rank, gpus, micro))


def _fitting_micro_batch(
    arch: ModelArch, method: Method, seq_len_tokens: int, rank: int, gpus: int, memory_gib: float
) -> tuple[int, TrainingMemory] | None:
    # Memory grows with the micro-batch: test 1 first, so a shape that cannot fit costs one
    # estimate, then the larger ones from the top.
    smallest = MICRO_BATCHES[-1]
    first = _memory(arch, method, seq_len_tokens, rank, gpus, smallest)
    if first.peak_gib_per_gpu > memory_gib:
        return None
    for micro in MICRO_BATCHES[:-1]:
        bigger = _memory(arch, method, seq_len_tokens, rank, gpus, micro)
        if bigger.peak_gib_per_gpu <= memory_gib:
            return micro, bigger
    return smallest, first


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


@dataclass(frozen=True)
class _Priced:
    """One GPU shape that fits: its micro-batch, and the memory and time estimates."""

    shape: tuple[str, int, int]
    micro: int
    memory: TrainingMemory
    timing: TrainingTime
    usd_per_hour: float
    """All nodes together."""
    precision: tuple[Precision, str]
    """The precision the GPU trains in, and why (``precision_for``)."""

    @property
    def cost_usd(self) -> float:
        return self.timing.hours * self.usd_per_hour


def _run(goal: GoalSpec, arch: ModelArch, method: Method) -> _Run:
    rank = lora_rank_for(goal.data.train_examples) if method is not Method.FULL else 0
    seq_len_tokens = training_seq_len(goal, arch)
    trainable = _memory(arch, method, seq_len_tokens, max(rank, 1), 1, 1).trainable_params
    tokens = goal.data.training_tokens
    return _Run(arch, method, seq_len_tokens, rank, trainable, tokens, startup_hours(arch))


def _price_shape(
    run: _Run, shape: tuple[str, int, int], offers: OfferIndex, catalog_gpu
) -> _Priced | str:
    gpu_name, per_node, nodes = shape
    sku, gpus = catalog_gpu(gpu_name), per_node * nodes
    if run.method is Method.QLORA and sku.vendor.value != "nvidia":
        return "QLoRA needs bitsandbytes' CUDA kernels (NVIDIA only)"
    rank = max(run.rank, 1)
    limit = MEMORY_LIMIT * sku.memory_gib
    fitting = _fitting_micro_batch(run.arch, run.method, run.seq_len_tokens, rank, gpus, limit)
    if fitting is None:
        needed = _memory(run.arch, run.method, run.seq_len_tokens, rank, gpus, 1).peak_gib_per_gpu
        return (
            f"needs {needed:.1f} GiB per GPU > {limit:.1f} GiB ({MEMORY_LIMIT * 100:.0f} % of "
            f"{sku.memory_gib:.1f} GiB: fragmentation headroom) (micro-batch 1, seq "
            f"{run.seq_len_tokens}, gradient checkpointing)"
        )
    price = offers.training_price(gpu_name, per_node)
    assert price is not None
    precision = precision_for(sku)
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
    )
    return _Priced(shape, fitting[0], fitting[1], timing, price * nodes, precision)


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
    terms.append(
        Term(
            name="train.cost_usd",
            value=best.cost_usd,
            unit="USD",
            formula=f"{num(timing.hours)} × {nodes} × {num(offer.usd_per_hour)}",
            basis=f"mid hours ({timing.hours_low:.2f}–{timing.hours_high:.2f} h) × nodes × "
            + offer_basis(offer),
        )
    )
    return tuple(terms)


def _training_plan(
    goal: GoalSpec, run: _Run, best: _Priced, offers: OfferIndex, catalog_gpu
) -> TrainingPlan:
    gpu_name, per_node, nodes = best.shape
    offer = offers.training(gpu_name, per_node)
    assert offer is not None
    lora, gpus = run.method is not Method.FULL, per_node * nodes
    timing, sku = best.timing, catalog_gpu(gpu_name)
    plan = TrainingPlan(
        method=run.method,
        lora_rank=run.rank if lora else None,
        lora_alpha=2 * run.rank if lora else None,
        lora_targets=LORA_TARGETS if lora else (),
        seq_len_tokens=run.seq_len_tokens,
        micro_batch=best.micro,
        gradient_accumulation=max(1, math.ceil(GLOBAL_BATCH_SEQUENCES / (best.micro * gpus))),
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
        alternative_offers=offers.training_alternatives(gpu_name, per_node),
        peak_memory_gib_per_gpu=round(best.memory.peak_gib_per_gpu, 2),
        gpu_memory_gib=sku.memory_gib,
        hours_low=timing.hours_low,
        hours_high=timing.hours_high,
        cost_usd_low=timing.hours_low * best.usd_per_hour,
        cost_usd_high=timing.hours_high * best.usd_per_hour,
    )
    return plan.with_term_source(lambda: _training_terms(best, offer, sku))


def _too_long(subject: str, hours: float) -> Reason:
    return Reason(
        subject=subject,
        constraint="training time",
        detail=f"{hours:,.0f} h (pessimistic) is longer than a plan may run "
        f"({MAX_TRAINING_HOURS:,.0f} h)",
        fix="train on fewer examples or epochs, or a smaller model",
    )


def choose_training(
    goal: GoalSpec, arch: ModelArch, method: Method, offers: OfferIndex, catalog_gpu
) -> tuple[TrainingPlan | None, list[Reason]]:
    """The cheapest training setup that fits memory and budget, and why each other was not."""
    run = _run(goal, arch, method)
    feasible, reasons = [], []
    single = [(gpu, count, 1) for gpu, count in offers.training_shapes()]
    fits_one_node: set[str] = set()
    for shape in itertools.chain(single, _multi_node_shapes(offers, fits_one_node)):
        subject = f"train {arch.id} {method} on {shape[2]}×{shape[1]}× {shape[0]}"
        priced = _price_shape(run, shape, offers, catalog_gpu)
        if isinstance(priced, str):
            reasons.append(
                Reason(
                    subject=subject,
                    constraint="GPU memory",
                    detail=priced,
                    fix="use a GPU with more memory, more GPUs, or QLoRA",
                )
            )
        elif priced.timing.hours_high > MAX_TRAINING_HOURS:
            reasons.append(_too_long(subject, priced.timing.hours_high))
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
        if not isinstance(priced, str) and shape[1:] == (8, 1):
            fits_one_node.add(shape[0])
    if not feasible:
        return None, reasons
    best = min(feasible, key=lambda p: (p.cost_usd, p.timing.hours_high, p.shape))
    return _training_plan(goal, run, best, offers, catalog_gpu), reasons
