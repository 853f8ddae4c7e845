"""Trusted placement (provider tiers) and the bill beyond GPU hours (planner.bill)."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog import load_catalog, total_params
from planner.bill import (
    CHECKPOINT_BYTES_PER_TRAINED_PARAM,
    DATA_BYTES_PER_TOKEN,
    STREAMED_BYTES_PER_TOKEN,
    trained_parameters,
)
from planner.estimators.spot import CHECKPOINT_WRITE_BYTES_PER_S
from planner.estimators.terms import evaluate_formula
from planner.plan import Plan
from planner.rank import plan_goal
from planner.spec import load_goal
from planner.types import Method

GOALS = sorted((Path(__file__).resolve().parents[2] / "examples" / "goals").glob("*.yaml"))
PRIVATE = [g for g in GOALS if not load_goal(g).privacy.data_can_leave]


def _offers(plan: Plan) -> list:
    found = []
    for part in (plan.training, plan.serving, plan.batch):
        if part is not None:
            found += [part.offer, *part.alternative_offers]
    return found


@pytest.mark.parametrize("path", PRIVATE, ids=[p.stem for p in PRIVATE])
def test_a_private_goal_never_lands_on_a_marketplace_host(path: Path) -> None:
    catalog = load_catalog()
    result = plan_goal(load_goal(path), catalog, top=1000)
    offers = [o for plan in (*result.plans, *result.references) for o in _offers(plan)]
    assert offers
    assert all(o.tier != "marketplace" for o in offers)
    assert all(o.tier == str(catalog.cloud_facts(o.cloud).tier) for o in offers)


def test_allow_marketplace_lets_a_private_goal_rent_there() -> None:
    catalog = load_catalog()
    goal = load_goal(Path(PRIVATE[0]))
    market = {"vast"}
    assert all(catalog.cloud_facts(c).individually_owned_hosts for c in market)
    allowed = goal.model_copy(
        update={
            "privacy": goal.privacy.model_copy(
                update={"allow_marketplace": True, "allowed_clouds": ("vast",)}
            )
        }
    )
    result = plan_goal(allowed, catalog)
    offers = [o for plan in result.plans for o in _offers(plan)]
    assert offers and {o.tier for o in offers} == {"marketplace"}


@pytest.mark.parametrize("path", GOALS, ids=[p.stem for p in GOALS])
def test_every_cost_line_has_a_basis_and_is_in_the_totals(path: Path) -> None:
    for plan in plan_goal(load_goal(path), load_catalog()).plans:
        lines = plan.extra_costs
        if plan.serving is not None:
            assert {"response egress", "serving disks", "serve controller"} <= {
                line.name for line in lines
            }
        if plan.batch is not None:
            assert {"results download", "batch disks", "batch jobs controller"} <= {
                line.name for line in lines
            }
        if plan.training is not None:
            assert {
                "training disks",
                "jobs controller",
                "checkpoint bucket",
                "weights out",
                "training data in",
            } <= {line.name for line in lines}
        for line in lines:
            assert line.basis and line.quantity and line.unit_price
        base_monthly = (plan.serving.monthly_usd if plan.serving else 0) + (
            plan.api.monthly_usd if plan.api else 0
        )
        base_monthly += plan.batch.monthly_usd if plan.batch else 0
        base_monthly += plan.rag.vector_store_usd_per_month if plan.rag else 0
        extra = sum(line.monthly_usd for line in lines)
        assert plan.monthly_usd == pytest.approx(base_monthly + extra)


def test_egress_is_the_streamed_bytes_of_the_responses_at_the_clouds_price() -> None:
    catalog = load_catalog()
    goal = load_goal(next(g for g in GOALS if g.stem == "code-assistant"))
    plan = next(p for p in plan_goal(goal, catalog, top=1000).plans if p.serving)
    facts = catalog.cloud_facts(plan.serving.offer.cloud)
    line = next(line for line in plan.extra_costs if line.name == "response egress")
    t = goal.traffic
    gb = t.requests_per_month * t.avg_output_tokens * STREAMED_BYTES_PER_TOKEN / 1e9
    if facts.egress_usd_per_gb is None:
        assert line.monthly_usd == 0 and "not billed" in line.basis
    else:
        free = facts.egress_free_gb_per_month or 0
        assert line.monthly_usd == pytest.approx(max(0, gb - free) * facts.egress_usd_per_gb)


def test_a_lora_run_pays_for_writing_and_keeping_its_merged_model() -> None:
    # The rendered recipe merges LoRA into its base (merge: true) and writes merged/ to the
    # bucket: the nodes stay billed while the base is read and the merged model written, and the
    # bucket keeps the merged bf16 model beside the checkpoints.
    catalog = load_catalog()
    goal = load_goal(next(g for g in GOALS if g.stem == "financial-report-analysis"))
    plans = plan_goal(goal, catalog, top=1000).plans
    plan = next(p for p in plans if p.training and p.training.method is not Method.FULL)
    t = plan.training
    assert t is not None
    arch = catalog.model(plan.model)
    lines = {line.name: line for line in plan.extra_costs}
    moved = trained_parameters(arch, t) * 2 + 2 * total_params(arch) * 2
    hours = moved / CHECKPOINT_WRITE_BYTES_PER_S / 3600
    assert lines["weights out"].one_time_usd == pytest.approx(
        hours * t.offer.usd_per_hour * t.nodes
    )
    kept = trained_parameters(arch, t) * CHECKPOINT_BYTES_PER_TRAINED_PARAM
    assert f"{(kept + total_params(arch) * 2) / 1e9:,.2f} GB" == lines["checkpoint bucket"].quantity
    data_gb = goal.data.train_examples * goal.data.avg_example_tokens * DATA_BYTES_PER_TOKEN / 1e9
    assert lines["training data in"].quantity.startswith(f"{data_gb:,.3f} GB")
    assert "not billed" in lines["training data in"].basis  # no ingress price in the catalog


def test_the_serve_controller_bills_all_month_with_its_disk() -> None:
    catalog = load_catalog()
    goal = load_goal(next(g for g in GOALS if g.stem == "private-support-assistant"))
    plan = next(p for p in plan_goal(goal, catalog).plans if p.serving)
    line = next(line for line in plan.extra_costs if line.name == "serve controller")
    serve = catalog.controller("serve")
    prices = [vm.usd_per_hour for vm in serve.per_cloud if vm.usd_per_hour]
    assert line.monthly_usd >= 730 * min(prices)


def _with_users(goal, regions, **privacy):
    traffic = goal.traffic.model_copy(update={"user_regions": regions})
    return goal.model_copy(
        update={"traffic": traffic, "privacy": goal.privacy.model_copy(update=privacy)}
    )


def _ttft_parts(plan: Plan) -> tuple[float, float]:
    (ttft,) = [t for t in plan.estimates if t.name == "serve.ttft"]
    parts = [evaluate_formula(x) for x in ttft.formula.split(" + ")]
    return ttft.value, parts[-1]


def test_users_far_from_the_serving_region_pay_the_round_trip_in_ttft() -> None:
    catalog = load_catalog()
    goal = load_goal(GOALS[0])
    # serving held to US regions, users in Europe: the round trip is in every p95 TTFT
    far = _with_users(goal, ("eu",), allowed_regions=("us-*",))
    near = _with_users(goal, None, allowed_regions=("us-*",))
    rtt = catalog.area_rtt_ms("na", "eu")
    assert rtt is not None and rtt > 50
    far_plans = [p for p in plan_goal(far, catalog, top=50).plans if p.serving]
    near_plans = {p.serving.offer: p for p in plan_goal(near, catalog, top=50).plans if p.serving}
    assert far_plans
    for plan in far_plans:
        assert plan.serving is not None
        area = catalog.region_info(plan.serving.offer.cloud, plan.serving.offer.region).area
        assert area.value == "na"
        assert plan.serving.network_rtt_s == pytest.approx(rtt / 1000)
        value, last = _ttft_parts(plan)
        assert last == pytest.approx(rtt / 1000, rel=1e-3)
        assert plan.serving.p95_ttft_s == pytest.approx(value)
        (term,) = [t for t in plan.estimates if t.name == "serve.network_rtt_s"]
        assert "na→eu" in term.basis and "farthest" in term.basis
    for plan in near_plans.values():
        assert plan.serving is not None and plan.serving.network_rtt_s == 0


def test_users_named_by_country_prefer_a_serving_region_near_them() -> None:
    from planner.offers import build_offer_index

    catalog = load_catalog()
    goal = _with_users(load_goal(GOALS[0]), ("DE", "FR"))
    index = build_offer_index(goal, catalog)
    tried = 0
    for shape in index.serving_shapes():
        choices = index.serving_choices(*shape)
        cheapest = index.serving(*shape)
        assert choices[0][0] == cheapest  # the cheapest is always tried
        for offer, rtt_s, basis in choices:
            info = catalog.region_info(offer.cloud, offer.region)
            assert rtt_s == pytest.approx(catalog.area_rtt_ms(info.area, "eu") / 1000)
            assert "farthest user area" in basis
        # the other one tried is the cheapest in the nearest area (same-area round trip)
        if len(choices) == 2:
            tried += 1
            assert choices[1][1] < choices[0][1]
            assert choices[1][1] == pytest.approx(catalog.area_rtt_ms("eu", "eu") / 1000)
    assert tried > 0
    for plan in plan_goal(goal, catalog).plans:
        if plan.serving is not None:
            o = plan.serving.offer
            info = catalog.region_info(o.cloud, o.region)
            rtt = catalog.area_rtt_ms(info.area, "eu") / 1000
            assert plan.serving.network_rtt_s == pytest.approx(rtt)


def test_a_user_region_that_names_nothing_is_refused_with_a_fix() -> None:
    from planner.errors import PlannerError

    goal = _with_users(load_goal(GOALS[0]), ("atlantis",))
    with pytest.raises(PlannerError, match=r"traffic\.user_regions: 'atlantis'.*To fix: use"):
        plan_goal(goal, load_catalog())


def _worst_case(plan: Plan) -> tuple[float, float]:
    """(one-time $, $/month) of the plan were each task on its dearest ordered offer."""
    one_time, monthly = plan.one_time_usd, plan.monthly_usd
    if (t := plan.training) is not None:
        dearest = max(o.usd_per_hour for o in (t.offer, *t.alternative_offers))
        one_time += t.cost_usd * (dearest / t.offer.usd_per_hour - 1)
    for part in (plan.serving, plan.batch):
        if part is not None:
            dearest = max(o.usd_per_hour for o in (part.offer, *part.alternative_offers))
            monthly += part.monthly_usd * (dearest / part.offer.usd_per_hour - 1)
    return one_time, monthly


@pytest.mark.parametrize("path", GOALS, ids=[p.stem for p in GOALS])
def test_every_failover_offer_keeps_the_plan_within_budget(path: Path) -> None:
    goal = load_goal(path)
    for plan in plan_goal(goal, load_catalog(), top=1000).plans:
        one_time, monthly = _worst_case(plan)
        if goal.budget.training_usd is not None:
            assert one_time <= goal.budget.training_usd + 1e-6, plan.id
        if goal.budget.monthly_usd is not None:
            assert monthly <= goal.budget.monthly_usd + 1e-6, plan.id


def test_a_tight_budget_drops_the_dearer_failover_offers_only() -> None:
    catalog = load_catalog()
    goal = load_goal(next(g for g in GOALS if g.stem == "financial-report-analysis"))
    loose = plan_goal(goal, catalog).plans[0]
    assert loose.serving is not None
    first = loose.serving.offer.usd_per_hour
    alternatives = loose.serving.alternative_offers
    assert any(o.usd_per_hour > first for o in alternatives), "the fixture needs a dearer one"
    # a monthly cap a cent above this plan's: no failover offer dearer than the first fits
    cap = loose.monthly_usd + 0.01
    tight = goal.model_copy(update={"budget": goal.budget.model_copy(update={"monthly_usd": cap})})
    (same,) = [
        p
        for p in plan_goal(tight, catalog, top=1000).plans
        if p.decision_path == loose.decision_path
    ]
    assert same.serving is not None and same.serving.offer == loose.serving.offer
    kept = same.serving.alternative_offers
    # kept: those whose extra replica-hour cost fits in the cent left (cheaper, as dear)
    extra = loose.serving.monthly_usd
    assert kept == tuple(o for o in alternatives if extra * (o.usd_per_hour / first - 1) <= 0.01)
    assert len(kept) < len(alternatives)
