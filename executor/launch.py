"""Launch a plan file exactly as written: idempotent, inside the goal's budget, recorded.

``launch`` never provisions twice: the same plan (by content hash) on the same backend finds
its live run and re-attaches. Before anything is created the run is recorded with its cost
ceiling; every transition after that goes through the run store.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog import Catalog, load_catalog
from executor.backends.base import Backend, LaunchContext
from executor.ceiling import launch_costs
from executor.errors import ExecutorError
from executor.render import MAX_RUNTIME_FACTOR
from executor.state import Phase, Run, RunStore, current_launcher, launcher_alive, plan_hash
from executor.training_data import TrainingDataReport, check_training_data
from planner.budget import budget_excesses
from planner.plan import PlanFile

__all__ = [
    "LaunchPreview",
    "check_batch_input",
    "check_budget",
    "check_data",
    "controllers_left",
    "cost_ceiling_usd",
    "launch",
    "launch_context",
    "preview",
    "refresh",
    "run_base_id",
    "teardown",
    "wait",
]


@dataclass(frozen=True)
class LaunchPreview:
    """What a launch will create and the most it may cost before anyone looks again."""

    creates: tuple[str, ...]
    cost_ceiling_usd: float
    max_training_hours: float | None
    ceiling_basis: str  # how cost_ceiling_usd was reached, in words


def launch_context(
    store: RunStore,
    *,
    data_path: Path | None = None,
    data_format: str = "chat",
    extra: Mapping[str, Any] | None = None,
) -> LaunchContext:
    """The context a launch, poll, logs or teardown runs with: one folder per run beside the
    store's database, the training data, and backend-specific settings (``extra``)."""
    return LaunchContext(
        store=store,
        runs_dir=store.path.parent,
        data_path=data_path,
        data_format=data_format,
        extra=dict(extra or {}),
    )


def cost_ceiling_usd(plan_file: PlanFile, *, catalog: Catalog | None = None) -> float:
    """Training until the job's timeout + one month of serving at the most replicas + API /
    retrieval, recomputed from the plan's resources × the catalog's current prices
    (``executor.ceiling``; ExecutorError when they no longer match the plan)."""
    return launch_costs(plan_file, catalog or load_catalog()).ceiling_usd


def check_budget(plan_file: PlanFile, *, catalog: Catalog | None = None) -> None:
    """ExecutorError when the plan costs more than the goal's budget allows, its costs
    recomputed from its resources × the catalog's prices (or they do not match the plan)."""
    plan = plan_file.plan
    costs = launch_costs(plan_file, catalog or load_catalog())
    for excess in budget_excesses(
        plan_file.goal.budget, one_time_usd=costs.one_time_usd, monthly_usd=costs.monthly_usd
    ):
        raise ExecutorError(
            f"plan {plan.id} costs {excess.detail} ({excess.field}); nothing was launched.",
            fix="re-plan (`tailor plan`) or raise the budget.",
        )


def _local_preview(plan_file: PlanFile) -> LaunchPreview:
    plan, creates = plan_file.plan, []
    if plan.training is not None:
        t = plan.training
        creates.append(
            f"local: training recipe subprocess, {t.method}"
            + (f" r={t.lora_rank}" if t.lora_rank else "")
            + f", lr {t.learning_rate:g}, on the local model (this machine)"
        )
    if plan.serving is not None:
        creates.append("local: vLLM OpenAI server on 127.0.0.1 (this machine)")
    if plan.batch is not None:
        creates.append("nothing: the local backend does not run batch jobs (use --backend sky)")
    return LaunchPreview(tuple(creates), 0.0, None, "nothing is rented")


