"""The main view: ranked plans, the highlighted plan's explanation or the Pareto plot, compare.

The goal comes down from the app (:meth:`PlansScreen.set_goal`); planning runs in a thread
worker, and a goal that changes while it runs makes the older result stale (dropped).
Launching goes up as a :class:`~tui.messages.LaunchRequested` message.

Below the ranked plans come the reference rows (r1, r2, …, dim, marked "ref"): the best plan of
each strategy a decision rule pruned, shown for comparison and never launched. Every row has an
expected-quality range; the detail pane says where it comes from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Footer, Header, Static
from textual.worker import get_current_worker

from catalog import Catalog
from catalog.errors import CatalogError
from planner.errors import PlannerError
from planner.explain import compare_plans, explain_plan
from planner.plan import Plan
from planner.rank import PlanningResult
from planner.spec import GoalSpec, Objective
from tui.messages import LaunchRequested
from tui.widgets.pareto import PLOT_VIEWS, ParetoPlot
from tui.widgets.plan_table import COLUMNS, plan_cells, sort_plans

__all__ = ["PlansScreen"]

_CYCLE: tuple[Objective, ...] = tuple(Objective)  # cost, latency, quality, balanced
_LOWER = ("detail-pane", *(f"pareto:{view}" for view in PLOT_VIEWS))
"""What v steps through below the table: the explanation, then each plot view."""
_SHOWN_IN_QUALITY_BLOCK = ("Quality", "Reference row", "Warnings")
"""explain_plan sections the detail pane replaces with its own Quality / reference block."""


class PlansScreen(Screen[None]):
    """Plans table on top; explanation, compare or Pareto plot below; status line; footer."""

    CSS_PATH = "plans.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "launch", "Launch"),
        Binding("c", "mark", "Compare"),
        Binding("v", "toggle_plot", "Plot"),  # detail → cost×TTFT → cost×quality → detail
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse", key_display="S", show=False),
        Binding("o", "cycle_objective", "Objective"),
        Binding("r", "replan", "Re-plan", show=False),
        Binding("q", "app.quit", "Quit", show=False),
    ]

    objective: reactive[Objective | None] = reactive(None, init=False)
    """The objective override; None means the goal's own ``preferences.objective``."""
    status: reactive[str] = reactive("No goal yet: fill one in on the goal screen (F2).")
    detail: reactive[str] = reactive("", init=False)
    sort_column: reactive[int | None] = reactive(None, init=False)
    """Index into COLUMNS the rows are sorted by; None: ranked order."""
    sort_reverse: reactive[bool] = reactive(False, init=False)

    class Planned(Message):
        """The planner worker finished for ``goal`` and ``objective``."""

        def __init__(self, goal, objective, result: PlanningResult, catalog) -> None:
            super().__init__()
            self.goal, self.objective, self.result, self.catalog = goal, objective, result, catalog

    class Failed(Message):
        """The planner worker raised a user-facing error."""

        def __init__(self, goal: GoalSpec, error: str) -> None:
            super().__init__()
            self.goal, self.error = goal, error

    def __init__(self, *, planner: Callable, catalog_loader: Callable, top: int = 5) -> None:
        super().__init__()
        self.planner, self.catalog_loader, self.top = planner, catalog_loader, top
        self.goal: GoalSpec | None = None
        self.result: PlanningResult | None = None
        self.catalog: Catalog | None = None
        self.marked: list[str] = []
        self.lower = _LOWER[0]
        """What shows below the table: "detail-pane", "pareto:latency" or "pareto:quality"."""
        self.plans_run = 0
        """How many planner runs finished and were shown (tests and the status line read it)."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="plans", cursor_type="row", zebra_stripes=True)
        with ContentSwitcher(initial="detail-pane", id="lower"):
            with VerticalScroll(id="detail-pane"):
                yield Static(id="detail")
            yield ParetoPlot(id="pareto")
        yield Static(self.status, id="status")
        yield Footer()

    def on_mount(self) -> None:
        self._fill_table()
        if self.goal is not None:
            self.action_replan()

    # --- state -> widgets -------------------------------------------------------------
    def watch_status(self, status: str) -> None:
        if self.is_mounted:
            self.query_one("#status", Static).update(status)

    def watch_detail(self, detail: str) -> None:
        self.query_one("#detail", Static).update(detail)

    def watch_objective(self) -> None:
        self.action_replan()

    def watch_sort_column(self) -> None:
        self._fill_table()

    def watch_sort_reverse(self) -> None:
        self._fill_table()

    # --- planning worker --------------------------------------------------------------
    def set_goal(self, goal: GoalSpec) -> None:
        """Plan for ``goal`` unless it is the goal already planned (or being planned)."""
        if goal == self.goal:
            return
        self.goal = goal
        if self.is_mounted:
            self.action_replan()

    def action_replan(self) -> None:
        if self.goal is None:
            return
        self.status = f"Planning {self.goal.name} (objective: {self.objective or 'goal'})…"
        self._plan(self.goal, self.objective)

    @work(thread=True, exclusive=True, group="plan")
    def _plan(self, goal: GoalSpec, objective: Objective | None) -> None:
        worker = get_current_worker()
        try:
            catalog = self.catalog_loader()
            result = self.planner(goal, catalog, objective=objective, top=self.top)
        except (PlannerError, CatalogError) as exc:
            if not worker.is_cancelled:
                self.post_message(self.Failed(goal, str(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(self.Planned(goal, objective, result, catalog))

    @on(Planned)
    def _show_plans(self, message: Planned) -> None:
        if message.goal != self.goal or message.objective != self.objective:
            return  # a newer goal or objective is being planned
        self.result, self.catalog, self.marked = message.result, message.catalog, []
        self.plans_run += 1
        self._fill_table()
        result = message.result
        refs = (
            f"; {len(result.references)} reference rows (r…, not launchable)"
            if result.references
            else ""
        )
        self.status = (
            f"{result.goal.name}: {len(result.plans)} of {result.candidate_count} feasible "
            f"plans{refs}, objective {result.objective}, prices of "
            f"{result.catalog_snapshot_date}.{_target_text(result)} "
            "★ Pareto (cost × latency × quality)"
        )
        self.query_one("#pareto", ParetoPlot).show(result)
        if result.plans:
            self._explain(result.plans[0].id)

    @on(Failed)
    def _show_error(self, message: Failed) -> None:
        if message.goal != self.goal:
            return
        self.result, self.marked = None, []
        self._fill_table()
        self.detail = ""
        self.status = f"Error: {message.error}"

    # --- table ------------------------------------------------------------------------
    def sorted_plans(self) -> list[Plan]:
        """The rows in table order: the ranked plans (ranked, or by the sort column), then the
        reference rows (by id, or by the same column). Unknown values sort last."""
        plans = list(self.result.plans) if self.result else []
        refs = list(self.result.references) if self.result else []
        if self.sort_column is not None:
            column = COLUMNS[self.sort_column]
            plans = sort_plans(plans, column, reverse=self.sort_reverse)
            refs = sort_plans(refs, column, reverse=self.sort_reverse)
        return [*plans, *refs]

    def _fill_table(self) -> None:
        table = self.query_one("#plans", DataTable)
        current = self._current_id()
        table.clear(columns=True)
        plans = self.sorted_plans()
        rows = [plan_cells(plan, self.catalog) for plan in plans]
        for index, column in enumerate(COLUMNS):
            arrow = "" if index != self.sort_column else ("▼" if self.sort_reverse else "▲")
            label = column.label + arrow
            # Widths set here, not measured later on idle: the first paint is already right.
            width = max([cell_len(label), *(cell_len(row[index]) for row in rows)])
            table.add_column(label, key=str(index), width=width)
        for plan, cells in zip(plans, rows, strict=True):
            if plan.reference is not None:  # dim: shown for comparison, never launched
                table.add_row(*(Text(cell, style="dim") for cell in cells), key=plan.id)
            else:
                table.add_row(*cells, key=plan.id)
        if current is not None and current in table.rows:
            table.move_cursor(row=table.get_row_index(current))

    @on(DataTable.HeaderSelected, "#plans")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        index = int(event.column_key.value or 0)
        if index == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column = index

    def action_sort(self) -> None:
        """Next column to sort by; after the last, back to ranked order."""
        nxt = 0 if self.sort_column is None else self.sort_column + 1
        self.sort_column = nxt if nxt < len(COLUMNS) else None
        label = "rank" if self.sort_column is None else COLUMNS[self.sort_column].label
        self.notify(f"Sorted by {label}", timeout=2)

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse

    def _current_id(self) -> str | None:
        table = self.query_one("#plans", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def _plan_by_id(self, plan_id: str) -> Plan | None:
        """The ranked plan or reference row with that id."""
        return self.result.find(plan_id) if self.result else None

    # --- detail pane ------------------------------------------------------------------
    def _explain(self, plan_id: str) -> None:
        plan = self._plan_by_id(plan_id)
        if plan is None or self.result is None:
            return
        ref = " [dim](reference row: cannot be launched)[/dim]" if plan.reference else ""
        parts = [f"[b]{plan.id} {plan.strategy} {plan.model}[/b]{ref}"]
        sections = [(s.title, s.lines) for s in explain_plan(self.result, plan)]
        own = [(t, lines) for t, lines in sections if t not in _SHOWN_IN_QUALITY_BLOCK]
        # The decision path first (as explain_plan has it), then the reference rule, quality
        # and warnings, then the rest: costs, estimates, catalog rows, why-nots.
        for title, lines in [*own[:1], *_quality_block(plan), *own[1:]]:
            parts.append(f"\n[b]{title}[/b]")
            parts.extend(f"  {_escape(line)}" for line in lines)
        self.detail = "\n".join(parts)

    @on(DataTable.RowSelected, "#plans")
    def _selected(self) -> None:
        self.action_launch()  # enter on a row: the launch confirmation (which can be cancelled)

    @on(DataTable.RowHighlighted, "#plans")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None and len(self.marked) < 2:
            self._explain(event.row_key.value)

    # --- actions ----------------------------------------------------------------------
    def action_cycle_objective(self) -> None:
        current = self.objective or (self.result.objective if self.result else _CYCLE[-1])
        self.objective = _CYCLE[(_CYCLE.index(current) + 1) % len(_CYCLE)]

    def action_toggle_plot(self) -> None:
        """Below the table: detail → plot of cost × TTFT → plot of cost × quality → detail."""
        switcher = self.query_one("#lower", ContentSwitcher)
        if switcher.current == "detail-pane":
            self.lower = _LOWER[0]  # compare showed the detail pane: start the cycle again
        self.lower = _LOWER[(_LOWER.index(self.lower) + 1) % len(_LOWER)]
        if self.lower == "detail-pane":
            switcher.current = "detail-pane"
            return
        plot = self.query_one("#pareto", ParetoPlot)
        view = next(v for v in PLOT_VIEWS if self.lower == f"pareto:{v}")
        if self.result is not None:
            plot.show(self.result, view)
        else:
            plot.view = view
        switcher.current = "pareto"

    def action_launch(self) -> None:
        plan_id = self._current_id()
        plan = self._plan_by_id(plan_id) if plan_id else None
        if plan is None or self.result is None:
            return
        if plan.reference is not None:  # plan_file refuses it too: say so without asking it
            self.status = (
                f"{plan.id} is a reference row ({plan.reference}): it cannot be launched. "
                "To fix: pick a ranked plan (p1, p2, …), or change the goal so the rule no "
                "longer applies and re-plan."
            )
            return
        if plan.training is None and plan.serving is None and plan.batch is None:
            self.status = (
                f"{plan.id} uses a hosted API ({plan.api.model if plan.api else plan.model}): "
                "nothing to launch. To fix: call the provider's API directly, or pick a "
                "self-hosted plan."
            )
            return
        self.post_message(LaunchRequested(self.result.plan_file(plan.id)))

    def action_mark(self) -> None:
        plan_id = self._current_id()
        if plan_id is None:
            return
        self.marked = [*self.marked, plan_id][-2:] if len(self.marked) < 2 else [plan_id]
        if len(self.marked) == 1:
            self.status = f"Marked {plan_id} for compare; mark another plan with c."
            self._explain(plan_id)
            return
        a, b = (self._plan_by_id(i) for i in self.marked)
        if a is None or b is None:
            return
        lines = [f"[b]Compare {a.id} → {b.id}[/b]", ""]
        for row in compare_plans(a, b):
            delta = "" if row.delta is None else f"  Δ {row.delta:+,.2f}"
            style = ("", "") if row.a == row.b else ("[b]", "[/b]")
            text = f"{row.name}: {row.a} → {row.b}{delta}"
            lines.append(f"{style[0]}{_escape(text)}{style[1]}")
        self.detail = "\n".join(lines)
        self.query_one("#lower", ContentSwitcher).current = "detail-pane"
        self.status = f"Comparing {a.id} → {b.id}; press c to start a new compare."


def _target_text(result: PlanningResult) -> str:
    """' Quality: IFEval, floor 69.9 (default).' for the status line; '' without a target."""
    target = result.quality_target
    if target is None:
        return ""
    if target.floor is None:
        return f" Quality: {target.benchmark.name}, no floor."
    default = " (default)" if target.default_floor else ""
    return f" Quality: {target.benchmark.name}, floor {target.floor:g}{default}."


def _quality_block(plan: Plan) -> list[tuple[str, tuple[str, ...]]]:
    """The detail pane's first sections: the reference row's rule (and that it cannot be
    launched), the plan's expected quality with the basis of each step, its warnings."""
    sections: list[tuple[str, tuple[str, ...]]] = []
    if plan.reference is not None:
        sections.append(
            (
                "Reference row: cannot be launched",
                (
                    plan.reference,
                    "shown for comparison with the ranked plans only; launching it is refused. "
                    "Pick a ranked plan (p1, p2, …), or change the goal so the rule no longer "
                    "applies.",
                ),
            )
        )
    sections.append(("Quality", _quality_lines(plan)))
    if plan.warnings:
        sections.append(("Warnings", plan.warnings))
    return sections


