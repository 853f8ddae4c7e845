"""Run vLLM's OpenAI server on this machine: start it, wait until it answers, stop it.

The server is the serve recipe (``executor/recipes/serve.py``) run by the interpreter of the
``.venv-vllm`` virtualenv (``make vllm-venv``), in a process group of its own so that stopping it
also stops the engine processes vLLM starts. It binds 127.0.0.1 only. Output goes to a log file,
whose last lines are quoted when the server fails to come up.

A server is known by its pid (its process group has the same id), so a later tailor process can
stop it: ``stop_server(pid)``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from executor.errors import BackendError
from executor.recipes import serve

__all__ = [
    "VLLM_PYTHON",
    "ServerHandle",
    "is_running",
    "start_vllm_server",
    "stop_server",
    "track",
    "wait_until_healthy",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
VLLM_PYTHON = REPO_ROOT / ".venv-vllm" / "bin" / "python"
"""The interpreter ``make vllm-venv`` installs vLLM into; a config's ``python`` key overrides it."""
SERVE_RECIPE = Path(serve.__file__).resolve()
LOOPBACK = "127.0.0.1"
LOG_TAIL_LINES = 20
# vLLM reports usage statistics over the network unless told not to; this machine is offline.
QUIET_ENV = {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}

# Children this process started (servers, and training runs handed to ``track``), by pid.
# Holding the Popen lets us reap the child when it exits (an unreaped child is a zombie that
# still looks alive to kill(pid, 0), and dropping a running Popen warns).
_children: dict[int, subprocess.Popen[bytes]] = {}


def track(process: subprocess.Popen[bytes]) -> None:
    """Keep ``process`` (started by this process) so ``is_running`` reaps it once it exits and
    ``stop_server`` forgets it."""
    _children[process.pid] = process


@dataclass(frozen=True)
class ServerHandle:
    """A started server."""

    pid: int
    """Process id of the server; also the id of its process group."""
    url: str
    """Base URL, e.g. ``http://127.0.0.1:8000`` (the OpenAI API is under ``/v1``)."""
    log_path: Path
    """File that receives the server's stdout and stderr."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _server_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with host, port and python filled in; BackendError if it cannot be served."""
    host = config.get("host", LOOPBACK)
    if host != LOOPBACK:
        raise BackendError(
            f"The local vLLM server binds {LOOPBACK} only, but the config asks for host {host!r}.",
            fix=f"drop 'host' from the config or set it to {LOOPBACK!r}.",
        )
    filled = {**config, "host": LOOPBACK}
    filled.setdefault("port", _free_port())
    filled.setdefault("python", str(VLLM_PYTHON))
    try:
        serve.vllm_command(filled)
    except serve.RecipeError as exc:
        problem, _, fix = str(exc).partition(" To fix: ")  # the recipe's own one paragraph
        raise BackendError(
            f"Cannot start the local vLLM server: {problem}",
            fix=fix or "correct that key of the serving config.",
        ) from None
    if not Path(filled["python"]).exists():
        raise BackendError(
            f"Cannot start the local vLLM server: interpreter {filled['python']} does not exist.",
            fix="run `make vllm-venv` (creates .venv-vllm with vLLM for the CPU), or set "
            "'python' in the config to an interpreter that has vLLM installed.",
        )
    return filled


def start_vllm_server(
    config: dict[str, Any], *, log_path: Path, env: dict[str, str] | None = None
) -> ServerHandle:
    """Start vLLM's OpenAI server for ``config`` (the serve recipe's keys) and return at once.

    ``port`` defaults to a free one; ``python`` to ``.venv-vllm``'s interpreter. ``env`` adds to
    (and overrides) this process's environment. The config is written next to the log as
    ``<log name>.serve.json``. Call ``wait_until_healthy`` before sending requests.
    """
    filled = _server_config(config)
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    config_path = log_path.with_name(f"{log_path.name}.serve.json")
    config_path.write_text(json.dumps(filled, indent=2), encoding="utf-8")
    command = [filled["python"], str(SERVE_RECIPE), "--config", str(config_path)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **QUIET_ENV, **(env or {})},
            start_new_session=True,
        )
    track(process)
    return ServerHandle(
        pid=process.pid, url=f"http://{LOOPBACK}:{filled['port']}", log_path=log_path
    )


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as log:
            tail = deque(log, maxlen=lines)
    except OSError as exc:
        return f"    (log unreadable: {exc})"
    return "".join(f"    {line}" for line in tail).rstrip() or "    (log is empty)"


