"""The local vLLM server: the serve recipe's command, process control, and a real server on a CPU.

The slow tests start vLLM's OpenAI server (from ``.venv-vllm``, built by ``make vllm-venv``) on the
tiny random-init Llama of ``executor.recipes.tiny_model``, bound to 127.0.0.1 on a free port, and
check that nothing of it is left running afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from executor import local_server
from executor.api_key import API_KEY_ENV, endpoint_key
from executor.errors import BackendError
from executor.local_server import (
    ServerHandle,
    is_running,
    start_vllm_server,
    stop_server,
    wait_until_healthy,
)
from executor.recipes import serve, tiny_model
from executor.recipes.serve import RecipeError, vllm_command
from tests.conftest import REPO_ROOT

VLLM_STAMP = local_server.VLLM_PYTHON.parent.parent / ".installed-vllm"  # written by the Makefile
needs_vllm = pytest.mark.skipif(
    not VLLM_STAMP.exists(),
    reason=f"{VLLM_STAMP} is missing; run `make vllm-venv` to install vLLM for the CPU",
)
# Small enough for a 2-core, no-GPU machine: 1 GiB of KV cache, short sequences.
CPU_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}
SERVED_NAME = "tiny"
START_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_nothing_left(pid: int) -> None:
    """Neither the server nor anything in its process group (pgid == pid) is left.

    A group member that outlived its parent is reaped by PID 1; this machine's PID 1 does that
    about a second later, so the group may show exited (zombie) members for a moment.
    """
    assert not is_running(pid)
    deadline = time.monotonic() + 10
    while True:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        members = group_members(pid)
        assert all(state == "Z" for state in members.values()), f"still running: {members}"
        assert time.monotonic() < deadline, f"exited but never reaped: {members}"
        time.sleep(0.1)


def group_members(pgid: int) -> dict[int, str]:
    """{pid: state letter} of the processes in group ``pgid`` (from /proc)."""
    members = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[2] == str(pgid):
            members[int(stat.parent.name)] = fields[0]
    return members


# ---- the serve recipe's command -----------------------------------------------------------------


def test_command_has_model_host_port_and_defaults() -> None:
    command = vllm_command({"model": "/models/m", "port": 8123, "python": "/v/bin/python"})
    assert command[:3] == ["/v/bin/python", "-m", "vllm.entrypoints.openai.api_server"]
    assert_flag(command, "--model", "/models/m")
    assert_flag(command, "--host", "127.0.0.1")
    assert_flag(command, "--port", "8123")
    assert_flag(command, "--tensor-parallel-size", "1")
    for absent in ("--quantization", "--enable-lora", "--max-model-len", "--served-model-name"):
        assert absent not in command


def assert_flag(command: list[str], flag: str, value: str) -> None:
    assert flag in command, command
    assert command[command.index(flag) + 1] == value, command


def test_command_with_adapter_enables_lora() -> None:
    command = vllm_command(
        {"model": "m", "adapter_dir": "/runs/a/final", "lora_name": "support", "max_lora_rank": 32}
    )
    assert "--enable-lora" in command
    assert_flag(command, "--lora-modules", "support=/runs/a/final")
    assert_flag(command, "--max-lora-rank", "32")


@pytest.mark.parametrize("quantization", ["fp8", "bitsandbytes"])
def test_command_with_quantization(quantization: str) -> None:
    assert_flag(
        vllm_command({"model": "m", "quantization": quantization}), "--quantization", quantization
    )


def test_command_with_parallelism_and_limits() -> None:
    command = vllm_command(
        {
            "model": "m",
            "served_model_name": "chat",
            "tensor_parallel_size": 4,
            "max_model_len": 4096,
            "max_num_seqs": 16,
            "dtype": "bfloat16",
        }
    )
    assert_flag(command, "--tensor-parallel-size", "4")
    assert_flag(command, "--max-model-len", "4096")
    assert_flag(command, "--max-num-seqs", "16")
    assert_flag(command, "--served-model-name", "chat")
    assert_flag(command, "--dtype", "bfloat16")


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({}, "model"),
        ({"model": "m", "quantization": "awq"}, "quantization"),
        ({"model": "m", "port": 0}, "port"),
        ({"model": "m", "tensor_parallel_size": True}, "tensor_parallel_size"),
        ({"model": "m", "max_lora_rank": 12}, "max_lora_rank"),
        ({"model": "m", "lora_name": "a=b"}, "lora_name"),
        ({"model": "m", "modle": "x"}, "modle"),
    ],
)
def test_bad_config_names_the_key_and_the_fix(config: dict, named: str) -> None:
    with pytest.raises(RecipeError) as caught:
        vllm_command(config)
    assert named in str(caught.value)
    assert "To fix:" in str(caught.value)


def test_recipe_script_exits_2_on_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "serve.json"
    config.write_text(json.dumps({"model": "m", "dtype": "int3"}), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, serve.__file__, "--config", str(config), "--dry-run"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "dtype" in done.stderr
    assert "To fix:" in done.stderr


def test_recipe_script_dry_run_prints_the_command(tmp_path: Path) -> None:
    config = tmp_path / "serve.json"
    config.write_text(json.dumps({"model": "m", "port": 9001}), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, serve.__file__, "--config", str(config), "--dry-run"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "vllm.entrypoints.openai.api_server --model m" in done.stdout
    assert "--port 9001" in done.stdout


# ---- process control, without vLLM --------------------------------------------------------------


def sleeping_group() -> subprocess.Popen[bytes]:
    """A shell leading its own process group, with a child `sleep` in that group.

    It is not started by local_server, as when a later tailor process stops a server by pid.
    """
    process = subprocess.Popen(
        ["/bin/sh", "-c", "sleep 300 & sleep 300; wait"], start_new_session=True
    )
    time.sleep(0.2)
    return process


def test_stop_server_stops_the_whole_group() -> None:
    process = sleeping_group()
    assert is_running(process.pid)
    assert stop_server(process.pid, grace_s=5) is True
    assert not is_running(process.pid)  # an unreaped (zombie) leader does not count
    process.wait(timeout=5)
    assert_nothing_left(process.pid)


def test_stop_server_on_a_gone_pid_returns_false() -> None:
    process = sleeping_group()
    stop_server(process.pid, grace_s=5)
    process.wait(timeout=5)
    assert stop_server(process.pid) is False
    assert is_running(process.pid) is False
    assert stop_server(0) is False


def test_start_without_the_vllm_venv_says_how_to_fix(tmp_path: Path) -> None:
    config = {"model": str(tmp_path), "python": str(tmp_path / "no-venv" / "bin" / "python")}
    with pytest.raises(BackendError, match="make vllm-venv"):
        start_vllm_server(config, log_path=tmp_path / "server.log")


def test_start_refuses_to_bind_beyond_loopback(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="To fix:"):
        start_vllm_server({"model": "m", "host": "0.0.0.0"}, log_path=tmp_path / "server.log")


# ---- a real vLLM server ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make tiny-model`'s folder when it is complete, else a fresh build."""
    cached = REPO_ROOT / ".cache" / "tiny-llama"
    if tiny_model.is_complete(cached):
        return cached
    out = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    subprocess.run(
        [sys.executable, "-m", "executor.recipes.tiny_model", "--out", str(out)],
        cwd=REPO_ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=True,
    )
    return out


