"""Which process a recorded pid names: a pid with its start time survives pid reuse.

A run records the processes it starts (and the `tailor launch` that starts it) as
``pid:start``, where ``start`` is the process's start time in clock ticks since boot
(``/proc/<pid>/stat`` field 22). A pid whose start time differs is another process that
reused the number: it is not ours to wait on or to stop.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["identity", "is_same_process", "process_start"]


def process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot, "" when unknown (not Linux, gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return ""
    return fields[19] if len(fields) > 19 else ""


def identity(pid: int) -> str:
    """``pid:start`` of a running process."""
    return f"{pid}:{process_start(pid)}"


def is_same_process(pid: int, start: str) -> bool:
    """Whether ``pid`` still names the process that had start time ``start`` (an empty
    ``start`` — recorded where it was unknown — only checks that the pid exists)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: tailor starts its own as this user
    return not start or process_start(pid) == start
