"""`tailor plan | explain | graph` given a path that is no goal file (issue #10, point 9): a FIFO,
/dev/zero, a folder or a file over the size cap is refused at once, exit code 2, one "Error: …"
paragraph ending with "To fix: …", no traceback; nothing blocks or reads for ever."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "goals" / "api-vs-self-hosted-1m.yaml"


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "goal.yaml"
    os.mkfifo(path)
    return path


def _huge(tmp_path: Path) -> Path:
    path = tmp_path / "goal.yaml"
    path.write_text("# padding\n" * 200_000 + EXAMPLE.read_text(encoding="utf-8"), "utf-8")
    return path


INPUTS = {
    # name: (make the path, what the error says of it)
    "fifo": (_fifo, "is not a regular file (it is a FIFO (named pipe)"),
    "dev-zero": (lambda _: Path("/dev/zero"), "is not a regular file (it is a character device"),
    "folder": (lambda tmp_path: tmp_path, "is a folder, not a goal file"),
    "huge": (_huge, "is {size:,} bytes, more than a goal file may be (1 MiB)"),
    "missing": (lambda tmp_path: tmp_path / "nope.yaml", "the goal file does not exist"),
}


def _limit_memory() -> None:  # reading /dev/zero for ever must end in MemoryError, not swap
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def _tailor(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-m", "tui.cli", *args],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=60,
            preexec_fn=_limit_memory,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"tailor {' '.join(args)} was still running after 60 s")


@pytest.mark.parametrize("command", ["plan", "explain", "graph"])
@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_a_path_that_is_no_goal_file_is_refused_with_exit_2(
    tmp_path: Path, command: str, kind: str
) -> None:
    make, says = INPUTS[kind]
    path = make(tmp_path)
    if not path.exists() and kind == "dev-zero":
        pytest.skip("no /dev/zero here")
    says = says.format(size=path.stat().st_size) if kind == "huge" else says
    done = _tailor(command, str(path))
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stdout == ""
    assert done.stderr.startswith(f"Error: {path}: {says}"), done.stderr[-2000:]
    assert "To fix: " in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr


READ_IN_EDITOR = """
import sys
from pathlib import Path
from planner.errors import GoalSpecError
from tui.screens.goal import read_goal_data
try:
    read_goal_data(Path(sys.argv[1]))
except GoalSpecError as error:
    print(error)
"""


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "huge"])
def test_the_goal_editor_refuses_them_too(tmp_path: Path, kind: str) -> None:
    make, says = INPUTS[kind]
    path = make(tmp_path)
    if not path.exists():
        pytest.skip("no /dev/zero here")
    says = says.format(size=path.stat().st_size) if kind == "huge" else says
    try:
        done = subprocess.run(
            [sys.executable, "-c", READ_IN_EDITOR, str(path)],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=60,
            preexec_fn=_limit_memory,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"read_goal_data({path}) was still reading after 60 s")
    assert done.returncode == 0 and done.stdout.startswith(f"{path}: {says}"), done.stderr[-2000:]
    assert "To fix: " in done.stdout
