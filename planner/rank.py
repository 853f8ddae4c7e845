"""Ranking: Pareto front of first-year cost × p95 TTFT × expected quality, the goal's
objective, top N, and the reference rows of the strategies the decision rules pruned.

``plan_goal`` is the planner's one entry point: goal + catalog → ranked, costed, explained
plans (or an InfeasibleGoalError listing every reason and the nearest feasible plans).

Objectives (README "Ranking"): ``cost`` and ``latency`` sort on their figure; ``quality`` on
the pessimistic end of the expected range (``PlanQuality.ranking_score``; unknown last);
``balanced`` puts the Pareto front first, then sorts on
``log2(cost / cheapest) + log2(TTFT / fastest) + (best − quality) / 5``: doubling the
first-year cost, doubling the p95 TTFT and 5 points less expected score weigh the same
(QUALITY_POINTS_PER_DOUBLING). A plan of unknown quality counts 5 points below the worst known.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from catalog import Catalog
from planner.errors import InfeasibleGoalError, PlannerError
from planner.graph import DecisionGraph, build_decision_graph
from planner.lifecycle import planning_date
from planner.pareto import pareto_front_3
from planner.plan import Plan, PlanFile
from planner.quality import QUALITY_POINTS_PER_DOUBLING, QualityTarget
from planner.references import missing_references, reference_plans, reference_strategies
from planner.rules import Reason
from planner.spec import GoalSpec, Objective

__all__ = ["PlanningResult", "mark_pareto", "plan_goal", "rank_plans", "resolve_data_path"]


@dataclass(frozen=True)
class PlanningResult:
    """Ranked plans (best first) and the graph they came from."""

    goal: GoalSpec
    objective: Objective
    plans: tuple[Plan, ...]
    candidate_count: int
    graph: DecisionGraph
    catalog_snapshot_date: str
    as_of: date = field(default_factory=planning_date)
    references: tuple[Plan, ...] = ()
    quality_target: QualityTarget | None = None
    missing_references: tuple[str, ...] = ()

    def find(self, plan_id: str) -> Plan | None:
        """The ranked plan or reference row with that id."""
        return next((p for p in (*self.plans, *self.references) if p.id == plan_id), None)

    def plan_file(self, plan_id: str, *, goal_dir: Path | None = None) -> PlanFile:
        """The plan file `tailor plan --out` writes for plan ``plan_id``: that plan, the goal,
        the other ranked plans as alternatives, the goal's data path made absolute against
        ``goal_dir`` (the goal file's folder; default: the working directory), sealed with its
        digest. Unknown ids raise a PlannerError."""
        chosen = next((p for p in self.plans if p.id == plan_id), None)
        if chosen is None and (ref := self.find(plan_id)) is not None:
            raise PlannerError(
                f"{plan_id} is a reference row ({ref.reference}), shown for comparison, not a "
                "plan for this goal. To fix: pick a ranked plan (p1, p2, ...), or change the "
                "goal so the rule no longer applies and re-plan."
            )
        if chosen is None:
            known = ", ".join(p.id for p in self.plans)
            raise PlannerError(
                f"no plan {plan_id!r} among the ranked plans ({known}). To fix: pick one of them."
            )
        data = self.goal.data.path
        return PlanFile(
            tailor_version=_tailor_version(),
            catalog_snapshot_date=date.fromisoformat(self.catalog_snapshot_date),
            planned_on=self.as_of,
            goal=self.goal,
            plan=chosen,
            alternatives=tuple(p for p in self.plans if p is not chosen),
            data_path=str(resolve_data_path(data, goal_dir)) if data else None,
        ).sealed()


def resolve_data_path(path: str, goal_dir: Path | None) -> Path:
    """A goal's ``data.path`` as an absolute path: ``~`` expanded, a relative path taken from
    the goal file's folder (the working directory when there is no file)."""
    given = Path(path).expanduser()
    return given if given.is_absolute() else ((goal_dir or Path.cwd()) / given).absolute()


def catalog_sources(plan: Plan, catalog: Catalog) -> tuple[str, ...]:
    """The catalog rows a plan's numbers came from, each with its source and date."""
    lines = [f"prices: catalog snapshot of {catalog.snapshot_date}"]
    if (arch := catalog.find_model(plan.model)) is not None:
        lines.append(f"model {arch.id}: {arch.source} (read {arch.retrieved_on})")
    for offer in [x.offer for x in (plan.training, plan.serving) if x is not None]:
        sku = catalog.gpu(offer.gpu)
        lines.append(f"GPU {sku.name}: {sku.source} (read {sku.retrieved_on})")
        lines.append(
            f"offer {offer.cloud}/{offer.region} {offer.instance_type}: "
            f"${offer.usd_per_hour:.4g}/h {'spot' if offer.spot else 'on-demand'}, "
            f"price of {offer.retrieved_on}"
        )
    if plan.api is not None:
        api = catalog.api_model(plan.api.model)
        lines.append(f"API {api.id}: {api.source} (read {api.retrieved_on})")
    return tuple(dict.fromkeys(lines))


def _tailor_version() -> str:
    try:
        return version("llm-tailor")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def mark_pareto(plans: list[Plan]) -> list[Plan]:
    """Flag plans no other plan beats or equals on first-year cost, p95 TTFT and expected
    quality (the pessimistic end of the range; unknown counts as the worst)."""
    front = {id(p) for p in pareto_front_3(plans, keys=(_first_year, _ttft, _negative_quality))}
    return [p.model_copy(update={"pareto": id(p) in front}) for p in plans]


def _first_year(plan: Plan) -> float:
    return plan.first_year_usd


def _ttft(plan: Plan) -> float:
    return plan.p95_ttft_s


def _quality(plan: Plan) -> float | None:
    return plan.quality.ranking_score if plan.quality is not None else None


def _negative_quality(plan: Plan) -> float:
    q = _quality(plan)
    return math.inf if q is None else -q


_MIN_USD, _MIN_TTFT_S = 0.01, 1e-3  # keep log2 finite for free or instant plans


def _score(objective: Objective, plans: list[Plan]):
    cheapest = max(min(p.first_year_usd for p in plans), _MIN_USD)
    fastest = max(min(p.p95_ttft_s for p in plans), _MIN_TTFT_S)
    known = [q for p in plans if (q := _quality(p)) is not None]
    best = max(known, default=0.0)
    unknown = (min(known, default=0.0)) - QUALITY_POINTS_PER_DOUBLING

    def key(p: Plan) -> tuple:
        q = _quality(p)
        quality = unknown if q is None else q
        if objective is Objective.COST:
            return (p.first_year_usd, p.p95_ttft_s, -quality, p.model)
        if objective is Objective.LATENCY:
            return (p.p95_ttft_s, p.first_year_usd, -quality, p.model)
        if objective is Objective.QUALITY:
            return (q is None, -quality, p.first_year_usd, p.p95_ttft_s, p.model)
        balanced = (
            math.log2(max(p.first_year_usd, _MIN_USD) / cheapest)
            + math.log2(max(p.p95_ttft_s, _MIN_TTFT_S) / fastest)
            + (best - quality) / QUALITY_POINTS_PER_DOUBLING
        )
        return (not p.pareto, balanced, p.first_year_usd, p.model)

    return key


def rank_plans(plans: list[Plan], objective: Objective) -> list[Plan]:
    """Sort plans best first by the objective (module docstring); the Pareto flag is set on
    each."""
    if not plans:
        return []
    flagged = mark_pareto(plans)
    return sorted(flagged, key=_score(objective, flagged))


def _relaxed(goal: GoalSpec) -> GoalSpec:
    """The goal without its budget, latency limits and quality floor."""
    return goal.model_copy(
        update={
            "quality": goal.quality.model_copy(
                update={"min_score": 0.0, "at_least_as_good_as": None}
            ),
            "budget": goal.budget.model_copy(update={"training_usd": None, "monthly_usd": None}),
            "latency": goal.latency.model_copy(
                update={"p95_time_to_first_token_ms": None, "min_output_tokens_per_s": None}
            ),
        }
    )


def _nearest(goal: GoalSpec, catalog: Catalog, graph: DecisionGraph, as_of: date) -> list[str]:
    """Plans that meet everything but the budget / latency limits or the quality floor,
    closest first (the cheapest over the limits; the best-scoring below the floor)."""
    over: list[tuple[Plan, Reason | None]] = list(graph.over_limits)
    if not over and graph.below_floor:
        below = sorted(graph.below_floor, key=_best_scoring)
        return [_nearest_line(p, r) for p, r in below[:3]]
    if not over:
        relaxed = build_decision_graph(_relaxed(goal), catalog, as_of=as_of)
        over = [(p, None) for p in relaxed.candidates]
        if any(r.constraint.startswith("quality") for r in graph.reasons):  # best-scoring first
            over.sort(key=_best_scoring)
            return [_nearest_line(p, r) for p, r in over[:3]]
    ordered = sorted(over, key=lambda pr: (pr[0].first_year_usd, pr[0].p95_ttft_s))[:3]
    return [_nearest_line(p, r) for p, r in ordered]


def _best_scoring(pair: tuple[Plan, Reason | None]) -> float:
    q = _quality(pair[0])
    return math.inf if q is None else -q


def _nearest_line(p: Plan, r: Reason | None) -> str:
    return (
        f"{p.strategy} {p.model}"
        + (f" ({p.training.method})" if p.training else "")
        + f": ${p.one_time_usd:,.0f} one-time, ${p.monthly_usd:,.0f}/month, p95 TTFT "
        f"{p.p95_ttft_s * 1000:.0f} ms"
        + (f", {p.quality.shown()}" if p.quality else "")
        + (f" — misses {r.constraint}: {r.detail}" if r else "")
    )


def _reason_summary(graph: DecisionGraph) -> list[str]:
    by_constraint = Counter(r.constraint for r in graph.reasons)
    first: dict[str, Reason] = {}
    for reason in graph.reasons:
        first.setdefault(reason.constraint, reason)
    return [
        f"{count} × {constraint}, e.g. {first[constraint]}"
        for constraint, count in by_constraint.most_common()
    ]


def _distinct(plans: list[Plan]) -> list[Plan]:
    """The best plan of each (strategy, model, method); the other serving setups of the same
    combination stay in the graph (and `explain`)."""
    seen, kept = set(), []
    for plan in plans:
        key = (plan.strategy, plan.model, plan.training.method if plan.training else None)
        if key not in seen:
            seen.add(key)
            kept.append(plan)
    return kept


def plan_goal(
    goal: GoalSpec,
    catalog: Catalog,
    *,
    objective: Objective | None = None,
    top: int = 5,
    as_of: date | None = None,
    references: bool = True,
) -> PlanningResult:
    """Rank every feasible plan for the goal and detail the top ``top`` (ids p1, p2, …), and
    the reference rows (r1, r2, …) of the strategies a decision rule pruned.

    ``as_of`` is the planning day (default today): hosted models retired by then are pruned."""
    objective = objective or goal.preferences.objective
    as_of = as_of or planning_date()
    also = list(reference_strategies(goal)) if references else []
    graph = build_decision_graph(goal, catalog, as_of=as_of, also=also)
    if not graph.candidates:
        raise InfeasibleGoalError(
            _reason_summary(graph), nearest=_nearest(goal, catalog, graph, as_of)
        )
    ranked = _distinct(rank_plans(graph.candidates, objective))[:top]
    detailed = tuple(
        plan.explained().model_copy(
            update={"id": f"p{i}", "sources": catalog_sources(plan, catalog)}
        )
        for i, plan in enumerate(ranked, start=1)
    )
    refs = reference_plans(goal, graph)
    shown_refs = tuple(
        plan.explained().model_copy(
            update={"id": f"r{i}", "sources": catalog_sources(plan, catalog)}
        )
        for i, plan in enumerate(refs, start=1)
    )
    return PlanningResult(
        goal=goal,
        objective=objective,
        plans=detailed,
        candidate_count=len(graph.candidates),
        graph=graph,
        catalog_snapshot_date=str(catalog.snapshot_date),
        as_of=as_of,
        references=shown_refs,
        quality_target=graph.target,
        missing_references=tuple(missing_references(goal, graph)),
    )
