"""Pilot tests of the launch confirmation and the runs screen with a fake backend injected and a
real SQLite run store (each worker opens its own connection on it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from executor.launch import launch_context
from executor.state import Phase, Run, RunStore
from planner.plan import PlanFile
from tui.screens.launch import LaunchScreen
from tui.screens.runs import ConfirmScreen, RunsScreen
from tui.widgets.run_detail import elapsed_s, format_duration

from .fakes import ENDPOINT, FakeBackend

PLAN = Path(__file__).parents[1] / "data" / "plans" / "financial-p1.json"


class Host(App[None]):
    """A bare app that shows one screen."""

    def __init__(self, screen: RunsScreen | None = None) -> None:
        super().__init__()
        self.first = screen

    def on_mount(self) -> None:
        if self.first is not None:
            self.push_screen(self.first)


@pytest.fixture
def plan_file() -> PlanFile:
    return PlanFile.model_validate_json(PLAN.read_text())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    store = RunStore(tmp_path / "runs" / "state.db")
    yield store
    store.close()


def _screen(store: RunStore, backend: FakeBackend, poll_s: float = 0.5) -> RunsScreen:
    return RunsScreen(
        store=store,
        backends={"local": backend},
        context=launch_context,
        poll_s=poll_s,
    )


async def _until(pilot, condition: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.02)


def _run(screen: RunsScreen) -> Run | None:
    return next((r for r in screen.runs if r.id == screen.selected), None)


# --- launch confirmation ----------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize(("key", "answer"), [("y", True), ("enter", True), ("n", False)])
async def test_launch_screen_shows_what_is_created_and_the_ceiling(
    plan_file: PlanFile, key: str, answer: bool
) -> None:
    app, answers = Host(), []
    async with app.run_test(size=(100, 30)) as pilot:
        screen = LaunchScreen(plan_file, "sky")
        app.push_screen(screen, answers.append)
        await pilot.pause()
        body = str(screen.query_one("#launch-body", Static).render())
        assert "sky: training job" in body and "sky: vLLM endpoint" in body
        assert "(the high estimate × 1.5, when the job's timeout stops it)" in body
        assert (
            f"one month of serving at up to {plan_file.plan.serving.max_replicas} replicas" in body
        )
        assert "Training stops after" in body
        assert "Goal budget caps: training $200.00, serving $2,000.00/month." in body
        await pilot.press(key)
        await pilot.pause()
    assert answers == [answer]


@pytest.mark.asyncio
async def test_local_launch_rents_nothing_and_escape_cancels(plan_file: PlanFile) -> None:
    app, answers = Host(), []
    async with app.run_test(size=(80, 24)) as pilot:
        screen = LaunchScreen(plan_file, "local")
        app.push_screen(screen, answers.append)
        await pilot.pause()
        assert any(line.startswith("  - local: training recipe") for line in screen.lines)
        assert "Cost ceiling: $0.00 (nothing is rented)." in screen.lines
        await pilot.press("escape")
        await pilot.pause()
    assert answers == [False]


@pytest.mark.asyncio
async def test_over_budget_plan_can_only_be_cancelled(plan_file: PlanFile) -> None:
    budget = plan_file.goal.budget.model_copy(update={"training_usd": 0.01})
    goal = plan_file.goal.model_copy(update={"budget": budget})
    app, answers = Host(), []
    async with app.run_test(size=(80, 24)) as pilot:
        screen = LaunchScreen(plan_file.model_copy(update={"goal": goal}), "sky")
        app.push_screen(screen, answers.append)
        await pilot.pause()
        assert screen.error is not None and "budget.training_usd" in screen.error
        await pilot.press("y", "enter")
        await pilot.pause()
        assert answers == [] and app.screen is screen
        await pilot.press("n")
        await pilot.pause()
    assert answers == [False]


# --- runs screen ------------------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_launch_follow_to_ready_then_tear_down(
    plan_file: PlanFile, store: RunStore, size: tuple[int, int]
) -> None:
    backend = FakeBackend()
    screen = _screen(store, backend, poll_s=0.05)
    async with Host(screen).run_test(size=size) as pilot:
        await pilot.pause()
        screen.launch(plan_file, "local")
        await _until(pilot, lambda: _run(screen) is not None, "the launched run")
        run = _run(screen)
        assert run is not None and run.phase is Phase.TRAINING
        # a poll may show the run before the launch worker's message lands: wait for that too
        await _until(pilot, lambda: screen.status.startswith("Started run"), "the launch")
        assert screen.status == f"Started run {run.id} (training)."
        await _until(pilot, lambda: len(screen.metrics) == 3, "three metrics points")
        assert screen.log_lines == ["fake: training started"]
        table = screen.query_one("#runs", DataTable)
        assert table.get_row(run.id)[:3] == [run.id, "local", "training"]
        assert screen.query_one("#run-loss", PlotextPlot).display
        for widget in ("#runs", "#run-summary", "#run-loss", "#run-log"):
            assert screen.query_one(widget).region.height > 0, widget

        backend.advance.set()
        await _until(pilot, lambda: _run(screen).phase is Phase.READY, "ready")
        await _until(pilot, lambda: len(screen.metrics) == 5, "the new metrics")
        endpoint = screen.query_one("#run-endpoint", Static)
        assert endpoint.has_class("-ready") and ENDPOINT in str(endpoint.render())
        assert table.get_row(run.id)[-1] == ENDPOINT
        assert screen.log_lines[-1] == "fake: server answers"

        await pilot.press("d")
        await pilot.pause()
        assert isinstance(pilot.app.screen, ConfirmScreen)
        await pilot.press("y")
        await _until(pilot, lambda: _run(screen).phase is Phase.DOWN, "down")
        assert screen.status == f"Run {run.id} is down; nothing it created is left."
    assert store.get(run.id).phase is Phase.DOWN
    assert store.resources(run.id, live_only=True) == []


@pytest.mark.asyncio
async def test_answering_no_keeps_the_run(plan_file: PlanFile, store: RunStore) -> None:
    screen = _screen(store, FakeBackend())
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        screen.launch(plan_file, "local")
        await _until(pilot, lambda: _run(screen) is not None, "the launched run")
        await pilot.press("d", "n")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert pilot.app.screen is screen
    (run,) = store.list_runs()
    assert run.phase is Phase.TRAINING and len(store.resources(run.id, live_only=True)) == 1


@pytest.mark.asyncio
async def test_a_teardown_that_leaves_something_says_so(
    plan_file: PlanFile, store: RunStore
) -> None:
    screen = _screen(store, FakeBackend(stuck=True))
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        screen.launch(plan_file, "local")
        await _until(pilot, lambda: _run(screen) is not None, "the launched run")
        await pilot.press("d", "y")
        await _until(pilot, lambda: screen.status.startswith("Error:"), "the error")
        assert "still live after teardown" in screen.status and "train:101" in screen.status
        await _until(pilot, lambda: _run(screen).phase is Phase.STOPPING, "stopping")


@pytest.mark.asyncio
async def test_a_failing_start_is_shown_and_the_app_keeps_running(
    plan_file: PlanFile, store: RunStore
) -> None:
    screen = _screen(store, FakeBackend(fail_start=True))
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        screen.launch(plan_file, "local")
        await _until(pilot, lambda: screen.status.startswith("Error:"), "the error")
        assert "fake backend: no capacity. To fix: try again later." in screen.status
        await _until(pilot, lambda: _run(screen) is not None, "the failed run")
        assert _run(screen).phase is Phase.FAILED
        await pilot.press("r")
        await pilot.pause()
        assert pilot.app.is_running and pilot.app.screen is screen


@pytest.mark.asyncio
async def test_launching_the_same_plan_twice_reattaches(
    plan_file: PlanFile, store: RunStore
) -> None:
    backend = FakeBackend()
    screen = _screen(store, backend)
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        screen.launch(plan_file, "local")
        await _until(pilot, lambda: screen.status.startswith("Started run"), "the launch")
        screen.launch(plan_file, "local")
        await _until(pilot, lambda: screen.status.startswith("Re-attached to run"), "re-attach")
        await _until(pilot, lambda: len(screen.runs) == 1, "the run")
    assert backend.starts == 1 and len(store.list_runs()) == 1


@pytest.mark.asyncio
async def test_log_key_shows_the_log_alone_and_back(plan_file: PlanFile, store: RunStore) -> None:
    screen = _screen(store, FakeBackend())
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await _until(pilot, lambda: screen.status.startswith("No runs yet."), "the first read")
        await pilot.press("l")
        await pilot.pause()
        assert screen.has_class("-log-only") and screen.focused.id == "run-log"
        assert not screen.query_one("#runs").display
        await pilot.press("l")
        await pilot.pause()
        assert not screen.has_class("-log-only") and screen.focused.id == "runs"


@pytest.mark.asyncio
async def test_unknown_backend_is_refused(plan_file: PlanFile, store: RunStore) -> None:
    screen = _screen(store, FakeBackend())
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        screen.launch(plan_file, "sky")
        await pilot.pause()
        assert screen.status == "No backend 'sky' here. To fix: use one of: local."
    assert store.list_runs() == []


def test_elapsed_stops_when_the_run_ends() -> None:
    run = Run(
        id="r",
        plan_hash="h",
        backend="local",
        goal_name="g",
        phase=Phase.TRAINING,
        created_at=1000.0,
        updated_at=1100.0,
        spend_usd=0.0,
        cost_ceiling_usd=0.0,
        endpoint=None,
    )
    assert elapsed_s(run, now=1300.0) == 300.0
    assert elapsed_s(run.model_copy(update={"phase": Phase.DOWN}), now=1300.0) == 100.0
    assert [format_duration(s) for s in (42, 185, 7620)] == ["42s", "3m 05s", "2h 07m"]


def test_log_continuation_appends_only_new_lines() -> None:
    from tui.widgets.run_detail import _continuation

    assert _continuation(("a", "b", "c"), ("b", "c", "d", "e")) == ("d", "e")
    assert _continuation(("a", "b"), ("a", "b")) == ()
    assert _continuation(("a", "b"), ("x", "y")) is None
    assert _continuation((), ("a",)) is None
