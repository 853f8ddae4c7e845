"""Offline batch jobs for one model: weight format, GPUs per instance, instances, $ per job.

A goal with ``traffic.requests_per_month: 0`` and a ``batch`` section runs jobs, not a
service: each job is a file of ``batch.tokens / (avg_input_tokens + avg_output_tokens)``
requests that vLLM's ``run-batch`` works through on instances started for the job and
stopped when it ends (a SkyPilot managed job).

For each (format, GPU, GPUs per instance) the replica setups of planner.serving_options are
reused; an instance keeps its batch full (``ReplicaQueue.offline_concurrency``: max_num_seqs or
what the KV cache holds) and, prompts always waiting, tops every step up with prompt chunks at
the pace sequences finish (``ReplicaQueue.offline_rate``). A job takes

    startup (the replica cold start: provisioning and setup, the weights' download, vLLM's
    start) + drain (the batch's last sequences finish with the batch emptying: one p95 output
    at a nearly empty batch, an estimate) + requests / (instances × rate)

hours; with ``batch.deadline_hours`` as many instances share the requests as the deadline
needs. A job costs instances × hours × $/h (each instance bills its own startup); a month,
``jobs_per_month`` of them. The options kept are the Pareto front of (monthly $, job hours).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from catalog import GpuSku, ModelArch
from planner.budget import budget_excesses
from planner.estimators.terms import Term, num
from planner.offers import OfferIndex
from planner.pareto import pareto_front
from planner.plan import MAX_BATCH_INSTANCES, BatchPlan
from planner.quantization import ServedFormats
from planner.rules import Reason
from planner.serving_options import (
    EngineStart,
    ReplicaCandidate,
    SearchMemo,
    cold_start_terms,
    context_reason,
    offer_basis,
    read_terms,
    replica_candidates,
    request_lengths,
    unservable,
)
from planner.spec import BatchSpec, GoalSpec

__all__ = ["batch_options"]


@dataclass(frozen=True)
class _Job:
    """One setup's batch job, priced (numbers only until it makes the Pareto front)."""

    c: ReplicaCandidate
    batch: BatchSpec
    concurrency: float
    rate_per_s: float  # requests/s of one instance
    step_s: float  # mean engine step at that concurrency
    requests: float
    startup: tuple[Term, ...]  # serve.cold_start (if published), then the whole startup
    drain_s: float
    instances: int

    @property
    def startup_s(self) -> float:
        return self.startup[-1].value

    @property
    def work_s(self) -> float:
        """Seconds one instance would take over all the requests at the full batch's rate."""
        return self.requests / self.rate_per_s

    @property
    def hours(self) -> float:
        return (self.startup_s + self.drain_s + self.work_s / self.instances) / 3600

    @property
    def cost_usd(self) -> float:
        return self.instances * self.hours * self.c.offer.usd_per_hour

    @property
    def monthly_usd(self) -> float:
        return self.batch.jobs_per_month * self.cost_usd


def _instances(batch: BatchSpec, fixed_s: float, work_s: float) -> int | str:
    """Instances that finish the job by ``batch.deadline_hours`` (1 without one), or why none
    can."""
    if batch.deadline_hours is None:
        return 1
    left = batch.deadline_hours * 3600 - fixed_s
    if left <= 0:
        return (
            f"starting an instance and draining its batch take {fixed_s / 3600:.2f} h, more "
            f"than batch.deadline_hours ({batch.deadline_hours:g} h)"
        )
    needed = max(1, math.ceil(work_s / left - 1e-9))
    if needed > MAX_BATCH_INSTANCES:
        return (
            f"the deadline needs {needed:,} instances in parallel, more than a plan may ask for "
            f"({MAX_BATCH_INSTANCES})"
        )
    return needed