def _answers(url: str, timeout_s: float) -> bool:
    """True if GET ``url`` returns 200 within ``timeout_s``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _failure(handle: ServerHandle, what: str, fix: str) -> BackendError:
    return BackendError(
        f"The local vLLM server (pid {handle.pid}, {handle.url}) {what}. Last lines of "
        f"{handle.log_path}:\n{_log_tail(handle.log_path)}",
        fix=fix,
    )


def wait_until_healthy(handle: ServerHandle, *, timeout_s: float, poll_s: float = 2.0) -> None:
    """Return once ``GET {url}/health`` answers 200 (vLLM's health route: open when an API
    key guards the /v1 routes, and up only once the engine has loaded the model).

    If the server exits first, or ``timeout_s`` passes, the server is stopped and BackendError is
    raised with the last lines of its log.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if not is_running(handle.pid):
            status = _exit_status(handle.pid)
            stop_server(handle.pid, grace_s=2)  # engine processes it may have left behind
            raise _failure(
                handle,
                f"exited{status} before it answered",
                "read the log lines above; a wrong 'model' folder, a port in use or too little "
                "memory are the usual causes.",
            )
        left_s = deadline - time.monotonic()
        if _answers(f"{handle.url}/health", timeout_s=max(0.1, min(poll_s, left_s))):
            return
        left_s = deadline - time.monotonic()
        if left_s <= 0:
            stop_server(handle.pid)
            raise _failure(
                handle,
                f"did not answer {handle.url}/health within {timeout_s:g} s, so it was stopped",
                "read the log lines above; if the server was still loading, wait longer "
                "(a first start on a CPU takes minutes).",
            )
        time.sleep(min(poll_s, left_s))


def _exit_status(pid: int) -> str:
    process = _children.get(pid)
    if process is None or process.returncode is None:
        return ""
    return f" with status {process.returncode}"


def _is_zombie(pid: int) -> bool:
    """True if ``pid`` has exited but was not reaped yet (Linux; False elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def is_running(pid: int) -> bool:
    """True if process ``pid`` exists and has not exited."""
    if pid <= 0:
        return False
    process = _children.get(pid)
    if process is not None:
        return process.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return not _is_zombie(pid)


def _group_running(pgid: int) -> bool:
    """True if some process of group ``pgid`` has not exited."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii", errors="replace").rpartition(")")[2].split()
        except OSError:
            continue  # exited while we looked
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def _signal(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the group ``pid`` leads (or to ``pid`` alone when it leads none)."""
    own_group = os.getpgrp()
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        group = pid  # the leader is gone; its group may still have members
    try:
        if group == pid and group != own_group:
            os.killpg(group, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid: int) -> bool:
    return is_running(pid) or (pid != os.getpgrp() and _group_running(pid))


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def stop_server(pid: int, *, grace_s: float = 10) -> bool:
    """Stop the server ``pid`` and its process group: SIGTERM, then SIGKILL after ``grace_s``.

    Returns True if something was running. Never raises for a pid that is already gone.
    """
    if pid <= 0 or pid == os.getpid():
        return False
    was_running = _alive(pid)
    if was_running:
        _signal(pid, signal.SIGTERM)
        if not _wait_gone(pid, grace_s):
            _signal(pid, signal.SIGKILL)
            _wait_gone(pid, 5)
    process = _children.get(pid)
    if process is not None and process.poll() is not None:  # reaped; forget it
        del _children[pid]
    return was_running
