"""`tailor ui [GOAL]`: the Textual app. Textual is imported only when this command runs, so the
other commands start without it."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["ui_command"]


@click.command("ui")
@click.argument(
    "goal_path",
    metavar="[GOAL]",
    required=False,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
def ui_command(*, goal_path: Path | None) -> None:
    """Interactive plans browser: ranked plans, explanations, compare."""
    from tui.app import TailorApp

    TailorApp(goal_path).run()
