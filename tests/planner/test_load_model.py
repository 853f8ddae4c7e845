"""The replica queue model (planner.estimators.load) against a discrete-event simulation of
vLLM's V1 scheduler (tests/planner/vllm_sim.py) with the same engine-step times.

Both sides get one step-time function: the roofline of planner.estimators.serving for a real
model and GPU, with the simulator reading each step's true KV (the model uses the mean context
in flight) and MoE weights read at the step's own tokens. Requests arrive as a Poisson process
with lognormal lengths of the plan's mean and p95, capped at the max. The model must land within
the stated tolerances at 20 %, 50 % and 80 % of its planned load:

- p95 TTFT within 30 % of the simulated p95;
- mean concurrency and the mean step a stream sees within 25 % for outputs of ≥ 50 tokens (a
  5-token answer's TPOT is four steps, dominated by whichever prompts happen to queue, and its
  slot in vLLM's running list is mostly prefill, which the model counts as queueing);
- the simulated engine never batches more than max_num_seqs sequences nor more than
  max_num_batched_tokens tokens in a step (the simulator's own invariant, checked in its tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from catalog import load_catalog
from planner.estimators.load import Lengths, ReplicaQueue, lognormal_sigma
from planner.estimators.serving import DecodeModel, ServingSetup
from planner.serving_options import _kv_capacity_tokens, vllm_batch_limits
from planner.types import Quantization
from tests.planner.vllm_sim import SimResult, poisson_requests, quantile, simulate

REQUESTS = 2500
LOADS = (0.25, 0.625, 1.0)  # shares of the planned rate (itself ≤ 80 % of saturation)


@dataclass(frozen=True)
class Case:
    model: str
    gpu: str
    quantization: str
    tp: int
    input_tokens: int
    output_tokens: int


CASES = [
    Case("llama-3.1-8b", "H100", "bf16", 1, 900, 250),  # chat on a large GPU
    Case("llama-3.1-8b", "L4", "bf16", 1, 900, 250),  # the same on a small one
    Case("qwen2.5-7b", "A10G", "int4", 1, 3000, 300),  # long prompts, chunked over steps
    Case("llama-3.2-3b", "V100", "bf16", 1, 400, 5),  # a classifier: prefill-bound
    Case("llama-3.1-70b", "H100", "fp8", 4, 2000, 500),  # tensor parallel
    Case("qwen3-30b-a3b", "L40S", "fp8", 1, 900, 250),  # MoE
]


def _setup(case: Case):
    catalog = load_catalog()
    arch, sku = catalog.model(case.model), catalog.gpu(case.gpu)
    i, o = case.input_tokens, case.output_tokens
    lengths = Lengths(i, 2 * i, 4 * i, o, 2 * o, 4 * o)
    setup = ServingSetup(
        quantization=Quantization(case.quantization),
        tensor_parallel=case.tp,
        batch=1,
        input_tokens=i,
        output_tokens=o,
    )
    model = DecodeModel(arch, sku, setup)
    _, kv_tokens = _kv_capacity_tokens(arch, sku, setup)
    seqs, budget, _ = vllm_batch_limits(sku)
    lines = model.step_lines(lengths.context_in_flight)
    moe = model.moe_memory_fixed_s if arch.is_moe else None
    queue = ReplicaQueue(
        lines,
        lengths,
        max_num_seqs=seqs,
        max_num_batched_tokens=budget,
        kv_capacity_tokens=kv_tokens,
        moe_fixed_s=moe,
    )
    # A decoding sequence's memory time: its KV read (the simulator's own, per step) plus the
    # per-sequence costs that do not depend on the context (sequence overhead, all-reduce).
    kv_seconds_per_token = model.kv_bytes_per_token / model.bandwidth_bytes_per_s
    per_sequence_s = (
        lines.memory_per_decode_s
        - lines.memory_per_prefill_s
        - lengths.context_in_flight * kv_seconds_per_token
    )

    def step_time_s(decode: int, prefill: int, kv_tokens_read: int) -> float:
        fixed = moe(decode + prefill) if moe else lines.memory_fixed_s
        memory = (
            fixed
            + kv_tokens_read * kv_seconds_per_token
            + decode * per_sequence_s
            + (decode + prefill) * lines.memory_per_prefill_s
        )
        compute = (
            lines.compute_fixed_s
            + decode * lines.compute_per_decode_s
            + prefill * lines.compute_per_prefill_s
        )
        return max(memory, compute)

    return queue, lengths, step_time_s, seqs, budget, int(kv_tokens)


def _lognormal(mean: float, p95: int, longest: int):
    sigma = lognormal_sigma(mean, p95)
    mu = math.log(mean) - sigma * sigma / 2
    return lambda rng: max(1, min(longest, round(rng.lognormvariate(mu, sigma))))


def _simulate(case: Case, rate: float) -> SimResult:
    _, n, step_time_s, seqs, budget, kv_tokens = _setup(case)
    requests = poisson_requests(
        rate,
        REQUESTS,
        input_tokens=_lognormal(n.input_mean, n.input_p95, n.input_max),
        output_tokens=_lognormal(n.output_mean, n.output_p95, n.output_max),
        seed=1,
    )
    return simulate(
        requests,
        step_time_s=step_time_s,
        max_num_seqs=seqs,
        max_num_batched_tokens=budget,
        kv_capacity_tokens=kv_tokens,
        warmup=REQUESTS // 10,
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.model}-{c.gpu}-{c.quantization}")
def test_the_queue_model_matches_the_scheduler_simulation(case: Case) -> None:
    queue, n, *_ = _setup(case)
    planned = queue.operating_rate(step_limit_s=math.inf, ttft_limit_s=math.inf)
    assert planned is not None
    assert planned.utilization <= 0.8 + 1e-9
    for share in LOADS:
        rate = planned.rate_per_s * share
        model = queue.at(rate)
        sim = _simulate(case, rate)
        simulated_ttft = quantile(sim.ttft_s, 0.95)
        where = f"{case} at {rate:.3g} req/s"
        assert model.ttft_p95_s == pytest.approx(simulated_ttft, rel=0.30), where
        if n.output_mean >= 50:  # vLLM's running list also holds the prompts being prefilled
            assert model.decode_concurrency == pytest.approx(sim.mean_running, rel=0.25), where
            mean_tpot = sum(sim.tpot_s) / len(sim.tpot_s)
            assert model.step_s == pytest.approx(mean_tpot, rel=0.25), where


def test_latency_grows_with_load_and_saturation_is_where_it_breaks() -> None:
    queue, *_ = _setup(CASES[0])
    saturation = queue.saturation_rate()
    shares = (0.1, 0.4, 0.7, 0.95)
    points = [queue.at(saturation * share) for share in shares]
    ttfts = [p.ttft_p95_s for p in points]
    assert ttfts == sorted(ttfts)
    for point, share in zip(points, shares, strict=True):
        assert point.utilization == pytest.approx(share, rel=1e-6)
    assert not math.isfinite(queue.at(saturation * 1.05).ttft_p95_s)


def test_the_rate_at_a_concurrency_inverts_the_concurrency_at_a_rate() -> None:
    queue, *_ = _setup(CASES[2])
    for d in (0.5, 2.0, 8.0):
        assert queue.steady_concurrency(queue.rate_at(d)) == pytest.approx(d, rel=1e-6)