def tiny_config(model: Path) -> dict:
    return {
        "model": str(model),
        "served_model_name": SERVED_NAME,
        "port": free_port(),
        "max_model_len": 512,
        "max_num_seqs": 4,
    }


def get_json(url: str, body: dict | None = None, key: str | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, {}


@pytest.mark.slow
@needs_vllm
def test_real_server_answers_chat_and_stops(tiny_model_dir: Path, tmp_path: Path) -> None:
    key = endpoint_key(tmp_path / "run")  # what both backends give vLLM (VLLM_API_KEY)
    handle = start_vllm_server(
        tiny_config(tiny_model_dir),
        log_path=tmp_path / "server.log",
        env={**CPU_ENV, API_KEY_ENV: key},
    )
    try:
        wait_until_healthy(handle, timeout_s=START_TIMEOUT_S)  # /health: open without the key
        assert get_json(f"{handle.url}/v1/models")[0] == 401  # vLLM itself refuses it
        assert get_json(f"{handle.url}/v1/models", key="not-the-key")[0] == 401
        status, models = get_json(f"{handle.url}/v1/models", key=key)
        assert status == 200
        assert SERVED_NAME in [model["id"] for model in models["data"]]
        status, reply = get_json(
            f"{handle.url}/v1/chat/completions",
            {
                "model": SERVED_NAME,
                "messages": [{"role": "user", "content": "my invoice shows a charge"}],
                "max_tokens": 8,
            },
            key=key,
        )
        assert status == 200
        assert isinstance(reply["choices"][0]["message"]["content"], str)
    finally:
        was_running = stop_server(handle.pid)
    assert was_running
    assert_nothing_left(handle.pid)


@pytest.mark.slow
@needs_vllm
def test_server_that_exits_raises_with_log_and_fix(tmp_path: Path) -> None:
    config = tiny_config(tmp_path / "no-such-model")
    handle = start_vllm_server(config, log_path=tmp_path / "server.log", env=CPU_ENV)
    started = time.monotonic()
    with pytest.raises(BackendError) as caught:
        wait_until_healthy(handle, timeout_s=START_TIMEOUT_S, poll_s=1)
    assert time.monotonic() - started < START_TIMEOUT_S
    message = str(caught.value)
    assert "exited" in message
    assert "To fix:" in message
    assert str(handle.log_path) in message
    assert_nothing_left(handle.pid)


@pytest.mark.slow
@needs_vllm
def test_server_that_is_too_slow_is_stopped(tiny_model_dir: Path, tmp_path: Path) -> None:
    handle = start_vllm_server(
        tiny_config(tiny_model_dir), log_path=tmp_path / "server.log", env=CPU_ENV
    )
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"within 3 s(.|\n)*To fix:"):
        wait_until_healthy(handle, timeout_s=3, poll_s=0.5)
    assert time.monotonic() - started < 3 + 10 + 5  # the timeout, SIGTERM grace, SIGKILL wait
    assert_nothing_left(handle.pid)


def test_handle_is_frozen(tmp_path: Path) -> None:
    handle = ServerHandle(pid=1, url="http://127.0.0.1:1", log_path=tmp_path / "log")
    with pytest.raises(AttributeError):
        handle.pid = 2  # type: ignore[misc]
