"""The run store and launch under faults and races (issue 10, points 1, 2, 3, 7, 11).

Each test reproduces a failure of the store as it was before: relaunch after `down` hit the
runs.id primary key, runs stayed pending/training for ever with nothing alive, concurrent
launches crashed or waited on a stale copy, a failed run exited 0, and the state followed the
umask. The backends here are test doubles of the Backend protocol (no cloud is involved); the
store, the launch logic and the processes are real.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from executor.backends.base import LaunchContext
from executor.backends.local import LocalBackend
from executor.errors import ExecutorError
from executor.launch import launch, launch_context, teardown, wait
from executor.processes import identity
from executor.state import Phase, Run, RunStore, current_launcher
from planner.plan import PlanFile, load_plan_file
from tests.executor.test_sky_backend import FakeSky, sky_backend
from tui.cli import cli

REPO = Path(__file__).resolve().parents[2]
PLANS = REPO / "tests" / "data" / "plans"


class Recording:
    """A Backend double: start records one process resource and enters training."""

    name = "local"

    def __init__(self, *, start_delay_s: float = 0.0) -> None:
        self.starts = 0
        self.start_delay_s = start_delay_s

    def check(self, plan_file: PlanFile, ctx: LaunchContext, *, trained: bool = False) -> None:
        return None  # the double needs no secret

    def start(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        self.starts += 1
        time.sleep(self.start_delay_s)
        ctx.store.add_resource(run.id, "process", f"train:{os.getpid()}")
        return ctx.store.transition(run.id, Phase.TRAINING, "double: training")

    def poll(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        return run

    def logs(self, run: Run, ctx: LaunchContext, *, follow: bool) -> Iterator[str]:
        return iter(())

    def teardown(self, run: Run, ctx: LaunchContext) -> list[str]:
        removed = []
        for resource in ctx.store.resources(run.id, live_only=True):
            ctx.store.mark_deleted(run.id, resource.kind, resource.name)
            removed.append(f"{resource.kind} {resource.name}")
        return removed


@pytest.fixture
def plan_file() -> PlanFile:
    return load_plan_file(PLANS / "financial-p1.json")


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[LaunchContext]:
    store = RunStore(tmp_path / "state" / "state.db")
    data = tmp_path / "train.jsonl"
    data.write_bytes((REPO / "examples" / "data" / "support-chat.jsonl").read_bytes())
    yield launch_context(store, data_path=data)
    store.close()


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


# --- 1. relaunch after down ------------------------------------------------------------------


def test_launch_after_down_makes_a_new_run_and_keeps_the_old_history(
    plan_file: PlanFile, ctx: LaunchContext
) -> None:
    backend = sky_backend(FakeSky())
    first, started = launch(plan_file, backend, ctx)
    assert started
    teardown(first, backend, ctx)
    second, started = launch(plan_file, backend, ctx)
    assert started and second.id == f"{first.id}-2" and second.phase is Phase.TRAINING
    third_attempt, started = launch(plan_file, backend, ctx)  # the live one is re-attached
    assert not started and third_attempt.id == second.id
    assert ctx.store.get(first.id).phase is Phase.DOWN
    assert [e.phase for e in ctx.store.events(first.id)][-1] is Phase.DOWN
    assert [r.id for r in ctx.store.list_runs()] == [second.id, first.id]


def test_create_or_find_refuses_an_id_that_would_leave_the_state_dir(ctx: LaunchContext) -> None:
    with pytest.raises(ExecutorError, match=r"not a safe name.*To fix:"):
        ctx.store.create_or_find(
            "../outside", plan_json={}, backend="local", goal_name="g", cost_ceiling_usd=0
        )


# --- 2. stuck runs ---------------------------------------------------------------------------

KILLED_AFTER_ROW = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from executor.launch import launch, launch_context
    from executor.state import RunStore
    from planner.plan import load_plan_file

    class DiesInStart:
        name = "local"
        def check(self, plan_file, ctx, *, trained=False):
            return None
        def start(self, run, plan_file, ctx):
            os._exit(9)  # kill -9 right after the run row is written

    store = RunStore(Path(sys.argv[1]))
    launch(load_plan_file(Path(sys.argv[2])), DiesInStart(), launch_context(store))
""")


def test_a_run_whose_launcher_was_killed_is_resumed_not_waited_on(
    plan_file: PlanFile, ctx: LaunchContext
) -> None:
    crash = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_AFTER_ROW,
            str(ctx.store.path),
            str(PLANS / "financial-p1.json"),
        ],
        env=_env(),
        check=False,
    )
    assert crash.returncode == 9
    [stuck] = ctx.store.list_runs()
    assert stuck.phase is Phase.PENDING  # what the killed launch left
    backend = Recording()
    run, started = launch(plan_file, backend, ctx)
    assert not started and run.id == stuck.id and run.phase is Phase.TRAINING
    assert backend.starts == 1
    messages = [e.message for e in ctx.store.events(run.id)]
    assert any("ended before the run started" in m for m in messages), messages
    assert any(m.startswith("relaunched: resuming") for m in messages), messages


