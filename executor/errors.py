"""Executor errors.

Hierarchy (the root, ``TailorError``, is in catalog/errors.py)::

    TailorError              root of everything tailor raises for the user to fix
    └── ExecutorError        base of everything this package raises (launch, state, backends)
        └── BackendError     a backend (SkyPilot, local processes) failed; says which and why

Each carries ``problem`` (what failed and why) and ``fix`` (what to do, passed keyword-only);
the message is ``problem`` then "To fix: ``fix``", plain text. The CLI and the TUI render it.
"""

from __future__ import annotations

from catalog.errors import TailorError

__all__ = ["BackendError", "ExecutorError"]


class ExecutorError(TailorError):
    """Base class of executor errors: ``problem``, then "To fix: ``fix``"."""

    def __init__(self, problem: str, *, fix: str) -> None:
        # A problem that quotes several lines (a log tail) puts "To fix:" on a line of its own.
        separator = "\n" if "\n" in problem.strip() else " "
        super().__init__(f"{problem.rstrip()}{separator}To fix: {fix}")
        self.problem = problem
        self.fix = fix


class BackendError(ExecutorError):
    """A backend operation failed."""
