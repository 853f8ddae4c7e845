"""Launch flow through the SkyPilot backend with an injected fake at the cloud boundary."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from executor.backends.base import LaunchContext
from executor.backends.sky import SkyBackend
from executor.errors import ExecutorError
from executor.launch import cost_ceiling_usd, launch, preview
from executor.render import bucket_name
from executor.state import Phase, RunStore
from planner.plan import PlanFile, load_plan_file

PLANS = Path(__file__).resolve().parents[1] / "data" / "plans"


class FakeSky:
    """The SkyPilot SDK boundary as SkyPilot behaves at it (0.14.1, read from its source): the
    task dict is parsed by SkyPilot's own ``Task.from_yaml_config`` (which empties it), secret
    references need values (sky.execution's "No value available for secret(s)"), launches
    answer job ids and ``serve up`` an endpoint. Job and service statuses are set by the test."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.jobs: dict[str, str] = {}
        self.services: dict[str, tuple[str, str | None]] = {}
        self.secrets: dict[str, dict[str, str]] = {}
        self.storages: set[str] = set()
        self._next_id = 1

    def _parse(self, task: dict, name: str, secrets: dict[str, str]):
        sky = pytest.importorskip("sky")
        task_mounts = copy.deepcopy(task.get("file_mounts"))  # the parser empties the dict
        parsed = sky.Task.from_yaml_config(task, secrets_overrides=sorted(secrets.items()) or None)
        unresolved = sorted({ref.name for ref in parsed.managed_secret_refs})
        if unresolved:
            raise ValueError(f"No value available for secret(s): {', '.join(unresolved)}.")
        self.secrets[name] = dict(secrets)
        # SkyPilot creates a MOUNT storage when it syncs the task's file mounts (kept after)
        self.storages.update(
            spec["name"]
            for spec in (task_mounts or {}).values()
            if isinstance(spec, dict) and spec.get("name")
        )
        return parsed

    def launch_job(self, task: dict, name: str, secrets: dict[str, str]) -> list[int]:
        parsed = self._parse(task, name, secrets)
        assert parsed.name == name and len(parsed.resources) >= 1
        self.calls.append(("launch_job", name))
        self.jobs[name] = "PENDING"
        self._next_id += 1
        return [self._next_id - 1]

    def job_status(self, name: str) -> str | None:
        return self.jobs.get(name)

    def cancel_job(self, name: str) -> None:
        self.calls.append(("cancel_job", name))
        self.jobs[name] = "CANCELLED"

    def job_logs(self, name: str, *, follow: bool) -> Iterator[str]:
        yield f"log of {name}"

    def serve_up(self, task: dict, service: str, secrets: dict[str, str]) -> str | None:
        parsed = self._parse(task, service, secrets)
        assert parsed.service is not None and parsed.service.readiness_path == "/health"
        self.calls.append(("serve_up", service))
        self.services[service] = ("CONTROLLER_INIT", None)
        return "203.0.113.7:30001"

    def service_status(self, service: str) -> tuple[str | None, str | None]:
        return self.services.get(service, (None, None))

    def serve_down(self, service: str) -> None:
        self.calls.append(("serve_down", service))
        self.services.pop(service, None)

    def storage_delete(self, name: str) -> bool:
        """As SkyPilot's storage_ls + storage_delete: False for a storage it never made."""
        self.calls.append(("storage_delete", name))
        if name not in self.storages:
            return False
        self.storages.discard(name)
        return True


class GrantsAll:
    """HubAccess double (the Hub is a network boundary): every token reads every repo."""

    def __init__(self) -> None:
        self.checked: list[str] = []

    def check(self, repo_id: str, token: str) -> None:
        self.checked.append(repo_id)


def sky_backend(fake: FakeSky, **kwargs) -> SkyBackend:
    """The backend with the fake SDK, an HF_TOKEN in its environment and a granting Hub."""
    kwargs.setdefault("env", {"HF_TOKEN": "hf_test_token"})
    kwargs.setdefault("hub", GrantsAll())
    return SkyBackend(fake, **kwargs)


@pytest.fixture
def plan_file() -> PlanFile:
    return load_plan_file(PLANS / "financial-p1.json")


@pytest.fixture
def ctx(tmp_path: Path) -> LaunchContext:
    store = RunStore(tmp_path / "state.db")
    data = tmp_path / "d.jsonl"
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    data.write_text(json.dumps({"messages": turns}) + "\n")
    yield LaunchContext(store=store, runs_dir=tmp_path / "runs", data_path=data)
    store.close()


def test_full_story_train_then_serve_then_down(plan_file: PlanFile, ctx: LaunchContext) -> None:
    fake = FakeSky()
    clock = iter([1e9 + 3600 * k for k in range(100)])
    backend = sky_backend(fake, clock=lambda: next(clock))
    run, started = launch(plan_file, backend, ctx)
    assert started and run.phase is Phase.TRAINING
    job = f"{run.id}-train"
    assert fake.calls == [("launch_job", job)]
    fake.jobs[job] = "RUNNING"
    run = backend.poll(run, plan_file, ctx)
    assert run.phase is Phase.TRAINING
    fake.jobs[job] = "SUCCEEDED"
    run = backend.poll(run, plan_file, ctx)
    assert run.phase is Phase.SERVING and ("serve_up", f"{run.id}-serve") in fake.calls
    fake.services[f"{run.id}-serve"] = ("READY", "http://34.1.2.3:30001")
    run = backend.poll(run, plan_file, ctx)
    assert run.phase is Phase.READY and run.endpoint == "http://34.1.2.3:30001"
    assert [e.phase for e in ctx.store.events(run.id)][:2] == [Phase.PENDING, Phase.TRAINING]
    assert ctx.store.get(run.id).trained  # a relaunch would resume at serving
    removed = backend.teardown(run, ctx)
    # the succeeded managed job released its cluster when it ended: the service is left, and
    # the bucket training wrote (deleted after the service that mounts it)
    bucket = bucket_name(run.id)
    assert removed == [f"service {run.id}-serve", f"bucket {bucket}"]
    assert ("cancel_job", job) not in fake.calls and fake.storages == set()
    assert ctx.store.resources(run.id, live_only=True) == []


def test_down_of_a_run_whose_bucket_was_never_made_removes_nothing_more(
    plan_file: PlanFile, ctx: LaunchContext
) -> None:
    fake = FakeSky()
    backend = sky_backend(fake)
    run, _ = launch(plan_file, backend, ctx)
    fake.storages.clear()  # the job failed before SkyPilot synced its mounts
    assert backend.teardown(run, ctx) == [f"job {run.id}-train"]
    assert ("storage_delete", bucket_name(run.id)) in fake.calls
    assert ctx.store.resources(run.id, live_only=True) == []


def test_launching_the_same_plan_again_reattaches(plan_file: PlanFile, ctx: LaunchContext) -> None:
    fake = FakeSky()
    backend = sky_backend(fake)
    first, started = launch(plan_file, backend, ctx)
    again, started_again = launch(plan_file, backend, ctx)
    assert started and not started_again and again.id == first.id
    assert [c for c in fake.calls if c[0] == "launch_job"] == [("launch_job", f"{first.id}-train")]


def test_over_budget_plan_is_refused_before_anything_is_created(
    plan_file: PlanFile, ctx: LaunchContext
) -> None:
    goal = plan_file.goal.model_copy(
        update={
            "budget": plan_file.goal.budget.model_copy(
                update={"monthly_usd": plan_file.plan.monthly_usd / 2}
            )
        }
    )
    fake = FakeSky()
    with pytest.raises(ExecutorError, match=r"budget\.monthly_usd.*To fix:"):
        launch(plan_file.model_copy(update={"goal": goal}), sky_backend(fake), ctx)
    assert fake.calls == [] and ctx.store.list_runs() == []


def test_failed_job_is_recorded(plan_file: PlanFile, ctx: LaunchContext) -> None:
    fake = FakeSky()
    backend = sky_backend(fake)
    run, _ = launch(plan_file, backend, ctx)
    fake.jobs[f"{run.id}-train"] = "FAILED_NO_RESOURCE"
    assert backend.poll(run, plan_file, ctx).phase is Phase.FAILED


def test_preview_lists_resources_and_ceiling(plan_file: PlanFile) -> None:
    shown = preview(plan_file, "sky")
    assert len(shown.creates) == 2 and "training job" in shown.creates[0]
    t = plan_file.plan.training
    assert shown.cost_ceiling_usd == pytest.approx(cost_ceiling_usd(plan_file))
    assert shown.cost_ceiling_usd >= t.cost_usd_high + plan_file.plan.serving.monthly_usd - 1e-9
    assert shown.max_training_hours == pytest.approx(t.hours_high * 1.5)


def test_relaunch_after_failure_resubmits_the_job(plan_file: PlanFile, ctx: LaunchContext) -> None:
    fake = FakeSky()
    backend = sky_backend(fake)
    run, _ = launch(plan_file, backend, ctx)
    fake.jobs[f"{run.id}-train"] = "FAILED"
    assert backend.poll(run, plan_file, ctx).phase is Phase.FAILED
    ctx.store.mark_deleted(run.id, "job", f"{run.id}-train")  # the failed job holds nothing
    again, started = launch(plan_file, backend, ctx)
    assert not started and again.id == run.id and again.phase is Phase.TRAINING
    assert [c for c in fake.calls if c[0] == "launch_job"] == [
        ("launch_job", f"{run.id}-train")
    ] * 2
    assert "relaunched" in ctx.store.events(run.id)[-2].message


def test_a_gated_model_without_hf_token_is_refused_before_anything_is_created(
    plan_file: PlanFile, ctx: LaunchContext
) -> None:
    assert plan_file.plan.hf_gated
    fake = FakeSky()
    with pytest.raises(ExecutorError, match=r"gated.*HF_TOKEN is not set.*To fix: export HF_TOKEN"):
        launch(plan_file, sky_backend(fake, env={}), ctx)
    assert fake.calls == [] and ctx.store.list_runs() == []


def test_secret_values_reach_skypilot_and_the_job_id_is_kept(
    plan_file: PlanFile, ctx: LaunchContext
) -> None:
    fake, hub = FakeSky(), GrantsAll()
    run, _ = launch(plan_file, sky_backend(fake, hub=hub), ctx)
    job = f"{run.id}-train"
    # SkyPilot's own parser took the task (and emptied the dict); the reference got its value
    assert fake.secrets[job] == {"HF_TOKEN": "hf_test_token"}
    assert hub.checked == [plan_file.plan.hf_repo_id]  # access asked before renting
    assert "SkyPilot job id 1" in ctx.store.events(run.id)[-1].message


def test_the_service_gets_the_runs_private_api_key(plan_file: PlanFile, ctx: LaunchContext) -> None:
    import stat

    from executor.api_key import endpoint_key

    fake = FakeSky()
    backend = sky_backend(fake)
    run, _ = launch(plan_file, backend, ctx)
    fake.jobs[f"{run.id}-train"] = "SUCCEEDED"
    run = backend.poll(run, plan_file, ctx)
    service = f"{run.id}-serve"
    key_file = ctx.run_dir(run.id) / "api-key"
    key = key_file.read_text().strip()
    assert len(key) >= 40 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # SkyPilot resolved the VLLM_API_KEY reference with the run's key; no HF_TOKEN: the
    # service reads the merged weights training wrote, not the gated repository
    assert fake.secrets[service] == {"VLLM_API_KEY": key}
    assert endpoint_key(ctx.run_dir(run.id)) == key  # a later serve start reuses it


def test_a_null_secret_reference_fails_as_skypilot_fails_it(plan_file: PlanFile) -> None:
    from executor.render import RenderOptions, render_train_task

    task = render_train_task(
        plan_file, RenderOptions("r", "d.jsonl", "bucket-r", "executor/recipes")
    )
    with pytest.raises(ValueError, match="No value available for secret"):
        FakeSky().launch_job(task, task["name"], {})


def test_service_statuses_skyserve_reports(plan_file: PlanFile, ctx: LaunchContext) -> None:
    fake = FakeSky()
    backend = sky_backend(fake)
    run, _ = launch(plan_file, backend, ctx)
    fake.jobs[f"{run.id}-train"] = "SUCCEEDED"
    run = backend.poll(run, plan_file, ctx)
    assert run.phase is Phase.SERVING
    assert "at 203.0.113.7:30001" in ctx.store.events(run.id)[-1].message
    service = f"{run.id}-serve"
    fake.services[service] = ("NO_REPLICA", None)  # min_replicas ≥ 1: still coming up
    assert plan_file.plan.serving.min_replicas >= 1
    assert backend.poll(run, plan_file, ctx).phase is Phase.SERVING
    fake.services[service] = ("CONTROLLER_FAILED", None)
    assert backend.poll(run, plan_file, ctx).phase is Phase.FAILED


def test_a_scaled_to_zero_service_is_ready(plan_file: PlanFile, ctx: LaunchContext) -> None:
    serving = plan_file.plan.serving.model_copy(update={"min_replicas": 0})
    sparse = plan_file.model_copy(
        update={"plan": plan_file.plan.model_copy(update={"serving": serving})}
    )
    fake = FakeSky()
    backend = sky_backend(fake)
    run = ctx.store.create_run(
        "r0", plan_json={"p": 0}, backend="sky", goal_name="g", cost_ceiling_usd=1
    )
    ctx.store.transition(run.id, Phase.SERVING, "service r0-serve starting")
    fake.services["r0-serve"] = ("NO_REPLICA", "203.0.113.7:30001")
    polled = backend.poll(ctx.store.get("r0"), sparse, ctx)
    assert polled.phase is Phase.READY and polled.endpoint == "203.0.113.7:30001"
    assert "scaled to zero" in ctx.store.events("r0")[-1].message
