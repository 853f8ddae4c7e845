"""The whole story on this machine, for real: plan → launch (local) → training loss falls →
the endpoint answers /v1/chat/completions with the fine-tuned model → down leaves nothing.

Needs `make vllm-venv` and `make tiny-model` (the `make e2e` target builds both).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from executor.state import RunStore

ROOT = Path(__file__).resolve().parents[2]
VLLM_STAMP = ROOT / ".venv-vllm" / ".installed-vllm"
TINY = ROOT / ".cache" / "tiny-llama"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not VLLM_STAMP.exists() or not (TINY / "config.json").exists(),
        reason="needs `make vllm-venv` and `make tiny-model` (run `make e2e`)",
    ),
]


def tailor(*args: str, home: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "TAILOR_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text().lower()


def resources(state: Path, run_id: str) -> list[str]:
    store = RunStore(state / "state.db")
    try:
        return [r.name for r in store.resources(run_id)]
    finally:
        store.close()


def chat(endpoint: str, key: str | None) -> dict:
    """POST one chat request; ``key`` goes in the Authorization header (None: no header).
    A refusal comes back as ``{"status": code}``."""
    body = {
        "model": "tailor",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "My order is late"}],
    }
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(
        f"{endpoint}/v1/chat/completions",
        method="POST",
        headers=headers,
        data=json.dumps(body).encode(),
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return {"status": refused.code}


def check_ready_run(run_id: str, state: Path, home: Path, launch: tuple[str, ...]) -> None:
    detail = json.loads(
        tailor("status", run_id, "--state-dir", str(state), "--json", home=home).stdout
    )
    assert detail["run"]["phase"] == "ready"
    endpoint = detail["run"]["endpoint"]
    assert endpoint.startswith("http://127.0.0.1:")
    lines = (state / run_id / "train" / "metrics.jsonl").read_text().splitlines()
    losses = [m["loss"] for m in map(json.loads, lines) if m.get("loss") is not None]
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert len(losses) >= 20 and last < first - 0.3, losses
    key_file = Path(detail["api_key_file"])  # where `tailor status` says the key is
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert chat(endpoint, None) == {"status": 401}  # vLLM refuses a request without it
    answer = chat(endpoint, key_file.read_text().strip())
    assert answer["model"] == "tailor"
    assert isinstance(answer["choices"][0]["message"]["content"], str)
    again = tailor(*launch, home=home)  # idempotent: re-attaches, provisions nothing
    assert again.returncode == 0 and "Re-attached" in again.stdout
    assert sorted(n.split(":")[0] for n in resources(state, run_id)) == ["serve", "train"]


def lora_goal(folder: Path) -> Path:
    """The example goal held to the self-hosted model and LoRA (its seed's method): the story
    checks that the adapter learns in 80 steps, which a full fine-tune at its own (lower)
    learning rate need not do on the random-init tiny model, and serves the merged adapter."""
    import yaml

    source = ROOT / "examples" / "goals" / "api-vs-self-hosted-1m.yaml"
    goal = yaml.safe_load(source.read_text(encoding="utf-8"))
    goal["models"]["methods"] = ["lora"]
    goal["models"]["candidates"] = ["llama-3-8b"]  # the self-hosted fine-tune, not the hosted API
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "goal.yaml"
    path.write_text(yaml.safe_dump(goal, sort_keys=False), encoding="utf-8")
    return path


def test_plan_launch_train_serve_answer_down(tmp_path: Path) -> None:
    home, state, plan = tmp_path / "home", tmp_path / "state", tmp_path / "plan.json"
    out = tailor("plan", str(lora_goal(tmp_path)), "--out", str(plan), home=home)
    assert out.returncode == 0, out.stderr
    assert json.loads(plan.read_text())["plan"]["training"] is not None
    launch = (
        "launch",
        str(plan),
        "--backend",
        "local",
        "--yes",
        "--data",
        "examples/data/support-chat.jsonl",
        "--state-dir",
        str(state),
        "--max-steps",
        "80",
        "--timeout",
        "800",
    )
    out = tailor(*launch, home=home)
    runs = json.loads(tailor("status", "--state-dir", str(state), "--json", home=home).stdout)
    run_id = runs[0]["id"]
    try:
        assert out.returncode == 0 and "ready" in out.stdout, out.stdout + out.stderr
        check_ready_run(run_id, state, home, launch)
    finally:
        down = tailor("down", run_id, "--state-dir", str(state), home=home)
    assert down.returncode == 0 and "nothing it created is left" in down.stdout, down.stderr
    for name in resources(state, run_id):
        assert not alive(int(name.split(":")[1])), f"{name} still running"
    logs = tailor("logs", run_id, "--state-dir", str(state), home=home)
    assert logs.returncode == 0 and "done:" in logs.stdout


def test_killed_training_resumes_on_relaunch(tmp_path: Path) -> None:
    """Kill the training process mid-run: launching the plan again resumes from the newest
    checkpoint (the step count continues; no step is lost or repeated)."""
    import signal
    import time

    home, state, plan = tmp_path / "home", tmp_path / "state", tmp_path / "plan.json"
    assert tailor("plan", str(lora_goal(tmp_path)), "--out", str(plan), home=home).returncode == 0
    launch = (
        "launch",
        str(plan),
        "--backend",
        "local",
        "--yes",
        "--detach",
        "--data",
        "examples/data/support-chat.jsonl",
        "--state-dir",
        str(state),
        "--max-steps",
        "60",
    )
    assert tailor(*launch, home=home).returncode == 0
    run_id = json.loads(tailor("status", "--state-dir", str(state), "--json", home=home).stdout)[0][
        "id"
    ]
    checkpoints = state / run_id / "train" / "checkpoints"
    deadline = time.monotonic() + 300
    # a checkpoint is complete once its trainer state (written last) is there: the recipe
    # resumes only from complete ones (executor.recipes.train.newest_checkpoint)
    complete = "checkpoint-*/trainer_state.json"
    while not any(checkpoints.glob(complete)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert any(checkpoints.glob(complete)), "no complete checkpoint within 300 s"
    train_pid = int(
        next(n for n in resources(state, run_id) if n.startswith("train:")).split(":")[1]
    )
    os.killpg(train_pid, signal.SIGKILL)
    while alive(train_pid):
        time.sleep(0.2)
    try:
        again = tailor(*launch, home=home)  # sees the dead process, restarts training
        assert again.returncode == 0, again.stdout + again.stderr
        done = state / run_id / "train" / "DONE"
        while not done.exists() and time.monotonic() < deadline + 300:
            time.sleep(1)
        summary = json.loads(done.read_text())
        assert summary["resumed_from_step"] and summary["final_step"] == 60
        steps = [
            json.loads(line)["step"]
            for line in (state / run_id / "train" / "metrics.jsonl").read_text().splitlines()
        ]
        assert steps == sorted(set(steps)) and steps[-1] == 60  # nothing repeated or lost
    finally:
        tailor("status", run_id, "--state-dir", str(state), home=home)  # starts serving: stop it
        tailor("down", run_id, "--state-dir", str(state), home=home)
    for name in resources(state, run_id):
        assert not alive(int(name.split(":")[1])), f"{name} still running"
