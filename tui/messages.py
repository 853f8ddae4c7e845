"""The messages the app's parts send up ("attributes down, messages up").

Screens post to the app; the run monitor's thread workers post to the runs screen::

    GoalChanged(goal)               goal screen → app: plan this goal
    GoalSaved(path)                 goal screen → app: the goal's file is now ``path``
    LaunchRequested(plan_file)      plans screen → app: confirm, then launch
    RunLaunched(run, started)       run monitor → runs screen
    LaunchFailed(error)             run monitor → runs screen
    RunsRefreshed(snapshot, ...)    run monitor → runs screen
    RefreshFailed(error, polled)    run monitor → runs screen
    RunTornDown(run_id, removed)    run monitor → runs screen
    TeardownFailed(run_id, error)   run monitor → runs screen

Textual names a message's default handler after the class (``on_goal_changed`` for
``GoalChanged``); the receivers use those names or ``@on(GoalChanged)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from executor.state import Run
from planner.plan import PlanFile
from planner.spec import GoalSpec
from tui.widgets.run_detail import RunsSnapshot

__all__ = [
    "GoalChanged",
    "GoalSaved",
    "LaunchFailed",
    "LaunchRequested",
    "RefreshFailed",
    "RunLaunched",
    "RunTornDown",
    "RunsRefreshed",
    "TeardownFailed",
]


@dataclass
class GoalChanged(Message):
    """The goal form holds a valid goal that differs from the last one posted."""

    goal: GoalSpec


@dataclass
class GoalSaved(Message):
    """The goal was written to ``path``."""

    path: Path


@dataclass
class LaunchRequested(Message):
    """The user asked to launch a plan; the app confirms and launches it."""

    plan_file: PlanFile


@dataclass
class RunLaunched(Message):
    """``launch`` returned: a new run (``started``), or the live run of the same plan."""

    run: Run
    started: bool


@dataclass
class LaunchFailed(Message):
    """``launch`` raised; ``error`` is the text to show."""

    error: str


@dataclass
class RunsRefreshed(Message):
    """A worker read the runs (after polling the live ones when ``polled``)."""

    snapshot: RunsSnapshot
    polled: bool
    problems: tuple[str, ...] = ()  # the live runs whose poll failed, one text each


@dataclass
class RefreshFailed(Message):
    """A refresh worker could not read the runs."""

    error: str
    polled: bool


@dataclass
class RunTornDown(Message):
    """``teardown`` removed everything the run created."""

    run_id: str
    removed: list[str]


@dataclass
class TeardownFailed(Message):
    """``teardown`` raised; something may be left."""

    run_id: str
    error: str
