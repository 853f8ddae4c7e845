"""The vLLM V1 scheduler simulation (tests/planner/vllm_sim.py) against exact hand counts, the
scheduler's own caps, and queueing theory (M/D/1 Pollaczek-Khinchine, Lindley, Little)."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from tests.planner.vllm_sim import (
    SimRequest,
    SimResult,
    poisson_requests,
    quantile,
    simulate,
)

BIG_KV = 1_000_000  # tokens: no KV pressure


def linear_step(d: int, p: int, k: int) -> float:
    """A made-up but shaped step time: fixed cost, per decode sequence, per prefill token, per KV
    token read. Only its shape matters to these tests."""
    return 0.005 + 1e-4 * d + 2e-5 * p + 1e-8 * k


def constant_step(_d: int, _p: int, _k: int) -> float:
    """Every step takes 10 ms, whatever it holds (a deterministic server)."""
    return 0.01


# -- one request alone ------------------------------------------------------------------------


def test_single_request_chunks_and_latencies_are_exact() -> None:
    prompt, out, budget = 5000, 7, 2048
    res = simulate(
        [SimRequest(0.0, prompt, out)],
        step_time_s=linear_step,
        max_num_seqs=4,
        max_num_batched_tokens=budget,
        kv_capacity_tokens=BIG_KV,
        trace=True,
    )
    # Chunked prefill: 2048 + 2048 + 904, each chunk attending to the prefix before it.
    assert [s.chunks for s in res.steps[:3]] == [(2048,), (2048,), (904,)]
    prefill = [linear_step(0, 2048, 2048), linear_step(0, 2048, 4096), linear_step(0, 904, 5000)]
    # Then out - 1 decode steps: the k-th feeds output token k, context prompt + k.
    decode = [linear_step(1, 0, prompt + k) for k in range(1, out)]
    assert len(res.steps) == 3 + out - 1
    assert res.ttft_s[0] == pytest.approx(sum(prefill), rel=1e-12)
    assert res.e2e_s[0] == pytest.approx(sum(prefill) + sum(decode), rel=1e-12)
    assert res.tpot_s[0] == pytest.approx(sum(decode) / (out - 1), rel=1e-12)
    assert res.preemptions == 0
    assert res.busy_fraction == pytest.approx(1.0)
    assert res.output_tokens_per_s == pytest.approx(out / res.e2e_s[0])


def test_one_token_output_finishes_at_first_token() -> None:
    res = simulate(
        [SimRequest(2.0, 100, 1)],
        step_time_s=constant_step,
        max_num_seqs=1,
        max_num_batched_tokens=2048,
        kv_capacity_tokens=BIG_KV,
    )
    assert res.ttft_s == res.e2e_s
    assert res.ttft_s == pytest.approx((0.01,))
    assert res.tpot_s == ()


# -- the scheduler's caps ---------------------------------------------------------------------


def test_budget_and_max_num_seqs_are_never_exceeded() -> None:
    budget, seqs = 512, 16
    reqs = poisson_requests(
        40.0,
        600,
        input_tokens=lambda r: r.randint(10, 1500),
        output_tokens=lambda r: r.randint(1, 60),
        seed=7,
    )
    res = simulate(
        reqs,
        step_time_s=linear_step,
        max_num_seqs=seqs,
        max_num_batched_tokens=budget,
        kv_capacity_tokens=BIG_KV,
        trace=True,
    )
    assert len(res.e2e_s) == 600
    assert max(s.running_seqs for s in res.steps) == seqs  # the cap binds, and holds
    for s in res.steps:
        assert sum(s.chunks) == s.decode_seqs + s.prefill_tokens <= budget
        assert s.scheduled_seqs <= s.running_seqs <= seqs
    # Each prompt is computed exactly once (no preemption here), in chunks: prompts longer than
    # the budget take at least ceil(prompt / budget) steps.
    prefilled = [0] * len(reqs)
    prefill_steps = [0] * len(reqs)
    for s in res.steps:
        for i, n in zip(s.request_ids, s.chunks, strict=True):
            if prefilled[i] < reqs[i].input_tokens:
                prefilled[i] += n
                prefill_steps[i] += 1
    assert prefilled == [r.input_tokens for r in reqs]
    long = [i for i, r in enumerate(reqs) if r.input_tokens > budget]
    assert long
    assert all(prefill_steps[i] >= -(-reqs[i].input_tokens // budget) for i in long)
    total_out = sum(r.output_tokens for r in reqs)
    assert sum(s.decode_seqs for s in res.steps) == total_out - len(reqs)  # first tokens: prefill


def test_long_prefill_threshold_caps_chunks_unless_alone() -> None:
    reqs = [SimRequest(0.0, 3000, 4), SimRequest(0.0, 3000, 4)]
    res = simulate(
        reqs,
        step_time_s=constant_step,
        max_num_seqs=4,
        max_num_batched_tokens=2048,
        kv_capacity_tokens=BIG_KV,
        long_prefill_token_threshold=500,
        trace=True,
    )
    # config/scheduler.py:79-84: the cap applies while more than one request is eligible.
    assert res.steps[0].chunks == (500, 500)
    assert all(max(s.chunks) <= 500 for s in res.steps)
    alone = simulate(
        reqs[:1],
        step_time_s=constant_step,
        max_num_seqs=4,
        max_num_batched_tokens=2048,
        kv_capacity_tokens=BIG_KV,
        long_prefill_token_threshold=500,
        trace=True,
    )
    assert alone.steps[0].chunks == (2048,)


# -- queueing theory --------------------------------------------------------------------------


@pytest.mark.parametrize(("rho", "n"), [(0.5, 40_000), (0.8, 150_000)])
def test_single_slot_is_md1_pollaczek_khinchine(rho: float, n: int) -> None:
    # max_num_seqs=1, fixed lengths, constant steps: an M/D/1 queue with S = 2 steps (one prefill
    # step, one decode step). Mean wait = rho S / (2 (1 - rho)). Seeds 0-9 all land within 4 %.
    service = 2 * 0.01
    reqs = poisson_requests(rho / service, n, input_tokens=100, output_tokens=2, seed=0)
    res = simulate(
        reqs,
        step_time_s=constant_step,
        max_num_seqs=1,
        max_num_batched_tokens=2048,
        kv_capacity_tokens=BIG_KV,
        warmup=500,
    )
    wait = statistics.fmean(res.ttft_s) - 0.01  # TTFT = wait + the prefill step
    assert wait == pytest.approx(rho * service / (2 * (1 - rho)), rel=0.05)
    assert res.busy_fraction == pytest.approx(rho, rel=0.02)
    assert res.mean_running == pytest.approx(rho, rel=0.02)  # one slot: L_service = rho


def test_single_slot_waits_follow_lindley_exactly() -> None:
    service = 5 * 0.01  # prompt in 1 step + 4 decode steps
    reqs = poisson_requests(0.9 / service, 2000, input_tokens=300, output_tokens=5, seed=3)
    res = simulate(
        reqs,
        step_time_s=constant_step,
        max_num_seqs=1,
        max_num_batched_tokens=2048,
        kv_capacity_tokens=BIG_KV,
    )
    wait, prev_arrival = 0.0, reqs[0].arrival_s
    for i, r in enumerate(reqs):
        wait = max(0.0, wait + service - (r.arrival_s - prev_arrival)) if i else 0.0
        prev_arrival = r.arrival_s
        assert res.ttft_s[i] - 0.01 == pytest.approx(wait, abs=1e-9)
        assert res.e2e_s[i] == pytest.approx(wait + service, abs=1e-9)


def test_throughput_matches_arrivals_below_saturation() -> None:
    rate, out = 20.0, 32
    reqs = poisson_requests(rate, 4000, input_tokens=256, output_tokens=out, seed=11)
    res = simulate(
        reqs,
        step_time_s=linear_step,
        max_num_seqs=64,
        max_num_batched_tokens=2048,
        kv_capacity_tokens=BIG_KV,
        warmup=200,
    )
    assert res.output_tokens_per_s == pytest.approx(rate * out, rel=0.03)
    # Little's law: requests in the engine = rate x time in the engine (none queue here).
    assert res.mean_running == pytest.approx(rate * statistics.fmean(res.e2e_s), rel=0.03)
    assert res.preemptions == 0


def test_queue_grows_above_saturation() -> None:
    rate, out, n = 200.0, 32, 3000
    reqs = poisson_requests(rate, n, input_tokens=256, output_tokens=out, seed=5)
    res = simulate(
        reqs,
        step_time_s=linear_step,
        max_num_seqs=8,
        max_num_batched_tokens=2048,
        kv_capacity_tokens=BIG_KV,
    )
    tenth = n // 10
    early = statistics.fmean(res.ttft_s[:tenth])
    late = statistics.fmean(res.ttft_s[-tenth:])
    assert late > 10 * early
    assert res.output_tokens_per_s < 0.5 * rate * out  # capacity, not demand
    assert res.mean_running == pytest.approx(8, rel=0.01)  # max_num_seqs binds


# -- KV cache pressure ------------------------------------------------------------------------


def test_kv_exhaustion_preempts_newest_and_everyone_finishes() -> None:
    # 6 blocks of 16 = 96 tokens, one is the null block: 5 usable. Each request grows to
    # 16 + 39 = 55 tokens = 4 blocks, so two cannot both finish in the cache.
    reqs = [SimRequest(0.0, 16, 40), SimRequest(0.0, 16, 40)]
    res = simulate(
        reqs,
        step_time_s=constant_step,
        max_num_seqs=4,
        max_num_batched_tokens=2048,
        kv_capacity_tokens=96,
        trace=True,
    )
    # Step 18 needs a 3rd block for each (16 + 17 tokens): A, first in RUNNING, takes the last
    # free one and B, running[-1], is preempted with 17 tokens generated.
    assert res.preemptions == 1
    assert res.steps[17].preempted == 1
    assert res.steps[17].request_ids == (0,)
    # The older request is never the victim, so it runs every step as if alone.
    assert res.e2e_s[0] == pytest.approx(40 * 0.01)
    assert res.ttft_s == pytest.approx((0.01, 0.01))
    # B's 33 tokens need 3 blocks; A holds 3-4 of 5, so B waits until A finishes at 0.40 s, then
    # recomputes prompt + generated in one prefill (token 18 at 0.41 s) and decodes 22 more.
    resumed = [s for s in res.steps[1:] if s.prefill_tokens]
    assert len(resumed) == 1
    assert resumed[0].start_s == pytest.approx(0.40)
    assert resumed[0].chunks == (33,)
    assert res.e2e_s[1] == pytest.approx(0.41 + 22 * 0.01)


def test_random_load_with_small_kv_preempts_and_completes() -> None:
    reqs = poisson_requests(
        30.0,
        500,
        input_tokens=lambda r: r.randint(50, 400),
        output_tokens=lambda r: r.randint(20, 200),
        seed=2,
    )
    res = simulate(
        reqs,
        step_time_s=linear_step,
        max_num_seqs=64,
        max_num_batched_tokens=1024,
        kv_capacity_tokens=4096,
        trace=True,
    )
    assert res.preemptions > 0
    assert len(res.e2e_s) == 500
    assert all(e >= t > 0 for e, t in zip(res.e2e_s, res.ttft_s, strict=True))
    # Recomputation shows up as prefill beyond the prompts.
    assert sum(s.prefill_tokens for s in res.steps) > sum(r.input_tokens for r in reqs)


def test_full_isl_admission_prevents_thrashing() -> None:
    # R0 decodes and holds KV; R1's whole prompt (10 blocks) does not fit beside it, but its first
    # chunk would. config/scheduler.py:190-194: reserving the full input avoids thrashing.
    reqs = [SimRequest(0.0, 16, 100), SimRequest(0.5, 160, 2)]

    def run(reserve_full_isl: bool) -> SimResult:
        return simulate(
            reqs,
            step_time_s=constant_step,
            max_num_seqs=4,
            max_num_batched_tokens=32,
            kv_capacity_tokens=13 * 16,
            reserve_full_isl=reserve_full_isl,
        )

    full, first_chunk = run(True), run(False)
    assert full.preemptions == 0
    # R1 waits for R0 to finish at 1.0 s, then prefills 160 tokens in 5 steps of 32.
    assert full.ttft_s[1] == pytest.approx(1.0 - 0.5 + 5 * 0.01)
    assert first_chunk.preemptions > 0


def test_waiting_queue_is_strict_fcfs() -> None:
    # A large prompt at the head that does not fit blocks a small one behind it (scheduler.py
    # breaks on the first failed admission rather than skipping).
    reqs = [SimRequest(0.0, 16, 100), SimRequest(0.5, 160, 2), SimRequest(0.6, 16, 2)]
    res = simulate(
        reqs,
        step_time_s=constant_step,
        max_num_seqs=4,
        max_num_batched_tokens=32,
        kv_capacity_tokens=13 * 16,
    )
    first_token = [r.arrival_s + t for r, t in zip(reqs, res.ttft_s, strict=True)]
    assert first_token[2] > first_token[1]


# -- helpers and validation -------------------------------------------------------------------


def test_quantile_matches_statistics_inclusive() -> None:
    rng = random.Random(0)
    values = [rng.expovariate(1.0) for _ in range(101)]
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    assert quantile(values, 0.95) == pytest.approx(cuts[18])
    assert quantile(values, 0.5) == pytest.approx(statistics.median(values))
    assert quantile([3.0], 0.95) == 3.0


def test_poisson_requests_are_seeded() -> None:
    a = poisson_requests(5.0, 100, input_tokens=lambda r: r.randint(1, 9), output_tokens=3, seed=1)
    b = poisson_requests(5.0, 100, input_tokens=lambda r: r.randint(1, 9), output_tokens=3, seed=1)
    assert a == b
    gaps = [y.arrival_s - x.arrival_s for x, y in itertools.pairwise(a)]
    assert min(gaps) > 0
    assert statistics.fmean(gaps) == pytest.approx(1 / 5.0, rel=0.3)


def test_rejects_what_vllm_rejects() -> None:
    with pytest.raises(ValueError, match="max_num_seqs"):  # config/scheduler.py:328
        simulate(
            [SimRequest(0, 10, 2)],
            step_time_s=constant_step,
            max_num_seqs=64,
            max_num_batched_tokens=32,
            kv_capacity_tokens=BIG_KV,
        )
    with pytest.raises(ValueError, match="does not fit"):
        simulate(
            [SimRequest(0, 100, 2)],
            step_time_s=constant_step,
            max_num_seqs=1,
            max_num_batched_tokens=32,
            kv_capacity_tokens=64,
        )
