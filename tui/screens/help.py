"""A modal listing the key bindings of the screen underneath and of the app."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HelpScreen"]


class HelpScreen(ModalScreen[None]):
    """Shows ``(key, description)`` pairs; escape or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", key_display="?"),
    ]

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self.pairs = bindings

    def compose(self) -> ComposeResult:
        lines = "\n".join(f"[b]{key:>6}[/b]  {text}" for key, text in self.pairs)
        with Vertical(id="help-box"):
            yield Static("[b]tailor — keys[/b]\n\n" + lines + "\n\nescape closes", id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
