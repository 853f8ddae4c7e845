"""Executor errors.

Hierarchy::

    ExecutorError            base of everything this package raises (launch, state, backends)
    └── BackendError         a backend (SkyPilot, local processes) failed; says which and why

Messages are plain text: what failed, why, then "To fix: …". The CLI renders them.
"""

from __future__ import annotations

__all__ = ["BackendError", "ExecutorError"]


class ExecutorError(Exception):
    """Base class of executor errors."""


class BackendError(ExecutorError):
    """A backend operation failed."""