def _quality_lines(plan: Plan) -> tuple[str, ...]:
    q = plan.quality
    if q is None:
        return ("no quality estimate (the catalog has no benchmarks, or an older plan)",)
    base = (
        f"{q.base_score:g} {q.unit} ({q.scored_model})"
        if q.base_score is not None
        else f"none published for {q.scored_model}: quality unknown, never imputed"
    )
    if q.expected_low is None or q.expected_high is None or q.expected_mid is None:
        expected = "unknown"
    else:
        expected = (
            f"{q.expected_low:.1f}–{q.expected_high:.1f} {q.unit} (plans rank on the low end)"
        )
    if q.floor is None:
        floor = f"none ({q.floor_basis})"
    else:
        meets = "met by the low end" if q.meets_floor else "NOT met by the low end"
        said = "default floor" in q.floor_basis
        kind = "default floor: " if q.default_floor and not said else ""
        floor = f"{q.floor:g}, {meets} ({kind}{q.floor_basis})"
    lines = [
        f"benchmark: {q.benchmark_name}",
        f"published base score: {base}",
        f"expected: {expected}",
        f"floor: {floor}",
    ]
    if q.default_floor:
        lines.append(
            "the goal sets no quality.min_score or at_least_as_good_as, so the task type's "
            "default floor applies; set quality.min_score to choose another"
        )
    lines += [f"{i}. {step}" for i, step in enumerate(q.basis, 1)]
    return tuple(lines)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
