"""The `socialbot` command line. Heavy libraries are imported inside commands, never here."""

from __future__ import annotations

import typer

from bot.commands import register_all

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
