"""The planner's best plan equals a brute-force oracle's on small catalogs.

The oracle enumerates every (model, method, training GPU shape, offer) × (weight format,
serving GPU shape, offer) combination with the estimators directly — no decision graph, no
caching, no Pareto pruning, a scan of arrival rates through the replica's queue model — and
keeps the cheapest
first-year plan that fits memory, budget and latency.
"""

from __future__ import annotations

import math
from datetime import date
from functools import cache

import pytest

from catalog import Catalog, load_catalog, total_params
from planner.estimators.autoscale import replica_plan
from planner.estimators.efficiency import training_mfu
from planner.estimators.load import TARGET_UTILIZATION, Lengths, ReplicaQueue
from planner.estimators.serving import (
    DecodeModel,
    ServingSetup,
    kv_cache_bytes_per_token,
    replica_memory,
    runtime_overhead_bytes,
)
from planner.estimators.spot import CHECKPOINT_WRITE_BYTES_PER_S, checkpoint_bytes, spot_run
from planner.estimators.training_memory import TrainingSetup, estimate_training_memory
from planner.estimators.training_setup import MEMORY_LIMIT
from planner.estimators.training_time import training_flops_per_token
from planner.rank import plan_goal
from planner.serving_options import HOURS_PER_MONTH, traffic_profile, vllm_batch_limits
from planner.spec import DEFAULT_MIN_REPLICAS, Objective, parse_goal
from planner.training_options import (
    GLOBAL_BATCH_SEQUENCES,
    MICRO_BATCHES,
    OPTIMIZER,
    lora_rank_for,
    startup_hours,
    training_seq_len,
)
from planner.types import Method, Quantization

SHIPPED = load_catalog()


def small_catalog(gpus: list[str], models: list[str], clouds: set[str]) -> Catalog:
    offers = tuple(o for o in SHIPPED.offers if o.gpu in gpus and o.cloud in clouds)
    return Catalog(
        gpus=tuple(SHIPPED.gpu(g) for g in gpus),
        offers=offers,
        models=tuple(SHIPPED.model(m) for m in models),
        snapshot_date=date(2026, 5, 20),
    )


def goal_for(**overrides) -> dict:
    goal = {
        "name": "oracle",
        "task": {"type": "chat", "needs_custom_behavior": True},
        "data": {"train_examples": 4000, "avg_example_tokens": 700, "epochs": 2},
        "traffic": {
            "requests_per_month": 2_000_000,
            "peak_requests_per_s": 6,
            "avg_input_tokens": 600,
            "avg_output_tokens": 300,
        },
        "latency": {"p95_time_to_first_token_ms": 1500, "min_output_tokens_per_s": 15},
        "budget": {"training_usd": 400, "monthly_usd": 20_000},
        "privacy": {"data_can_leave": False},
        "preferences": {"objective": "cost", "spot": "allowed"},
    }
    for section, values in overrides.items():
        goal[section] = {**goal.get(section, {}), **values}
    return goal


@cache
def peak(arch, method, seq, rank, gpus, micro) -> float:
    """Peak GiB per GPU (memoized: offers share GPU counts)."""
    setup = TrainingSetup(
        method=method,
        seq_len_tokens=seq,
        micro_batch=micro,
        lora_rank=max(rank, 1),
        gpus=gpus,
        optimizer=OPTIMIZER[method],
    )
    return estimate_training_memory(arch, setup).peak_gib_per_gpu


def _spot_hours(catalog, cloud, arch, method, trainable, nodes, start, hours):
    """Expected billed hours of a spot run (low/high rates at the worst rate's interval), or
    None when spot cannot be priced or would lose over half the run."""
    row = catalog.spot_interruption(cloud)
    if row is None:
        return None
    low_h, mid_h, high_h = hours
    size = checkpoint_bytes(trainable, total_params(arch), full=method is Method.FULL)

    def at(rate, h, interval=None):
        return spot_run(
            rate_per_instance_hour=rate,
            nodes=nodes,
            checkpoint_bytes_total=size,
            startup_h=start,
            work_h=h - start,
            interval_h=interval,
        )

    tau = at(row.per_hour_high, mid_h).interval_h
    high = at(row.per_hour_high, high_h, tau)
    if not high.feasible:
        return None
    return (at(row.per_hour_low, low_h, tau).expected_hours + high.expected_hours) / 2


