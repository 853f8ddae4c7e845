"""What a launch may cost, recomputed from the plan's resources × the catalog's current prices.

A plan file's own totals are not trusted: anyone can edit a plan file and recompute its digest.
So the ceiling a launch is approved for comes from what the rendered tasks may rent:

- training: nodes × the instance's $/h × the pessimistic hours × ``MAX_RUNTIME_FACTOR``
  (the job's ``timeout`` stops it there);
- serving: one month (``HOURS_PER_MONTH``) of the most replicas the service may scale out to
  (the rendered ``replica_policy.max_replicas``) × the instance's $/h;
- batch: the one job launched, instances × the instance's $/h × its hours ×
  ``MAX_RUNTIME_FACTOR`` (the job's ``timeout``);

where "the instance's $/h" is the dearest of the task's ``ordered`` offers (the first and
its failover offers): SkyPilot may launch, or recover, the task on any of them.
- hosted API and retrieval: the plan's own (validated, finite, non-negative) figures.

The instance prices are read from the catalog by cloud, region, instance type and spot. An
instance no longer in the catalog, or a plan whose totals disagree with the recomputed ones
(by more than rounding), is refused: the plan was edited or the prices moved, so re-plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from catalog import Catalog
from executor.errors import ExecutorError
from executor.render import MAX_RUNTIME_FACTOR
from planner.plan import OfferChoice, Plan, PlanFile
from planner.types import HOURS_PER_MONTH

__all__ = ["REL_TOLERANCE", "USD_TOLERANCE", "LaunchCosts", "catalog_price", "launch_costs"]

REL_TOLERANCE = 1e-6
"""How far (relatively) a plan's figure may be from the recomputed one: float rounding only."""
USD_TOLERANCE = 0.01
"""How far (absolutely, $ or $/h) a plan's figure may be from the recomputed one: a cent."""

_REPLAN = "re-plan with `tailor plan GOAL --out PLAN` and launch the new plan file."


@dataclass(frozen=True)
class LaunchCosts:
    """A plan's costs recomputed from its resources and the catalog's prices."""

    one_time_usd: float
    """Training (mid estimate) + hosted fine-tuning + RAG embedding: the plan's one_time_usd."""
    monthly_usd: float
    """Serving replica-hours × $/h + batch jobs + API tokens + vector store + the other
    monthly lines: the plan's monthly_usd."""
    ceiling_usd: float
    """The most the launch may cost before anyone looks again (see the module docstring)."""
    basis: str
    """How ``ceiling_usd`` was reached, in words."""


def catalog_price(offer: OfferChoice, catalog: Catalog) -> float | None:
    """The catalog's current $/h of the offer's instance (spot or on-demand, as the offer is
    priced), or None when the catalog no longer sells it in that shape."""
    for row in catalog.offers:
        if (row.cloud, row.region, row.instance_type, row.gpu, row.gpu_count) == (
            offer.cloud,
            offer.region,
            offer.instance_type,
            offer.gpu,
            offer.gpus_per_instance,
        ):
            price = row.spot_price_usd_per_hour if offer.spot else row.price_usd_per_hour
            if price is not None:
                return price
    return None


def _price(plan: Plan, offer: OfferChoice, what: str, catalog: Catalog) -> float:
    price = catalog_price(offer, catalog)
    kind = "spot" if offer.spot else "on-demand"
    where = f"{offer.cloud}/{offer.region} {offer.instance_type} ({kind})"
    if price is None:
        raise ExecutorError(
            f"plan {plan.id}: the {what} instance {where} is not in the catalog any more "
            f"(catalog of {catalog.snapshot_date}); nothing was launched.",
            fix=_REPLAN,
        )
    _agree(plan, f"{what}.offer.usd_per_hour", offer.usd_per_hour, price, f"{where} now costs")
    return price


def _dearest(
    plan: Plan,
    offer: OfferChoice,
    alternatives: tuple[OfferChoice, ...],
    what: str,
    catalog: Catalog,
) -> tuple[float, str]:
    """($/h of the dearest offer SkyPilot may land the task on, how that reads): the first
    offer or any failover offer of the rendered ``ordered`` list, each re-priced."""
    prices = [_price(plan, o, f"{what} failover", catalog) for o in alternatives]
    first = _price(plan, offer, what, catalog)
    dearest = max([first, *prices])
    if not prices:
        return dearest, ""
    return dearest, f" (the dearest of its {len(prices) + 1} offers: SkyPilot may fail over to any)"


def _agree(plan: Plan, field: str, stated: float, recomputed: float, how: str) -> None:
    if not math.isclose(stated, recomputed, rel_tol=REL_TOLERANCE, abs_tol=USD_TOLERANCE):
        raise ExecutorError(
            f"plan {plan.id}: {field} is {stated:,.4f}, but {how} {recomputed:,.4f}: the plan "
            "file was edited, or the catalog's prices moved since it was made; nothing was "
            "launched.",
            fix=_REPLAN,
        )


