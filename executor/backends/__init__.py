"""Backends: where a plan runs. Only this package imports `sky` (inside functions / child
processes), so importing tailor never loads SkyPilot.

:func:`make_backend` is the one place a backend is built from its name (``tailor launch``,
``status``, ``logs``, ``down`` and the app all call it); each backend module is imported inside
it, so asking for ``local`` never imports the SkyPilot backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from executor.errors import ExecutorError

if TYPE_CHECKING:
    from executor.backends.base import Backend

__all__ = ["BACKEND_NAMES", "default_backends", "make_backend"]

BACKEND_NAMES = ("sky", "local")
"""The backends a run can name, in the order the CLI offers them."""


def make_backend(name: str) -> Backend:
    """The real backend called ``name``: SkyPilot (``sky``) or this machine (``local``)."""
    if name == "sky":
        from executor.backends.sky import SkyBackend

        return SkyBackend()
    if name == "local":
        from executor.backends.local import LocalBackend

        return LocalBackend()
    raise ExecutorError(
        f"no backend named {name!r}.", fix=f"use one of: {', '.join(BACKEND_NAMES)}."
    )


def default_backends() -> dict[str, Backend]:
    """Every real backend by name (the app's; the SkyPilot SDK is imported only when used)."""
    return {name: make_backend(name) for name in BACKEND_NAMES}