def _trained_local_run(ctx: LaunchContext, plan_file: PlanFile) -> Run:
    """A local run whose training process has exited after writing DONE."""
    run, _ = ctx.store.create_or_find(
        "demo-p1-local-abc123",
        plan_json=plan_file.model_dump(mode="json"),
        backend="local",
        goal_name="demo",
        cost_ceiling_usd=0,
        launcher=current_launcher(),
    )
    finished = subprocess.Popen(["sleep", "0.2"], start_new_session=True)
    name = f"train:{identity(finished.pid)}"
    finished.wait()
    ctx.store.add_resource(run.id, "process", name)
    ctx.store.transition(run.id, Phase.TRAINING, "training recipe started")
    done = ctx.make_run_dir(run.id) / "train" / "DONE"
    done.parent.mkdir()
    done.write_text(json.dumps({"final_step": 3, "train_loss": 1.5, "seconds": 2}))
    return ctx.store.get(run.id)


def _fake_vllm(tmp_path: Path, *, starts: bool) -> Path:
    """An interpreter stand-in for the vLLM venv: fails at once, or stays up doing nothing."""
    script = tmp_path / ("vllm-sleeps" if starts else "vllm-missing")
    script.write_text("#!/bin/sh\nexec sleep 60\n" if starts else "#!/bin/sh\nexit 3\n")
    script.chmod(0o755)
    return script


def test_serving_that_cannot_start_after_training_fails_the_run_with_the_reason(
    plan_file: PlanFile, ctx: LaunchContext, tmp_path: Path
) -> None:
    run = _trained_local_run(ctx, plan_file)
    ctx.extra["vllm_python"] = str(tmp_path / "no-such-python")
    run = LocalBackend().poll(run, plan_file, ctx)
    assert run.phase is Phase.FAILED
    assert "serving did not start" in ctx.store.events(run.id)[-1].message
    assert ctx.store.get(run.id).trained


def test_a_failed_run_resumes_at_serving_once_training_finished(
    plan_file: PlanFile, ctx: LaunchContext, tmp_path: Path
) -> None:
    run = _trained_local_run(ctx, plan_file)
    ctx.extra["vllm_python"] = str(tmp_path / "no-such-python")
    assert LocalBackend().poll(run, plan_file, ctx).phase is Phase.FAILED
    ctx.extra["vllm_python"] = str(_fake_vllm(tmp_path, starts=True))
    backend = LocalBackend()
    try:
        resumed, started = launch(plan_file, backend, ctx)
        assert not started and resumed.id == run.id and resumed.phase is Phase.SERVING
        kinds = [r.name.split(":")[0] for r in ctx.store.resources(run.id, live_only=True)]
        assert kinds == ["serve"]  # training was not run again
        assert "resuming from serving" in ctx.store.events(run.id)[-2].message
    finally:
        teardown(ctx.store.get(run.id), backend, ctx)
    assert ctx.store.resources(run.id, live_only=True) == []


def test_a_training_run_with_no_process_left_is_failed_not_polled_for_ever(
    plan_file: PlanFile, ctx: LaunchContext
) -> None:
    run, _ = ctx.store.create_or_find(
        "demo-p1-local-abc123",
        plan_json=plan_file.model_dump(mode="json"),
        backend="local",
        goal_name="demo",
        cost_ceiling_usd=0,
    )
    run = ctx.store.transition(run.id, Phase.TRAINING, "training started")  # nothing recorded
    run = LocalBackend().poll(run, plan_file, ctx)
    assert run.phase is Phase.FAILED
    assert "no training process is recorded" in ctx.store.events(run.id)[-1].message


def test_a_managed_job_skypilot_no_longer_knows_fails_the_run(
    plan_file: PlanFile, ctx: LaunchContext
) -> None:
    fake = FakeSky()
    backend = sky_backend(fake)
    run, _ = launch(plan_file, backend, ctx)
    fake.jobs.clear()  # cancelled outside tailor: `sky jobs queue` has no such job
    run = backend.poll(run, plan_file, ctx)
    assert run.phase is Phase.FAILED
    assert "has no managed job" in ctx.store.events(run.id)[-1].message


