"""Launch, poll, read and tear down runs in thread workers, for the runs screen.

Workers never touch widgets: each opens its own ``RunStore`` on the store's path (a SQLite
connection belongs to the thread that opened it), does its work, and posts one message of
:mod:`tui.messages` to the host screen, whose handlers on the UI thread set state. Backend calls
that may start or stop something (launch, poll, teardown) hold one lock, so a status check never
starts a server while a teardown is removing the run's resources.

The monitor's methods are called on the UI thread; so are the flags they keep (which refresh
worker is out, and whether a refresh was asked for while both were).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial

from textual.dom import DOMNode

from executor.backends.base import Backend, LaunchContext
from executor.errors import ExecutorError
from executor.launch import launch, refresh, teardown
from executor.state import Phase, RunStore
from planner.errors import PlannerError
from planner.plan import PlanFile
from tui.messages import (
    LaunchFailed,
    RefreshFailed,
    RunLaunched,
    RunsRefreshed,
    RunTornDown,
    TeardownFailed,
)
from tui.widgets.run_detail import read_snapshot

__all__ = ["RunMonitor", "describe_error"]

_SETTLED = (Phase.FAILED, Phase.DOWN)  # polling these changes nothing


def describe_error(exc: Exception) -> str:
    """The text shown for an error: tailor's own message, else its type and message."""
    if isinstance(exc, ExecutorError | PlannerError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


class RunMonitor:
    """Runs the runs screen's I/O in thread workers of ``host`` and posts the outcomes to it.

    ``store`` names the run store (workers open their own connection on ``store.path``);
    ``backends`` maps a run's backend name to the backend; ``context(store)`` builds the
    LaunchContext (data path, local model, ...) for a store.
    """

    def __init__(
        self,
        host: DOMNode,
        *,
        store: RunStore,
        backends: Mapping[str, Backend],
        context: Callable[[RunStore], LaunchContext],
    ) -> None:
        self.host = host
        self.store = store
        self.backends = backends
        self.context = context
        self._backend_lock = threading.Lock()
        self._polling = False  # a poll-and-read worker is out
        self._reading = False  # a read-only worker is out
        self._stale = False  # a refresh was asked for while both were out

    # --- refresh ------------------------------------------------------------------------
    def refresh(self, selected: str | None, *, poll: bool = True) -> None:
        """Poll the live runs and read them again (``selected`` gets the detail); while a poll
        is still out, only read; while a read is out too, read once one is back."""
        if poll and not self._polling:
            self._polling = True
            self._start(self._poll_and_read, selected, group="runs-poll")
        elif not self._reading:
            self._reading = True
            self._start(self._read, selected, group="runs-read")
        else:
            self._stale = True

    def worker_back(self, *, polled: bool, moved: bool = False) -> bool:
        """Note that a refresh worker's message arrived; True when the caller should read again
        now: a refresh was asked for while both workers were out, or the highlighted run
        changed while this one read (``moved``)."""
        if polled:
            self._polling = False
        else:
            self._reading = False
        again, self._stale = self._stale or moved, False
        return again

    @contextmanager
    def _session(self) -> Iterator[LaunchContext]:
        """A LaunchContext on a store opened by (and closed in) the calling thread."""
        store = RunStore(self.store.path)
        try:
            yield self.context(store)
        finally:
            store.close()

    def _start(self, work: Callable[..., None], *args: object, group: str) -> None:
        self.host.run_worker(
            partial(work, *args), name=group, group=group, exclusive=True, thread=True
        )

    def _poll_live(self, ctx: LaunchContext) -> list[str]:
        problems = []
        with self._backend_lock:
            for run in ctx.store.list_runs():
                backend = self.backends.get(run.backend)
                if run.phase in _SETTLED or backend is None:
                    continue
                try:
                    plan_file = ctx.store.plan_file(run.id)
                    refresh(run, plan_file, backend, ctx)
                except Exception as exc:  # the UI edge: one failing run must not stop the rest
                    problems.append(f"status of {run.id}: {describe_error(exc)}")
        return problems

    def _poll_and_read(self, selected: str | None) -> None:
        try:
            with self._session() as ctx:
                problems = self._poll_live(ctx)
                snapshot = read_snapshot(ctx, self.backends, selected)
        except Exception as exc:  # the UI edge: shown as text, the app keeps running
            self.host.post_message(RefreshFailed(describe_error(exc), polled=True))
            return
        self.host.post_message(RunsRefreshed(snapshot, polled=True, problems=tuple(problems)))

    def _read(self, selected: str | None) -> None:
        try:
            with self._session() as ctx:
                snapshot = read_snapshot(ctx, self.backends, selected)
        except Exception as exc:  # the UI edge: shown as text, the app keeps running
            self.host.post_message(RefreshFailed(describe_error(exc), polled=False))
            return
        self.host.post_message(RunsRefreshed(snapshot, polled=False))

    # --- launch and teardown ------------------------------------------------------------
    def launch(self, plan_file: PlanFile, backend: Backend) -> None:
        """Launch (or re-attach to) ``plan_file`` on ``backend``; posts RunLaunched or
        LaunchFailed."""
        self._start(self._launch, plan_file, backend, group="runs-launch")

    def teardown(self, run_id: str) -> None:
        """Tear down everything run ``run_id`` created; posts RunTornDown or TeardownFailed."""
        self._start(self._teardown, run_id, group="runs-teardown")

    def _launch(self, plan_file: PlanFile, backend: Backend) -> None:
        try:
            with self._session() as ctx, self._backend_lock:
                run, started = launch(plan_file, backend, ctx)
        except Exception as exc:  # the UI edge: shown as text, the app keeps running
            self.host.post_message(LaunchFailed(describe_error(exc)))
            return
        self.host.post_message(RunLaunched(run, started))

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
            self.host.post_message(TeardownFailed(run_id, describe_error(exc)))
            return
        self.host.post_message(RunTornDown(run_id, removed))
