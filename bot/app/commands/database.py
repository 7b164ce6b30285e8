"""Which database a command uses: --database, else $SOCIALBOT_DATABASE_URL, else the config's database_url."""

from __future__ import annotations

import os

import typer

DATABASE_ENV = "SOCIALBOT_DATABASE_URL"

DatabaseOption = typer.Option(
    None,
    "--database",
    help=f"Database URL (overrides the config's database_url; default ${DATABASE_ENV}).",
)


def database_override(database: str | None) -> str | None:
    """--database, else $SOCIALBOT_DATABASE_URL; None: the config's database_url."""
    return database or os.environ.get(DATABASE_ENV) or None
