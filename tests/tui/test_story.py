"""The whole `tailor ui` story with the real planner, a real SQLite run store and a fake backend
injected at the cloud boundary: fill in the goal → plans re-plan → select → compare → launch →
status updates → down."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from textual.widgets import Input

from executor.state import Phase, RunStore
from planner.rank import plan_goal
from tui.app import TailorApp
from tui.screens.goal import GoalScreen
from tui.screens.launch import LaunchScreen
from tui.screens.plans import PlansScreen
from tui.screens.runs import ConfirmScreen, RunsScreen

from .fakes import ENDPOINT, FakeBackend

GOAL = Path(__file__).parents[2] / "examples" / "goals" / "api-vs-self-hosted-1m.yaml"


class RecordingPlanner:
    """The real planner; remembers the goals it was asked to plan."""

    def __init__(self) -> None:
        self.goals = []

    def __call__(self, goal, catalog, *, objective=None, top=5):
        self.goals.append(goal)
        return plan_goal(goal, catalog, objective=objective, top=top)


async def until(pilot, condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        screen = pilot.app.screen
        shown = getattr(screen, "status", "")
        assert time.monotonic() < deadline, f"not met in time on {screen}; status: {shown}"
        await pilot.pause(0.05)


@pytest.mark.asyncio
async def test_goal_to_plans_to_compare_to_launch_to_down(tmp_path: Path) -> None:
    goal_path = tmp_path / "goal.yaml"
    shutil.copy(GOAL, goal_path)
    store = RunStore(tmp_path / "runs" / "state.db")
    backend, planner = FakeBackend(), RecordingPlanner()
    backend.advance.set()
    app = TailorApp(
        goal_path,
        planner=planner,
        store=store,
        backends={"local": backend},
        backend_name="local",
        poll_s=0.05,
        goal_debounce_s=0,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        plans = app.get_screen("plans")
        assert isinstance(plans, PlansScreen)
        await until(pilot, lambda: plans.result is not None)
        assert plans.result.goal.traffic.requests_per_month == 1_000_000

        # Fill in the goal: three times the traffic. With no debounce every valid edit is
        # handed down (and re-planned); the plans screen shows the last goal.
        await pilot.press("f2")
        assert isinstance(app.screen, GoalScreen)
        field = app.screen.query_one("#f-traffic-requests_per_month", Input)
        field.focus()
        field.value = ""
        await pilot.press(*"3000000")
        await until(pilot, lambda: app.screen.goal is not None)
        await pilot.press("f3")
        assert app.screen is plans
        await until(pilot, lambda: plans.result.goal.traffic.requests_per_month == 3_000_000)
        asked = [g.traffic.requests_per_month for g in planner.goals]
        # Half-typed values are planned in between too (their results dropped as stale).
        assert asked[0] == 1_000_000 and 3_000_000 in asked, asked
        assert f"{len(plans.result.plans)} of {plans.result.candidate_count}" in plans.status

        # Select and compare two plans.
        first, second = plans.result.plans[:2]
        await pilot.press("c", "down", "c")
        assert plans.marked == [first.id, second.id]
        assert f"Compare {first.id} → {second.id}" in plans.detail

        # Launch the first: a confirmation with the cost ceiling, then the runs screen.
        await pilot.press("up", "l")
        await until(pilot, lambda: isinstance(app.screen, LaunchScreen))
        confirm = app.screen
        assert any("Cost ceiling" in line for line in confirm.lines)
        assert any("training recipe" in line for line in confirm.lines)
        await pilot.press("y")
        runs = app.get_screen("runs")
        assert isinstance(runs, RunsScreen)
        await until(pilot, lambda: app.screen is runs and len(runs.runs) == 1)
        run_id = runs.runs[0].id
        assert run_id.startswith(f"{plans.result.goal.name}-{first.id}-local-")

        # Status updates until the endpoint is up: log tail, loss curve, endpoint URL.
        await until(pilot, lambda: runs.runs[0].phase is Phase.READY)
        await until(pilot, lambda: runs.runs[0].endpoint == ENDPOINT)
        await until(pilot, lambda: len(runs.metrics) == 5)
        assert "fake: server answers" in runs.log_lines
        assert [e.phase for e in store.events(run_id)][-1] is Phase.READY

        # Down: asked first, then nothing the run created is left.
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: runs.runs and runs.runs[0].phase is Phase.DOWN)
        assert store.resources(run_id, live_only=True) == []
        assert "nothing it created is left" in runs.status
    store.close()


@pytest.mark.asyncio
async def test_invalid_goal_file_opens_the_form_and_plans_once_fixed(tmp_path: Path) -> None:
    goal_path = tmp_path / "goal.yaml"
    text = GOAL.read_text().replace("avg_input_tokens: 500", "avg_input_tokens: 0")
    goal_path.write_text(text)
    planner = RecordingPlanner()
    app = TailorApp(
        goal_path,
        planner=planner,
        store=RunStore(tmp_path / "runs" / "state.db"),
        backends={"local": FakeBackend()},
        backend_name="local",
        goal_debounce_s=0,
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        form = app.screen
        assert isinstance(form, GoalScreen)
        assert "traffic.avg_input_tokens" in form.errors
        assert "To fix:" in form.errors["traffic.avg_input_tokens"]
        assert planner.goals == []
        field = form.query_one("#f-traffic-avg_input_tokens", Input)
        field.focus()
        field.value = ""
        await pilot.press(*"500")
        await until(pilot, lambda: form.goal is not None)
        await pilot.press("f3")
        plans = app.get_screen("plans")
        await until(pilot, lambda: plans.result is not None)
        assert plans.result.goal.traffic.avg_input_tokens == 500