def preview(plan_file: PlanFile, backend: str, *, catalog: Catalog | None = None) -> LaunchPreview:
    """The resources the launch will create, in words, and its cost ceiling (recomputed from
    the catalog's prices, see ``executor.ceiling``)."""
    if backend == "local":
        return _local_preview(plan_file)
    plan, creates = plan_file.plan, []
    t, s = plan.training, plan.serving
    if t is not None:
        creates.append(
            f"{backend}: training job, {t.nodes}×{t.gpus_per_node}× {t.offer.gpu} "
            f"on {t.offer.cloud}/{t.offer.region} ({t.offer.instance_type}"
            f"{', spot with recovery' if t.offer.spot else ''}), {t.method} "
            f"{plan.model}, {t.tokens:,} tokens"
        )
    if s is not None:
        creates.append(
            f"{backend}: vLLM endpoint, {s.replicas_label} × {s.tensor_parallel}× "
            f"{s.offer.gpu} {s.quantization} on {s.offer.cloud}/{s.offer.region}"
        )
    if (b := plan.batch) is not None:
        creates.append(
            f"{backend}: batch job, {b.instances} × {b.tensor_parallel}× {b.offer.gpu} "
            f"{b.quantization} on {b.offer.cloud}/{b.offer.region} ({b.offer.instance_type}), "
            f"{b.requests_per_job:,.0f} requests, stopped after "
            f"{b.hours_per_job * MAX_RUNTIME_FACTOR:.1f} h"
        )
    if plan.api is not None:
        creates.append(f"nothing to provision: hosted API {plan.api.model}")
    hours = t.hours_high * MAX_RUNTIME_FACTOR if t else None
    costs = launch_costs(plan_file, catalog or load_catalog())
    return LaunchPreview(tuple(creates), costs.ceiling_usd, hours, costs.basis)


def refresh(run: Run, plan_file: PlanFile, backend: Backend, ctx: LaunchContext) -> Run:
    """The run as it is now: re-read from the store (another process may have moved it), then
    advanced from what the backend reports. A pending run whose launcher is gone never
    started (the `tailor launch` that created it was killed): it is marked failed, so a
    relaunch can resume it instead of waiting on it."""
    run = ctx.store.get(run.id)
    if run.phase is Phase.PENDING:
        if launcher_alive(run.launcher):
            return run  # its launcher is still starting it
        who = run.launcher or "an older tailor"
        return ctx.store.fail_if(
            run.id,
            Phase.PENDING,
            run.launcher,
            f"the launch that created it ({who}) ended before the run started",
        )
    if run.phase in (Phase.TRAINING, Phase.SERVING, Phase.BATCH):
        return backend.poll(run, plan_file, ctx)
    return run


def _resume(run: Run, plan_file: PlanFile, backend: Backend, ctx: LaunchContext) -> Run:
    """Restart a failed run from its last good phase (training from its newest checkpoint, or
    serving once training finished). Only one process wins the claim; the others get the run
    as that one left it."""
    # its bucket stays: the checkpoints a resumed training run starts from are in it
    if [r for r in ctx.store.resources(run.id, live_only=True) if r.kind != "bucket"]:
        raise ExecutorError(
            f"run {run.id} failed but still holds resources.",
            fix=f"`tailor down {run.id}`, then launch again.",
        )
    if not run.trained:
        check_data(plan_file, ctx)
    backend.check(plan_file, ctx, trained=run.trained)
    resumed = "serving (training had finished)" if run.trained else "the last checkpoint"
    claimed = ctx.store.claim(
        run.id,
        Phase.FAILED,
        Phase.PENDING,
        f"relaunched: resuming from {resumed}",
        launcher=current_launcher(),
    )
    if claimed is None:
        return ctx.store.get(run.id)
    try:
        return backend.start(claimed, plan_file, ctx)
    except Exception as exc:
        ctx.store.transition(run.id, Phase.FAILED, f"restart failed: {exc}")
        raise


def _reattach(run: Run, plan_file: PlanFile, backend: Backend, ctx: LaunchContext) -> Run:
    """The live run of this plan: refreshed, and resumed if it failed (nothing that still
    runs is started twice)."""
    run = refresh(run, plan_file, backend, ctx)
    if run.phase is Phase.STOPPING:
        raise ExecutorError(
            f"run {run.id} of this plan is being torn down (stopping): an earlier "
            "`tailor down` did not finish.",
            fix=f"run `tailor down {run.id}` again, then launch the plan again.",
        )
    if run.phase is Phase.FAILED:
        return _resume(run, plan_file, backend, ctx)
    return run


_URI = re.compile(r"[a-z][a-z0-9+.-]*:/")  # s3://, gs://, r2://, https://: checked remotely


def check_data(plan_file: PlanFile, ctx: LaunchContext) -> TrainingDataReport | None:
    """Check the training data on this machine, with the recipe's own reader, before anything
    is created (ExecutorError naming file:line of each bad row); None when the plan trains
    nothing or the data is a bucket URI the job will read itself."""
    if plan_file.plan.training is None or ctx.data_path is None:
        return None
    if _URI.match(str(ctx.data_path)):
        return None
    return check_training_data(Path(ctx.data_path), ctx.data_format)


