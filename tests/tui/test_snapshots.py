"""SVG snapshots of the plans screen (pytest-textual-snapshot). After an intended change to the
screen or to the planner's numbers, review the diff report and refresh them with
`.venv/bin/pytest tests/tui/test_snapshots.py --snapshot-update`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from executor.state import RunStore
from tui.app import TailorApp

GOAL = Path(__file__).parents[2] / "examples" / "goals" / "api-vs-self-hosted-1m.yaml"


@pytest.fixture
def app(tmp_path: Path) -> TailorApp:
    store = RunStore(tmp_path / "runs" / "state.db")
    return TailorApp(GOAL, store=store, backends={}, backend_name="local")


async def planned(pilot) -> None:
    """Wait for the planner worker and the table it fills."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    deadline = time.monotonic() + 30
    while pilot.app.get_screen("plans").result is None:
        assert pilot.app.is_running and time.monotonic() < deadline, "no plans within 30 s"
        await pilot.pause(0.05)
    for _ in range(3):  # the table sizes its columns to new rows on idle, then repaints
        await pilot.pause(0.1)


def test_plans_screen_at_80x24(snap_compare, app: TailorApp) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=planned)


def test_plans_screen_at_140x45(snap_compare, app: TailorApp) -> None:
    assert snap_compare(app, terminal_size=(140, 45), run_before=planned)


def test_pareto_plot(snap_compare, app: TailorApp) -> None:
    async def plot(pilot) -> None:
        await planned(pilot)
        await pilot.press("v")

    assert snap_compare(app, terminal_size=(120, 40), run_before=plot)


def test_compare_two_plans(snap_compare, app: TailorApp) -> None:
    async def compare(pilot) -> None:
        await planned(pilot)
        await pilot.press("c", "down", "down", "down", "c")

    assert snap_compare(app, terminal_size=(120, 40), run_before=compare)
