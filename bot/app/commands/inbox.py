"""`socialbot inbox`: what waits for a person (complaints, questions the shop's data does not answer, messages that
could not be processed), each with why and the customer's history; `socialbot inbox show ID`;
`socialbot inbox resolve ID [--note]`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from bot.app.commands.common import ConfigOption, console, err_console, opened_store, opened_store_in_zone, shop_time
from bot.app.commands.database import DatabaseOption

inbox_app = typer.Typer(
    help="Mentions a person must handle (complaints, unanswered questions...): list them, show one, resolve one.",
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

    with opened_store_in_zone(config, database) as (store, zone):
        items = store.mentions.inbox_items(status=None if show_all else "open")
        people = {(item.account, item.user_id) for item in items if item.user_id}
        counts = store.mentions.message_counts(people)
        earlier = {item.id: counts.get((item.account, item.user_id or ""), 0) - 1 for item in items}
    table = Table(title="inbox (all)" if show_all else "inbox (open)")
    columns = ["id", "when", "account", "user", "why", "earlier", "text"]
    if show_all:
        columns += ["status", "note"]
    columns.append("webhook")
    for column in columns:
        table.add_column(column, overflow="fold")
    for item in items:
        user = f"@{item.username}" if item.username else (item.user_id or "")
        before = max(earlier.get(item.id, 0), 0)
        history = f"{before} message{'s' if before != 1 else ''}" if before else ""
        why = item.reason or item.intent or ""
        row = [str(item.id), shop_time(item.created_at, zone), item.account, user, why, history, item.text]
        if show_all:
            row += [item.status, item.note or ""]
        row.append(item.webhook_status or "")
        table.add_row(*(escape(value) for value in row))
    console.print(table)
    if not items:
        console.print("nothing to handle" if not show_all else "the inbox is empty")
    elif any(earlier.values()):
        console.print("`socialbot inbox show ID` shows an item with the customer's earlier messages and our replies")


@inbox_app.command("show")
def show(
    item_id: int = typer.Argument(..., help="The inbox item id (first column of `socialbot inbox`)."),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """One inbox item: why it waits, what the customer wrote, and their history with the shop (their messages,
    how each ended, our replies)."""
    with opened_store_in_zone(config, database) as (store, zone):
        item = store.mentions.inbox_item(item_id)
        history = store.mentions.history(item.account, item.user_id, limit=20) if item and item.user_id else []
    if item is None:
        err_console.print(f"no inbox item with id {item_id}")
        raise typer.Exit(1)
    who = f"@{item.username}" if item.username else (item.user_id or "someone")
    console.print(f"inbox item {item.id} ({item.status}): {escape(who)} to {escape(item.account)}", highlight=False)
    console.print(f"why: {escape(item.reason or item.intent or 'escalated')}", highlight=False)
    console.print(f"when: {shop_time(item.created_at, zone)}", highlight=False)
    console.print(f"text: {escape(item.text)}", highlight=False)
    if item.note:
        console.print(f"note: {escape(item.note)}", highlight=False)
    if not history:
        console.print("no earlier messages from this customer are stored")
        return
    console.print(f"\nhistory ({len(history)} latest, newest first):", highlight=False)
    for exchange in history:
        m = exchange.mention
        ended = m.outcome.replace("_", " ")
        line = f"- {shop_time(m.seen_at, zone)} {m.kind} [{ended}] {m.text}"
        console.print(escape(line), highlight=False, soft_wrap=True)
        if exchange.reply_text:
            state = f" ({exchange.reply_state})" if exchange.reply_state else ""
            console.print(escape(f"    our reply{state}: {exchange.reply_text}"), highlight=False, soft_wrap=True)
        elif m.reason:
            console.print(escape(f"    {m.reason}"), highlight=False, soft_wrap=True)


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
