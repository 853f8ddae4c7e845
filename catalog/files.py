"""Writing files atomically: a reader sees the old file or the new one, never a part of either.

Every file tailor writes for the user (plan files, goals, models.yaml, offers.csv, SkyPilot
catalog exports) goes through :func:`write_text_atomic`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["write_text_atomic"]


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8, newlines written as given) in one step.

    The text goes to a temporary file with a unique name in ``path``'s folder (so the rename
    stays on one file system and two writers never share it), is flushed to disk, then renamed
    over ``path`` with :func:`os.replace`. On any failure, the temporary file is removed, ``path``
    is left as it was and the exception propagates. Missing parent folders are created.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("x", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
