"""`tailor ui` in a real terminal: tmux runs the installed command, keys go in with send-keys and
the screen comes back with capture-pane. `make test` installs tmux when it is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
GOAL = ROOT / "examples" / "goals" / "api-vs-self-hosted-1m.yaml"
TAILOR = Path(sys.executable).parent / "tailor"


class Tmux:
    """One tmux server on a private socket, one session running one command."""

    def __init__(self, socket: str) -> None:
        if shutil.which("tmux") is None:
            pytest.fail("tmux is not installed. To fix: `make test` installs it (apt-get).")
        self.socket = socket

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        )
        return done.stdout

    def start(self, command: str, *, width: int, height: int) -> None:
        self("new-session", "-d", "-s", "ui", "-x", str(width), "-y", str(height), command)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "ui")

    def wait_for(self, *texts: str, timeout_s: float = 60) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            shown = self.screen()
            if all(text in shown for text in texts):
                return shown
            time.sleep(0.3)
        pytest.fail(f"not on screen after {timeout_s:.0f} s: {texts}\n--- screen ---\n{shown}")

    def alive(self) -> bool:
        return (
            subprocess.run(
                ["tmux", "-L", self.socket, "has-session", "-t", "ui"],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        )

    def kill(self) -> None:
        self("kill-server")


@pytest.mark.parametrize("size", [(80, 24), (140, 45)])
def test_real_terminal_shows_ranked_plans_then_quits(tmp_path: Path, size) -> None:
    width, height = size
    exit_file = tmp_path / "exit-code"
    command = (
        f"env TERM=xterm-256color TAILOR_HOME={tmp_path} {TAILOR} ui {GOAL} "
        f"--state-dir {tmp_path / 'runs'}; echo $? > {exit_file}"
    )
    tmux = Tmux(f"tailor-test-{os.getpid()}-{width}")
    try:
        tmux.start(command, width=width, height=height)
        shown = tmux.wait_for("api-vs-self-hosted-1m:", "feasible", "p1", "p2")
        assert "strategy" in shown
        if width >= 100:  # the detail pane under the table, filled once p1 is highlighted
            tmux.wait_for("Decision path")
        tmux("send-keys", "-t", "ui", "v")
        tmux.wait_for("p95 TTFT, ms")  # the Pareto plot's axis
        tmux("send-keys", "-t", "ui", "q")
        deadline = time.monotonic() + 20
        while tmux.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not tmux.alive()
        assert exit_file.read_text().strip() == "0"
    finally:
        tmux.kill()
