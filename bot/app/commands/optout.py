"""`socialbot optout list|add|remove`: the permanent opt-out list (no replies, DMs or coupons)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.markup import escape

from bot.app.commands.common import ConfigOption, PlatformOption, console, err_console
from bot.app.commands.db import DatabaseOption, open_store

optout_app = typer.Typer(
    help="People who opted out: nothing (replies, DMs, coupons) reaches them. List, add or remove.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(optout_app, name="optout")


def _handle(value: str) -> str:
    handle = value.strip().lstrip("@＠")
    if not handle or not all(c.isalnum() or c == "_" for c in handle) or len(handle) > 50:
        raise typer.BadParameter(f"{value!r} is not a handle such as @someone", param_hint="HANDLE")
    return handle


@optout_app.command("list")
def list_optouts(
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """Everyone who opted out, oldest first."""
    from rich.table import Table

    from bot.core.errors import StoreError

    store = open_store(config, database, create=False)
    try:
        rows = store.optouts()
    except StoreError as exc:
        err_console.print(f"[bold red]database error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from exc
    finally:
        store.close()
    table = Table(title="opt-outs (permanent)")
    for column in ("since", "platform", "user", "user id", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        user = f"@{row.username}" if row.username else ""
        table.add_row(
            *(escape(v) for v in (_when(row.created_at), row.platform, user, row.user_id or "", row.reason or ""))
        )
    console.print(table)
    if not rows:
        console.print("nobody opted out")


@optout_app.command("add")
def add(
    handle: str = typer.Argument(..., help="The person's handle, e.g. @someone."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept with the opt-out)."),
    platform: str = PlatformOption,
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """Opt a person out for good (by handle; their id when the bot has seen them)."""
    from bot.core.errors import StoreError

    name = _handle(handle)
    store = open_store(config, database, create=False)
    try:
        known = store.social_user(platform, username=name)
        added = store.add_optout(
            platform,
            user_id=known.user_id if known else None,
            username=known.username if known and known.username else name,
            reason=reason or "added by hand",
        )
    except StoreError as exc:
        err_console.print(f"[bold red]database error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from exc
    finally:
        store.close()
    if not added:
        console.print(f"@{name} had already opted out", highlight=False)
        return
    detail = f" (user id {known.user_id})" if known else " (not seen yet: matched by handle)"
    console.print(f"@{name} opted out{detail}", highlight=False)


@optout_app.command("remove")
def remove(
    handle: str = typer.Argument(..., help="The person's handle, e.g. @someone."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    platform: str = PlatformOption,
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """Remove an opt-out (the only way back: only when the person asked to hear from the shop again)."""
    from bot.core.errors import StoreError

    name = _handle(handle)
    if not yes:
        typer.confirm(
            f"@{name} asked not to be contacted. Remove the opt-out so the bot may reply to them again?",
            abort=True,
        )
    store = open_store(config, database, create=False)
    try:
        known = store.social_user(platform, username=name)
        removed = store.remove_optout(platform, user_id=known.user_id if known else None, username=name)
    except StoreError as exc:
        err_console.print(f"[bold red]database error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from exc
    finally:
        store.close()
    if not removed:
        err_console.print(f"@{name} is not on the opt-out list")
        raise typer.Exit(1)
    console.print(f"@{name} removed from the opt-out list", highlight=False)


def _when(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
