"""The main view: ranked plans, the highlighted plan's explanation, and plan compare."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from catalog.errors import CatalogError
from planner.errors import PlannerError
from planner.explain import compare_plans, explain_plan, summary_row
from planner.plan import Plan
from planner.rank import PlanningResult
from planner.spec import Objective, load_goal

__all__ = ["COLUMNS", "PlansScreen", "plan_cells"]

COLUMNS = (
    "id",
    "strategy",
    "model",
    "method",
    "train GPUs",
    "one-time $",
    "serving",
    "$/month",
    "first-year $",
    "p95 TTFT",
    "tok/s",
    "★",
)
_CYCLE = (Objective.COST, Objective.LATENCY, Objective.BALANCED)


def _money(usd: float) -> str:
    return f"{usd:,.2f}" if usd < 100 else f"{usd:,.0f}"


def plan_cells(plan: Plan) -> tuple[str, ...]:
    """One table row per plan, in ``COLUMNS`` order."""
    r = summary_row(plan)
    method = f"{r['method']}" + (f" r{r['rank']}" if r["rank"] != "-" else "")
    serving = (
        f"{r['quantization']} {r['serve_gpus']}"
        if plan.serving
        else plan.api.model
        if plan.api
        else "-"
    )
    return (
        plan.id,
        str(r["strategy"]),
        str(r["model"]),
        method,
        str(r["train_gpus"]),
        _money(plan.training_usd),
        serving,
        _money(plan.monthly_usd),
        _money(plan.first_year_usd),
        f"{r['p95_ttft_ms']} ms",
        f"{r['tokens_per_s']:.0f}",
        "★" if plan.pareto else "",
    )


class PlansScreen(Screen[None]):
    """Plans table on top, detail pane below, status line and footer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "replan", "Re-plan"),
        Binding("o", "cycle_objective", "Objective"),
        Binding("c", "mark", "Compare"),
    ]

    objective: reactive[Objective | None] = reactive(None, init=False)
    """The objective override; None means the goal's own ``preferences.objective``."""
    status: reactive[str] = reactive("Planning…", init=False)
    detail: reactive[str] = reactive("", init=False)

    class Planned(Message):
        """The planner worker finished."""

        def __init__(self, result: PlanningResult, catalog: object) -> None:
            super().__init__()
            self.result = result
            self.catalog = catalog

    class Failed(Message):
        """The planner worker raised a user-facing error."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(
        self, goal_path: Path | None, *, planner: Callable, catalog_loader: Callable
    ) -> None:
        super().__init__()
        self.goal_path = goal_path
        self.planner = planner
        self.catalog_loader = catalog_loader
        self.result: PlanningResult | None = None
        self.catalog: object = None
        self.marked: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="plans", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="detail-pane"):
            yield Static(id="detail")
        yield Static(self.status, id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#plans", DataTable).add_columns(*COLUMNS)
        self.action_replan()

    # --- state -> widgets -------------------------------------------------------------
    def watch_status(self, status: str) -> None:
        self.query_one("#status", Static).update(status)

    def watch_detail(self, detail: str) -> None:
        self.query_one("#detail", Static).update(detail)

    def watch_objective(self) -> None:
        self.action_replan()

    # --- planning worker --------------------------------------------------------------
    def action_replan(self) -> None:
        if self.goal_path is None:
            self.status = "No goal file. To fix: run `tailor ui GOAL.yaml`."
            return
        self.status = f"Planning {self.goal_path.name} (objective: {self.objective or 'goal'})…"
        self._plan(self.goal_path, self.objective)

    @work(thread=True, exclusive=True, group="plan")
    def _plan(self, goal_path: Path, objective: Objective | None) -> None:
        try:
            catalog = self.catalog_loader()
            result = self.planner(load_goal(goal_path), catalog, objective=objective, top=5)
        except (PlannerError, CatalogError) as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(self.Planned(result, catalog))

    @on(Planned)
    def _show_plans(self, message: Planned) -> None:
        self.result, self.catalog, self.marked = message.result, message.catalog, []
        table = self.query_one("#plans", DataTable)
        table.clear()
        for plan in message.result.plans:
            table.add_row(*plan_cells(plan), key=plan.id)
        result = message.result
        self.status = (
            f"{result.goal.name}: {len(result.plans)} of {result.candidate_count} feasible "
            f"plans, objective {result.objective}. ★ = Pareto (cost × latency)"
        )
        if result.plans:
            self._explain(result.plans[0].id)

    @on(Failed)
    def _show_error(self, message: Failed) -> None:
        self.status = f"Error: {message.error}"

    # --- detail pane ------------------------------------------------------------------
    def _plan_by_id(self, plan_id: str) -> Plan | None:
        plans = self.result.plans if self.result else ()
        return next((p for p in plans if p.id == plan_id), None)

    def _explain(self, plan_id: str) -> None:
        plan = self._plan_by_id(plan_id)
        if plan is None or self.result is None:
            return
        parts = [f"[b]{plan.id} {plan.strategy} {plan.model}[/b]"]
        for section in explain_plan(self.result, plan, self.catalog):
            parts.append(f"\n[b]{section.title}[/b]")
            parts.extend(f"  {_escape(line)}" for line in section.lines)
        self.detail = "\n".join(parts)

    @on(DataTable.RowHighlighted, "#plans")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None and len(self.marked) < 2:
            self._explain(event.row_key.value)

    def _current_id(self) -> str | None:
        table = self.query_one("#plans", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    # --- actions ----------------------------------------------------------------------
    def action_cycle_objective(self) -> None:
        current = self.objective or (self.result.objective if self.result else _CYCLE[-1])
        self.objective = _CYCLE[(_CYCLE.index(current) + 1) % len(_CYCLE)]

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
        self.status = f"Comparing {a.id} → {b.id}; press c to start a new compare."


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
