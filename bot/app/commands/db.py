"""`socialbot db upgrade`: apply the database migrations."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.app.commands.common import ConfigOption, console, opened_store
from bot.app.commands.database import DatabaseOption

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade(
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """Create or upgrade the database schema (idempotent; the daemon also does it at start)."""
    with opened_store(config, database) as store:
        before, after = store.upgrade()
    if before == after:
        console.print(f"database {store.url} is up to date (revision {after})", highlight=False)
    else:
        console.print(f"database {store.url} upgraded from {before or 'empty'} to {after}", highlight=False)