def test_a_pid_reused_by_another_process_is_neither_waited_on_nor_stopped(
    plan_file: PlanFile, ctx: LaunchContext
) -> None:
    bystander = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        run, _ = ctx.store.create_or_find(
            "demo-p1-local-abc123",
            plan_json=plan_file.model_dump(mode="json"),
            backend="local",
            goal_name="demo",
            cost_ceiling_usd=0,
        )
        # recorded with another start time: the pid now names someone else's process
        ctx.store.add_resource(run.id, "process", f"train:{bystander.pid}:1")
        run = ctx.store.transition(run.id, Phase.TRAINING, "training started")
        assert LocalBackend().poll(run, plan_file, ctx).phase is Phase.FAILED
        teardown(ctx.store.get(run.id), LocalBackend(), ctx)
        assert bystander.poll() is None  # still running: not ours to stop
    finally:
        bystander.kill()
        bystander.wait()


# --- 3. races --------------------------------------------------------------------------------

RACER = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from executor.launch import launch, launch_context
    from executor.state import Phase, RunStore
    from planner.plan import load_plan_file

    class Slow:
        name = "local"
        def check(self, plan_file, ctx, *, trained=False):
            return None
        def start(self, run, plan_file, ctx):
            time.sleep(0.5)
            ctx.store.add_resource(run.id, "process", f"train:{os.getpid()}")
            return ctx.store.transition(run.id, Phase.TRAINING, "racer: training")
        def poll(self, run, plan_file, ctx):
            return run

    state, plan, go = Path(sys.argv[1]), load_plan_file(Path(sys.argv[2])), Path(sys.argv[3])
    Path(f"{go}.ready-{os.getpid()}").touch()
    while not go.exists():
        time.sleep(0.001)
    store = RunStore(state)  # all racers open a new database at once
    run, started = launch(plan, Slow(), launch_context(store))
    print(json.dumps({"id": run.id, "started": started, "phase": run.phase.value}))
