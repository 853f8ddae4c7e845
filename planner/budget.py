"""The goal's budget caps, checked in one place: planning (a GPU shape, a replica, a whole
plan) and launch (a plan file against its goal) all ask :func:`budget_excesses`."""

from __future__ import annotations

from dataclasses import dataclass

from planner.spec import BudgetSpec

__all__ = ["BudgetExcess", "budget_excesses"]


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
