"""The launch's cost ceiling comes from the plan's resources × the catalog's prices, never from
the plan's own totals (issue 10, point 4: zeroed costs gave a $0 ceiling, 1,000,000 replicas a
$243 one)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from catalog import Catalog, load_catalog
from executor.errors import ExecutorError
from executor.launch import check_budget, cost_ceiling_usd, preview
from planner.plan import OfferChoice, PlanFile, load_plan_file
from planner.types import HOURS_PER_MONTH
from tests.planner.test_plan_file_hostile import FINANCIAL, MULTINODE, _data, _write


def _price(offer: OfferChoice, catalog: Catalog) -> float:
    (row,) = [
        o
        for o in catalog.offers
        if (o.cloud, o.region, o.instance_type) == (offer.cloud, offer.region, offer.instance_type)
    ]
    price = row.spot_price_usd_per_hour if offer.spot else row.price_usd_per_hour
    assert price is not None
    return price


@pytest.mark.parametrize("source", [FINANCIAL, MULTINODE], ids=["financial", "multinode"])
def test_ceiling_is_what_the_rendered_tasks_may_rent(source: Path) -> None:
    plan_file = load_plan_file(source)
    t, s = plan_file.plan.training, plan_file.plan.serving
    assert t is not None and s is not None
    catalog = load_catalog()
    # the job's timeout is hours_high × 1.5; the service may scale out to max_replicas; and
    # SkyPilot may put either task on any offer of its ordered list: the dearest one counts
    train_usd = max(_price(o, catalog) for o in (t.offer, *t.alternative_offers))
    serve_usd = max(_price(o, catalog) for o in (s.offer, *s.alternative_offers))
    training = t.nodes * train_usd * t.hours_high * 1.5
    serving = s.max_replicas * serve_usd * HOURS_PER_MONTH
    # every other cost line (disks, controllers, egress, storage): one-time + one month
    lines = plan_file.plan.extra_costs
    assert lines, "a cloud plan bills disks and controllers"
    other = sum(line.one_time_usd + line.monthly_usd for line in lines)
    assert cost_ceiling_usd(plan_file) == pytest.approx(training + serving + other, rel=1e-9)
    shown = preview(plan_file, "sky")
    assert shown.cost_ceiling_usd == pytest.approx(training + serving + other, rel=1e-9)
    assert f"up to {s.max_replicas} replicas" in shown.ceiling_basis
    assert f"catalog of {catalog.snapshot_date}" in shown.ceiling_basis
    check_budget(plan_file)  # within the goal's budget as planned


def test_a_dearer_failover_offer_raises_the_ceiling(tmp_path: Path) -> None:
    data = _data()
    serving = data["plan"]["serving"]
    first = serving["offer"]["usd_per_hour"]
    dearer = [o for o in serving["alternative_offers"] if o["usd_per_hour"] > first]
    assert dearer, "the fixture's service lists a failover offer dearer than its first"
    with_failover = load_plan_file(_write(tmp_path, data, "failover.json"))
    serving["alternative_offers"] = []
    first_only = load_plan_file(_write(tmp_path, data, "first-only.json"))
    most = serving["max_replicas"] * HOURS_PER_MONTH
    dearest = max(o["usd_per_hour"] for o in dearer)
    assert cost_ceiling_usd(with_failover) - cost_ceiling_usd(first_only) == pytest.approx(
        most * (dearest - first), rel=1e-9
    )
    shown = preview(with_failover, "sky").ceiling_basis
    assert "the dearest of its" in shown and "SkyPilot may fail over to any" in shown
    assert f"${dearest:.4g}/h" in shown


def _zeroed(tmp_path: Path) -> PlanFile:
    data = _data()
    plan = data["plan"]
    plan["training"].update(cost_usd_low=0.0, cost_usd_high=0.0)
    plan["serving"]["monthly_usd"] = 0.0
    plan.update(one_time_usd=0.0, monthly_usd=0.0, first_year_usd=0.0)
    return load_plan_file(_write(tmp_path, data))  # loads: $0 is a valid cost


def test_zeroed_costs_do_not_give_a_zero_ceiling(tmp_path: Path) -> None:
    plan_file = _zeroed(tmp_path)
    for call in (cost_ceiling_usd, check_budget, lambda p: preview(p, "sky")):
        with pytest.raises(ExecutorError, match=r"training\.cost_usd_low is 0\.0000") as error:
            call(plan_file)
        assert "To fix: re-plan" in str(error.value)


def test_more_replicas_than_the_costs_say_is_refused(tmp_path: Path) -> None:
    data = _data()
    planned = data["plan"]["serving"]["monthly_usd"]
    serving = data["plan"]["serving"]
    # within the cap, the policy consistent, the costs left as they were
    serving.update(replicas=5_000, min_replicas=5_000, max_replicas=5_000)
    serving["replica_hours_per_month"] = 5_000 * HOURS_PER_MONTH
    plan_file = load_plan_file(_write(tmp_path, data))
    shown = re.escape(f"serving.monthly_usd is {planned:,.4f}, but")
    with pytest.raises(ExecutorError, match=shown) as error:
        preview(plan_file, "sky")
    assert "To fix: re-plan" in str(error.value)


def test_consistent_totals_for_more_replicas_are_priced_at_the_most_replicas(
    tmp_path: Path,
) -> None:
    data = _data()
    plan, serving = data["plan"], data["plan"]["serving"]
    price = serving["monthly_usd"] / serving["replica_hours_per_month"]
    other = plan["monthly_usd"] - serving["monthly_usd"]  # the plan's other monthly lines
    hours = 5_000 * HOURS_PER_MONTH
    serving.update(replicas=5_000, min_replicas=5_000, max_replicas=10_000)
    serving.update(replica_hours_per_month=hours, monthly_usd=hours * price)
    plan.update(
        monthly_usd=serving["monthly_usd"] + other,
        first_year_usd=plan["one_time_usd"] + 12 * (serving["monthly_usd"] + other),
    )
    plan_file = load_plan_file(_write(tmp_path, data))
    assert cost_ceiling_usd(plan_file) > 10_000 * price * HOURS_PER_MONTH
    with pytest.raises(ExecutorError, match=r"budget\.monthly_usd"):
        check_budget(plan_file)


def test_an_offer_no_longer_in_the_catalog_is_refused(tmp_path: Path) -> None:
    data = _data()
    data["plan"]["training"]["offer"]["region"] = "mars-north1"
    plan_file = load_plan_file(_write(tmp_path, data))
    with pytest.raises(ExecutorError, match="not in the catalog any more") as error:
        check_budget(plan_file)
    assert "gcp/mars-north1 a3-highgpu-1g (spot)" in str(error.value)
    assert str(error.value).endswith("and launch the new plan file.")


def test_prices_that_moved_since_planning_are_refused() -> None:
    plan_file = load_plan_file(FINANCIAL)
    catalog = load_catalog()
    offer = plan_file.plan.serving.offer
    moved = tuple(
        o.model_copy(update={"price_usd_per_hour": o.price_usd_per_hour * 2})
        if (o.cloud, o.region, o.instance_type) == (offer.cloud, offer.region, offer.instance_type)
        else o
        for o in catalog.offers
    )
    later = catalog.model_copy(update={"offers": moved})
    shown = re.escape(f"serving.offer.usd_per_hour is {offer.usd_per_hour:,.4f}, but")
    with pytest.raises(ExecutorError, match=shown):
        cost_ceiling_usd(plan_file, catalog=later)
    assert cost_ceiling_usd(plan_file, catalog=catalog) > 0


def test_the_local_backend_rents_nothing() -> None:
    shown = preview(load_plan_file(FINANCIAL), "local")
    assert (shown.cost_ceiling_usd, shown.ceiling_basis) == (0.0, "nothing is rented")


def test_the_cli_refuses_a_zeroed_plan_before_asking(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tui.cli import cli

    _zeroed(tmp_path)
    path = tmp_path / "hostile.json"
    assert json.loads(path.read_text())["plan"]["monthly_usd"] == 0.0
    result = CliRunner().invoke(cli, ["launch", str(path), "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 2, result.output
    assert "Cost ceiling: $0.00" not in result.output and "re-plan" in result.output
