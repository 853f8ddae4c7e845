"""Fakes at the cloud boundary for the TUI tests (injected, never patched into product code)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

from executor.backends.base import LaunchContext
from executor.errors import BackendError
from executor.metrics import metrics_path
from executor.state import Phase, Run
from planner.plan import PlanFile

ENDPOINT = "http://127.0.0.1:9999/v1"


class FakeBackend:
    """The Backend protocol on files and the store: training → serving → ready when allowed."""

    name = "local"

    def __init__(self, *, fail_start: bool = False, stuck: bool = False) -> None:
        self.fail_start = fail_start
        self.stuck = stuck  # teardown removes nothing
        self.advance = threading.Event()  # poll moves a phase on only once this is set
        self.starts = 0

    def _log(self, ctx: LaunchContext, run_id: str, line: str) -> None:
        with (ctx.run_dir(run_id) / "train.log").open("a") as log:
            log.write(line + "\n")

    def _metrics(self, ctx: LaunchContext, run_id: str, steps: range, **extra: float) -> None:
        path = metrics_path(ctx, run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as out:
            for step in steps:
                line = {"step": step, "epoch": step / 10, "loss": 3.0 / step, **extra}
                out.write(json.dumps({**line, "tokens_per_s": 900.0, "time": 1e9}) + "\n")

    def check(self, plan_file: PlanFile, ctx: LaunchContext, *, trained: bool = False) -> None:
        return None  # the double needs no secret

    def start(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        if self.fail_start:
            raise BackendError("fake backend: no capacity.", fix="try again later.")
        self.starts += 1
        ctx.run_dir(run.id).mkdir(parents=True, exist_ok=True)
        ctx.store.add_resource(run.id, "process", "train:101")
        self._log(ctx, run.id, "fake: training started")
        self._metrics(ctx, run.id, range(1, 4))
        return ctx.store.transition(run.id, Phase.TRAINING, "fake training started")

    def poll(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        if not self.advance.is_set():
            return run
        if run.phase is Phase.TRAINING:
            ctx.store.mark_deleted(run.id, "process", "train:101")
            ctx.store.add_resource(run.id, "process", "serve:202")
            self._metrics(ctx, run.id, range(4, 6), eval_loss=1.0)
            self._log(ctx, run.id, "fake: training done, serving")
            return ctx.store.transition(run.id, Phase.SERVING, "fake vLLM starting")
        if run.phase is Phase.SERVING:
            self._log(ctx, run.id, "fake: server answers")
            return ctx.store.transition(run.id, Phase.READY, "fake ready", endpoint=ENDPOINT)
        return run

    def logs(self, run: Run, ctx: LaunchContext, *, follow: bool) -> Iterator[str]:
        path = ctx.run_dir(run.id) / "train.log"
        if path.exists():
            yield from path.read_text().splitlines()

    def teardown(self, run: Run, ctx: LaunchContext) -> list[str]:
        removed = []
        for resource in [] if self.stuck else ctx.store.resources(run.id, live_only=True):
            ctx.store.mark_deleted(run.id, resource.kind, resource.name)
            removed.append(f"{resource.kind} {resource.name}")
        return removed
