"""`executor.launch.teardown`: down only when the store holds nothing live of the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from executor.backends.base import LaunchContext
from executor.errors import ExecutorError
from executor.launch import teardown
from executor.state import Phase, Run, RunStore


class RemovesOnly:
    """A backend whose teardown removes the resources named in ``removable``."""

    name = "local"

    def __init__(self, removable: set[str]) -> None:
        self.removable = removable

    def teardown(self, run: Run, ctx: LaunchContext) -> list[str]:
        removed = []
        for resource in ctx.store.resources(run.id, live_only=True):
            if resource.name in self.removable:
                ctx.store.mark_deleted(run.id, resource.kind, resource.name)
                removed.append(f"{resource.kind} {resource.name}")
        return removed


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[LaunchContext]:
    store = RunStore(tmp_path / "state.db")
    store.create_run("r1", plan_json={"p": 1}, backend="local", goal_name="g", cost_ceiling_usd=1)
    store.add_resource("r1", "process", "train:1")
    store.add_resource("r1", "process", "serve:2")
    yield LaunchContext(store=store, runs_dir=tmp_path / "runs")
    store.close()


def test_everything_removed_means_down(ctx: LaunchContext) -> None:
    removed = teardown(ctx.store.get("r1"), RemovesOnly({"train:1", "serve:2"}), ctx)
    assert removed == ["process train:1", "process serve:2"]
    assert [(e.phase, e.message) for e in ctx.store.events("r1")][1:] == [
        (Phase.STOPPING, "teardown requested"),
        (Phase.DOWN, "removed 2 resource(s)"),
    ]


def test_something_left_raises_and_the_run_stays_stopping(ctx: LaunchContext) -> None:
    with pytest.raises(ExecutorError, match=r"still live after teardown.*serve:2.*To fix:"):
        teardown(ctx.store.get("r1"), RemovesOnly({"train:1"}), ctx)
    assert ctx.store.get("r1").phase is Phase.STOPPING


def test_down_names_the_skypilot_controllers_it_leaves_with_their_prices() -> None:
    """A sky run's jobs and serve controllers are shared by all the user's managed jobs and
    services; `down` leaves them, and says so with the plan's unit prices."""
    from executor.launch import controllers_left
    from planner.plan import load_plan_file

    plan_file = load_plan_file(Path(__file__).parents[1] / "data" / "plans" / "financial-p1.json")
    prices = {c.name: c.unit_price for c in plan_file.plan.extra_costs}
    lines = controllers_left(plan_file)
    assert len(lines) == 2
    jobs, serve = lines
    assert "jobs controller (sky-jobs-controller-" in jobs and prices["jobs controller"] in jobs
    assert "serve controller (sky-serve-controller-" in serve
    assert prices["serve controller"] in serve
    assert all("10 idle minutes" in line and "disk keeps billing" in line for line in lines)


def test_a_plan_without_controllers_leaves_none() -> None:
    from executor.launch import controllers_left
    from planner.plan import load_plan_file

    plan_file = load_plan_file(Path(__file__).parents[1] / "data" / "plans" / "financial-p1.json")
    kept = [c for c in plan_file.plan.extra_costs if "controller" not in c.name]
    bare = plan_file.model_copy(
        update={"plan": plan_file.plan.model_copy(update={"extra_costs": kept})}
    )
    assert controllers_left(bare) == []
