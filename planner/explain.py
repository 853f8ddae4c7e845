"""Explanations as data: a plan's decision path, costs, every number's basis, the why-nots,
and the side-by-side diff of two plans. Text only; the CLI and the TUI render it."""

from __future__ import annotations

from dataclasses import dataclass

from planner.plan import Plan
from planner.rank import PlanningResult
from planner.rules import Reason

__all__ = [
    "CompareRow",
    "Section",
    "compare_plans",
    "explain_plan",
    "latency_text",
    "quality_lines",
    "summary_row",
]

WHY_NOT_LIMIT = 12


@dataclass(frozen=True)
class Section:
    """A titled block of lines."""

    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class CompareRow:
    """One quantity of N plans, and each plan's difference from the first (None when not
    numeric; the first plan's is None)."""

    name: str
    values: tuple[str, ...]
    deltas: tuple[float | None, ...]

    @property
    def a(self) -> str:
        """The first plan's value."""
        return self.values[0]

    @property
    def b(self) -> str:
        """The second plan's value."""
        return self.values[1]

    @property
    def delta(self) -> float | None:
        """Second minus first, when numeric."""
        return self.deltas[1] if len(self.deltas) > 1 else None

    @property
    def differs(self) -> bool:
        """The plans do not all have the same value."""
        return len(set(self.values)) > 1


def summary_row(plan: Plan) -> dict[str, object]:
    """The plan's headline numbers, keyed as the plans table shows them."""
    t, s, b, q = plan.training, plan.serving, plan.batch, plan.quality
    offer = s.offer if s else b.offer if b else t.offer if t else None
    return {
        "id": plan.id,
        "strategy": str(plan.strategy),
        "model": plan.model,
        "method": str(t.method) if t else "-",
        "rank": t.lora_rank if t and t.lora_rank else "-",
        "train_gpus": f"{t.nodes * t.gpus_per_node}× {t.offer.gpu}" if t else "-",
        "train_hours": round(t.hours, 2) if t else None,
        "quantization": str(s.quantization) if s else str(b.quantization) if b else "-",
        "serve_gpus": f"{s.tensor_parallel}× {s.offer.gpu} × {s.replicas_label}"
        if s
        else f"batch {b.tensor_parallel}× {b.offer.gpu} × {b.instances}"
        if b
        else "-",
        "one_time_usd": round(plan.one_time_usd, 2),
        "monthly_usd": round(plan.monthly_usd, 2),
        "first_year_usd": round(plan.first_year_usd, 2),
        "p95_ttft_ms": round(plan.p95_ttft_s * 1000),
        "tokens_per_s": round(plan.output_tokens_per_s, 1),
        "cloud": offer.cloud if offer else plan.api.model.split("/")[0] if plan.api else "-",
        "region": offer.region if offer else "-",
        "spot": _spot(plan),
        "benchmark": q.benchmark if q else "-",
        "quality_low": None if q is None or q.expected_low is None else round(q.expected_low, 1),
        "quality_high": None if q is None or q.expected_high is None else round(q.expected_high, 1),
        "quality_floor": q.floor if q else None,
        "pareto": plan.pareto,
        "reference": plan.reference is not None,
    }


def latency_text(plan: Plan) -> str:
    """The plan's latency as shown: "420 ms" (p95 TTFT), or "job 0.77 h" for batch jobs, whose
    results arrive when the job ends."""
    if plan.batch is not None:
        return f"job {plan.batch.hours_per_job:.2f} h"
    return f"{plan.p95_ttft_s * 1000:,.0f} ms"


def _spot(plan: Plan) -> str:
    """Spot or on-demand for each rented phase: 'train spot, serve on-demand'."""
    parts = [
        f"{phase} {'spot' if offer.spot else 'on-demand'}"
        for phase, offer in (
            ("train", plan.training.offer if plan.training else None),
            ("serve", plan.serving.offer if plan.serving else None),
            ("batch", plan.batch.offer if plan.batch else None),
        )
        if offer is not None
    ]
    return ", ".join(parts) or "-"