BATCH_URLS = ("/v1/chat/completions", "/v1/completions")


def check_batch_input(plan_file: PlanFile, ctx: LaunchContext) -> int | None:
    """Check a batch plan's input file on this machine before anything is created: JSON lines
    in the OpenAI batch format vLLM's run-batch reads (``custom_id``, ``method: POST``, a
    ``url`` it serves, a ``body`` object), at most as many requests as the job's timeout
    allows. Returns the requests counted; None when the plan runs no batch jobs or the input
    is a bucket URI the job reads itself. ExecutorError names the file, line and field."""
    b = plan_file.plan.batch
    if b is None:
        return None
    source = ctx.extra.get("batch_input")
    if source is None:
        raise ExecutorError(
            f"plan {plan_file.plan.id} runs batch jobs and no input file was given.",
            fix="pass `--batch-input FILE.jsonl` (one OpenAI batch request per line) or a "
            "bucket URI.",
        )
    if _URI.match(str(source)):
        return None
    path = Path(source)
    count = 0
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    _check_batch_line(path, number, line)
                    count += 1
    except (OSError, UnicodeDecodeError) as exc:
        raise ExecutorError(
            f"batch input {path} cannot be read: {exc}.",
            fix="pass a readable UTF-8 JSONL file with `--batch-input`.",
        ) from None
    most = b.requests_per_job * MAX_RUNTIME_FACTOR
    if count == 0 or count > most:
        raise ExecutorError(
            f"batch input {path} holds {count:,} requests; plan {plan_file.plan.id} was sized "
            f"for {b.requests_per_job:,.0f} (batch.tokens), and its job stops after "
            f"{b.hours_per_job * MAX_RUNTIME_FACTOR:.1f} h; nothing was launched.",
            fix="set batch.tokens to the file's prompt + output tokens and re-plan, or split "
            "the file.",
        )
    return count


def _check_batch_line(path: Path, number: int, line: str) -> None:
    where = f"batch input {path}:{number}"
    fix = (
        'write one request per line: {"custom_id": "id-1", "method": "POST", "url": '
        '"/v1/chat/completions", "body": {"messages": [...], "max_tokens": ...}}'
    )
    try:
        request = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ExecutorError(f"{where} is not JSON ({exc.msg}).", fix=fix) from None
    problem = None
    if not isinstance(request, dict):
        problem = "is not a JSON object"
    elif not isinstance(request.get("custom_id"), str) or not request["custom_id"]:
        problem = "has no custom_id string"
    elif request.get("method") != "POST":
        problem = "has a method other than POST"
    elif request.get("url") not in BATCH_URLS:
        problem = f"has url {request.get('url')!r}, not one of {', '.join(BATCH_URLS)}"
    elif not isinstance(request.get("body"), dict):
        problem = "has no body object"
    if problem is not None:
        raise ExecutorError(f"{where} {problem}.", fix=fix)


def run_base_id(plan_file: PlanFile, backend: str) -> str:
    """The id of the plan's first run on ``backend``: goal-plan-backend-hash6 (later runs of
    the same plan, after `down`, add -2, -3, …)."""
    digest = plan_hash(plan_file.model_dump(mode="json"))
    return f"{plan_file.goal.name}-{plan_file.plan.id}-{backend}-{digest[:6]}"