def _training(plan: Plan, catalog: Catalog) -> tuple[float, float, str]:
    """(mid training cost, ceiling, basis) of the plan's training run; zeros without one."""
    t = plan.training
    if t is None:
        return 0.0, 0.0, ""
    usd_per_hour = t.nodes * _price(plan, t.offer, "training", catalog)
    how = f"{t.nodes} node(s) × the catalog's $/h × the hours come to"
    _agree(plan, "training.cost_usd_low", t.cost_usd_low, t.hours_low * usd_per_hour, how)
    _agree(plan, "training.cost_usd_high", t.cost_usd_high, t.hours_high * usd_per_hour, how)
    mid = (t.hours_low + t.hours_high) / 2 * usd_per_hour
    hours = t.hours_high * MAX_RUNTIME_FACTOR
    dearest, which = _dearest(plan, t.offer, t.alternative_offers, "training", catalog)
    basis = (
        f"training {t.nodes} × ${dearest:.4g}/h{which} × {hours:.2f} h (the high "
        f"estimate × {MAX_RUNTIME_FACTOR:g}, when the job's timeout stops it)"
    )
    return mid, t.nodes * dearest * hours, basis


def _serving(plan: Plan, catalog: Catalog) -> tuple[float, float, str]:
    """(monthly cost at the planned replicas, ceiling month, basis); zeros without serving."""
    s = plan.serving
    if s is None:
        return 0.0, 0.0, ""
    usd_per_hour = _price(plan, s.offer, "serving", catalog)
    monthly = s.replica_hours_per_month * usd_per_hour
    how = "replica-hours × the catalog's $/h come to"
    _agree(plan, "serving.monthly_usd", s.monthly_usd, monthly, how)
    most = s.max_replicas  # the autoscaler's ceiling (replica_policy.max_replicas)
    dearest, which = _dearest(plan, s.offer, s.alternative_offers, "serving", catalog)
    basis = (
        f"one month of serving at up to {most} replicas × ${dearest:.4g}/h{which} × "
        f"{HOURS_PER_MONTH} h"
    )
    return monthly, most * dearest * HOURS_PER_MONTH, basis


def _batch(plan: Plan, catalog: Catalog) -> tuple[float, float, str]:
    """(monthly cost of the planned jobs, ceiling of the one job launched, basis); zeros
    without batch jobs."""
    b = plan.batch
    if b is None:
        return 0.0, 0.0, ""
    usd_per_hour = b.instances * _price(plan, b.offer, "batch", catalog)
    how = "instances × the catalog's $/h × the hours come to"
    _agree(plan, "batch.cost_per_job_usd", b.cost_per_job_usd, b.hours_per_job * usd_per_hour, how)
    monthly = b.jobs_per_month * b.hours_per_job * usd_per_hour
    _agree(plan, "batch.monthly_usd", b.monthly_usd, monthly, "jobs × instances × $/h × hours")
    hours = b.hours_per_job * MAX_RUNTIME_FACTOR
    dearest, which = _dearest(plan, b.offer, b.alternative_offers, "batch", catalog)
    basis = (
        f"one batch job on {b.instances} × ${dearest:.4g}/h{which} × {hours:.2f} h "
        f"(its hours × {MAX_RUNTIME_FACTOR:g}, when the job's timeout stops it)"
    )
    return monthly, b.instances * dearest * hours, basis


def launch_costs(plan_file: PlanFile, catalog: Catalog) -> LaunchCosts:
    """The plan's costs and launch ceiling, recomputed; ExecutorError (re-plan) when an
    instance is not in the catalog or the plan's totals disagree with the recomputed ones."""
    plan = plan_file.plan
    training, training_ceiling, training_basis = _training(plan, catalog)
    serving, serving_ceiling, serving_basis = _serving(plan, catalog)
    batch, batch_ceiling, batch_basis = _batch(plan, catalog)
    other_one_time = (
        (plan.api.training_usd if plan.api else 0.0)
        + (plan.rag.embedding_usd if plan.rag else 0.0)
        + sum(line.one_time_usd for line in plan.extra_costs)
    )
    other_monthly = (
        (plan.api.monthly_usd if plan.api else 0.0)
        + (plan.rag.vector_store_usd_per_month if plan.rag else 0.0)
        + sum(line.monthly_usd for line in plan.extra_costs)
    )
    one_time, monthly = training + other_one_time, serving + batch + other_monthly
    how = "its parts add up to"
    _agree(plan, "one_time_usd", plan.one_time_usd, one_time, how)
    _agree(plan, "monthly_usd", plan.monthly_usd, monthly, how)
    _agree(plan, "first_year_usd", plan.first_year_usd, one_time + 12 * monthly, how)
    parts = [training_basis, serving_basis, batch_basis]
    if plan.api or plan.rag:
        parts.append("the plan's API / retrieval costs (one-time + one month)")
    if plan.extra_costs:
        names = ", ".join(line.name for line in plan.extra_costs)
        parts.append(f"its other cost lines ({names}; one-time + one month)")
    basis = " + ".join(p for p in parts if p) or "nothing is rented"
    return LaunchCosts(
        one_time_usd=one_time,
        monthly_usd=monthly,
        ceiling_usd=training_ceiling
        + serving_ceiling
        + batch_ceiling
        + other_one_time
        + other_monthly,
        basis=f"{basis}; prices of the catalog of {catalog.snapshot_date}",
    )
