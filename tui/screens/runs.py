"""The runs view: every run, and for the highlighted one its phase, spend, endpoint, last events,
log tail and loss curve.

Launch, status polling and teardown run in thread workers of a
:class:`~tui.run_monitor.RunMonitor`, which posts one message (:mod:`tui.messages`) per job;
the handlers here set state and the ``watch_*`` methods render it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from executor.backends.base import Backend, LaunchContext
from executor.metrics import MetricPoint
from executor.state import Phase, Run, RunStore
from planner.plan import PlanFile
from tui.messages import (
    LaunchFailed,
    RefreshFailed,
    RunLaunched,
    RunsRefreshed,
    RunTornDown,
    TeardownFailed,
)
from tui.run_monitor import RunMonitor
from tui.screens.confirm import ConfirmScreen
from tui.widgets.run_detail import RunDetail, RunsSnapshot, elapsed_s, format_duration

__all__ = ["COLUMNS", "ConfirmScreen", "RunsScreen"]

COLUMNS = ("run", "backend", "phase", "elapsed", "spend $", "ceiling $", "endpoint")
_READING = "Reading runs…"


def _count(runs: tuple[Run, ...]) -> str:
    if not runs:
        return "No runs yet. Launch a plan from the plans screen."
    live = sum(r.phase is not Phase.DOWN for r in runs)
    return f"{len(runs)} run(s), {live} not down. d tears down the highlighted run."


class RunsScreen(Screen[None]):
    """Runs table on top; the highlighted run's detail, log tail and loss curve below.

    ``store``, ``backends`` and ``context`` go to the :class:`~tui.run_monitor.RunMonitor`
    (``self.monitor``) that does the I/O; the live runs are polled and everything re-read every
    ``poll_s`` seconds; ``clock`` gives the time elapsed counts to.
    """

    CSS_PATH = "runs.tcss"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (110, "-wide")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "teardown", "Tear down"),
        Binding("r", "refresh", "Refresh"),
        Binding("l", "toggle_log", "Log"),
        Binding("q", "app.quit", "Quit", show=False),
    ]

    status: reactive[str] = reactive(_READING, init=False)
    """The status line: the last launch, teardown or error."""
    selected: reactive[str | None] = reactive(None, init=False)
    """Id of the highlighted run."""
    snapshot: reactive[RunsSnapshot | None] = reactive(None, init=False, always_update=True)
    """The last state read by a worker."""

    def __init__(
        self,
        *,
        store: RunStore,
        backends: Mapping[str, Backend],
        context: Callable[[RunStore], LaunchContext],
        poll_s: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.monitor = RunMonitor(self, store=store, backends=backends, context=context)
        self.poll_s = poll_s
        self.clock = clock
        self._pending: tuple[PlanFile, str] | None = None  # a launch asked for before mount
        self._problems = ""  # the last poll's problems, as shown on the status line

    # --- state read by tests and the app ------------------------------------------------
    @property
    def runs(self) -> list[Run]:
        """Every run as last read, newest first."""
        return list(self.snapshot.runs) if self.snapshot else []

    @property
    def log_lines(self) -> list[str]:
        """The log tail of the run in the detail area."""
        return list(self.snapshot.log_lines) if self.snapshot else []

    @property
    def metrics(self) -> list[MetricPoint]:
        """The training metrics of the run in the detail area."""
        return list(self.snapshot.metrics) if self.snapshot else []

    # --- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield RunDetail(clock=self.clock, id="run-pane")
        yield Static(self.status, id="run-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self.set_interval(self.poll_s, self._tick)
        self.request_refresh()
        if self._pending is not None:
            self._start_launch(*self._pending)
            self._pending = None

    # --- refresh ------------------------------------------------------------------------
    def _tick(self) -> None:
        self.request_refresh()

    def request_refresh(self, *, poll: bool = True) -> None:
        """Poll the live runs and read them again; while a poll is still out, only read."""
        self.monitor.refresh(self.selected, poll=poll)

    @on(RunsRefreshed)
    def _refreshed(self, message: RunsRefreshed) -> None:
        if message.problems:
            self.status = self._problems = " · ".join(message.problems)
        elif self.status == _READING or (message.polled and self.status == self._problems):
            self.status = _count(message.snapshot.runs)  # first read, or the problems are gone
        self.snapshot = message.snapshot
        moved = False  # the highlight moved while this was read
        if self.selected is None and message.snapshot.selected is not None:
            self.set_reactive(RunsScreen.selected, message.snapshot.selected)
        else:
            moved = self.selected != message.snapshot.selected
        if self.monitor.worker_back(polled=message.polled, moved=moved):
            self.request_refresh(poll=False)

    @on(RefreshFailed)
    def _refresh_failed(self, message: RefreshFailed) -> None:
        self.status = f"Error reading runs: {message.error}"
        if self.monitor.worker_back(polled=message.polled):
            self.request_refresh(poll=False)

    # --- launch -------------------------------------------------------------------------
    def launch(self, plan_file: PlanFile, backend_name: str) -> None:
        """Launch (or re-attach to) ``plan_file`` on ``backend_name`` in a thread worker; before
        the screen is first shown, the launch waits for it to mount."""
        if not self.is_mounted:
            self._pending = (plan_file, backend_name)
            return
        self._start_launch(plan_file, backend_name)

    def _start_launch(self, plan_file: PlanFile, backend_name: str) -> None:
        backends = self.monitor.backends
        backend = backends.get(backend_name)
        if backend is None:
            known = ", ".join(sorted(backends)) or "none"
            self.status = f"No backend {backend_name!r} here. To fix: use one of: {known}."
            return
        self.status = f"Launching plan {plan_file.plan.id} on {backend_name}…"
        self.monitor.launch(plan_file, backend)

    @on(RunLaunched)
    def _launched(self, message: RunLaunched) -> None:
        run = message.run
        verb = "Started" if message.started else "Re-attached to"
        self.status = f"{verb} run {run.id} ({run.phase})."
        if self.selected == run.id:
            self.request_refresh(poll=False)
        else:
            self.selected = run.id  # its watcher reads the runs again

    @on(LaunchFailed)
    def _launch_failed(self, message: LaunchFailed) -> None:
        self.status = f"Error: {message.error}"
        self.request_refresh(poll=False)

    # --- teardown -----------------------------------------------------------------------
    def action_teardown(self) -> None:
        run = next((r for r in self.runs if r.id == self.selected), None)
        if run is None:
            self.status = "No run selected."
            return
        if run.phase is Phase.DOWN:
            self.status = f"Run {run.id} is already down."
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.status = f"Tearing down run {run.id}…"
                self.monitor.teardown(run.id)

        self.app.push_screen(ConfirmScreen(f"Tear down run {run.id}? y/n"), answered)

    @on(RunTornDown)
    def _torn_down(self, message: RunTornDown) -> None:
        self.status = f"Run {message.run_id} is down; nothing it created is left."
        self.request_refresh(poll=False)

    @on(TeardownFailed)
    def _teardown_failed(self, message: TeardownFailed) -> None:
        self.status = f"Error: {message.error}"
        self.request_refresh(poll=False)

    # --- other actions ------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.request_refresh()

    def action_toggle_log(self) -> None:
        self.toggle_class("-log-only")
        target = "#run-log" if self.has_class("-log-only") else "#runs"
        self.query_one(target).focus()

    @on(DataTable.RowHighlighted, "#runs")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.selected = event.row_key.value

    # --- state -> widgets ---------------------------------------------------------------
    def watch_status(self, status: str) -> None:
        self.query_one("#run-status", Static).update(status)

    def watch_selected(self) -> None:
        self.request_refresh(poll=False)

    def watch_snapshot(self, snapshot: RunsSnapshot | None) -> None:
        if snapshot is None:
            return
        self._show_table(snapshot)
        self.query_one(RunDetail).snapshot = snapshot

    def _cells(self, run: Run) -> tuple[str, ...]:
        return (
            run.id,
            run.backend,
            str(run.phase),
            format_duration(elapsed_s(run, self.clock())),
            f"{run.spend_usd:,.2f}",
            f"{run.cost_ceiling_usd:,.2f}",
            run.endpoint or "-",
        )

    def _show_table(self, snapshot: RunsSnapshot) -> None:
        table = self.query_one("#runs", DataTable)
        ids = [r.id for r in snapshot.runs]
        if [key.value for key in table.rows] == ids:
            for run in snapshot.runs:
                for column, value in zip(COLUMNS, self._cells(run), strict=True):
                    table.update_cell(run.id, column, value, update_width=True)
            return
        with table.prevent(DataTable.RowHighlighted):  # rebuilding is not the user moving
            table.clear()
            for run in snapshot.runs:
                table.add_row(*self._cells(run), key=run.id)
            wanted = self.selected or snapshot.selected
            if wanted in ids:
                table.move_cursor(row=ids.index(wanted))
