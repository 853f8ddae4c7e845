"""`tailor ui [GOAL]`: the Textual app. Textual is imported only when this command runs, so the
other commands start without it."""

from __future__ import annotations

from pathlib import Path

import click

from executor.backends import BACKEND_NAMES
from tui.commands.run import LOCAL_MODEL, MAX_STEPS, STATE_DIR

__all__ = ["ui_command"]


@click.command("ui")
@click.argument(
    "goal_path",
    metavar="[GOAL]",
    required=False,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--backend",
    type=click.Choice(BACKEND_NAMES),
    default="sky",
    show_default=True,
    help="Where launches from the app run.",
)
@LOCAL_MODEL
@MAX_STEPS
@STATE_DIR
def ui_command(
    *,
    goal_path: Path | None,
    backend: str,
    local_model: Path | None,
    max_steps: int | None,
    state_dir: Path | None,
) -> None:
    """Interactive: edit a goal, compare costed plans, launch one and watch it run.

    F2 goal form, F3 plans, F4 runs, F1 or ? every key. Without GOAL it starts on an empty goal
    form; save it with ctrl+s."""
    from executor.state import open_store
    from tui.app import TailorApp

    extra = {k: v for k, v in {"local_model": local_model, "max_steps": max_steps}.items() if v}
    store = open_store(state_dir)
    TailorApp(goal_path, store=store, backend_name=backend, launch_extra=extra).run()
