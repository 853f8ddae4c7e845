"""Catalog errors.

Hierarchy::

    CatalogError                 base of everything this package raises
    ├── CatalogFileError         a data file is malformed (names file:line, what, "To fix: …")
    └── UnknownNameError         a GPU / model / API model name matches nothing (lists close names)

Messages are plain text: what failed, why, then "To fix: …". The CLI renders them.
"""

from __future__ import annotations

__all__ = ["CatalogError", "CatalogFileError", "UnknownNameError"]


class CatalogError(Exception):
    """Base class of catalog errors."""


class CatalogFileError(CatalogError):
    """A catalog file (shipped or the user's) cannot be read."""

    def __init__(self, path: str, line: int | None, problem: str, fix: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem} To fix: {fix}")
        self.path = path
        self.line = line


class UnknownNameError(CatalogError, KeyError):
    """A name that is in no catalog table."""

    def __init__(self, kind: str, name: str, close: list[str], listing_command: str) -> None:
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        message = (
            f"Unknown {kind} {name!r}.{hint} To fix: use a name from `{listing_command}`"
            f" (matching ignores case)."
        )
        super().__init__(message)
        self.kind = kind
        self.name = name
        self.close = close

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])
