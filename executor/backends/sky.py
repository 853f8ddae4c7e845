"""The SkyPilot backend: training as a managed job, then serving as a SkyServe service or the
plan's batch job as another managed job.

All calls to SkyPilot go through a ``SkyClient`` (the cloud boundary). The default client uses
the SkyPilot SDK (``sky.jobs`` / ``sky.serve``, imported only when called); tests inject a fake.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterator, Mapping
from typing import Protocol

from executor.api_key import API_KEY_ENV, endpoint_key
from executor.backends.base import LaunchContext
from executor.errors import BackendError, ExecutorError
from executor.hub_access import HfHubAccess, HubAccess
from executor.render import (
    RenderOptions,
    bucket_name,
    render_batch_task,
    render_serve_task,
    render_train_task,
    task_secret_names,
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


_SERVICE_FAILED = {"CONTROLLER_FAILED", "FAILED", "FAILED_CLEANUP"}
"""SkyServe service statuses of a broken service (sky.serve.serve_state.ServiceStatus);
NO_REPLICA is a service with no ready replica: scaled to zero, or replicas still failing."""


def _submitted(what: str, name: str, job_ids: list[int]) -> str:
    ids = f" (SkyPilot job id {', '.join(map(str, job_ids))})" if job_ids else ""
    return f"{what} {name} submitted{ids}"


class SkyClient(Protocol):
    """The SkyPilot operations tailor uses. A task dict handed to ``launch_job`` /
    ``serve_up`` belongs to the client afterwards (SkyPilot's parser empties it)."""

    def launch_job(self, task: dict, name: str, secrets: dict[str, str]) -> list[int]: ...
    def job_status(self, name: str) -> str | None: ...
    def cancel_job(self, name: str) -> None: ...
    def job_logs(self, name: str, *, follow: bool) -> Iterator[str]: ...
    def serve_up(self, task: dict, service: str, secrets: dict[str, str]) -> str | None: ...
    def service_status(self, service: str) -> tuple[str | None, str | None]: ...
    def serve_down(self, service: str) -> None: ...
    def storage_delete(self, name: str) -> bool: ...


class SkySdkClient:
    """SkyClient over the SkyPilot SDK (requests to the local SkyPilot API server)."""

    @staticmethod
    def _task(task: dict, secrets: dict[str, str]):
        """A sky.Task of the task dict, its secret references given their values.

        ``sky.Task.from_yaml_config`` pops every key of the dict it parses, and a secret left
        null is a managed reference that sky.execution refuses without a value ("No value
        available for secret(s)"): values go in as ``secrets_overrides``.
        """
        import sky

        return sky.Task.from_yaml_config(
            copy.deepcopy(task), secrets_overrides=sorted(secrets.items()) or None
        )

    def launch_job(self, task: dict, name: str, secrets: dict[str, str]) -> list[int]:
        """Submit a managed job, wait until SkyPilot accepted it; its job ids."""
        import sky

        job_ids, _handle = sky.stream_and_get(sky.jobs.launch(self._task(task, secrets), name=name))
        return list(job_ids or [])

    def job_status(self, name: str) -> str | None:
        """Status of the newest managed job with exactly this name (queue_v2, name-matched)."""
        import sky

        records, *_ = sky.get(
            sky.jobs.queue_v2(
                refresh=False,
                skip_finished=False,
                name_match=name,
                fields=["job_id", "job_name", "status"],
            )
        )
        mine = [r for r in records if r.job_name == name and r.status is not None]
        if not mine:
            return None
        newest = max(mine, key=lambda r: r.job_id or 0)
        return str(newest.status.value)

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

    def serve_up(self, task: dict, service: str, secrets: dict[str, str]) -> str | None:
        """Start the service; its endpoint."""
        import sky

        _name, endpoint = sky.stream_and_get(
            sky.serve.up(self._task(task, secrets), service_name=service)
        )
        return endpoint

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

    def storage_delete(self, name: str) -> bool:
        """Delete the bucket SkyPilot created under ``name`` (a MOUNT storage persists until
        deleted); False when SkyPilot has no such storage (the task never got to create it)."""
        import sky

        if name not in {record.name for record in sky.get(sky.storage_ls())}:
            return False
        sky.get(sky.storage_delete(name))
        return True


class SkyBackend:
    """Runs plans on clouds through SkyPilot."""

    name = "sky"

    def __init__(
        self,
        client: SkyClient | None = None,
        *,
        clock=time.time,
        env: Mapping[str, str] | None = None,
        hub: HubAccess | None = None,
    ) -> None:
        self.client = client or SkySdkClient()
        self._clock = clock
        self._env = os.environ if env is None else env
        self.hub = hub or HfHubAccess()

    def _needed_secrets(self, run_trained: bool, plan_file: PlanFile) -> tuple[str, ...]:
        """Secrets of the tasks still to run (training downloads the base; serving or batch
        downloads only what training did not write)."""
        plan, names = plan_file.plan, set[str]()
        if plan.training is not None and not run_trained:
            names.update(task_secret_names(plan_file, downloads_weights=True))
        if plan.serving is not None or plan.batch is not None:
            trained = plan.training is not None
            names.update(task_secret_names(plan_file, downloads_weights=not trained))
        return tuple(sorted(names))

    def check(self, plan_file: PlanFile, ctx: LaunchContext, *, trained: bool = False) -> None:
        """Before anything is rented: every secret the tasks need has a value in the launching
        environment, and the token can read the gated repositories the tasks download."""
        names = self._needed_secrets(trained, plan_file)
        missing = [n for n in names if not self._env.get(n)]
        plan = plan_file.plan
        if missing:
            raise ExecutorError(
                f"plan {plan.id} downloads {plan.hf_repo_id}, a gated Hugging Face model, and "
                f"{', '.join(missing)} is not set in this environment; nothing was launched.",
                fix=f"export {missing[0]}=<a token of an account that accepted the terms at "
                f"https://huggingface.co/{plan.hf_repo_id}>, then launch again.",
            )
        if "HF_TOKEN" in names:
            repos = {plan.hf_repo_id}
            if plan.serving is not None and plan.training is None:
                repos.add(plan.serving.served_repo_id or plan.hf_repo_id)
            for repo in sorted(r for r in repos if r):
                self.hub.check(repo, self._env["HF_TOKEN"])

    def _secrets(self, task: dict, key: str | None = None) -> dict[str, str]:
        """Values of the task's secret references: the endpoint's API key (``key``, the
        run's own) and the rest from the launching environment."""
        values = {name: self._env[name] for name in task.get("secrets", {}) if name in self._env}
        if API_KEY_ENV in task.get("secrets", {}):
            assert key is not None, "a service task is given its run's key"
            values[API_KEY_ENV] = key
        return values

    @staticmethod
    def _options(run: Run, ctx: LaunchContext) -> RenderOptions:
        return RenderOptions(
            run_name=run.id,
            data_source=str(ctx.data_path or "train.jsonl"),
            checkpoint_bucket=ctx.extra.get("bucket", bucket_name(run.id)),
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
            name = task["name"]
            ctx.store.add_resource(run.id, "bucket", options.checkpoint_bucket)
            ctx.store.add_resource(run.id, "job", name)
            ids = self.client.launch_job(task, name, self._secrets(task))
            return ctx.store.transition(
                run.id, Phase.TRAINING, _submitted("managed job", name, ids)
            )
        return self._next(run, plan_file, ctx)

    def _next(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        """What follows training: the batch job or the service."""
        if plan_file.plan.batch is not None:
            return self._batch(run, plan_file, ctx)
        return self._serve(run, plan_file, ctx)

    def _batch(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        options = self._options(run, ctx)
        task = render_batch_task(plan_file, options)
        name = task["name"]
        ctx.store.add_resource(run.id, "bucket", options.checkpoint_bucket)
        ctx.store.add_resource(run.id, "job", name)
        ids = self.client.launch_job(task, name, self._secrets(task))
        return ctx.store.transition(run.id, Phase.BATCH, _submitted("batch job", name, ids))

    def _serve(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        task = render_serve_task(plan_file, self._options(run, ctx))
        name = task["name"]
        ctx.store.add_resource(run.id, "service", name)
        key = endpoint_key(ctx.make_run_dir(run.id))
        endpoint = self.client.serve_up(task, name, self._secrets(task, key))
        at = f" at {endpoint}" if endpoint else ""
        return ctx.store.transition(run.id, Phase.SERVING, f"service {name} starting{at}")

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
            return self._poll_service(run, plan_file, ctx, spend)
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
            bucket = ctx.extra.get("bucket", bucket_name(run.id))
            return ctx.store.transition(
                run.id,
                Phase.READY,
                f"batch job succeeded: results in bucket {bucket}, {run.id}/results/",
                spend_usd=spend,
            )
        if spend == run.spend_usd:
            return run
        return ctx.store.transition(run.id, Phase.BATCH, f"batch job {status}", spend_usd=spend)

    def _poll_service(self, run: Run, plan_file: PlanFile, ctx: LaunchContext, spend: float) -> Run:
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
        if status in _SERVICE_FAILED:
            return ctx.store.transition(run.id, Phase.FAILED, f"service {status}", spend_usd=spend)
        serving = plan_file.plan.serving
        if status == "NO_REPLICA" and serving is not None and serving.min_replicas == 0:
            return ctx.store.transition(
                run.id,
                Phase.READY,
                "service scaled to zero: the first request starts a replica (cold start)",
                spend_usd=spend,
                endpoint=endpoint,
            )
        return run

    def logs(self, run: Run, ctx: LaunchContext, *, follow: bool) -> Iterator[str]:
        """The batch job's logs once it is submitted, else the training job's."""
        jobs = {r.name for r in ctx.store.resources(run.id, live_only=False)}
        name = f"{run.id}-batch" if f"{run.id}-batch" in jobs else f"{run.id}-train"
        return self.client.job_logs(name, follow=follow)

    def teardown(self, run: Run, ctx: LaunchContext) -> list[str]:
        """Cancel the job, take the service down, then delete the run's bucket (its
        checkpoints, trained weights and batch results: SkyPilot keeps a MOUNT bucket until
        it is deleted, billing storage each month); record each removal."""
        removed = []
        live = ctx.store.resources(run.id, live_only=True)
        # the bucket last: a job or service that still runs has it mounted
        for resource in sorted(live, key=lambda r: r.kind == "bucket"):
            try:
                if resource.kind == "job":
                    self.client.cancel_job(resource.name)
                elif resource.kind == "service":
                    self.client.serve_down(resource.name)
                elif resource.kind == "bucket" and not self.client.storage_delete(resource.name):
                    ctx.store.mark_deleted(run.id, resource.kind, resource.name)
                    continue  # never created: nothing was removed
            except Exception as exc:  # the cloud boundary: report which resource failed
                raise BackendError(
                    f"could not remove {resource.kind} {resource.name}: {exc}.",
                    fix="check `sky jobs queue` / `sky serve status` / `sky storage ls`, "
                    f"then run `tailor down {run.id}` again.",
                ) from exc
            ctx.store.mark_deleted(run.id, resource.kind, resource.name)
            removed.append(f"{resource.kind} {resource.name}")
        return removed
