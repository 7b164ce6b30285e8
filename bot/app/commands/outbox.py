"""`socialbot outbox`: list outbox rows with their reasons; `socialbot outbox retry ID` re-queues one."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.app.commands.common import ConfigOption, console, err_console, local_time, opened_store
from bot.app.commands.database import DatabaseOption

STATES = ("pending", "sending", "sent", "failed", "cancelled")

outbox_app = typer.Typer(
    help="Outgoing messages: list them (with failure reasons) or re-queue a dead one.",
    invoke_without_command=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(outbox_app, name="outbox")


@outbox_app.callback()
def list_items(
    ctx: typer.Context,
    state: str | None = typer.Option(None, "--state", help="Only this state: " + ", ".join(STATES) + "."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many rows, newest first."),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """List outbox rows, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    if state is not None and state not in STATES:
        raise typer.BadParameter(f"must be one of {', '.join(STATES)}", param_hint="--state")
    with opened_store(config, database, create=False) as store:
        items = store.outbox.items(state=state, limit=limit)
    table = Table(title=f"outbox ({state or 'all states'}, newest first)")
    for column in ("id", "key", "account", "kind", "state", "attempts", "next attempt", "remote id", "reason"):
        table.add_column(column, overflow="fold")
    for item in items:
        reason = item.last_error or ""
        if item.outcome_unknown and item.state in ("pending", "sending"):
            reason = f"(outcome unknown: will reconcile) {reason}".strip()
        table.add_row(
            str(item.id),
            item.key,
            item.account,
            item.kind,
            item.state,
            str(item.attempts),
            local_time(item.next_attempt_at) if item.state in ("pending", "sending") else "",
            item.remote_id or "",
            reason,
        )
    console.print(table)
    if not items:
        console.print("no outbox rows" + (f" in state {state}" if state else ""))


@outbox_app.command("retry")
def retry(
    item_id: int = typer.Argument(..., help="The outbox row id (first column of `socialbot outbox`)."),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """Re-queue a dead (failed) or cancelled row now, with its attempts reset."""
    with opened_store(config, database, create=False) as store:
        item = store.outbox.item(item_id)
        done = store.outbox.retry(item_id) if item is not None else False
    if item is None:
        err_console.print(f"no outbox row with id {item_id}")
        raise typer.Exit(1)
    if not done:
        err_console.print(
            f"outbox row {item_id} ({item.key}) is {item.state}: only failed or cancelled rows can be retried"
        )
        raise typer.Exit(1)
    console.print(f"outbox row {item_id} ({item.key}) re-queued", highlight=False)
