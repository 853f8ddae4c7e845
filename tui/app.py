"""`tailor ui`: the Textual app — goal form, ranked plans, launch, runs.

Everything slow or external is injected (STYLE.md, Harlequin): the planner, the catalog loader,
the run store and the backends. Tests pass fakes at the cloud boundary; `tailor ui` passes the
real ones. Screens talk to the app with messages (:mod:`tui.messages`); the app hands values
down:

    GoalChanged(goal)            → PlansScreen.set_goal(goal)      (re-plans in a worker)
    LaunchRequested(plan_file)   → LaunchScreen (confirm) → RunsScreen.launch(file, backend)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from catalog import load_catalog
from executor.backends import default_backends
from executor.backends.base import Backend, LaunchContext
from executor.launch import launch_context
from executor.state import RunStore, open_store
from planner.errors import GoalSpecError
from planner.plan import PlanFile
from planner.rank import plan_goal
from planner.spec import GoalSpec, load_goal
from tui.messages import GoalChanged, GoalSaved, LaunchRequested
from tui.screens.goal import GoalScreen
from tui.screens.help import HelpScreen
from tui.screens.launch import LaunchScreen
from tui.screens.plans import PlansScreen
from tui.screens.runs import RunsScreen

__all__ = ["TailorApp"]


class TailorApp(App[None]):
    """Goal → plans → launch → runs, for one goal file (or a new goal)."""

    CSS_PATH = "app.tcss"
    TITLE = "tailor"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "show('goal')", "Goal"),
        Binding("f3", "show('plans')", "Plans"),
        Binding("f4", "show('runs')", "Runs"),
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", key_display="?", show=False),
        Binding("ctrl+q", "quit", "Quit", show=False),
    ]

    def __init__(
        self,
        goal_path: Path | None,
        *,
        planner: Callable = plan_goal,
        catalog_loader: Callable = load_catalog,
        store: RunStore | None = None,
        backends: Mapping[str, Backend] | None = None,
        backend_name: str = "sky",
        launch_extra: Mapping[str, Any] | None = None,
        poll_s: float = 2.0,
        goal_debounce_s: float = 0.3,
    ) -> None:
        """``goal_debounce_s``: quiet time after an edit on the goal form before the goal is
        re-planned (tests pass 0); ``poll_s``: how often the runs screen polls live runs."""
        super().__init__()
        self.goal_path = goal_path
        self.planner, self.catalog_loader = planner, catalog_loader
        self.store = store or open_store()
        self.backends = dict(backends) if backends is not None else default_backends()
        self.backend_name = backend_name
        self.launch_extra = dict(launch_extra or {})
        self.poll_s = poll_s
        self.goal_debounce_s = goal_debounce_s
        self.goal: GoalSpec | None = None
        self.launch_goal: GoalSpec | None = None
        """The goal of the plan being launched (its data path and format go to the backend)."""

    # --- screens ----------------------------------------------------------------------
    def on_mount(self) -> None:
        self.install_screen(GoalScreen(self.goal_path, debounce_s=self.goal_debounce_s), "goal")
        self.install_screen(
            PlansScreen(planner=self.planner, catalog_loader=self.catalog_loader), "plans"
        )
        self.install_screen(
            RunsScreen(
                store=self.store,
                backends=self.backends,
                context=self.run_context,
                poll_s=self.poll_s,
            ),
            "runs",
        )
        if self.goal_path is not None:
            self.sub_title = self.goal_path.name
        goal = self._initial_goal()
        if goal is None:
            self.push_screen("goal")
            return
        self._use_goal(goal)
        self.push_screen("plans")

    def _initial_goal(self) -> GoalSpec | None:
        if self.goal_path is None:
            return None
        try:
            return load_goal(self.goal_path)
        except GoalSpecError:
            return None  # the goal screen shows each problem beside its field

    def _use_goal(self, goal: GoalSpec) -> None:
        self.goal = goal
        plans = self.get_screen("plans")
        assert isinstance(plans, PlansScreen)
        plans.set_goal(goal)

    def action_show(self, name: str) -> None:
        if self.screen is not self.get_screen(name):
            self.switch_screen(name)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        pairs = [
            (b.key_display or b.key, b.description)
            for b in (*self.screen.BINDINGS, *self.BINDINGS)
            if isinstance(b, Binding) and b.description
        ]
        self.push_screen(HelpScreen(pairs))

    # --- messages up ------------------------------------------------------------------
    def on_goal_changed(self, message: GoalChanged) -> None:
        self._use_goal(message.goal)

    def on_goal_saved(self, message: GoalSaved) -> None:
        self.goal_path = message.path
        self.sub_title = message.path.name

    def on_launch_requested(self, message: LaunchRequested) -> None:
        plan_file = message.plan_file

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.launch_plan(plan_file)

        self.push_screen(LaunchScreen(plan_file, self.backend_name), confirmed)

    def launch_plan(self, plan_file: PlanFile) -> None:
        """Launch without asking again (the confirmation came first): show the runs screen."""
        self.launch_goal = plan_file.goal
        self.action_show("runs")
        runs = self.get_screen("runs")
        assert isinstance(runs, RunsScreen)
        runs.launch(plan_file, self.backend_name)

    # --- what the backends get --------------------------------------------------------
    def run_context(self, store: RunStore) -> LaunchContext:
        """The context the runs screen's workers launch and poll with
        (:func:`executor.launch.launch_context`): the launching goal's data path (relative to
        the goal file's folder) and format, and the backend options given on the command line."""
        goal = self.launch_goal or self.goal
        data_path = None
        if goal is not None and goal.data.path is not None:
            data_path = Path(goal.data.path)
            if not data_path.is_absolute():
                base = self.goal_path.parent if self.goal_path else Path.cwd()
                data_path = base / data_path
        return launch_context(
            store,
            data_path=data_path,
            data_format=str(goal.data.format) if goal is not None else "chat",
            extra=self.launch_extra,
        )