def _job(
    goal: GoalSpec, arch: ModelArch, c: ReplicaCandidate, engine_start: EngineStart
) -> _Job | str:
    batch = goal.batch
    assert batch is not None
    q = c.queue
    d = q.offline_concurrency()
    if d < 1:
        return "the KV cache holds no full sequence of the mean context in flight"
    rate, step_s = q.offline_rate(d), q.offline_step_s(d)
    startup = cold_start_terms(arch, c.fmt, c.tp, engine_start)
    drain_s = q.lengths.output_p95 * q.decode_step_s(1.0)
    requests = batch.requests(goal.traffic.avg_input_tokens, goal.traffic.avg_output_tokens)
    instances = _instances(batch, startup[-1].value + drain_s, requests / rate)
    if isinstance(instances, str):
        return instances
    return _Job(c, batch, d, rate, step_s, requests, startup, drain_s, instances)


def _terms(goal: GoalSpec, j: _Job) -> tuple[Term, ...]:
    c, q, b = j.c, j.c.queue, j.batch
    t = goal.traffic
    decode = [
        term.model_copy(update={"name": f"batch.{term.name}"})
        for term in c.model.terms(max(1, round(j.concurrency)))
        if term.name != "max_concurrent_sequences"
    ]
    deadline = (
        f"ceil({num(j.work_s)} / ({num(b.deadline_hours)} × 3600 − {num(j.startup_s)} − "
        f"{num(j.drain_s)}))"
        if b.deadline_hours is not None
        else "1"
    )
    return (
        *read_terms(c.read_basis),
        *decode,
        Term(
            name="batch.concurrency",
            value=j.concurrency,
            unit="sequences",
            formula=f"min({c.limits[0]}, {num(c.kv_capacity_tokens)} / "
            f"{num(q.lengths.context_in_flight)})",
            basis="an offline job keeps its batch full: vLLM's max_num_seqs or what the KV "
            "cache holds of the mean context in flight (ReplicaQueue.offline_concurrency; "
            f"{c.limits[2]})",
        ),
        Term(
            name="batch.requests_per_s",
            value=j.rate_per_s,
            unit="requests/s",
            formula=q.offline_rate_formula(j.concurrency),
            basis="requests one instance finishes with prompts always waiting: min(d / O, p / "
            "I) / τ, each step decoding d sequences and prefilling p = min(I·d/O, budget − d) "
            "prompt tokens, τ that step's time in the step model (planner.estimators.load."
            "ReplicaQueue.offline_rate); within 0.75–1.10× of the vLLM scheduler simulation's "
            "job length (tests/planner/test_batch.py)",
        ),
        Term(
            name="batch.requests_per_job",
            value=j.requests,
            unit="requests",
            formula=f"{b.tokens:,} / ({t.avg_input_tokens:,} + {t.avg_output_tokens:,})",
            basis="batch.tokens / the average request's prompt + output tokens",
        ),
        Term(
            name="batch.work_s",
            value=j.work_s,
            unit="s",
            formula=f"{num(j.requests)} / {num(j.rate_per_s, 12)}",
            basis="one instance's time over every request of the job at the full batch's rate",
        ),
        Term(
            name="batch.drain_s",
            value=j.drain_s,
            unit="s",
            formula=f"{t.output_tokens_p95:,} × {num(q.decode_step_s(1.0), 12)}",
            basis="estimate: the batch empties at the end of the job, its last sequences "
            "finishing at about one p95 output's decode at a nearly empty batch",
        ),
        *j.startup,
        Term(
            name="batch.instances",
            value=j.instances,
            unit="instances",
            formula=deadline,
            basis="instances sharing the requests so the job ends by batch.deadline_hours "
            "(each pays its own startup and drain)"
            if b.deadline_hours is not None
            else "one instance: the goal sets no batch.deadline_hours",
        ),
        Term(
            name="batch.hours_per_job",
            value=j.hours,
            unit="h",
            formula=f"({num(j.startup_s)} + {num(j.drain_s)} + {num(j.work_s)} / "
            f"{j.instances}) / 3600",
            basis="startup (serve.replica_cold_start) + drain + the instance's share of the work",
        ),
        Term(
            name="batch.cost_per_job_usd",
            value=j.cost_usd,
            unit="USD",
            formula=f"{j.instances} × {num(j.hours)} × {num(c.offer.usd_per_hour)}",
            basis=f"instances × hours per job × {offer_basis(c.offer)}",
        ),
        Term(
            name="batch.monthly_usd",
            value=j.monthly_usd,
            unit="USD/month",
            formula=f"{num(b.jobs_per_month)} × {num(j.cost_usd)}",
            basis="batch.jobs_per_month × the cost of one job",
        ),
    )


