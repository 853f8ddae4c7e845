"""`tailor ui`: the Textual app. The planner and catalog loader are injected (tests pass fakes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from catalog import load_catalog
from planner.rank import plan_goal
from tui.screens.help import HelpScreen
from tui.screens.plans import PlansScreen

__all__ = ["TailorApp"]


class TailorApp(App[None]):
    """Plans for one goal file; ``planner`` has ``plan_goal``'s signature."""

    CSS_PATH = "app.tcss"
    TITLE = "tailor"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(
        self,
        goal_path: Path | None,
        *,
        planner: Callable = plan_goal,
        catalog_loader: Callable = load_catalog,
    ) -> None:
        super().__init__()
        self.goal_path = goal_path
        self.planner = planner
        self.catalog_loader = catalog_loader

    def on_mount(self) -> None:
        if self.goal_path is not None:
            self.sub_title = str(self.goal_path)
        self.push_screen(
            PlansScreen(self.goal_path, planner=self.planner, catalog_loader=self.catalog_loader)
        )

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        pairs = [
            (b.key_display or b.key, b.description)
            for b in (*self.screen.BINDINGS, *self.BINDINGS)
            if isinstance(b, Binding)
        ]
        self.push_screen(HelpScreen(pairs))
