"""The goal's budget caps, checked in one place: planning (a GPU shape, a replica, a whole
plan) and launch (a plan file against its goal) all ask :func:`budget_excesses`."""

from __future__ import annotations

from dataclasses import dataclass

from planner.plan import BatchPlan, OfferChoice, ServingPlan, TrainingPlan
from planner.spec import BudgetSpec

__all__ = ["BudgetExcess", "affordable_failover", "budget_excesses"]


@dataclass(frozen=True)
class BudgetExcess:
    """One cap a cost goes over."""

    field: str
    """The goal field of the cap: ``budget.training_usd`` or ``budget.monthly_usd``."""
    cost_usd: float
    """What the plan (or part of it) costs."""
    limit_usd: float
    """The cap."""

    @property
    def detail(self) -> str:
        """``$1,234 one-time > $1,000`` or ``$5,000/month > $3,000``."""
        if self.field == "budget.monthly_usd":
            return f"${self.cost_usd:,.2f}/month > ${self.limit_usd:,.2f}"
        return f"${self.cost_usd:,.2f} one-time > ${self.limit_usd:,.2f}"


def _over(cost: float | None, limit: float | None) -> bool:
    # `not cost <= limit`: a NaN cost is over every cap, never silently within it
    return cost is not None and limit is not None and not cost <= limit


def budget_excesses(
    budget: BudgetSpec, *, one_time_usd: float | None = None, monthly_usd: float | None = None
) -> list[BudgetExcess]:
    """The caps that ``one_time_usd`` (vs ``budget.training_usd``) and ``monthly_usd`` (vs
    ``budget.monthly_usd``) go over; a cost left out is not checked."""
    found = []
    if _over(one_time_usd, budget.training_usd):
        assert one_time_usd is not None and budget.training_usd is not None
        found.append(BudgetExcess("budget.training_usd", one_time_usd, budget.training_usd))
    if _over(monthly_usd, budget.monthly_usd):
        assert monthly_usd is not None and budget.monthly_usd is not None
        found.append(BudgetExcess("budget.monthly_usd", monthly_usd, budget.monthly_usd))
    return found


def affordable_failover(
    budget: BudgetSpec,
    *,
    one_time_usd: float,
    monthly_usd: float,
    training: TrainingPlan | None,
    serving: ServingPlan | None,
    batch: BatchPlan | None,
) -> tuple[TrainingPlan | None, ServingPlan | None, BatchPlan | None]:
    """The three parts with only the failover offers the budget still allows.

    SkyPilot may launch a task on any offer of its ``ordered`` list, so a plan within budget
    on its first offer must stay within budget on each failover offer it lists. A failover
    offer at ``r`` times the first one's $/h scales that part's instance cost by ``r``
    (training: the mid cost, its preemptions included; serving: replica-hours × $/h; batch:
    jobs × instances × hours × $/h); the plan's other lines are held as priced on the first
    offer. Offers whose scaled plan passes ``budget.training_usd`` (training) or
    ``budget.monthly_usd`` (serving, batch) are dropped."""

    def kept(offer: OfferChoice, alternatives: tuple[OfferChoice, ...], cost: float, *, once: bool):
        out = []
        for alt in alternatives:
            extra = cost * (alt.usd_per_hour / offer.usd_per_hour - 1.0)
            over = budget_excesses(
                budget,
                one_time_usd=one_time_usd + extra if once else None,
                monthly_usd=None if once else monthly_usd + extra,
            )
            if not over:
                out.append(alt)
        return tuple(out)

    if training is not None and training.alternative_offers:
        alts = kept(training.offer, training.alternative_offers, training.cost_usd, once=True)
        training = training.model_copy(update={"alternative_offers": alts})
    if serving is not None and serving.alternative_offers:
        alts = kept(serving.offer, serving.alternative_offers, serving.monthly_usd, once=False)
        serving = serving.model_copy(update={"alternative_offers": alts})
    if batch is not None and batch.alternative_offers:
        alts = kept(batch.offer, batch.alternative_offers, batch.monthly_usd, once=False)
        batch = batch.model_copy(update={"alternative_offers": alts})
    return training, serving, batch
