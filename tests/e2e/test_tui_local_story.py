"""The `tailor ui` story on this machine, for real: the Textual app with the real planner, a real
run store and the real local backend. Plans → launch the first (a fine-tune) → the runs screen
shows the training log and a falling loss → the endpoint answers /v1/chat/completions → down
(asked first) leaves no process behind.

Needs `make vllm-venv` and `make tiny-model` (the `make e2e` target builds both).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from executor.api_key import API_KEY_FILE
from executor.backends.base import LaunchContext
from executor.backends.local import LocalBackend
from executor.launch import teardown
from executor.state import Phase, RunStore
from tui.app import TailorApp
from tui.screens.confirm import ConfirmScreen
from tui.screens.launch import LaunchScreen
from tui.screens.plans import PlansScreen
from tui.screens.runs import RunsScreen

from .test_local_story import ROOT, TINY, VLLM_STAMP, alive, chat

GOAL = ROOT / "examples" / "goals" / "api-vs-self-hosted-1m.yaml"
DATA = ROOT / "examples" / "data" / "support-chat.jsonl"
MAX_STEPS = 80  # as the CLI story: enough steps for the loss to fall clearly
READY_TIMEOUT_S = 800  # training, then vLLM's first start on a CPU (minutes)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not VLLM_STAMP.exists() or not (TINY / "config.json").exists(),
        reason="needs `make vllm-venv` and `make tiny-model` (run `make e2e`)",
    ),
]


def write_goal(folder: Path) -> Path:
    """The example goal with an absolute ``data.path`` (the example names no data), held to
    the self-hosted model and LoRA as the CLI story is (``lora_goal``)."""
    goal = yaml.safe_load(GOAL.read_text())
    goal["data"]["path"] = str(DATA)
    goal["models"]["methods"] = ["lora"]
    goal["models"]["candidates"] = ["llama-3-8b"]  # the self-hosted fine-tune, not the hosted API
    path = folder / "goal.yaml"
    path.write_text(yaml.safe_dump(goal, sort_keys=False))
    return path


async def until(
    pilot, condition: Callable[[], bool], *, timeout_s: float, pause_s: float = 0.5
) -> float:
    """Let the app run until ``condition()`` holds; return the seconds it took."""
    start = time.monotonic()
    while not condition():
        screen = pilot.app.screen
        shown = getattr(screen, "status", "")
        waited = time.monotonic() - start
        assert waited < timeout_s, f"not met in {timeout_s:.0f} s on {screen}; status: {shown}"
        await pilot.pause(pause_s)
    return time.monotonic() - start


def losses(runs: RunsScreen) -> list[float]:
    return [m.loss for m in runs.metrics if m.loss is not None]


def down_everything(db: Path) -> list[str]:
    """Tear down every run of the store that still holds something (safe to repeat)."""
    store = RunStore(db)
    removed = []
    try:
        ctx = LaunchContext(store=store, runs_dir=db.parent)
        for run in store.list_runs():
            if store.resources(run.id, live_only=True):
                removed += teardown(run, LocalBackend(), ctx)
    finally:
        store.close()
    return removed


async def launch_first_plan(pilot) -> RunsScreen:
    """Plans → l → the confirmation names the local recipe and server → y → runs screen."""
    app = pilot.app
    plans = app.get_screen("plans")
    assert isinstance(plans, PlansScreen)
    await until(pilot, lambda: plans.result is not None, timeout_s=120, pause_s=0.05)
    first = plans.result.plans[0]
    assert first.training is not None and first.serving is not None, first.strategy
    await pilot.press("l")
    await until(pilot, lambda: isinstance(app.screen, LaunchScreen), timeout_s=15, pause_s=0.05)
    text = "\n".join(app.screen.lines)
    assert "training recipe" in text and "vLLM" in text and "nothing is rented" in text, text
    await pilot.press("y")
    runs = app.get_screen("runs")
    assert isinstance(runs, RunsScreen)
    await until(pilot, lambda: app.screen is runs and len(runs.runs) == 1, timeout_s=60)
    return runs


async def watch_until_ready(pilot, runs: RunsScreen, store: RunStore) -> float:
    """Wait for TRAINING, then READY; while training, the log tail and loss curve must fill."""
    seen_training = []

    def ready() -> bool:
        run = runs.runs[0]
        assert run.phase not in (Phase.FAILED, Phase.DOWN), store.events(run.id)[-1].message
        if run.phase is Phase.TRAINING and losses(runs) and runs.log_lines:
            seen_training.append(len(losses(runs)))
        return run.phase is Phase.READY

    start = time.monotonic()
    await until(pilot, lambda: runs.runs[0].phase is Phase.TRAINING, timeout_s=60)
    await until(pilot, ready, timeout_s=READY_TIMEOUT_S)
    assert seen_training, "no loss point or log line shown while the run was training"
    return time.monotonic() - start


async def check_ready(pilot, runs: RunsScreen, store: RunStore) -> tuple[list[float], str]:
    """At READY: every step's loss shown and falling, and the endpoint answers chat (with
    the run's API key, from its folder beside the store)."""
    run = runs.runs[0]
    assert run.endpoint is not None and run.endpoint.startswith("http://127.0.0.1:")
    await until(pilot, lambda: len(losses(runs)) >= MAX_STEPS, timeout_s=10)
    shown = losses(runs)
    first, last = sum(shown[:5]) / 5, sum(shown[-5:]) / 5
    assert last < first - 0.3, shown
    assert any("vLLM" in line or "Uvicorn" in line for line in runs.log_lines), runs.log_lines[-5:]
    key = (store.path.parent / run.id / API_KEY_FILE).read_text().strip()
    assert (await asyncio.to_thread(chat, run.endpoint, None)) == {"status": 401}
    answer = await asyncio.to_thread(chat, run.endpoint, key)
    assert answer["model"] == "tailor"
    assert isinstance(answer["choices"][0]["message"]["content"], str)
    return shown, run.endpoint