def _training_cost(goal, catalog, arch, method):
    """Cheapest fitting (GPU, GPUs, nodes, offer) by brute force, + the nodes' time writing
    its weights (planner.bill "weights out": final/, and for LoRA the base read and merged/
    written), or None."""
    rank = lora_rank_for(goal.data.train_examples) if method is not Method.FULL else 1
    seq = training_seq_len(goal, arch)
    best = None
    for offer in catalog.offers:
        sku = catalog.gpu(offer.gpu)
        if method is Method.QLORA and sku.vendor.value != "nvidia":
            continue
        prices = [(offer.price_usd_per_hour, False)]
        if offer.spot_price_usd_per_hour is not None and goal.preferences.spot != "never":
            prices.append((offer.spot_price_usd_per_hour, True))
        for nodes in (1, 2, 4, 8, 16) if offer.gpu_count == 8 else (1,):
            gpus = offer.gpu_count * nodes
            fits = [
                m
                for m in MICRO_BATCHES
                if peak(arch, method, seq, rank, gpus, m) <= MEMORY_LIMIT * sku.memory_gib
            ]
            if not fits:
                continue
            trainable = estimate_training_memory(
                arch, TrainingSetup(method=method, seq_len_tokens=seq, lora_rank=max(rank, 1))
            ).trainable_params
            per_token = training_flops_per_token(
                arch,
                method,
                seq_len_tokens=seq,
                trainable_params=trainable,
                gradient_checkpointing=True,
            )
            seconds = (
                goal.data.training_tokens * per_token / (gpus * sku.matmul_dense_tflops * 1e12)
            )
            mfu = training_mfu(  # the largest micro-batch that fits: the fastest
                method,
                sku,
                tokens_per_micro_step=fits[0] * seq,
                hidden_size=arch.hidden_size,
                gpus_per_node=offer.gpu_count,
                nodes=nodes,
            )
            start = startup_hours(arch)
            low_h, high_h = seconds / mfu.high / 3600 + start, seconds / mfu.low / 3600 + start
            hours = (low_h + high_h) / 2
            for price, spot in prices:
                if spot:  # the expected hours of planner.estimators.spot at the cloud's rate
                    expected = _spot_hours(
                        catalog,
                        offer.cloud,
                        arch,
                        method,
                        trainable,
                        nodes,
                        start,
                        (low_h, hours, high_h),
                    )
                    if expected is None:
                        continue
                    cost = expected * price * nodes
                else:
                    cost = hours * price * nodes
                if cost <= goal.budget.training_usd and (best is None or cost < best[0]):
                    moved = trainable * 2 + (0 if method is Method.FULL else 4 * total_params(arch))
                    out_hours = moved / CHECKPOINT_WRITE_BYTES_PER_S / 3600
                    best = (cost, out_hours * price * nodes)
    assert GLOBAL_BATCH_SEQUENCES > 0
    return None if best is None else sum(best)


@cache
def operating(arch, sku, tp, quant, traffic, latency) -> float:
    """Highest requests/s one replica takes within the limits, by a scan of 4,000 rates up to
    saturation (memoized: offers share GPU shapes); 0 when none qualifies."""
    setup = ServingSetup(
        quantization=quant,
        tensor_parallel=tp,
        batch=1,
        input_tokens=traffic.avg_input_tokens,
        output_tokens=traffic.avg_output_tokens,
    )
    lengths = Lengths(
        input_mean=traffic.avg_input_tokens,
        input_p95=2 * traffic.avg_input_tokens,
        input_max=4 * traffic.avg_input_tokens,
        output_mean=traffic.avg_output_tokens,
        output_p95=2 * traffic.avg_output_tokens,
        output_max=4 * traffic.avg_output_tokens,
    )
    weights, usable, _ = replica_memory(arch, sku, setup)
    kv_tokens = (usable - weights - runtime_overhead_bytes(arch, tp)) / kv_cache_bytes_per_token(
        arch, tensor_parallel=tp
    )
    if kv_tokens < lengths.max_model_len:
        return 0.0
    seqs, budget, _ = vllm_batch_limits(sku)
    model = DecodeModel(arch, sku, setup)
    queue = ReplicaQueue(
        model.step_lines(lengths.context_in_flight),
        lengths,
        max_num_seqs=seqs,
        max_num_batched_tokens=budget,
        kv_capacity_tokens=kv_tokens,
        moe_fixed_s=model.moe_memory_fixed_s if arch.is_moe else None,
    )
    saturation, best = queue.saturation_rate(), 0.0
    for k in range(1, 4001):
        rate = saturation * k / 4000
        p = queue.at(rate)
        if (
            rate <= TARGET_UTILIZATION * saturation
            and p.prefill_load <= TARGET_UTILIZATION
            and p.concurrency_p999 <= seqs
            and p.concurrency_p999 * lengths.context_in_flight <= kv_tokens
            and 1 / p.step_s >= latency.min_output_tokens_per_s
            and p.ttft_p95_s * 1000 <= latency.p95_time_to_first_token_ms
        ):
            best = rate
    return best


