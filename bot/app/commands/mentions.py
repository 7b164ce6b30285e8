"""`socialbot mentions [--outcome O] [--since S]`: how every mention and DM ended (answered, handed to a person, or
not answered and why), newest first, with the count of each outcome."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.markup import escape

from bot.app.commands.common import ConfigOption, console, opened_store_in_zone, parse_since, shop_time
from bot.app.commands.database import DatabaseOption
from bot.core.records import Outcome

OUTCOME_WORDS = {
    Outcome.ANSWERED: "answered",
    Outcome.HANDED_OVER: "handed to a person",
    Outcome.NOT_ANSWERED: "not answered",
}


def register(app: typer.Typer) -> None:
    app.command("mentions")(list_mentions)


def _outcome(value: str | None) -> str | None:
    if value is None:
        return None
    wanted = value.strip().lower().replace("-", "_").replace(" ", "_")
    if wanted not in Outcome.ALL:
        choices = ", ".join(Outcome.ALL)
        raise typer.BadParameter(f"{value!r} is not an outcome; use one of {choices}", param_hint="--outcome")
    return wanted


def list_mentions(
    outcome: str | None = typer.Option(
        None, "--outcome", help="Only this outcome: answered, handed_over or not_answered."
    ),
    since: str | None = typer.Option(None, "--since", help="Seen since: 24h, 7d, or a date such as 2026-12-01."),
    account: str | None = typer.Option(None, "--account", help="Only this account (its name in config.yaml)."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """How each mention and DM ended: answered (the reply's outbox key), handed to a person (the reason) or not
    answered on purpose (the rule that decided)."""
    from rich.table import Table

    wanted = _outcome(outcome)
    with opened_store_in_zone(config, database) as (store, zone):
        after = parse_since(since, zone, datetime.now(UTC))
        counts = store.mentions.outcomes(since=after)
        rows = store.mentions.listing(outcome=wanted, since=after, account=account, limit=limit)
        authors = {(m.platform, m.author_id) for m in rows if m.author_id}
        handles = {
            (u.platform, u.user_id): u.username
            for platform in {p for p, _ in authors}
            for u in store.people.user_infos(platform, [a for p, a in authors if p == platform])
        }
    if as_json:
        for m in rows:
            record = {
                "seen_at": m.seen_at.isoformat() if m.seen_at else None,
                "account": m.account,
                "platform": m.platform,
                "kind": m.kind,
                "id": m.platform_id,
                "author": handles.get((m.platform, m.author_id or "")) or m.author_id,
                "intent": m.intent,
                "outcome": m.outcome,
                "reason": m.reason,
                "reply_key": m.reply_key,
                "text": m.text,
            }
            console.print_json(json.dumps(record, ensure_ascii=False))
        return
    total = sum(counts.values())
    words = ", ".join(f"{counts[o]:,} {OUTCOME_WORDS[o]}" for o in Outcome.ALL)
    scope = f" since {shop_time(after, zone)}" if after else ""
    console.print(f"{total:,} mentions and DMs{scope}: {words}", highlight=False)
    title = f"mentions ({OUTCOME_WORDS[wanted]})" if wanted else "mentions"
    table = Table(title=f"{title}, newest first")
    for column in ("when", "account", "from", "intent", "outcome", "why / reply", "text"):
        table.add_column(column, overflow="fold")
    for m in rows:
        handle = handles.get((m.platform, m.author_id or ""))
        who = f"@{handle}" if handle else (m.author_id or "")
        why = m.reason or ""
        if m.reply_key:
            why = f"{why}; reply {m.reply_key}" if why else f"reply {m.reply_key}"
        text = m.text if len(m.text) <= 120 else m.text[:119] + "…"
        cells = [shop_time(m.seen_at, zone), m.account, who, m.intent or "", OUTCOME_WORDS.get(m.outcome, m.outcome)]
        table.add_row(*(escape(value) for value in [*cells, why, text]))
    if rows:
        console.print(table)
    else:
        console.print("no mentions match" if (wanted or after or account) else "no mentions stored yet")
