"""Reading a goal file's text without trusting the path.

A goal is a few KiB of YAML. A path that is no regular file is refused before a byte is read (a
FIFO blocks until something writes to it, ``/dev/zero`` never ends, a folder is no file), and so
is a file larger than :data:`MAX_GOAL_BYTES`. The file is then opened without blocking, checked
again on the open descriptor (the path may have been swapped meanwhile) and read up to one byte
past the cap (it may grow while being read). Every refusal is a
:class:`~planner.errors.GoalSpecError` with a "To fix".
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from planner.errors import GoalSpecError, Problem

__all__ = ["MAX_GOAL_BYTES", "read_goal_text"]

MAX_GOAL_BYTES = 1 << 20  # 1 MiB: the example goals are 1-3 KiB; nothing near this is a goal
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
_KINDS = (  # the kinds of file that are not regular, as `stat` tells them apart
    (stat.S_ISFIFO, "a FIFO (named pipe), which is read until a program writes to it"),
    (stat.S_ISCHR, "a character device, such as /dev/zero, which may never end"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_goal_text(path: Path) -> str:
    """The UTF-8 text of the goal file at ``path`` (newlines as ``\\n``); a GoalSpecError if it
    is missing, unreadable, not a regular file, over :data:`MAX_GOAL_BYTES` or not UTF-8."""
    try:
        return _read(path)
    except FileNotFoundError:
        message = "the goal file does not exist"
        fix = "check the path, or copy a goal from examples/goals/ and edit it"
    except UnicodeDecodeError as error:
        message = f"is not UTF-8 text (byte {error.start})"
        fix = "save the goal as UTF-8 text"
    except OSError as error:
        message = f"cannot be read ({error.strerror or error})"
        fix = "check the file's permissions"
    raise _refusal(path, message, fix)


def _read(path: Path) -> str:
    _check(path, os.stat(path))
    fd = os.open(path, _OPEN_FLAGS)
    with os.fdopen(fd, "rb") as file:
        _check(path, os.fstat(file.fileno()))
        data = file.read(MAX_GOAL_BYTES + 1)
    if len(data) > MAX_GOAL_BYTES:  # it grew after fstat, or reports no size (procfs)
        raise _too_large(path, None)
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def _check(path: Path, info: os.stat_result) -> None:
    """Refuse what is no regular file, or a regular file over the cap."""
    if stat.S_ISDIR(info.st_mode):
        raise _refusal(
            path, "is a folder, not a goal file", "pass the path of a .yaml file inside it"
        )
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a plain file")
        raise _refusal(
            path,
            f"is not a regular file (it is {kind})",
            "pass the path of a goal .yaml file on disk; to use a goal a program writes, save "
            "its output to a file first",
        )
    if info.st_size > MAX_GOAL_BYTES:
        raise _too_large(path, info.st_size)


def _too_large(path: Path, size: int | None) -> GoalSpecError:
    measured = f"{size:,} bytes, " if size is not None else ""
    return _refusal(
        path,
        f"is {measured}more than a goal file may be ({MAX_GOAL_BYTES // (1 << 20)} MiB)",
        "check that this is the goal you meant: a goal is a few KiB of YAML (see "
        "examples/goals/); remove what does not belong in it",
    )


def _refusal(path: Path, message: str, fix: str) -> GoalSpecError:
    return GoalSpecError([Problem(field="", message=message, fix=fix)], source=str(path))
