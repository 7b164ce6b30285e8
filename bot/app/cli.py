"""The `socialbot` command line. Heavy libraries are imported inside commands, never here."""

from __future__ import annotations

import sys

from bot.app.signals import catch_early

catch_early(sys.argv[1:])  # `socialbot run`: SIGTERM/SIGINT/SIGHUP caught before anything slow is imported

import typer  # noqa: E402

from bot.app.commands import register_all  # noqa: E402

app = typer.Typer(
    name="socialbot",
    help="Scheduled promotions, replies and audience insight for a shop's social accounts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
register_all(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
