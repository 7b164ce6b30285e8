"""`socialbot db upgrade`: apply the database migrations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from bot.app.commands.common import ConfigOption, console, err_console, load_settings

if TYPE_CHECKING:
    from bot.adapters.store import Store

DATABASE_ENV = "SOCIALBOT_DATABASE_URL"

DatabaseOption = typer.Option(
    None,
    "--database",
    help=f"Database URL (overrides the config's database_url; default ${DATABASE_ENV}).",
)

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


def database_url(config: Path | None, database: str | None) -> str:
    """--database, else $SOCIALBOT_DATABASE_URL, else the config's database_url (exit 2 on a bad config)."""
    if database:
        return database
    if os.environ.get(DATABASE_ENV):
        return os.environ[DATABASE_ENV]
    return load_settings(config, hint="fix it or pass --database URL").database_url


def open_store(config: Path | None, database: str | None, *, create: bool = True) -> Store:
    """The Store for a command; a StoreError becomes a clear message and exit status 1."""
    from bot.adapters.store import Store
    from bot.core.errors import StoreError

    url = database_url(config, database)
    try:
        return Store.open(url, create=create)
    except StoreError as exc:
        err_console.print(f"[bold red]database error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from exc


@db_app.command("upgrade")
def upgrade(
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """Create or upgrade the database schema (idempotent; the daemon also does it at start)."""
    from bot.core.errors import StoreError

    store = open_store(config, database)
    try:
        before, after = store.upgrade()
    except StoreError as exc:
        err_console.print(f"[bold red]database error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from exc
    finally:
        store.close()
    if before == after:
        console.print(f"database {store.url} is up to date (revision {after})", highlight=False)
    else:
        console.print(f"database {store.url} upgraded from {before or 'empty'} to {after}", highlight=False)