def _cost_lines(plan: Plan) -> tuple[str, ...]:
    lines = []
    if plan.training:
        t = plan.training
        lines.append(
            f"training   ${t.cost_usd_low:,.2f}–${t.cost_usd_high:,.2f} one-time "
            f"({t.hours_low:.2f}–{t.hours_high:.2f} h on {t.nodes}×{t.gpus_per_node}× "
            f"{t.offer.gpu}, {t.offer.cloud}/{t.offer.region}"
            f"{', spot' if t.offer.spot else ''})"
        )
    if plan.serving:
        s = plan.serving
        lines.append(
            f"serving    ${s.monthly_usd:,.2f}/month ({s.replicas_label} × {s.tensor_parallel}× "
            f"{s.offer.gpu} {s.quantization}, {s.offer.cloud}/{s.offer.region})"
        )
    if plan.batch:
        b = plan.batch
        lines.append(
            f"batch      ${b.monthly_usd:,.2f}/month ({b.jobs_per_month:g} jobs × "
            f"${b.cost_per_job_usd:,.2f}: {b.instances} × {b.tensor_parallel}× {b.offer.gpu} "
            f"{b.quantization} for {b.hours_per_job:.2f} h, {b.offer.cloud}/{b.offer.region})"
        )
    if plan.api:
        a = plan.api
        lines.append(
            f"API        ${a.monthly_usd:,.2f}/month ({a.model}"
            f"{' fine-tuned' if a.fine_tuned else ''})"
            + (f" + ${a.training_usd:,.2f} hosted fine-tuning" if a.training_usd else "")
        )
    if plan.rag:
        r = plan.rag
        lines.append(
            f"RAG        ${r.vector_store_usd_per_month:,.2f}/month vector store + "
            f"${r.embedding_usd:,.2f} embedding ({r.chunks:,} chunks)"
        )
    lines.append(
        f"total      ${plan.one_time_usd:,.2f} one-time + ${plan.monthly_usd:,.2f}/month"
        f" = ${plan.first_year_usd:,.2f} first year; "
        + (
            f"each job {plan.batch.hours_per_job:.2f} h"
            if plan.batch
            else f"p95 TTFT {plan.p95_ttft_s * 1000:.0f} ms"
        )
        + f", {plan.output_tokens_per_s:.0f} tokens/s"
    )
    return tuple(lines)


def _relevant(reason: Reason, plan: Plan) -> bool:
    subject = reason.subject
    return subject.startswith("strategy ") or f" {plan.model} " in f" {subject} "


def _why_not(result: PlanningResult, plan: Plan) -> tuple[str, ...]:
    reasons = [r for r in result.graph.reasons if _relevant(r, plan)]
    cheaper = [
        (p, r) for p, r in result.graph.over_limits if p.first_year_usd < plan.first_year_usd
    ]
    lines, seen = [], set()
    for reason in reasons:
        key = (reason.subject.split(" on ")[0], reason.constraint)
        if key not in seen:  # one line per (what, constraint): the first example of each
            seen.add(key)
            lines.append(str(reason))
    lines += [
        f"{p.strategy} {p.model}: {r.detail} ({r.constraint}). To fix: {r.fix}"
        for p, r in sorted(cheaper, key=lambda pr: pr[0].first_year_usd)[:3]
    ]
    return tuple(lines[:WHY_NOT_LIMIT]) or ("nothing cheaper or faster was ruled out",)


def explain_plan(result: PlanningResult, plan: Plan) -> list[Section]:
    """Decision path, costs, estimates with their formulas, catalog rows used, why-nots: all of
    it as the plan carries it (nothing is looked up or estimated again)."""
    estimates = tuple(
        f"{t.name} = {t.formula} = {t.value:,.4g} {t.unit}" + (f" — {t.basis}" if t.basis else "")
        for t in plan.estimates
    )
    return [
        Section(
            "Decision path", tuple(f"{i}. {step}" for i, step in enumerate(plan.decision_path, 1))
        ),
        *([Section("Reference row", (plan.reference,))] if plan.reference else []),
        Section("Cost", _cost_lines(plan)),
        Section("Quality", quality_lines(plan)),
        *([Section("Warnings", plan.warnings)] if plan.warnings else []),
        Section("Estimates (formula and basis)", estimates),
        Section("Catalog rows used", plan.sources or ("none recorded",)),
        Section("Why not (pruned branches)", _why_not(result, plan)),
    ]


def _delta(first: object, other: object) -> float | None:
    numeric = (int, float)
    if isinstance(first, bool) or isinstance(other, bool):
        return None
    if isinstance(first, numeric) and isinstance(other, numeric):
        return float(other) - float(first)
    return None


def compare_plans(*plans: Plan) -> list[CompareRow]:
    """Field-by-field table of two or more plans; numeric deltas are each plan − the first."""
    if len(plans) < 2:
        raise ValueError("compare_plans needs at least two plans")
    rows_of = [summary_row(p) for p in plans]
    rows = []
    for key in rows_of[0]:
        if key in ("id", "pareto", "reference"):
            continue
        values = [r[key] for r in rows_of]
        rows.append(
            CompareRow(
                key,
                tuple("-" if v is None else str(v) for v in values),
                (None, *(_delta(values[0], v) for v in values[1:])),
            )
        )
    return rows


def quality_lines(plan: Plan) -> tuple[str, ...]:
    """The plan's expected quality: benchmark, range, floor, and the basis of every step."""
    q = plan.quality
    if q is None:
        return ("no quality estimate (a plan made before quality-aware planning)",)
    floor = (
        "no floor"
        if q.floor is None
        else f"floor {q.floor:g} on the low end ({'default: ' if q.default_floor else ''}"
        f"{q.floor_basis})"
    )
    lines = [f"expected {q.shown()} {q.unit}; {floor}"]
    if q.default_floor:
        lines.append(
            "the goal sets no quality.min_score or quality.at_least_as_good_as: the task "
            "type's default floor applies (README 'Quality'); set quality.min_score to choose "
            "another"
        )
    lines += [f"{i}. {step}" for i, step in enumerate(q.basis, 1)]
    return tuple(lines)
