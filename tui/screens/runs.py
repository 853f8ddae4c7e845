"""The runs view: every run, and for the highlighted one its phase, spend, endpoint, last events,
log tail and loss curve. Launch, status polling and teardown run in thread workers.

Workers never touch widgets: each opens its own ``RunStore`` on the store's path (a SQLite
connection belongs to the thread that opened it), does its work, and posts one message; the
handlers on the UI thread set state and the ``watch_*`` methods render it. Backend calls that
may start or stop something (launch, poll, teardown) hold one lock, so a status check never
starts a server while a teardown is removing the run's resources.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from executor.backends.base import Backend, LaunchContext
from executor.errors import ExecutorError
from executor.launch import launch, teardown
from executor.metrics import MetricPoint
from executor.state import Phase, Run, RunStore
from planner.errors import PlannerError
from planner.plan import PlanFile
from tui.screens.confirm import ConfirmScreen
from tui.widgets.run_detail import (
    RunDetail,
    RunsSnapshot,
    elapsed_s,
    format_duration,
    read_snapshot,
)

__all__ = ["COLUMNS", "ConfirmScreen", "RunsScreen"]

COLUMNS = ("run", "backend", "phase", "elapsed", "spend $", "ceiling $", "endpoint")
_SETTLED = (Phase.READY, Phase.FAILED, Phase.DOWN)  # polling these changes nothing
_READING = "Reading runs…"


def _describe(exc: Exception) -> str:
    if isinstance(exc, ExecutorError | PlannerError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


def _count(runs: tuple[Run, ...]) -> str:
    if not runs:
        return "No runs yet. Launch a plan from the plans screen."
    live = sum(r.phase is not Phase.DOWN for r in runs)
    return f"{len(runs)} run(s), {live} not down. d tears down the highlighted run."


class RunsScreen(Screen[None]):
    """Runs table on top; the highlighted run's detail, log tail and loss curve below.

    ``store`` names the run store (workers open their own connection on ``store.path``);
    ``backends`` maps a run's backend name to the backend; ``context(store)`` builds the
    LaunchContext (data path, local model, ...) for a store; the live runs are polled and
    everything re-read every ``poll_s`` seconds; ``clock`` gives the time elapsed counts to.
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

    class Launched(Message):
        """``launch`` returned: a new run, or the live run of the same plan re-attached."""

        def __init__(self, run: Run, started: bool) -> None:
            super().__init__()
            self.run = run
            self.started = started

    class LaunchFailed(Message):
        """``launch`` raised; ``error`` is the text to show."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    class Refreshed(Message):
        """A worker read the runs (after polling the live ones when ``polled``)."""

        def __init__(
            self, snapshot: RunsSnapshot, *, polled: bool, problems: tuple[str, ...] = ()
        ) -> None:
            super().__init__()
            self.snapshot = snapshot
            self.polled = polled
            self.problems = problems

    class RefreshFailed(Message):
        """A refresh worker could not read the runs."""

        def __init__(self, error: str, *, polled: bool) -> None:
            super().__init__()
            self.error = error
            self.polled = polled

    class TornDown(Message):
        """``teardown`` removed everything the run created."""

        def __init__(self, run_id: str, removed: list[str]) -> None:
            super().__init__()
            self.run_id = run_id
            self.removed = removed

    class TeardownFailed(Message):
        """``teardown`` raised; something may be left."""

        def __init__(self, run_id: str, error: str) -> None:
            super().__init__()
            self.run_id = run_id
            self.error = error

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
        self.store = store
        self.backends = backends
        self.context = context
        self.poll_s = poll_s
        self.clock = clock
        self._backend_lock = threading.Lock()
        self._pending: tuple[PlanFile, str] | None = None  # a launch asked for before mount
        self._polling = False  # a poll-and-read worker is out (set and cleared on the UI thread)
        self._reading = False  # a read-only worker is out
        self._stale = False  # a refresh was asked for while both were out
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
    @contextmanager
    def _session(self) -> Iterator[LaunchContext]:
        """A LaunchContext on a store opened by (and closed in) the calling thread."""
        store = RunStore(self.store.path)
        try:
            yield self.context(store)
        finally:
            store.close()

    def _tick(self) -> None:
        self.request_refresh()

    def request_refresh(self, *, poll: bool = True) -> None:
        """Poll the live runs and read them again; while a poll is still out, only read."""
        if poll and not self._polling:
            self._polling = True
            self._poll_and_read(self.selected)
        elif not self._reading:
            self._reading = True
            self._read(self.selected)
        else:
            self._stale = True

    def _poll_live(self, ctx: LaunchContext) -> list[str]:
        problems = []
        with self._backend_lock:
            for run in ctx.store.list_runs():
                backend = self.backends.get(run.backend)
                if run.phase in _SETTLED or backend is None:
                    continue
                try:
                    plan_file = PlanFile.model_validate(ctx.store.plan_json(run.id))
                    backend.poll(run, plan_file, ctx)
                except Exception as exc:  # the UI edge: one failing run must not stop the rest
                    problems.append(f"status of {run.id}: {_describe(exc)}")
        return problems

    @work(thread=True, exclusive=True, group="runs-poll")
    def _poll_and_read(self, selected: str | None) -> None:
        try:
            with self._session() as ctx:
                problems = self._poll_live(ctx)
                snapshot = read_snapshot(ctx, self.backends, selected)
        except Exception as exc:  # the UI edge: shown as text, the app keeps running
            self.post_message(self.RefreshFailed(_describe(exc), polled=True))
            return
        self.post_message(self.Refreshed(snapshot, polled=True, problems=tuple(problems)))

    @work(thread=True, exclusive=True, group="runs-read")
    def _read(self, selected: str | None) -> None:
        try:
            with self._session() as ctx:
                snapshot = read_snapshot(ctx, self.backends, selected)
        except Exception as exc:  # the UI edge: shown as text, the app keeps running
            self.post_message(self.RefreshFailed(_describe(exc), polled=False))
            return
        self.post_message(self.Refreshed(snapshot, polled=False))

    def _worker_back(self, *, polled: bool) -> None:
        setattr(self, "_polling" if polled else "_reading", False)

    @on(Refreshed)
    def _refreshed(self, message: Refreshed) -> None:
        self._worker_back(polled=message.polled)
        if message.problems:
            self.status = self._problems = " · ".join(message.problems)
        elif self.status == _READING or (message.polled and self.status == self._problems):
            self.status = _count(message.snapshot.runs)  # first read, or the problems are gone
        self.snapshot = message.snapshot
        if self.selected is None and message.snapshot.selected is not None:
            self.set_reactive(RunsScreen.selected, message.snapshot.selected)
        elif self.selected != message.snapshot.selected:
            self._stale = True  # the highlight moved while this was read
        if self._stale:
            self._stale = False
            self.request_refresh(poll=False)

    @on(RefreshFailed)
    def _refresh_failed(self, message: RefreshFailed) -> None:
        self._worker_back(polled=message.polled)
        self.status = f"Error reading runs: {message.error}"

    # --- launch -------------------------------------------------------------------------
    def launch(self, plan_file: PlanFile, backend_name: str) -> None:
        """Launch (or re-attach to) ``plan_file`` on ``backend_name`` in a thread worker; before
        the screen is first shown, the launch waits for it to mount."""
        if not self.is_mounted:
            self._pending = (plan_file, backend_name)
            return
        self._start_launch(plan_file, backend_name)

    def _start_launch(self, plan_file: PlanFile, backend_name: str) -> None:
        backend = self.backends.get(backend_name)
        if backend is None:
            known = ", ".join(sorted(self.backends)) or "none"
            self.status = f"No backend {backend_name!r} here. To fix: use one of: {known}."
            return
        self.status = f"Launching plan {plan_file.plan.id} on {backend_name}…"
        self._launch(plan_file, backend)

    @work(thread=True, exclusive=True, group="runs-launch")
    def _launch(self, plan_file: PlanFile, backend: Backend) -> None:
        try:
            with self._session() as ctx, self._backend_lock:
                run, started = launch(plan_file, backend, ctx)
        except Exception as exc:  # the UI edge: shown as text, the app keeps running
            self.post_message(self.LaunchFailed(_describe(exc)))
            return
        self.post_message(self.Launched(run, started))

    @on(Launched)
    def _launched(self, message: Launched) -> None:
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
                self._teardown(run.id)

        self.app.push_screen(ConfirmScreen(f"Tear down run {run.id}? y/n"), answered)

    @work(thread=True, exclusive=True, group="runs-teardown")
    def _teardown(self, run_id: str) -> None:
        try:
            with self._session() as ctx, self._backend_lock:
                run = ctx.store.get(run_id)
                backend = self.backends.get(run.backend)
                if backend is None:
                    raise ExecutorError(
                        f"no {run.backend!r} backend here.", fix=f"`tailor down {run_id}`."
                    )
                removed = teardown(run, backend, ctx)
        except Exception as exc:  # the UI edge: shown as text, the app keeps running
            self.post_message(self.TeardownFailed(run_id, _describe(exc)))
            return
        self.post_message(self.TornDown(run_id, removed))

    @on(TornDown)
    def _torn_down(self, message: TornDown) -> None:
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
