"""The SQLite run store: transitions, idempotent lookup, atomicity across a crash."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from executor.errors import ExecutorError
from executor.state import Phase, RunStore, plan_hash

PLAN = {"schema_version": 1, "plan": {"id": "p1", "model": "tiny"}, "goal": {"name": "demo"}}


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    ticks = iter(range(1_000, 2_000))
    store = RunStore(tmp_path / "state.db", clock=lambda: float(next(ticks)))
    yield store
    store.close()


def test_transitions_are_recorded_in_order(store: RunStore) -> None:
    store.create_run(
        "demo-p1", plan_json=PLAN, backend="local", goal_name="demo", cost_ceiling_usd=12.5
    )
    store.transition("demo-p1", Phase.TRAINING, "training started", spend_usd=0.1)
    run = store.transition(
        "demo-p1", Phase.READY, "endpoint up", spend_usd=0.4, endpoint="http://127.0.0.1:8000"
    )
    assert run.phase is Phase.READY and run.endpoint == "http://127.0.0.1:8000"
    assert [e.phase for e in store.events("demo-p1")] == [
        Phase.PENDING,
        Phase.TRAINING,
        Phase.READY,
    ]
    assert [e.spend_usd for e in store.events("demo-p1")] == [0.0, 0.1, 0.4]
    assert store.get("demo-p1").updated_at > store.get("demo-p1").created_at


def test_same_plan_finds_the_live_run(store: RunStore) -> None:
    digest = plan_hash(PLAN)
    assert plan_hash(dict(reversed(list(PLAN.items())))) == digest  # key order does not matter
    assert store.find_live(digest, "local") is None
    store.create_run(
        "demo-p1", plan_json=PLAN, backend="local", goal_name="demo", cost_ceiling_usd=1
    )
    assert store.find_live(digest, "local").id == "demo-p1"
    assert store.find_live(digest, "sky") is None
    store.transition("demo-p1", Phase.DOWN, "torn down")
    assert store.find_live(digest, "local") is None


def test_resources_track_teardown(store: RunStore) -> None:
    store.create_run("r", plan_json=PLAN, backend="local", goal_name="demo", cost_ceiling_usd=1)
    store.add_resource("r", "process", "4242")
    store.add_resource("r", "process", "4242")  # idempotent
    assert [r.name for r in store.resources("r", live_only=True)] == ["4242"]
    store.mark_deleted("r", "process", "4242")
    assert store.resources("r", live_only=True) == []
    assert store.resources("r")[0].deleted_at is not None


def test_unknown_run_names_the_fix(store: RunStore) -> None:
    with pytest.raises(ExecutorError, match="To fix:"):
        store.get("nope")


CRASH = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from executor.state import Phase, RunStore
    store = RunStore(Path(sys.argv[1]))
    def die_after_event_insert(statement):
        if statement.startswith("UPDATE runs"):
            os._exit(9)  # the process dies between the two writes of one transition
    store.connection.set_trace_callback(die_after_event_insert)
    store.transition("r", Phase.TRAINING, "about to crash", spend_usd=5.0)
""")


def test_crash_between_writes_leaves_the_store_consistent(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = RunStore(path)
    store.create_run("r", plan_json=PLAN, backend="local", goal_name="demo", cost_ceiling_usd=9)
    store.close()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, "-c", CRASH, str(path)], env=env, check=False)
    assert proc.returncode == 9
    reopened = RunStore(path)
    run = reopened.get("r")
    assert run.phase is Phase.PENDING and run.spend_usd == 0.0  # the update never happened
    assert [e.message for e in reopened.events("r")] == ["launch approved up to $9.00"]
    reopened.close()


def test_local_logs_follow_prints_new_lines_until_the_run_is_down(tmp_path: Path) -> None:
    import threading
    import time

    from executor.backends.base import LaunchContext
    from executor.backends.local import LocalBackend

    store = RunStore(tmp_path / "state.db")
    run = store.create_run(
        "r", plan_json=PLAN, backend="local", goal_name="demo", cost_ceiling_usd=0
    )
    store.transition("r", Phase.TRAINING, "started")
    ctx = LaunchContext(store=store, runs_dir=tmp_path)
    (tmp_path / "r").mkdir()
    log = tmp_path / "r" / "train.log"
    log.write_text("step 1 loss 6.5\n")

    def later() -> None:
        time.sleep(1.0)
        with log.open("a") as handle:
            handle.write("step 2 loss 6.1\nstep 3 lo")  # the partial line waits for its end
        time.sleep(1.0)
        with log.open("a") as handle:
            handle.write("ss 5.9\n")
        time.sleep(1.0)
        writer = RunStore(tmp_path / "state.db")
        writer.transition("r", Phase.DOWN, "torn down")
        writer.close()

    thread = threading.Thread(target=later)
    thread.start()
    lines = list(LocalBackend().logs(run, ctx, follow=True))
    thread.join()
    store.close()
    assert lines == ["step 1 loss 6.5", "step 2 loss 6.1", "step 3 loss 5.9"]