async def tear_down(pilot, runs: RunsScreen, store: RunStore) -> None:
    """d → the question → y → DOWN; nothing live in the store and no process left running."""
    run_id = runs.runs[0].id
    await pilot.press("d")
    await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), timeout_s=15)
    await pilot.press("y")
    await until(pilot, lambda: runs.runs[0].phase is Phase.DOWN, timeout_s=120)
    assert "nothing it created is left" in runs.status
    assert store.resources(run_id, live_only=True) == []
    names = [r.name for r in store.resources(run_id)]
    assert sorted(n.split(":")[0] for n in names) == ["serve", "train"]
    for name in names:
        assert not alive(int(name.split(":")[1])), f"{name} still running"


@pytest.mark.asyncio
async def test_ui_plan_launch_train_serve_answer_down(tmp_path: Path) -> None:
    db = tmp_path / "state" / "state.db"
    store = RunStore(db)
    app = TailorApp(
        write_goal(tmp_path),
        store=store,
        backends={"local": LocalBackend()},
        backend_name="local",
        launch_extra={"max_steps": MAX_STEPS, "local_model": str(TINY)},
        poll_s=1.0,
    )
    start = time.monotonic()
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            runs = await launch_first_plan(pilot)
            ready_s = await watch_until_ready(pilot, runs, store)
            shown, endpoint = await check_ready(pilot, runs, store)
            await tear_down(pilot, runs, store)
        print(
            f"\nui story: {len(shown)} steps, loss {shown[0]:.3f} → {shown[-1]:.3f} (mean of "
            f"5: {sum(shown[:5]) / 5:.3f} → {sum(shown[-5:]) / 5:.3f}), READY at {endpoint} "
            f"{ready_s:.0f} s after launch, {time.monotonic() - start:.0f} s in all"
        )
    finally:
        # After a failure a poll worker may still be starting or waiting on a server when the
        # app exits; it notices a stopped server within seconds, so sweep twice.
        if down_everything(db):
            await asyncio.sleep(5)
            down_everything(db)
        store.close()
