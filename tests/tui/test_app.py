"""Pilot tests for `tailor ui` with the planner injected (real plan_goal or a failing fake)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import ContentSwitcher, DataTable, Input

from catalog import load_catalog
from executor.state import RunStore
from planner.errors import PlannerError
from planner.rank import PlanningResult, plan_goal
from planner.spec import Objective, load_goal
from tui.app import TailorApp
from tui.messages import GoalChanged, GoalSaved, LaunchRequested
from tui.screens.goal import GoalScreen
from tui.screens.help import HelpScreen
from tui.screens.plans import PlansScreen
from tui.widgets.pareto import ParetoPlot, quality_points
from tui.widgets.plan_table import COLUMNS, plan_cells, quality_text, sort_plans

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
        assert len(screen.result.plans) > 1
        assert table.row_count == len(screen.result.plans) + len(screen.result.references)
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


QUALITY = next(i for i, c in enumerate(COLUMNS) if c.label == "quality")
MARKER = next(i for i, c in enumerate(COLUMNS) if c.label == "★")


def _row(table: DataTable, key: str) -> list[str]:
    return [str(cell) for cell in table.get_row(key)]


@pytest.mark.asyncio
async def test_quality_column_and_quality_block_of_p1() -> None:
    app = TailorApp(GOAL)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _settle(pilot)
        table = screen.query_one("#plans", DataTable)
        labels = [str(c.label) for c in table.columns.values()]
        assert labels.index("quality") == labels.index("1st-year $") + 1  # after the costs
        p1 = screen.result.plans[0]
        assert p1.id == "p1" and p1.quality is not None and p1.quality.expected_low is not None
        cell = _row(table, "p1")[QUALITY]
        assert (
            cell
            == quality_text(p1)
            == (f"{p1.quality.expected_low:.0f}–{p1.quality.expected_high:.0f}")
        )
        assert "[b]Quality[/b]" in screen.detail
        assert f"benchmark: {p1.quality.benchmark_name}" in screen.detail
        assert f"published base score: {p1.quality.base_score:g}" in screen.detail
        assert f"expected: {p1.quality.expected_low:.1f}–" in screen.detail
        assert "default floor" in screen.detail  # the example goal has no quality section
        assert p1.quality.basis and all(
            f"{i}. {line}".replace("[", r"\[") in screen.detail
            for i, line in enumerate(p1.quality.basis, 1)
        )
        assert screen.detail.count("[b]Quality[/b]") == 1  # explain_plan's own not repeated
        assert "Decision path" in screen.detail
        assert "quality" in screen.status


@pytest.mark.asyncio
async def test_reference_rows_follow_the_ranked_plans_and_explain_their_rule() -> None:
    app = TailorApp(GOAL)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _settle(pilot)
        table = screen.query_one("#plans", DataTable)
        plans, refs = screen.result.plans, screen.result.references
        assert [r.id for r in refs] == ["r1", "r2"]  # under the frozen test catalog
        keys = [row.value for row in table.rows]
        assert keys == [*(p.id for p in plans), "r1", "r2"]
        assert _row(table, "r1")[MARKER] == "ref"
        assert _row(table, "p1")[MARKER] in ("★", "")
        table.move_cursor(row=table.get_row_index("r1"))
        await pilot.pause()
        assert screen.detail.startswith("[b]r1 ")
        assert "Reference row: cannot be launched" in screen.detail
        assert refs[0].reference is not None and refs[0].reference in screen.detail
        for warning in refs[0].warnings:
            assert warning.replace("[", r"\[") in screen.detail
        await pilot.press("s")  # sort by id: references still after every ranked plan
        await pilot.pause()
        assert [row.value for row in table.rows][-2:] == ["r1", "r2"]


@pytest.mark.asyncio
async def test_launching_a_reference_row_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_plan_file(self, plan_id, **kwargs):
        raise AssertionError(f"plan_file({plan_id!r}) called")

    app = TailorApp(GOAL)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _settle(pilot)
        monkeypatch.setattr(PlanningResult, "plan_file", no_plan_file)
        table = screen.query_one("#plans", DataTable)
        table.move_cursor(row=table.get_row_index("r2"))
        await pilot.pause()
        await pilot.press("l")
        await pilot.pause()
        assert app.screen is screen  # no launch confirmation
        assert screen.status.startswith("r2 is a reference row (")
        assert "cannot be launched" in screen.status and "To fix:" in screen.status
        await pilot.press("enter")  # enter on a row launches too: refused the same way
        await pilot.pause()
        assert app.screen is screen and screen.status.startswith("r2 is a reference row")


@pytest.mark.asyncio
async def test_objective_cycle_reaches_quality() -> None:
    planner = RecordingPlanner()
    app = TailorApp(GOAL, planner=planner)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _settle(pilot)
        seen = [screen.result.objective]
        for _ in range(len(Objective)):
            await pilot.press("o")
            screen = await _settle(pilot)
            seen.append(screen.result.objective)
        assert set(seen) == set(Objective)
        assert seen[0] == seen[-1]  # a full cycle comes back
        assert Objective.QUALITY in planner.objectives
        assert "objective quality" in screen.status or screen.objective != Objective.QUALITY


@pytest.mark.asyncio
async def test_plot_key_steps_through_latency_and_quality_views() -> None:
    app = TailorApp(GOAL)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _settle(pilot)
        switcher = screen.query_one("#lower", ContentSwitcher)
        plot = screen.query_one("#pareto", ParetoPlot)
        shown = []
        for _ in range(3):
            await pilot.press("v")
            await pilot.pause()
            shown.append((switcher.current, plot.view))
        assert shown == [("pareto", "latency"), ("pareto", "quality"), ("detail-pane", "quality")]


def test_quality_points_place_ranked_plans_and_references() -> None:
    result = plan_goal(load_goal(GOAL), load_catalog())
    points = quality_points(result)
    assert points.benchmark == "IFEval"
    assert [r[0] for r in points.ranked] == [p.id for p in result.plans]
    assert [r[0] for r in points.references] == ["r1", "r2"]
    assert all(low <= high for _, low, high, _ in points.ranked)
    costs = [usd for _, usd in points.front]
    scores = [q for q, _ in points.front]
    assert costs == sorted(costs) and scores == sorted(scores)  # cheaper, then better


def test_sort_puts_unknown_quality_last_and_references_after_plans() -> None:
    result = plan_goal(load_goal(GOAL), load_catalog())
    unknown = result.plans[0].model_copy(update={"id": "p9", "quality": None})
    plans = [*result.references, unknown, *result.plans]
    quality = COLUMNS[QUALITY]
    for reverse in (False, True):
        ordered = sort_plans(plans, quality, reverse=reverse)
        assert ordered[-1] is unknown
        mids = [p.quality.ranking_score for p in ordered[:-1] if p.quality]
        assert mids == sorted(mids, reverse=reverse)
    assert plan_cells(unknown)[QUALITY] == "?"
    by_id = sort_plans(plans, COLUMNS[0])
    assert [p.id for p in by_id] == [*sorted(p.id for p in (*result.plans, unknown)), "r1", "r2"]
