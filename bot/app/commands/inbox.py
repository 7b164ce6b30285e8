"""`socialbot inbox`: what needs a human (complaints, escalations); `socialbot inbox resolve ID [--note]`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from bot.app.commands.common import ConfigOption, console, err_console, local_time, opened_store
from bot.app.commands.database import DatabaseOption

inbox_app = typer.Typer(
    help="Mentions a person must handle (complaints and other escalations): list them, resolve one.",
    invoke_without_command=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(inbox_app, name="inbox")


@inbox_app.callback()
def list_items(
    ctx: typer.Context,
    show_all: bool = typer.Option(False, "--all", help="Resolved items too."),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """List open inbox items, oldest first."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    with opened_store(config, database, create=False) as store:
        items = store.mentions.inbox_items(status=None if show_all else "open")
    table = Table(title="inbox (all)" if show_all else "inbox (open)")
    columns = ["id", "when", "account", "user", "intent", "text"]
    if show_all:
        columns += ["status", "note"]
    columns.append("webhook")
    for column in columns:
        table.add_column(column, overflow="fold")
    for item in items:
        user = f"@{item.username}" if item.username else (item.user_id or "")
        row = [str(item.id), local_time(item.created_at), item.account, user, item.intent or "", item.text]
        if show_all:
            row += [item.status, item.note or ""]
        row.append(item.webhook_status or "")
        table.add_row(*(escape(value) for value in row))
    console.print(table)
    if not items:
        console.print("nothing to handle" if not show_all else "the inbox is empty")


@inbox_app.command("resolve")
def resolve(
    item_id: int = typer.Argument(..., help="The inbox item id (first column of `socialbot inbox`)."),
    note: str | None = typer.Option(None, "--note", help="What was done (kept with the item)."),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """Mark an open inbox item resolved."""
    with opened_store(config, database, create=False) as store:
        item = store.mentions.inbox_item(item_id)
        done = store.mentions.resolve_inbox(item_id, note) if item is not None else False
    if item is None:
        err_console.print(f"no inbox item with id {item_id}")
        raise typer.Exit(1)
    if not done:
        err_console.print(f"inbox item {item_id} is already {item.status}")
        raise typer.Exit(1)
    console.print(f"inbox item {item_id} resolved", highlight=False)