def _serving_costs(goal, catalog, arch):
    """(monthly $, TTFT s) of every serving setup that meets the targets, by brute force."""
    results = []
    for offer in catalog.offers:
        sku, tp = catalog.gpu(offer.gpu), offer.gpu_count
        if tp not in (1, 2, 4, 8) or arch.num_attention_heads % tp:
            continue
        # fine-tuned weights launch as bf16, or fp8 quantized by vLLM at load on an fp8 GPU
        # (int4/int8 would need a quantization step tailor does not run)
        formats = [Quantization.BF16] + ([Quantization.FP8] if sku.supports_fp8 else [])
        for quant in formats:
            rate = operating(arch, sku, tp, quant, goal.traffic, goal.latency)
            if not rate:
                continue
            replicas = max(1, math.ceil(goal.traffic.peak_requests_per_s / rate))
            # SkyServe's autoscaler follows the day: replica-hours, not replicas × 730 h
            # (planner.estimators.autoscale, checked against SkyPilot's own autoscaler)
            policy = replica_plan(
                profile=traffic_profile(goal),
                rate_per_replica=rate,
                min_replicas=DEFAULT_MIN_REPLICAS,
                max_replicas=replicas,
                cold_start_s=0.0,
                ttft_s=0.0,
                requests_per_month=goal.traffic.requests_per_month,
            )
            assert policy.replica_hours_per_month <= replicas * HOURS_PER_MONTH
            monthly = policy.replica_hours_per_month * offer.price_usd_per_hour
            if monthly <= goal.budget.monthly_usd:
                results.append((monthly, rate))
    return results


def oracle_best(goal, catalog) -> float | None:
    """Lowest first-year cost over every combination."""
    best = None
    for arch in catalog.models:
        serving = _serving_costs(goal, catalog, arch)
        if not serving:
            continue
        cheapest_month = min(m for m, _ in serving)
        for method in Method:
            training = _training_cost(goal, catalog, arch, method)
            if training is None:
                continue
            total = training + 12 * cheapest_month
            best = total if best is None else min(best, total)
    return best


CASES = [
    (["L4", "A100-80GB", "H100"], ["qwen2.5-1.5b", "llama-3.1-8b"], {"gcp", "lambda"}, {}),
    (["T4", "A10G", "L40S"], ["llama-3.2-3b", "mistral-7b"], {"aws"}, {}),
    (["A100", "H100"], ["qwen2.5-7b"], {"gcp", "azure"}, {"preferences": {"spot": "never"}}),
    (
        ["L4", "H100"],
        ["llama-3.1-8b", "qwen2.5-0.5b"],
        {"gcp", "lambda", "aws"},
        {"latency": {"p95_time_to_first_token_ms": 400, "min_output_tokens_per_s": 40}},
    ),
]


@pytest.mark.parametrize(("gpus", "models", "clouds", "overrides"), CASES)
def test_planner_matches_brute_force(gpus, models, clouds, overrides) -> None:
    catalog = small_catalog(gpus, models, clouds)
    goal = parse_goal(goal_for(**overrides))
    expected = oracle_best(goal, catalog)
    assert expected is not None, "the case must have a feasible plan"
    result = plan_goal(goal, catalog, objective=Objective.COST, top=1)
    assert result.plans[0].first_year_usd == pytest.approx(expected, rel=1e-9)
