"""Offline batch plans (planner.batch_options): a goal with ``requests_per_month: 0`` and a
``batch`` section gets jobs priced per job, not a service billed all month.

The instance's throughput with its batch kept full (ReplicaQueue.offline_concurrency and
rate_at) is checked against the vLLM V1 scheduler simulation (tests/planner/vllm_sim.py) run
as an offline job: every request queued at t = 0, the job's length the last request's finish.
Measured (modelled / simulated job length): H100 bf16 0.92, L4 bf16 0.75, A10G int4 0.97, V100
classifier 1.10, 70B fp8 TP4 0.83, MoE 1.00; the model errs fast where the KV cache is the
limit (L4: vLLM preempts and recomputes 24 % more prompt tokens, and admits prompts in
bursts whose steps are compute-bound). The test holds each within 30 %.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalog import load_catalog
from planner.errors import GoalSpecError, InfeasibleGoalError
from planner.estimators.terms import evaluate_formula
from planner.rank import plan_goal
from planner.spec import GoalSpec, load_goal, parse_goal
from planner.types import HOURS_PER_MONTH
from tests.planner.test_load_model import CASES, Case, _lognormal, _setup
from tests.planner.vllm_sim import SimRequest, simulate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "goals" / "weekly-contract-extraction.yaml"


def _data() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _goal(**batch: object) -> GoalSpec:
    data = _data()
    data["batch"].update(batch)
    return parse_goal(data)


# --- the goal: batch-only, stated consistently ------------------------------------------------
@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"batch": None}, "traffic.requests_per_month", "add a `batch` section"),
        (
            {"traffic.requests_per_month": 1000, "traffic.peak_requests_per_s": 1.0},
            "batch",
            "not both",
        ),
        ({"traffic.peak_requests_per_s": 2.0}, "traffic.peak_requests_per_s", "batch-only"),
        ({"latency": {"p95_time_to_first_token_ms": 500}}, "latency", "batch.deadline_hours"),
        ({"traffic.requests_per_month": 5000}, "traffic.peak_requests_per_s", "is missing"),
        ({"batch.tokens": 0}, "batch.tokens", "greater than 0"),
    ],
    ids=["no-batch", "both", "peak", "latency", "no-peak", "zero-tokens"],
)
def test_an_inconsistent_batch_goal_is_refused_naming_the_field(
    change: dict[str, object], field: str, says: str
) -> None:
    data = _data()
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    with pytest.raises(GoalSpecError) as caught:
        parse_goal(data)
    assert field in caught.value.fields, str(caught.value)
    text = str(caught.value)
    assert says in text and "To fix:" in text


# --- the plans ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def planned():
    goal = load_goal(EXAMPLE)
    return goal, plan_goal(goal, load_catalog(), top=1000)


def test_every_plan_runs_jobs_and_is_priced_per_job(planned) -> None:
    goal, result = planned
    assert result.plans
    for plan in result.plans:
        b = plan.batch
        assert plan.serving is None and b is not None
        assert b.hours_per_job <= goal.batch.deadline_hours
        assert b.cost_per_job_usd == pytest.approx(
            b.instances * b.hours_per_job * b.offer.usd_per_hour
        )
        assert b.monthly_usd == pytest.approx(goal.batch.jobs_per_month * b.cost_per_job_usd)
        assert b.requests_per_job == pytest.approx(
            goal.batch.tokens / (goal.traffic.avg_input_tokens + goal.traffic.avg_output_tokens)
        )
        # the job pays for its instances only while it runs: far below an instance all month
        assert b.monthly_usd < b.instances * b.offer.usd_per_hour * HOURS_PER_MONTH / 10
        assert b.concurrency <= b.max_concurrent_sequences
        assert plan.p95_ttft_s == pytest.approx(b.hours_per_job * 3600)  # results at the end
        lines = {line.name for line in plan.extra_costs}
        assert {"results download", "batch disks", "batch jobs controller"} <= lines
        extra = sum(line.monthly_usd for line in plan.extra_costs)
        assert plan.monthly_usd == pytest.approx(b.monthly_usd + extra)


def test_the_batch_terms_recompute_from_their_formulas(planned) -> None:
    _, result = planned
    plan = result.plans[0].explained()
    names = {t.name for t in plan.estimates}
    for name in (
        "batch.concurrency",
        "batch.requests_per_s",
        "batch.requests_per_job",
        "batch.work_s",
        "batch.instances",
        "batch.hours_per_job",
        "batch.cost_per_job_usd",
        "batch.monthly_usd",
        "serve.replica_cold_start",
    ):
        assert name in names
    for term in plan.estimates:
        if term.name.startswith("batch.") and term.name != "batch.instances":
            assert evaluate_formula(term.formula) == pytest.approx(term.value, rel=1e-3), term


def test_a_tighter_deadline_splits_the_job_over_more_instances(planned) -> None:
    _, result = planned
    relaxed = result.plans[0].batch
    assert relaxed is not None and relaxed.instances == 1
    work_h = relaxed.hours_per_job - relaxed.startup_hours
    deadline = relaxed.startup_hours + work_h / 3  # a third of the work's time after startup
    tight = plan_goal(_goal(deadline_hours=deadline), load_catalog(), top=1000)
    assert tight.plans
    assert all(p.batch is not None and p.batch.hours_per_job <= deadline for p in tight.plans)
    split = [p for p in tight.plans if p.batch is not None and p.batch.instances > 1]
    assert split, "some setup needs more than one instance to meet the deadline"
    for plan in split:
        b = plan.batch
        terms = {t.name: t.value for t in plan.explained().estimates}
        once = terms["serve.replica_cold_start"] + terms["batch.drain_s"]
        assert b.instances == math.ceil(terms["batch.work_s"] / (deadline * 3600 - once))
        # each instance pays its own startup: dearer than one instance doing all the work
        alone = (once + terms["batch.work_s"]) / 3600 * b.offer.usd_per_hour
        assert b.cost_per_job_usd > alone


def test_a_deadline_shorter_than_the_startup_has_no_plan_and_says_why() -> None:
    goal = _goal(deadline_hours=0.05)  # 3 minutes: less than provisioning alone
    with pytest.raises(InfeasibleGoalError) as caught:
        plan_goal(goal, load_catalog(), top=1000)
    text = str(caught.value)
    assert "more than batch.deadline_hours (0.05 h)" in text
    assert "a longer batch.deadline_hours" in text


def test_a_hosted_api_plan_pays_for_the_jobs_tokens() -> None:
    data = _data()
    data["privacy"] = {"data_can_leave": True}
    data["task"]["needs_custom_behavior"] = False
    data["models"] = {"candidates": ["gpt-4o-mini"]}
    goal = parse_goal(data)
    result = plan_goal(goal, load_catalog(), top=1000)
    api = [p for p in result.plans if p.api is not None]
    assert api
    a = api[0].api
    requests = goal.monthly_requests
    expected = requests * (
        goal.traffic.avg_input_tokens * a.input_usd_per_mtok
        + goal.traffic.avg_output_tokens * a.output_usd_per_mtok
    )
    assert a.monthly_usd == pytest.approx(expected / 1e6)


# --- the offline throughput against the scheduler simulation ----------------------------------
JOB_REQUESTS = 3000


def _offline_makespan(case: Case) -> tuple[float, float]:
    """(modelled, simulated) seconds to finish JOB_REQUESTS requests queued at t = 0."""
    queue, n, step_time_s, seqs, budget, kv_tokens = _setup(case)
    draw_in = _lognormal(n.input_mean, n.input_p95, n.input_max)
    draw_out = _lognormal(n.output_mean, n.output_p95, n.output_max)
    import random

    rng = random.Random(7)
    requests = [SimRequest(0.0, draw_in(rng), draw_out(rng)) for _ in range(JOB_REQUESTS)]
    sim = simulate(
        requests,
        step_time_s=step_time_s,
        max_num_seqs=seqs,
        max_num_batched_tokens=budget,
        kv_capacity_tokens=kv_tokens,
    )
    d = queue.offline_concurrency()
    rate = queue.offline_rate(d)
    assert math.isfinite(rate) and rate > 0
    drain = n.output_p95 * queue.decode_step_s(1.0)
    return JOB_REQUESTS / rate + drain, sim.window_s


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.model}-{c.gpu}-{c.quantization}")
def test_the_offline_job_length_matches_the_scheduler_simulation(case: Case) -> None:
    modelled, simulated = _offline_makespan(case)
    assert 0.70 <= modelled / simulated <= 1.30, (modelled, simulated)
