"""tailor's error root and the catalog's errors.

``TailorError`` lives here because catalog is the leaf package every other one imports. The
whole hierarchy (the planner's and the executor's bases derive from it in their own
``errors`` modules)::

    TailorError                  root: everything tailor raises for the user to fix
    ├── CatalogError             base of everything this package raises
    │   ├── CatalogFileError     a data file is malformed (names file:line, what, "To fix: …")
    │   └── UnknownNameError     a GPU / model / API model name matches nothing (lists close names)
    ├── PlannerError             planner/errors.py: GoalSpecError, InfeasibleGoalError
    └── ExecutorError            executor/errors.py: BackendError

Messages are plain text: what failed, why, then "To fix: …". Context (paths, lines, names) is
passed keyword-only. The CLI and the TUI catch ``TailorError`` at their edge and render it;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["CatalogError", "CatalogFileError", "TailorError", "UnknownNameError"]


class TailorError(Exception):
    """Root of the errors tailor raises for the user; ``str()`` is the whole message."""


class CatalogError(TailorError):
    """Base class of catalog errors."""


class CatalogFileError(CatalogError):
    """A catalog file (shipped or the user's) cannot be read."""

    def __init__(
        self, problem: str, *, path: str | Path, line: int | None = None, fix: str
    ) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem} To fix: {fix}")
        self.path = str(path)
        self.line = line
        self.problem = problem
        self.fix = fix


class UnknownNameError(CatalogError, KeyError):
    """A name that is in no catalog table."""

    def __init__(
        self, name: str, *, kind: str, close: Sequence[str] = (), listing_command: str
    ) -> None:
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        self.fix = f"use a name from `{listing_command}` (matching ignores case)."
        super().__init__(f"Unknown {kind} {name!r}.{hint} To fix: {self.fix}")
        self.kind = kind
        self.name = name
        self.close = list(close)

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])
