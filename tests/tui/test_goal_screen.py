"""Pilot tests of the goal screen, hosted alone in a small app that records its messages."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from textual.app import App
from textual.screen import Screen
from textual.widgets import Input, Select, Static, Switch

from planner.errors import Problem
from planner.problems import parse_goal_yaml, unwrap_annotation
from planner.spec import GoalSpec, dump_goal, load_goal
from tui.messages import GoalChanged, GoalSaved
from tui.screens.goal import GoalScreen, PathPrompt, problem_texts
from tui.widgets.goal_form import Kind, goal_groups

EXAMPLE = Path(__file__).parents[2] / "examples" / "goals" / "api-vs-self-hosted-1m.yaml"
WIDE, NARROW = (120, 40), (80, 24)


class Host(App[None]):
    """Shows one GoalScreen and records the GoalChanged and GoalSaved messages it posts (by
    Textual's handler names, as the app receives them)."""

    def __init__(self, screen: GoalScreen) -> None:
        super().__init__()
        self.goal_screen = screen
        self.changes: list[GoalSpec] = []
        self.saved: list[Path] = []

    def on_mount(self) -> None:
        self.push_screen(self.goal_screen)

    def on_goal_changed(self, message: GoalChanged) -> None:
        self.changes.append(message.goal)

    def on_goal_saved(self, message: GoalSaved) -> None:
        self.saved.append(message.path)


@pytest.fixture
def goal_file(tmp_path: Path) -> Path:
    path = tmp_path / "goal.yaml"
    shutil.copy(EXAMPLE, path)
    return path


def _example_data() -> dict[str, Any]:
    data = parse_goal_yaml(EXAMPLE.read_text(encoding="utf-8"), source=str(EXAMPLE))
    assert isinstance(data, dict)
    return data


def _widget(screen: GoalScreen, path: str) -> Any:
    return screen.query_one("#f-" + path.replace(".", "-"))


def _error_text(screen: GoalScreen, path: str) -> str:
    static = screen.query_one("#e-" + path.replace(".", "-"), Static)
    return str(static.content) if static.display else ""


async def _type(pilot: Any, screen: GoalScreen, path: str, text: str) -> None:
    """Focus the field's Input, select all and delete it, then type ``text`` key by key."""
    field = _widget(screen, path)
    assert isinstance(field, Input)
    field.focus()
    await pilot.pause()
    await pilot.press("ctrl+shift+a", "backspace", *text)
    await pilot.pause()


def _leaf_paths(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    paths = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        section = unwrap_annotation(info.annotation).base
        if isinstance(section, type) and issubclass(section, BaseModel):
            paths += _leaf_paths(section, f"{path}.")
        else:
            paths.append((path, info))
    return paths


@pytest.mark.asyncio
async def test_loading_a_goal_fills_the_form_and_posts_one_changed(goal_file: Path) -> None:
    screen = GoalScreen(goal_file, debounce_s=0)
    app = Host(screen)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        expected = load_goal(goal_file)
        assert app.changes == [expected]
        assert screen.goal == expected
        assert screen.errors == {}
        assert _widget(screen, "name").value == "api-vs-self-hosted-1m"
        assert _widget(screen, "task.type").value == "chat"
        assert _widget(screen, "task.needs_custom_behavior").value is True
        assert _widget(screen, "traffic.avg_input_tokens").value == "500"
        assert _widget(screen, "budget.monthly_usd").value == "30000"
        assert _widget(screen, "privacy.data_can_leave").value is True
        assert _widget(screen, "privacy.allowed_clouds").value == ""
        candidates = "openai/gpt-4o, openai/gpt-4o-mini, llama-3-8b"
        assert _widget(screen, "models.candidates").value == candidates
        assert _widget(screen, "preferences.objective").value == "cost"
        assert screen.query_one("#goal-summary", Static).content == "The goal is valid."
        assert screen.status == f"Opened {goal_file}"


@pytest.mark.asyncio
@pytest.mark.parametrize("bad", ["0", "abc"])
async def test_invalid_number_shows_the_spec_error_and_fixing_it_posts_changed(
    goal_file: Path, bad: str
) -> None:
    screen = GoalScreen(goal_file, debounce_s=0)
    app = Host(screen)
    async with app.run_test(size=NARROW) as pilot:
        await pilot.pause()
        await _type(pilot, screen, "traffic.avg_input_tokens", bad)
        assert screen.goal is None
        shown = _error_text(screen, "traffic.avg_input_tokens")
        assert "To fix:" in shown
        assert "traffic.avg_input_tokens" in shown  # the fix names the field
        assert screen.errors["traffic.avg_input_tokens"] == shown
        assert "traffic.avg_input_tokens" in str(screen.query_one("#goal-summary", Static).content)

        await _type(pilot, screen, "traffic.avg_input_tokens", "600")
        assert _error_text(screen, "traffic.avg_input_tokens") == ""
        assert screen.errors == {}
        assert screen.goal is not None
        assert screen.goal.traffic.avg_input_tokens == 600
        assert app.changes[-1] == screen.goal  # no debounce: each valid edit is posted
        assert [g.traffic.avg_input_tokens for g in app.changes] == [500, 6, 60, 600]


@pytest.mark.asyncio
async def test_leaving_the_screen_posts_a_pending_change_at_once(goal_file: Path) -> None:
    screen = GoalScreen(goal_file, debounce_s=60)  # no test waits for it: leaving posts it
    app = Host(screen)
    async with app.run_test(size=NARROW) as pilot:
        await pilot.pause()
        await _type(pilot, screen, "traffic.avg_output_tokens", "800")
        assert len(app.changes) == 1  # on mount; "8", "80", "800" wait for a quiet minute
        await app.push_screen(Screen())
        await pilot.pause()
        assert len(app.changes) == 2
        assert app.changes[-1].traffic.avg_output_tokens == 800


@pytest.mark.asyncio
async def test_the_debounce_timer_posts_the_change_by_itself(goal_file: Path) -> None:
    screen = GoalScreen(goal_file, debounce_s=0.01)
    app = Host(screen)
    async with app.run_test(size=NARROW) as pilot:
        await pilot.pause()
        await _type(pilot, screen, "traffic.avg_output_tokens", "8")
        deadline = time.monotonic() + 10
        while len(app.changes) < 2:  # a condition, not the delay: the timer fires on its own
            assert time.monotonic() < deadline, "the debounced Changed never came"
            await pilot.pause(0.01)
        assert app.changes[-1].traffic.avg_output_tokens == 8
        assert app.screen is screen


@pytest.mark.asyncio
async def test_cross_field_problems_land_under_the_field_they_name(goal_file: Path) -> None:
    screen = GoalScreen(goal_file, debounce_s=0)
    app = Host(screen)
    async with app.run_test(size=NARROW) as pilot:
        await pilot.pause()
        switch = _widget(screen, "task.needs_fresh_knowledge")
        assert isinstance(switch, Switch)
        switch.focus()
        await pilot.press("space")
        await pilot.pause()
        assert switch.value is True
        assert screen.goal is None
        shown = _error_text(screen, "task.knowledge_base_tokens")
        assert "needs_fresh_knowledge is true" in shown
        assert "To fix:" in shown

        await _type(pilot, screen, "task.knowledge_base_tokens", "50000000")
        assert screen.goal is not None
        assert screen.goal.task.knowledge_base_tokens == 50_000_000
        await _type(pilot, screen, "data.train_examples", "0")  # goal-level rule
        assert "needs_custom_behavior is true" in _error_text(screen, "data.train_examples")
        assert list(screen.errors) == ["data.train_examples"]


@pytest.mark.asyncio
async def test_ctrl_s_writes_a_file_that_loads_back_equal(goal_file: Path) -> None:
    screen = GoalScreen(goal_file, debounce_s=0)
    app = Host(screen)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await _type(pilot, screen, "traffic.peak_requests_per_s", "5")
        await _type(pilot, screen, "privacy.allowed_clouds", "aws, gcp")
        await pilot.press("ctrl+s")
        await pilot.pause()
        goal = screen.goal
        assert goal is not None
        assert goal.traffic.peak_requests_per_s == 5.0  # "5" is a float for a float field
        assert isinstance(goal.traffic.peak_requests_per_s, float)
        assert goal.privacy.allowed_clouds == ("aws", "gcp")
        assert load_goal(goal_file) == goal
        assert goal_file.read_text(encoding="utf-8") == dump_goal(goal)
        assert app.saved == [goal_file]
        assert screen.status == f"Saved {goal_file}"
        assert sorted(p.name for p in goal_file.parent.iterdir()) == ["goal.yaml"]  # no .tmp


@pytest.mark.asyncio
async def test_ctrl_s_on_an_invalid_form_writes_nothing(goal_file: Path) -> None:
    before = goal_file.read_bytes()
    screen = GoalScreen(goal_file, debounce_s=0)
    app = Host(screen)
    async with app.run_test(size=NARROW) as pilot:
        await pilot.pause()
        await _type(pilot, screen, "traffic.requests_per_month", "-1")
        _widget(screen, "name").focus()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert goal_file.read_bytes() == before
        assert app.saved == []
        assert screen.status.startswith("Not saved: traffic.requests_per_month is invalid")
        assert app.focused is _widget(screen, "traffic.requests_per_month")


@pytest.mark.asyncio
async def test_a_new_goal_is_saved_where_the_prompt_says(tmp_path: Path) -> None:
    screen = GoalScreen(None, _example_data(), debounce_s=0)
    app = Host(screen)
    async with app.run_test(size=NARROW) as pilot:
        await pilot.pause()
        assert len(app.changes) == 1
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, PathPrompt)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        assert screen.status == "Not saved."

        await pilot.press("ctrl+s")
        await pilot.pause()
        target = tmp_path / "new.yaml"
        app.screen.query_one("#path-input", Input).value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        assert load_goal(target) == screen.goal
        assert screen.path == target
        assert app.saved == [target]


@pytest.mark.asyncio
async def test_an_empty_form_shows_the_required_fields_at_80x24() -> None:
    screen = GoalScreen(None, debounce_s=0)
    app = Host(screen)
    async with app.run_test(size=NARROW) as pilot:
        await pilot.pause()
        assert app.screen is screen
        assert screen.goal is None
        assert app.changes == []
        assert "name" in screen.errors
        assert "task.type" in screen.errors
        assert "traffic.avg_input_tokens" in screen.errors
        assert "is required" in _error_text(screen, "traffic.requests_per_month")
        assert _widget(screen, "task.type").value is Select.NULL
        assert app.focused is _widget(screen, "name")


@pytest.mark.asyncio
async def test_a_bad_yaml_file_is_reported_without_a_traceback(
    goal_file: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntask: [unclosed\n", encoding="utf-8")
    screen = GoalScreen(bad, debounce_s=0)
    app = Host(screen)
    async with app.run_test(size=NARROW) as pilot:
        await pilot.pause()
        assert app.is_running
        assert "is not valid YAML" in screen.status
        assert "To fix:" in screen.status
        assert screen.goal is None

        screen.path = goal_file  # open a good file, then a bad one: the form stays
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert screen.goal == load_goal(goal_file)
        await pilot.press("ctrl+o")
        await pilot.pause()
        app.screen.query_one("#path-input", Input).value = str(bad)
        await pilot.press("enter")
        await pilot.pause()
        assert app.is_running
        assert screen.status.startswith("Not opened (the form is unchanged)")
        assert screen.goal == load_goal(goal_file)
        assert screen.path == goal_file


@pytest.mark.asyncio
async def test_open_and_reload_refill_the_form(goal_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(EXAMPLE.read_text(encoding="utf-8").replace("500  ", "700  "), "utf-8")
    screen = GoalScreen(goal_file, debounce_s=0)
    app = Host(screen)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+o")
        await pilot.pause()
        app.screen.query_one("#path-input", Input).value = str(other)
        await pilot.press("enter")
        await pilot.pause()
        assert screen.path == other
        assert _widget(screen, "traffic.avg_input_tokens").value == "700"
        assert app.changes[-1] == load_goal(other)

        first, second = load_goal(goal_file), load_goal(other)
        other.write_text(dump_goal(first), encoding="utf-8")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert _widget(screen, "traffic.avg_input_tokens").value == "500"
        assert app.changes == [first, second, first]


@pytest.mark.asyncio
async def test_fields_the_form_cannot_hold_are_named(tmp_path: Path) -> None:
    data = _example_data()
    data["traffic"]["burst"] = 3
    data["privacy"]["data_can_leave"] = "yes"
    screen = GoalScreen(tmp_path / "goal.yaml", data, debounce_s=0)
    app = Host(screen)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        assert "traffic.burst (not a field of the goal)" in screen.status
        assert "privacy.data_can_leave ('yes': not a flag)" in screen.status


@pytest.mark.asyncio
async def test_a_batch_goal_keeps_its_batch_section_and_an_online_one_gets_none(
    tmp_path: Path,
) -> None:
    # batch is an optional section: the form writes it only when one of its fields differs
    # from the default it shows (an online goal showing jobs_per_month 1 has no batch).
    path = tmp_path / "batch.yaml"
    shutil.copy(EXAMPLE.parent / "weekly-contract-extraction.yaml", path)
    screen = GoalScreen(path, debounce_s=0)
    app = Host(screen)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        expected = load_goal(path)
        assert expected.batch is not None
        assert app.changes == [expected]
        assert screen.errors == {}
        _widget(screen, "batch.tokens").value = ""
        await pilot.pause()
        assert set(screen.errors) == {"batch.tokens"}  # jobs_per_month 4 keeps the section
        _widget(screen, "batch.jobs_per_month").value = "1"
        _widget(screen, "batch.deadline_hours").value = ""
        await pilot.pause()
        assert set(screen.errors) == {"traffic.requests_per_month"}  # no batch section left


@pytest.mark.asyncio
async def test_every_goal_field_has_a_widget_and_an_error_line() -> None:
    screen = GoalScreen(None, debounce_s=0)
    app = Host(screen)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        leaves = _leaf_paths(GoalSpec)
        assert len(leaves) > 20
        kinds = {spec.path: spec.kind for group in goal_groups() for spec in group.fields}
        assert set(kinds) == {path for path, _ in leaves}
        for path, info in leaves:
            widget = _widget(screen, path)
            wanted = {Kind.BOOL: Switch, Kind.CHOICE: Select}.get(kinds[path], Input)
            assert isinstance(widget, wanted), path
            assert widget.tooltip is not None or not info.description
            screen.query_one("#e-" + path.replace(".", "-"), Static)
        for name, info in GoalSpec.model_fields.items():
            section = unwrap_annotation(info.annotation).base
            if isinstance(section, type) and issubclass(section, BaseModel):
                assert screen.query_one(f"#s-{name}").border_title == name


def test_problem_texts_put_list_items_under_their_field() -> None:
    problems = [
        Problem(field="models.candidates[1]", message="is bad", fix="change it"),
        Problem(field="", message="is empty", fix="write one."),
        Problem(field="name", message="is required", fix="add it"),
    ]
    texts = problem_texts(problems, ["name", "models.candidates"])
    assert texts == {
        "name": "is required. To fix: add it.",
        "models.candidates": "item 2: is bad. To fix: change it.",
        "": "is empty. To fix: write one.",
    }
