"""The launch confirmation: what a plan will create and the most it may cost, then y or n."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from executor.errors import ExecutorError
from executor.launch import check_budget, preview
from planner.errors import PlannerError
from planner.plan import PlanFile

__all__ = ["LaunchScreen", "launch_summary"]


def _budget_line(plan_file: PlanFile) -> str | None:
    budget = plan_file.goal.budget
    caps = []
    if budget.training_usd is not None:
        caps.append(f"training ${budget.training_usd:,.2f}")
    if budget.monthly_usd is not None:
        caps.append(f"serving ${budget.monthly_usd:,.2f}/month")
    return f"Goal budget caps: {', '.join(caps)}." if caps else None


def launch_summary(plan_file: PlanFile, backend_name: str) -> list[str]:
    """The confirmation text, one line per item, as the CLI's `tailor launch` prints it.

    Raises ExecutorError (or PlannerError) when the plan cannot launch: over the goal's budget,
    or no preview can be made.
    """
    check_budget(plan_file)
    shown = preview(plan_file, backend_name)
    lines = [
        f"Plan {plan_file.plan.id} of goal {plan_file.goal.name} on backend {backend_name}",
        "",
        "Will create:",
        *(f"  - {line}" for line in shown.creates),
        "",
        f"Cost ceiling: ${shown.cost_ceiling_usd:,.2f} ({shown.ceiling_basis}).",
    ]
    if shown.max_training_hours is not None:
        lines.append(f"Training stops after {shown.max_training_hours:.1f} h.")
    budget = _budget_line(plan_file)
    if budget is not None:
        lines.append(budget)
    return lines


class LaunchScreen(ModalScreen[bool]):
    """Asks before launching; dismisses with True (launch) or False (cancel)."""

    CSS_PATH = "launch.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Launch"),
        Binding("enter", "confirm", "Launch", show=False),
        Binding("n", "cancel", "Cancel"),
        Binding("escape", "cancel", "Cancel", show=False),
    ]

    def __init__(self, plan_file: PlanFile, backend_name: str) -> None:
        super().__init__()
        self.plan_file = plan_file
        self.backend_name = backend_name
        self.lines: list[str] = []
        """The confirmation text (empty when the plan cannot launch)."""
        self.error: str | None = None
        """Why the plan cannot launch; only cancel is possible then."""
        try:
            self.lines = launch_summary(plan_file, backend_name)
        except (ExecutorError, PlannerError) as exc:
            self.error = str(exc)

    def compose(self) -> ComposeResult:
        with Vertical(id="launch-box"):
            if self.error is None:
                yield Static("[b]Launch?[/b]", id="launch-title")
                yield Static("\n".join(self.lines), id="launch-body", markup=False)
                yield Static("y / enter launches · n / escape cancels", id="launch-keys")
            else:
                yield Static("[b]Cannot launch[/b]", id="launch-title")
                yield Static(self.error, id="launch-body", classes="-error", markup=False)
                yield Static("n / escape closes", id="launch-keys")
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "confirm" and self.error is not None)

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