""")


def test_concurrent_launches_of_one_plan_keep_one_run_and_every_loser_reattaches(
    tmp_path: Path,
) -> None:
    state, go = tmp_path / "state" / "state.db", tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(state), str(PLANS / "financial-p1.json"), str(go)],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.ready-*"))) < len(racers):  # all imported, all spinning
        assert time.monotonic() < deadline, "racers did not start"
        time.sleep(0.05)
    go.touch()
    results = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(r["started"] for r in results) == 1
    assert len({r["id"] for r in results}) == 1
    store = RunStore(state)
    try:
        [run] = store.list_runs()
        assert len(store.resources(run.id)) == 1  # provisioned once
    finally:
        store.close()


def test_wait_follows_a_run_another_process_moves(plan_file: PlanFile, ctx: LaunchContext) -> None:
    run, _ = ctx.store.create_or_find(
        "demo-p1-local-abc123",
        plan_json=plan_file.model_dump(mode="json"),
        backend="local",
        goal_name="demo",
        cost_ceiling_usd=0,
        launcher=current_launcher(),  # the winner is alive and still starting it
    )

    def winner() -> None:
        time.sleep(0.5)
        other = RunStore(ctx.store.path)
        other.transition(run.id, Phase.TRAINING, "winner: training")
        other.transition(run.id, Phase.READY, "winner: ready", endpoint="http://127.0.0.1:1")
        other.close()

    thread = threading.Thread(target=winner)
    thread.start()
    done = wait(run, plan_file, Recording(), ctx, timeout_s=10, poll_s=0.1)  # a stale copy
    thread.join()
    assert done.phase is Phase.READY and done.endpoint == "http://127.0.0.1:1"


def test_a_failed_run_is_resumed_by_one_relauncher_only(
    plan_file: PlanFile, ctx: LaunchContext
) -> None:
    backend = Recording(start_delay_s=0.3)
    run, _ = launch(plan_file, backend, ctx)
    backend.teardown(run, ctx)
    ctx.store.transition(run.id, Phase.FAILED, "training failed")
    results: list[tuple[Run, bool]] = []

    def relaunch_elsewhere() -> None:
        other = RunStore(ctx.store.path)  # another process's connection
        results.append(launch(plan_file, backend, launch_context(other)))
        other.close()

    thread = threading.Thread(target=relaunch_elsewhere)
    thread.start()
    results.append(launch(plan_file, backend, ctx))
    thread.join()
    assert backend.starts == 2  # the first launch, then exactly one resume
    assert {r.id for r, _ in results} == {run.id}


# --- 7. exit codes ---------------------------------------------------------------------------


def test_launch_exits_non_zero_with_the_reason_when_the_run_fails(tmp_path: Path) -> None:
    plan_path, runner = tmp_path / "plan.json", CliRunner()
    import yaml

    source = REPO / "examples" / "goals" / "api-vs-self-hosted-1m.yaml"
    spec = yaml.safe_load(source.read_text(encoding="utf-8"))
    spec["models"]["candidates"] = ["llama-3-8b"]  # a plan that trains, not the hosted API
    goal = tmp_path / "goal.yaml"
    goal.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    planned = runner.invoke(cli, ["plan", str(goal), "--out", str(plan_path)])
    assert planned.exit_code == 0, planned.output
    assert json.loads(plan_path.read_text())["plan"]["training"] is not None
    empty_model = tmp_path / "empty-model"
    empty_model.mkdir()  # no config.json: the recipe fails to load it
    outcome = runner.invoke(
        cli,
        [
            "launch",
            str(plan_path),
            "--backend",
            "local",
            "--yes",
            "--data",
            str(REPO / "examples" / "data" / "support-chat.jsonl"),
            "--local-model",
            str(empty_model),
            "--state-dir",
            str(tmp_path / "state"),
            "--timeout",
            "300",
        ],
    )
    assert outcome.exit_code == 1, outcome.output
    assert "failed: training failed" in outcome.output and "To fix:" in outcome.output
    assert isinstance(outcome.exception, SystemExit)  # no traceback


# --- 11. permissions -------------------------------------------------------------------------


def test_state_dir_db_and_run_folders_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)  # nothing masked: every mode is tailor's own
    try:
        store = RunStore(tmp_path / "runs" / "state.db")
        ctx = launch_context(store)
        run_dir = ctx.make_run_dir("r1")
    finally:
        os.umask(old)
    try:
        store.create_run("r1", plan_json={}, backend="local", goal_name="g", cost_ceiling_usd=0)
        modes = {
            p.name: stat.S_IMODE(p.stat().st_mode)
            for p in (tmp_path / "runs", *sorted((tmp_path / "runs").glob("state.db*")), run_dir)
        }
    finally:
        store.close()
    assert modes.pop("runs") == 0o700 and modes.pop("r1") == 0o700
    assert modes and set(modes.values()) == {0o600}, modes  # state.db, -wal, -shm


# --- 8. the data is checked before anything is created ---------------------------------------


def test_launch_refuses_bad_training_data_before_recording_or_renting_anything(
    plan_file: PlanFile, ctx: LaunchContext, tmp_path: Path
) -> None:
    data = tmp_path / "train.jsonl"
    good = json.dumps(
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    )
    data.write_text(good + "\n" + '{"messages": [' * 5000 + "\n" + good + "\n")
    fake = FakeSky()
    with pytest.raises(ExecutorError, match=rf"(?s){data}:2: nested.*To fix:"):
        launch(plan_file, sky_backend(fake), ctx)
    assert fake.calls == [] and ctx.store.list_runs() == []


def test_an_existing_state_dir_from_an_older_tailor_is_made_private(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    RunStore(folder / "state.db").close()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_poller_that_saw_the_run_before_down_cannot_bring_it_back(
    plan_file: PlanFile, ctx: LaunchContext
) -> None:
    backend = Recording()
    run, _ = launch(plan_file, backend, ctx)
    teardown(run, backend, ctx)  # `tailor down` in another terminal
    late = ctx.store.transition(run.id, Phase.FAILED, "poller: vLLM exited")  # the stale poller
    assert late.phase is Phase.DOWN and ctx.store.events(run.id)[-1].phase is Phase.DOWN
    again, started = launch(plan_file, backend, ctx)
    assert started and again.id == f"{run.id}-2"


def test_only_one_poller_hands_a_finished_training_over_to_serving(
    plan_file: PlanFile, ctx: LaunchContext, tmp_path: Path
) -> None:
    run = _trained_local_run(ctx, plan_file)
    ctx.extra["vllm_python"] = str(_fake_vllm(tmp_path, starts=True))
    backend = LocalBackend()
    try:
        first = backend.poll(run, plan_file, ctx)  # a stale copy, as a second poller has
        second = backend.poll(run, plan_file, ctx)
        assert first.phase is Phase.SERVING and second.phase is Phase.SERVING
        serving = [r for r in ctx.store.resources(run.id) if r.name.startswith("serve:")]
        assert len(serving) == 1  # one vLLM, not two
    finally:
        teardown(ctx.store.get(run.id), backend, ctx)


def test_relaunching_a_run_stuck_in_stopping_says_so_at_once(
    plan_file: PlanFile, ctx: LaunchContext
) -> None:
    backend = Recording()
    run, _ = launch(plan_file, backend, ctx)
    ctx.store.transition(run.id, Phase.STOPPING, "teardown requested")  # down did not finish
    with pytest.raises(ExecutorError, match=r"being torn down.*To fix: run `tailor down"):
        launch(plan_file, backend, ctx)
