"""The SkyPilot backend: training as a managed job, then serving as a SkyServe service or the
plan's batch job as another managed job.

All calls to SkyPilot go through a ``SkyClient`` (the cloud boundary). The default client uses
the SkyPilot SDK (``sky.jobs`` / ``sky.serve``, imported only when called); tests inject a fake.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Protocol

from executor.backends.base import LaunchContext
from executor.errors import BackendError
from executor.render import (
    RenderOptions,
    render_batch_task,
    render_serve_task,
    render_train_task,
)
from executor.state import Phase, Run
from planner.plan import PlanFile
from planner.types import HOURS_PER_MONTH

__all__ = ["SkyBackend", "SkyClient", "SkySdkClient"]

_JOB_DONE, _JOB_FAILED = (
    {"SUCCEEDED"},
    {
        "FAILED",
        "FAILED_SETUP",
        "FAILED_PRECHECKS",
        "FAILED_NO_RESOURCE",
        "FAILED_CONTROLLER",
        "CANCELLED",
    },
)


class SkyClient(Protocol):
    """The SkyPilot operations tailor uses."""

    def launch_job(self, task: dict, name: str) -> None: ...
    def job_status(self, name: str) -> str | None: ...
    def cancel_job(self, name: str) -> None: ...
    def job_logs(self, name: str, *, follow: bool) -> Iterator[str]: ...
    def serve_up(self, task: dict, service: str) -> None: ...
    def service_status(self, service: str) -> tuple[str | None, str | None]: ...
    def serve_down(self, service: str) -> None: ...


class SkySdkClient:
    """SkyClient over the SkyPilot SDK (requests to the local SkyPilot API server)."""

    @staticmethod
    def _task(task: dict):
        import sky

        return sky.Task.from_yaml_config(task)

    def launch_job(self, task: dict, name: str) -> None:
        """Submit a managed job and wait until SkyPilot accepted it."""
        import sky

        sky.stream_and_get(sky.jobs.launch(self._task(task), name=name))

    def job_status(self, name: str) -> str | None:
        """Status of the newest managed job with this name."""
        import sky

        reply = sky.get(sky.jobs.queue(refresh=False, skip_finished=False))
        # API version 1 (the default) answers a list, version 2 a (records, total, ...) tuple;
        # a record is a ManagedJobRecord, or a dict from older servers.
        records: list[Any] = list(reply[0] if isinstance(reply, tuple) else reply)
        mine = [
            r
            for r in records
            if getattr(r, "job_name", None) == name
            or (isinstance(r, dict) and r.get("job_name") == name)
        ]
        if not mine:
            return None
        record = mine[0]
        status = record["status"] if isinstance(record, dict) else record.status
        return str(getattr(status, "value", status))

    def cancel_job(self, name: str) -> None:
        """Cancel the managed job."""
        import sky

        sky.get(sky.jobs.cancel(name=name))

    def job_logs(self, name: str, *, follow: bool) -> Iterator[str]:
        """Log lines of the managed job."""
        import sky

        for line in sky.jobs.tail_logs(name=name, follow=follow, preload_content=False):
            if line is not None:
                yield line

    def serve_up(self, task: dict, service: str) -> None:
        """Start the service."""
        import sky

        sky.stream_and_get(sky.serve.up(self._task(task), service_name=service))

    def service_status(self, service: str) -> tuple[str | None, str | None]:
        """(status, endpoint) of the service."""
        import sky

        records = sky.get(sky.serve.status(service))
        if not records:
            return None, None
        status = records[0]["status"]
        return str(getattr(status, "value", status)), records[0].get("endpoint")

    def serve_down(self, service: str) -> None:
        """Tear the service down."""
        import sky

        sky.get(sky.serve.down(service))


class SkyBackend:
    """Runs plans on clouds through SkyPilot."""

    name = "sky"

    def __init__(self, client: SkyClient | None = None, *, clock=time.time) -> None:
        self.client = client or SkySdkClient()
        self._clock = clock

    @staticmethod
    def _options(run: Run, ctx: LaunchContext) -> RenderOptions:
        return RenderOptions(
            run_name=run.id,
            data_source=str(ctx.data_path or "train.jsonl"),
            checkpoint_bucket=ctx.extra.get("bucket", f"tailor-{run.id}"),
            recipe_source=ctx.extra.get("recipe_source", "executor/recipes"),
            data_format=ctx.data_format,
            batch_input=str(ctx.extra.get("batch_input", "batch.jsonl")),
        )

    def start(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        """Submit the training job, or (the plan trains nothing, or training finished) the
        service or the batch job."""
        options = self._options(run, ctx)
        if plan_file.plan.training is not None and not run.trained:
            task = render_train_task(plan_file, options)
            ctx.store.add_resource(run.id, "job", task["name"])
            self.client.launch_job(task, task["name"])
            return ctx.store.transition(
                run.id, Phase.TRAINING, f"managed job {task['name']} submitted"
            )
        return self._next(run, plan_file, ctx)

    def _next(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        """What follows training: the batch job or the service."""
        if plan_file.plan.batch is not None:
            return self._batch(run, plan_file, ctx)
        return self._serve(run, plan_file, ctx)

    def _batch(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        task = render_batch_task(plan_file, self._options(run, ctx))
        ctx.store.add_resource(run.id, "job", task["name"])
        self.client.launch_job(task, task["name"])
        return ctx.store.transition(run.id, Phase.BATCH, f"batch job {task['name']} submitted")

    def _serve(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        task = render_serve_task(plan_file, self._options(run, ctx))
        ctx.store.add_resource(run.id, "service", task["name"])
        self.client.serve_up(task, task["name"])
        return ctx.store.transition(run.id, Phase.SERVING, f"service {task['name']} starting")

    def _spend(self, run: Run, plan_file: PlanFile) -> float:
        hours = max(0.0, self._clock() - run.created_at) / 3600
        plan, total = plan_file.plan, 0.0
        if plan.training is not None and run.phase is Phase.TRAINING:
            total += hours * plan.training.offer.usd_per_hour * plan.training.nodes
        if plan.serving is not None and run.phase in (Phase.SERVING, Phase.READY):
            mean_replicas = plan.serving.replica_hours_per_month / HOURS_PER_MONTH
            total += hours * plan.serving.offer.usd_per_hour * mean_replicas
        if plan.batch is not None and run.phase is Phase.BATCH:
            total += hours * plan.batch.offer.usd_per_hour * plan.batch.instances
        return max(run.spend_usd, total)

    def poll(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        """Follow the job, then the service."""
        spend = self._spend(run, plan_file)
        if run.phase is Phase.TRAINING:
            return self._poll_job(run, plan_file, ctx, spend)
        if run.phase is Phase.BATCH:
            return self._poll_batch(run, ctx, spend)
        if run.phase is Phase.SERVING:
            return self._poll_service(run, ctx, spend)
        return run

    def _poll_job(self, run: Run, plan_file: PlanFile, ctx: LaunchContext, spend: float) -> Run:
        job = f"{run.id}-train"
        status = self.client.job_status(job)
        if status is None or status in _JOB_FAILED | _JOB_DONE:
            ctx.store.mark_deleted(run.id, "job", job)  # a finished or unknown job holds nothing
        if status is None:
            why = f"SkyPilot has no managed job {job} (cancelled outside tailor, or lost)"
            return ctx.store.transition(run.id, Phase.FAILED, why, spend_usd=spend)
        if status in _JOB_FAILED:
            return ctx.store.transition(
                run.id, Phase.FAILED, f"training job {status}", spend_usd=spend
            )
        if status not in _JOB_DONE:
            if spend == run.spend_usd:
                return run
            return ctx.store.transition(
                run.id, Phase.TRAINING, f"training job {status}", spend_usd=spend
            )
        if not ctx.store.mark_trained(run.id):
            return ctx.store.get(run.id)  # another poller hands over to serving
        ctx.store.transition(run.id, Phase.TRAINING, "training job succeeded", spend_usd=spend)
        if plan_file.plan.serving is None and plan_file.plan.batch is None:
            return ctx.store.transition(run.id, Phase.READY, "adapter saved")
        return self._next(ctx.store.get(run.id), plan_file, ctx)

    def _poll_batch(self, run: Run, ctx: LaunchContext, spend: float) -> Run:
        job = f"{run.id}-batch"
        status = self.client.job_status(job)
        if status is None or status in _JOB_FAILED | _JOB_DONE:
            ctx.store.mark_deleted(run.id, "job", job)  # a finished or unknown job holds nothing
        if status is None:
            why = f"SkyPilot has no managed job {job} (cancelled outside tailor, or lost)"
            return ctx.store.transition(run.id, Phase.FAILED, why, spend_usd=spend)
        if status in _JOB_FAILED:
            return ctx.store.transition(
                run.id, Phase.FAILED, f"batch job {status}", spend_usd=spend
            )
        if status in _JOB_DONE:
            bucket = ctx.extra.get("bucket", f"tailor-{run.id}")
            return ctx.store.transition(
                run.id,
                Phase.READY,
                f"batch job succeeded: results in bucket {bucket}, {run.id}/results/",
                spend_usd=spend,
            )
        if spend == run.spend_usd:
            return run
        return ctx.store.transition(run.id, Phase.BATCH, f"batch job {status}", spend_usd=spend)

    def _poll_service(self, run: Run, ctx: LaunchContext, spend: float) -> Run:
        service = f"{run.id}-serve"
        status, endpoint = self.client.service_status(service)
        if status == "READY":
            return ctx.store.transition(
                run.id, Phase.READY, "service ready", spend_usd=spend, endpoint=endpoint
            )
        if status is None:
            ctx.store.mark_deleted(run.id, "service", service)  # nothing left to take down
            why = f"SkyServe has no service {service}"
            return ctx.store.transition(run.id, Phase.FAILED, why, spend_usd=spend)
        if status.startswith("FAILED"):
            return ctx.store.transition(run.id, Phase.FAILED, f"service {status}", spend_usd=spend)
        return run

    def logs(self, run: Run, ctx: LaunchContext, *, follow: bool) -> Iterator[str]:
        """The batch job's logs once it is submitted, else the training job's."""
        jobs = {r.name for r in ctx.store.resources(run.id, live_only=False)}
        name = f"{run.id}-batch" if f"{run.id}-batch" in jobs else f"{run.id}-train"
        return self.client.job_logs(name, follow=follow)

    def teardown(self, run: Run, ctx: LaunchContext) -> list[str]:
        """Cancel the job and take the service down; record each removal."""
        removed = []
        for resource in ctx.store.resources(run.id, live_only=True):
            try:
                if resource.kind == "job":
                    self.client.cancel_job(resource.name)
                elif resource.kind == "service":
                    self.client.serve_down(resource.name)
            except Exception as exc:  # the cloud boundary: report which resource failed
                raise BackendError(
                    f"could not remove {resource.kind} {resource.name}: {exc}.",
                    fix="check `sky jobs queue` / `sky serve status`, "
                    f"then run `tailor down {run.id}` again.",
                ) from exc
            ctx.store.mark_deleted(run.id, resource.kind, resource.name)
            removed.append(f"{resource.kind} {resource.name}")
        return removed
