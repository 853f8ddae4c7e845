"""Pilot tests for `tailor ui` with the planner injected (real plan_goal or a failing fake)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from catalog import load_catalog
from executor.state import RunStore
from planner.errors import PlannerError
from planner.rank import plan_goal
from planner.spec import Objective
from tui.app import TailorApp
from tui.messages import GoalChanged, GoalSaved, LaunchRequested
from tui.screens.goal import GoalScreen
from tui.screens.help import HelpScreen
from tui.screens.plans import PlansScreen

GOAL = Path(__file__).parents[2] / "examples" / "goals" / "api-vs-self-hosted-1m.yaml"


class RecordingPlanner:
    """Calls the real planner and records each objective it was asked for."""

    def __init__(self) -> None:
        self.objectives: list[Objective | None] = []

    def __call__(self, goal, catalog, *, objective=None, top=5):
        self.objectives.append(objective)
        return plan_goal(goal, catalog, objective=objective, top=top)


async def _settle(pilot) -> PlansScreen:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, PlansScreen)
    return screen


@pytest.mark.asyncio
async def test_plans_fill_the_table_and_detail_follows_highlight() -> None:
    app = TailorApp(GOAL, catalog_loader=load_catalog)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _settle(pilot)
        table = screen.query_one("#plans", DataTable)
        assert screen.result is not None
        assert table.row_count == len(screen.result.plans) > 1
        assert "Decision path" in screen.detail
        assert screen.result.plans[0].id in screen.detail
        await pilot.press("down")
        await pilot.pause()
        second = screen.result.plans[1]
        assert screen.detail.startswith(f"[b]{second.id} ")
        assert "Decision path" in screen.detail


@pytest.mark.asyncio
async def test_objective_cycles_and_replans() -> None:
    planner = RecordingPlanner()
    app = TailorApp(GOAL, planner=planner)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _settle(pilot)
        first = screen.result.objective
        await pilot.press("o")
        screen = await _settle(pilot)
        assert planner.objectives[0] is None
        assert planner.objectives[-1] == screen.objective != first
        assert screen.result.objective == screen.objective
        assert f"objective {screen.objective}" in screen.status


@pytest.mark.asyncio
async def test_marking_two_plans_shows_compare() -> None:
    app = TailorApp(GOAL)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _settle(pilot)
        a, b = screen.result.plans[:2]
        await pilot.press("c", "down", "c")
        await pilot.pause()
        assert screen.marked == [a.id, b.id]
        assert f"Compare {a.id} → {b.id}" in screen.detail
        assert "Comparing" in screen.status


@pytest.mark.asyncio
async def test_planner_error_goes_to_status_line() -> None:
    def failing(goal, catalog, *, objective=None, top=5):
        raise PlannerError("nothing fits. To fix: raise the budget.")

    app = TailorApp(GOAL, planner=failing)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _settle(pilot)
        assert screen.status == "Error: nothing fits. To fix: raise the budget."
        assert screen.query_one("#plans", DataTable).row_count == 0
        await pilot.press("r")
        screen = await _settle(pilot)
        assert app.is_running
        assert screen.status.startswith("Error:")


@pytest.mark.asyncio
async def test_help_opens_and_escape_closes() -> None:
    app = TailorApp(GOAL)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert ("o", "Objective") in app.screen.pairs
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PlansScreen)


@pytest.mark.asyncio
async def test_an_edit_on_the_goal_form_replans_at_once_without_debounce() -> None:
    app = TailorApp(GOAL, goal_debounce_s=0)
    async with app.run_test(size=(120, 40)) as pilot:
        plans = await _settle(pilot)
        await pilot.press("f2")
        form = app.screen
        assert isinstance(form, GoalScreen) and form.debounce_s == 0
        form.query_one("#f-traffic-avg_output_tokens", Input).value = "321"
        await pilot.pause()
        assert app.screen is form  # still on the form: no timer, no leaving
        assert plans.goal is not None and plans.goal.traffic.avg_output_tokens == 321


@pytest.mark.asyncio
async def test_saving_the_goal_on_the_form_names_its_file_in_the_title(tmp_path: Path) -> None:
    goal_path = tmp_path / "mine.yaml"
    shutil.copy(GOAL, goal_path)
    store = RunStore(tmp_path / "runs" / "state.db")
    app = TailorApp(goal_path, store=store, backends={}, goal_debounce_s=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(pilot)
        app.goal_path, app.sub_title = None, ""
        await pilot.press("f2", "ctrl+s")
        await pilot.pause()
        assert app.screen.status == f"Saved {goal_path}"
        assert (app.goal_path, app.sub_title) == (goal_path, "mine.yaml")  # GoalSaved came up
    store.close()


def test_the_app_handles_every_message_its_screens_send_up() -> None:
    for message in (GoalChanged, GoalSaved, LaunchRequested):
        assert callable(getattr(TailorApp, message.handler_name, None)), message.handler_name
