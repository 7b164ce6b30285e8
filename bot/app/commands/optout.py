"""`socialbot optout list|add|remove`: the permanent opt-out list (no replies, DMs or coupons)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from bot.app.commands.common import ConfigOption, PlatformOption, console, err_console, local_time, opened_store
from bot.app.commands.database import DatabaseOption

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

    with opened_store(config, database, create=False) as store:
        rows = store.mentions.optouts()
    table = Table(title="opt-outs (permanent)")
    for column in ("since", "platform", "user", "user id", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        user = f"@{row.username}" if row.username else ""
        table.add_row(
            *(escape(v) for v in (local_time(row.created_at), row.platform, user, row.user_id or "", row.reason or ""))
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
    name = _handle(handle)
    with opened_store(config, database, create=False) as store:
        known = store.people.social_user(platform, username=name)
        added = store.mentions.add_optout(
            platform,
            user_id=known.user_id if known else None,
            username=known.username if known and known.username else name,
            reason=reason or "added by hand",
        )
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
    name = _handle(handle)
    if not yes:
        typer.confirm(
            f"@{name} asked not to be contacted. Remove the opt-out so the bot may reply to them again?",
            abort=True,
        )
    with opened_store(config, database, create=False) as store:
        known = store.people.social_user(platform, username=name)
        removed = store.mentions.remove_optout(platform, user_id=known.user_id if known else None, username=name)
    if not removed:
        err_console.print(f"@{name} is not on the opt-out list")
        raise typer.Exit(1)
    console.print(f"@{name} removed from the opt-out list", highlight=False)
