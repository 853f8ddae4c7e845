"""Explanations as data: a plan's decision path, costs, every number's basis, the why-nots,
and the side-by-side diff of two plans. Text only; the CLI and the TUI render it."""

from __future__ import annotations

from dataclasses import dataclass

from planner.plan import Plan
from planner.rank import PlanningResult
from planner.rules import Reason

__all__ = ["CompareRow", "Section", "compare_plans", "explain_plan", "summary_row"]

WHY_NOT_LIMIT = 12


@dataclass(frozen=True)
class Section:
    """A titled block of lines."""

    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class CompareRow:
    """One quantity of two plans and their difference (None when not numeric)."""

    name: str
    a: str
    b: str
    delta: float | None


def summary_row(plan: Plan) -> dict[str, object]:
    """The plan's headline numbers, keyed as the plans table shows them."""
    t, s = plan.training, plan.serving
    return {
        "id": plan.id,
        "strategy": str(plan.strategy),
        "model": plan.model,
        "method": str(t.method) if t else "-",
        "rank": t.lora_rank if t and t.lora_rank else "-",
        "train_gpus": f"{t.nodes * t.gpus_per_node}× {t.offer.gpu}" if t else "-",
        "train_hours": round(t.hours, 2) if t else None,
        "quantization": str(s.quantization) if s else "-",
        "serve_gpus": f"{s.tensor_parallel}× {s.offer.gpu} × {s.replicas}" if s else "-",
        "one_time_usd": round(plan.one_time_usd, 2),
        "monthly_usd": round(plan.monthly_usd, 2),
        "first_year_usd": round(plan.first_year_usd, 2),
        "p95_ttft_ms": round(plan.p95_ttft_s * 1000),
        "tokens_per_s": round(plan.output_tokens_per_s, 1),
        "pareto": plan.pareto,
    }


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
            f"serving    ${s.monthly_usd:,.2f}/month ({s.replicas} × {s.tensor_parallel}× "
            f"{s.offer.gpu} {s.quantization}, {s.offer.cloud}/{s.offer.region})"
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
        f" = ${plan.first_year_usd:,.2f} first year; p95 TTFT "
        f"{plan.p95_ttft_s * 1000:.0f} ms, {plan.output_tokens_per_s:.0f} tokens/s"
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
        Section("Cost", _cost_lines(plan)),
        Section("Estimates (formula and basis)", estimates),
        Section("Catalog rows used", plan.sources or ("none recorded",)),
        Section("Why not (pruned branches)", _why_not(result, plan)),
    ]


def compare_plans(a: Plan, b: Plan) -> list[CompareRow]:
    """Field-by-field diff of two plans; numeric deltas are b − a."""
    ra, rb = summary_row(a), summary_row(b)
    rows = []
    for key in ra:
        if key in ("id", "pareto"):
            continue
        va, vb = ra[key], rb[key]
        delta = vb - va if isinstance(va, int | float) and isinstance(vb, int | float) else None
        rows.append(CompareRow(key, str(va), str(vb), delta))
    return rows