def _plan(goal: GoalSpec, j: _Job, offers: OfferIndex) -> BatchPlan:
    c, b = j.c, j.batch
    plan = BatchPlan(
        quantization=c.fmt.quantization,
        tensor_parallel=c.tp,
        max_concurrent_sequences=c.limits[0],
        max_num_batched_tokens=c.limits[1],
        max_model_len=c.queue.lengths.max_model_len,
        offer=c.offer,
        alternative_offers=offers.serving_alternatives(c.offer.gpu, c.tp),
        weights_gib_per_gpu=c.weights_gib_per_gpu,
        served_repo_id=c.fmt.hf_repo_id,
        vllm_quantization=c.fmt.vllm_quantization,
        format_basis=c.fmt.basis,
        instances=j.instances,
        tokens_per_job=b.tokens,
        requests_per_job=j.requests,
        jobs_per_month=b.jobs_per_month,
        requests_per_s_per_instance=j.rate_per_s,
        output_tokens_per_s_per_instance=j.rate_per_s * c.queue.lengths.output_mean,
        output_tokens_per_s_per_stream=1 / j.step_s,
        concurrency=j.concurrency,
        startup_hours=j.startup_s / 3600,
        hours_per_job=j.hours,
        cost_per_job_usd=j.cost_usd,
        monthly_usd=j.monthly_usd,
    )
    return plan.with_term_source(lambda: _terms(goal, j))


def batch_options(
    goal: GoalSpec,
    arch: ModelArch,
    offers: OfferIndex,
    gpus: dict[str, GpuSku],
    *,
    formats: Callable[[GpuSku], ServedFormats],
    engine_start: EngineStart = lambda tp, per_weight: None,
    extra_input_tokens: int = 0,
    memo: SearchMemo | None = None,
) -> tuple[list[BatchPlan], list[Reason]]:
    """The Pareto front (monthly $ × job hours) of the setups that can run the goal's batch
    jobs, and a Reason for every setup that cannot (arguments as
    planner.serving_options.serving_options)."""
    lengths = request_lengths(goal, extra_input_tokens)
    if (too_long := context_reason(arch, lengths)) is not None:
        return [], [too_long]
    reasons: list[Reason] = []
    jobs: list[_Job] = []
    for c in replica_candidates(goal, arch, offers, gpus, lengths, reasons, formats, memo):
        job = _job(goal, arch, c, engine_start)
        if isinstance(job, str):
            reasons.append(
                Reason(
                    subject=f"batch {arch.id} {c.fmt.quantization} on {c.tp}× {c.offer.gpu}",
                    constraint="batch.deadline_hours",
                    detail=job,
                    fix="a longer batch.deadline_hours, or smaller jobs",
                )
                if "deadline" in job
                else unservable(arch, c.fmt.quantization, c.tp, c.offer.gpu, job)
            )
            continue
        if over := budget_excesses(goal.budget, monthly_usd=job.monthly_usd):
            reasons.append(
                Reason(
                    subject=f"batch {arch.id} {c.fmt.quantization} on {c.tp}× {c.offer.gpu}",
                    constraint=over[0].field,
                    detail=f"{job.batch.jobs_per_month:g} jobs a month cost {over[0].detail}",
                    fix="raise budget.monthly_usd, or run fewer or smaller jobs",
                )
            )
            continue
        jobs.append(job)
    front = pareto_front(
        jobs, cost=lambda j: j.monthly_usd, latency=lambda j: j.hours, tiebreak=lambda j: j.c.tp
    )
    return [_plan(goal, j, offers) for j in front], reasons
