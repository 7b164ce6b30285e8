"""Helpers shared by CLI commands."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import typer
from rich.console import Console
from rich.markup import escape

from bot.app.commands.database import database_override

if TYPE_CHECKING:
    from bot.adapters.store import Store
    from bot.settings.config import Settings

console = Console()
err_console = Console(stderr=True)

CONFIG_ENV = "SOCIALBOT_CONFIG"

ConfigOption = typer.Option(
    None,
    "--config",
    "-c",
    help="Path to config.yaml (default: $SOCIALBOT_CONFIG or ./config.yaml).",
)


PlatformOption = typer.Option("x", "--platform", help="The platform of the handle.")


def cli_owner() -> str:
    """Who holds a lease taken by a CLI command (the daemons' owners are host:pid:random)."""
    return f"cli:{os.getpid()}"


def config_path(value: Path | None) -> Path:
    if value is not None:
        return value
    return Path(os.environ.get(CONFIG_ENV, "config.yaml"))


def load_settings(config: Path | None, *, hint: str = "run `socialbot check` for details") -> Settings:
    """The config for a command (no credentials needed); every problem printed and exit status 2 when invalid."""
    from bot.core.errors import ConfigError
    from bot.settings.config import load_config

    path = config_path(config)
    try:
        return load_config(path, require_credentials=False)
    except ConfigError as exc:
        for problem in exc.problems:
            err_console.print(f"[red]error[/red] {escape(str(problem))}", highlight=False, soft_wrap=True)
        err_console.print(f"[red bold]invalid configuration[/red bold] in {escape(str(path))}; {hint}")
        raise typer.Exit(code=2) from exc


def settings_for(config: Path | None, database: str | None) -> Settings:
    """load_settings, with --database (or $SOCIALBOT_DATABASE_URL) over the config's database_url."""
    settings = load_settings(config)
    url = database_override(database)
    return settings.with_overrides(database_url=url) if url else settings


def database_url(config: Path | None, database: str | None) -> str:
    """--database, else $SOCIALBOT_DATABASE_URL, else the config's database_url (exit 2 on a bad config)."""
    return database_override(database) or load_settings(config, hint="fix it or pass --database URL").database_url


@contextmanager
def store_errors(hint: str | None = None) -> Iterator[None]:
    """A StoreError inside becomes a clear message (then `hint`) and exit status 1."""
    from bot.core.errors import StoreError

    try:
        yield
    except StoreError as exc:
        err_console.print(f"[bold red]database error:[/] {escape(str(exc))}", highlight=False)
        if hint:
            err_console.print(hint)
        raise typer.Exit(1) from exc


@contextmanager
def opened_store(config: Path | None, database: str | None, *, create: bool = True) -> Iterator[Store]:
    """The Store for a command (database_url), closed after; database errors become a clear message and exit
    status 1."""
    from bot.adapters.store import Store

    url = database_url(config, database)
    with store_errors():
        store = Store.open(url, create=create)
        try:
            yield store
        finally:
            store.close()


@contextmanager
def command_store(settings: Settings, *, create: bool = False) -> Iterator[Store]:
    """The Store of a command, upgraded; database errors become a clear message and exit status 1. Without
    `create`, a missing or empty database says how to make one."""
    from bot.adapters.store import Store

    with store_errors("(the daemon creates it; so does `socialbot db upgrade`)"):
        store = Store.open(settings.database_url, create=create)
    with store_errors():
        try:
            if not create and store.revision() is None:
                err_console.print(f"database {store.url} is empty: run `socialbot db upgrade` or the daemon first")
                raise typer.Exit(1)
            store.upgrade()
            yield store
        finally:
            store.close()


def local_time(value: datetime) -> str:
    """A moment in this machine's timezone, as the commands' tables show it."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def shop_zone(config: Path | None) -> tzinfo | None:
    """The shop's time zone (config.yaml's `timezone`) when the config can be read, else None (this machine's)."""
    from zoneinfo import ZoneInfo

    from bot.core.errors import ConfigError
    from bot.settings.config import load_config

    path = config_path(config)
    if not path.is_file():
        return None
    try:
        return ZoneInfo(load_config(path, require_credentials=False).timezone)
    except (ConfigError, OSError, ValueError):
        return None


@contextmanager
def opened_store_in_zone(
    config: Path | None, database: str | None, *, create: bool = False
) -> Iterator[tuple[Store, tzinfo | None]]:
    """opened_store and the shop's time zone, config.yaml read once: without --database its database_url and
    timezone (a bad config: exit 2); with --database, its timezone when it can be read (else this machine's)."""
    from zoneinfo import ZoneInfo

    url = database_override(database)
    if url is None:
        settings = load_settings(config, hint="fix it or pass --database URL")
        url, zone = settings.database_url, ZoneInfo(settings.timezone)
    else:
        zone = shop_zone(config)
    with opened_store(config, url, create=create) as store:
        yield store, zone


def shop_time(value: datetime | None, zone: tzinfo | None) -> str:
    """A moment in the shop's time zone (or this machine's), to the minute: '2026-12-03 14:05 CST'."""
    if value is None:
        return ""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def parse_since(value: str | None, zone: tzinfo | None, now: datetime) -> datetime | None:
    """--since: a duration back from now ('24h', '7d') or a date or time in the shop's time zone ('2026-12-01',
    '2026-12-01 09:00'); a bad value is a usage error naming the option."""
    from bot.core.durations import parse_duration

    if value is None:
        return None
    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither a duration such as 24h or 7d nor a date such as 2026-12-01", param_hint="--since"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone or now.astimezone().tzinfo)


def open_output(target: Path) -> TextIO:
    """A file to write (its folder made), or standard output for '-'."""
    if str(target) == "-":
        return sys.stdout
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.open("w", encoding="utf-8", newline="")


def parse_handle(value: str) -> str:
    """'@someone' -> 'someone'; a bad handle is a usage error naming it."""
    handle = value.strip().lstrip("@＠")
    if not handle or len(handle) > 100 or any(c.isspace() for c in handle):
        raise typer.BadParameter(f"{value!r} is not a handle such as @someone", param_hint="HANDLE")
    return handle
