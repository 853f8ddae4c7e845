"""One run in detail: phase, elapsed time, spend, endpoint, last events, loss curve and log tail.

The data arrives as a ``RunsSnapshot`` (read off the UI thread by ``read_snapshot``) set on the
widget's ``snapshot`` attribute; the widget only renders it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Log, Static
from textual_plotext import PlotextPlot

from executor.backends.base import Backend, LaunchContext
from executor.errors import ExecutorError
from executor.metrics import MetricPoint, metrics_path, read_metrics
from executor.state import Event, Phase, Run

__all__ = [
    "EVENTS_SHOWN",
    "LOG_LINES",
    "RunDetail",
    "RunsSnapshot",
    "elapsed_s",
    "format_duration",
    "read_snapshot",
]

LOG_LINES = 200
EVENTS_SHOWN = 6
_ENDED = (Phase.FAILED, Phase.DOWN)  # elapsed time stops at the last transition


@dataclass(frozen=True)
class RunsSnapshot:
    """Everything the runs view shows, read in one go off the UI thread."""

    runs: tuple[Run, ...]
    selected: str | None  # the run the detail fields below belong to
    events: tuple[Event, ...] = ()
    log_lines: tuple[str, ...] = ()
    metrics: tuple[MetricPoint, ...] = ()
    problem: str | None = None  # a part that could not be read (e.g. the backend's logs)

    @property
    def run(self) -> Run | None:
        """The selected run."""
        return next((r for r in self.runs if r.id == self.selected), None)


def format_duration(seconds: float) -> str:
    """``42s``, ``3m 05s``, ``2h 07m``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def elapsed_s(run: Run, now: float) -> float:
    """Time since launch; a failed or torn-down run stops counting at its last transition."""
    return (run.updated_at if run.phase in _ENDED else now) - run.created_at


def read_snapshot(
    ctx: LaunchContext, backends: Mapping[str, Backend], selected: str | None
) -> RunsSnapshot:
    """Runs, and the events, log tail and metrics of ``selected`` (else the newest run).

    Blocking (SQLite, log files, possibly the backend's API): call it from a worker thread.
    """
    runs = ctx.store.list_runs()
    run = next((r for r in runs if r.id == selected), runs[0] if runs else None)
    if run is None:
        return RunsSnapshot(runs=(), selected=None)
    backend, lines, problem = backends.get(run.backend), (), None
    if backend is None:
        problem = f"run {run.id}: no {run.backend!r} backend here, so no logs or status."
    else:
        try:
            lines = tuple(deque(backend.logs(run, ctx, follow=False), maxlen=LOG_LINES))
        except ExecutorError as exc:
            problem = f"logs of {run.id}: {exc}"
    return RunsSnapshot(
        runs=tuple(runs),
        selected=run.id,
        events=tuple(ctx.store.events(run.id)[-EVENTS_SHOWN:]),
        log_lines=lines,
        metrics=tuple(read_metrics(metrics_path(ctx, run.id))),
        problem=problem,
    )


class RunDetail(Vertical):
    """Summary, events and loss curve side by side, the log tail below them."""

    snapshot: reactive[RunsSnapshot | None] = reactive(None, init=False, always_update=True)
    """What to show; set by the screen after each refresh."""

    def __init__(self, *, clock: Callable[[], float] = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self._shown: RunsSnapshot | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="run-detail"):
            with VerticalScroll(id="run-info"):
                yield Static("", id="run-title", markup=False)
                yield Static("No runs yet.", id="run-summary")
                yield Static("", id="run-endpoint", markup=False)
                yield Static("", id="run-events", markup=False)
            with Vertical(id="run-chart"):
                yield PlotextPlot(id="run-loss")
                yield Static("no metrics yet", id="run-no-metrics")
        yield Log(id="run-log", max_lines=LOG_LINES)

    def on_mount(self) -> None:
        plot = self.query_one("#run-loss", PlotextPlot)
        plot.plt.title("loss")
        plot.plt.xlabel("step")
        plot.display = False

    def watch_snapshot(self, new: RunsSnapshot | None) -> None:
        old, self._shown = self._shown, new
        if new is None:
            return
        self._show_summary(new)
        if old is None or old.log_lines != new.log_lines:
            log = self.query_one("#run-log", Log)
            same_run = old is not None and old.run is not None and new.run is not None
            same_run = same_run and old.run.id == new.run.id
            added = _continuation(old.log_lines, new.log_lines) if same_run else None
            if added is None:  # another run, or the tail moved past what is shown
                log.clear()
                added = new.log_lines
            log.write_lines(added)
        if old is None or old.metrics != new.metrics:
            self._show_metrics(new.metrics)

    def _show_summary(self, snapshot: RunsSnapshot) -> None:
        summary = self.query_one("#run-summary", Static)
        endpoint = self.query_one("#run-endpoint", Static)
        events = self.query_one("#run-events", Static)
        run = snapshot.run
        self.query_one("#run-title", Static).update(run.id if run else "")
        if run is None:
            summary.update("No runs yet. Launch a plan from the plans screen.")
            endpoint.display = False
            events.update("")
            return
        elapsed = format_duration(elapsed_s(run, self.clock()))
        when = f"ran {elapsed}" if run.phase in _ENDED else f"{elapsed} since launch"
        summary.update(
            f"[b]{run.phase}[/b] · {when} · ${run.spend_usd:,.2f} spent"
            f" of ${run.cost_ceiling_usd:,.2f} ceiling"
        )
        ready = run.phase is Phase.READY and run.endpoint is not None
        endpoint.set_class(ready, "-ready")
        endpoint.display = run.endpoint is not None
        endpoint.update(f"{'READY ' if ready else 'endpoint '}{run.endpoint or ''}")
        lines = [
            f"{datetime.fromtimestamp(e.at):%H:%M:%S} {e.phase:<8} {e.message}"
            for e in snapshot.events
        ]
        if snapshot.problem:
            lines.append(snapshot.problem)
        events.update("\n".join(lines))

    def _show_metrics(self, metrics: tuple[MetricPoint, ...]) -> None:
        plot = self.query_one("#run-loss", PlotextPlot)
        train = [(m.step, m.loss) for m in metrics if m.loss is not None]
        held_out = [(m.step, m.eval_loss) for m in metrics if m.eval_loss is not None]
        plot.display = bool(train or held_out)
        self.query_one("#run-no-metrics").display = not plot.display
        plot.plt.clear_data()
        for points, label in ((train, "loss"), (held_out, "eval loss")):
            if points:
                steps, losses = zip(*points, strict=True)
                plot.plt.plot(list(steps), list(losses), label=label)
        plot.refresh()


def _continuation(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...] | None:
    """The lines ``new`` adds after ``old`` when both are tails of one growing log (the longest
    end of ``old`` that starts ``new``), else None. Appending them repaints only what changed."""
    if not old:
        return None
    for start in range(len(old)):
        kept = old[start:]
        if new[: len(kept)] == kept:
            return new[len(kept) :]
    return None