def launch(plan_file: PlanFile, backend: Backend, ctx: LaunchContext) -> tuple[Run, bool]:
    """Start the plan, or re-attach to its live run. Returns (run, newly started).

    - A live run of the plan (any phase but down) is re-attached: refreshed, resumed if it
      failed. Concurrent launches of one plan get that one run (the store decides).
    - A plan whose runs are all down gets a new run: `down` ends a run for good, and
      launching the plan again starts it afresh (its id gets the next -N).
    """
    plan_json = plan_file.model_dump(mode="json")
    existing = ctx.store.find_live(plan_hash(plan_json), backend.name)
    if existing is not None:
        return _reattach(existing, plan_file, backend, ctx), False
    plan = plan_file.plan
    if plan.training is None and plan.serving is None and plan.batch is None:
        raise ExecutorError(
            f"plan {plan.id} ({plan.strategy}) provisions nothing: it uses a hosted API.",
            fix="call the provider's API directly, or launch a self-hosted plan.",
        )
    if plan.batch is not None and backend.name == "local":
        raise ExecutorError(
            f"plan {plan.id} runs batch jobs; the local backend runs training and a vLLM "
            "server only, not batch jobs, and nothing was launched.",
            fix="launch it with `--backend sky`.",
        )
    check_budget(plan_file)
    check_data(plan_file, ctx)
    check_batch_input(plan_file, ctx)
    backend.check(plan_file, ctx)
    run, created = ctx.store.create_or_find(
        run_base_id(plan_file, backend.name),
        plan_json=plan_json,
        backend=backend.name,
        goal_name=plan_file.goal.name,
        cost_ceiling_usd=preview(plan_file, backend.name).cost_ceiling_usd,
        launcher=current_launcher(),
    )
    if not created:  # another launch of this plan recorded its run first
        return _reattach(run, plan_file, backend, ctx), False
    try:
        return backend.start(run, plan_file, ctx), True
    except Exception as exc:
        ctx.store.transition(run.id, Phase.FAILED, f"start failed: {exc}")
        raise


def teardown(run: Run, backend: Backend, ctx: LaunchContext) -> list[str]:
    """Remove everything the run created and confirm nothing is left; return what was removed.

    The run is marked stopping first, and down only once the store holds no live resource of
    it; otherwise ExecutorError names what is left and the run stays stopping.
    """
    ctx.store.transition(run.id, Phase.STOPPING, "teardown requested")
    removed = backend.teardown(run, ctx)
    left = ctx.store.resources(run.id, live_only=True)
    if left:
        raise ExecutorError(
            f"run {run.id}: still live after teardown: {[f'{r.kind} {r.name}' for r in left]}.",
            fix=f"run `tailor down {run.id}` again.",
        )
    ctx.store.transition(run.id, Phase.DOWN, f"removed {len(removed)} resource(s)")
    return removed


_CONTROLLERS = {
    "jobs controller": ("jobs", "sky-jobs-controller-<user hash>"),
    "batch jobs controller": ("jobs", "sky-jobs-controller-<user hash>"),
    "serve controller": ("serve", "sky-serve-controller-<user hash>"),
}


def controllers_left(plan_file: PlanFile) -> list[str]:
    """What `down` leaves on the cloud: SkyPilot's jobs and serve controller VMs, shared by
    every managed job / service of the user, so tailor does not remove them. One line each,
    from the plan's bill."""
    left, seen = [], set()
    for line in plan_file.plan.extra_costs:
        if line.name not in _CONTROLLERS:
            continue
        kind, vm = _CONTROLLERS[line.name]
        if kind in seen:
            continue
        seen.add(kind)
        jobs = "managed jobs" if kind == "jobs" else "services"
        left.append(
            f"SkyPilot's {kind} controller ({vm}, {line.unit_price}) is left: it serves all "
            f"your {jobs}, and stops itself after 10 idle minutes but is not deleted (SkyPilot "
            "0.14.1 CONTROLLER_AUTOSTOP, down: False), so its disk keeps billing. `sky status` "
            f"shows it; `sky down {vm.split('-<')[0]}-…` deletes it once you run no {jobs}."
        )
    return sorted(left, key=lambda line: "serve controller" in line)


def wait(
    run: Run,
    plan_file: PlanFile,
    backend: Backend,
    ctx: LaunchContext,
    *,
    timeout_s: float,
    poll_s: float = 2.0,
    on_change=None,
) -> Run:
    """Poll until the run is ready, failed or down (or the timeout passes). Each poll starts
    from the store's copy of the run, so a run another process moves is followed."""
    deadline = time.monotonic() + timeout_s
    last = run.phase
    run = refresh(run, plan_file, backend, ctx)
    while run.phase not in (Phase.READY, Phase.FAILED, Phase.DOWN):
        if run.phase != last and on_change is not None:
            on_change(run)
        last = run.phase
        if time.monotonic() > deadline:
            raise ExecutorError(
                f"run {run.id} still {run.phase} after {timeout_s:.0f} s.",
                fix=f"`tailor status {run.id}` later, or `tailor down {run.id}`.",
            )
        time.sleep(poll_s)
        run = refresh(run, plan_file, backend, ctx)
    if run.phase != last and on_change is not None:
        on_change(run)
    return run
