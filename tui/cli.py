"""The `tailor` command line. Every command calls the same library functions as the TUI.

Errors from the library (``TailorError``: CatalogError, PlannerError, ExecutorError) are shown
as one plain paragraph on stderr with exit code 2; nothing else is caught here, so real bugs keep
their traceback.
"""

from __future__ import annotations

import sys

import click

from catalog.errors import TailorError
from tui.commands.catalog import catalog_group
from tui.commands.estimate import estimate_group
from tui.commands.plan import (
    compare_command,
    explain_command,
    graph_command,
    plan_command,
    schema_command,
)
from tui.commands.run import down_command, launch_command, logs_command, status_command
from tui.commands.ui import ui_command

__all__ = ["cli", "main"]

EXIT_BAD_INPUT = 2


class _TailorGroup(click.Group):
    """A click group that turns the library's user-facing errors into exit code 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except TailorError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(EXIT_BAD_INPUT)


@click.group(cls=_TailorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llm-tailor", prog_name="tailor")
def cli() -> None:
    """tailor: plan, cost and launch LLM adaptation (prompt, RAG or fine-tune)."""


cli.add_command(catalog_group)
cli.add_command(estimate_group)
cli.add_command(ui_command)
for _command in (
    plan_command,
    explain_command,
    compare_command,
    graph_command,
    schema_command,
    launch_command,
    status_command,
    logs_command,
    down_command,
):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="tailor", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
