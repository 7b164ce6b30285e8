"""`socialbot costs [--month YYYY-MM]`: what each account's paid platform calls cost in a month (the cost ledger),
per day and per purpose, the monthly cap and what it stops now, in the shop's time zone."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from bot.app.commands.common import ConfigOption, command_store, console, settings_for
from bot.app.commands.database import DatabaseOption


def register(app: typer.Typer) -> None:
    app.command("costs")(costs)


def _month(value: str | None, now: datetime) -> tuple[int, int]:
    if value is None:
        return now.year, now.month
    try:
        moment = datetime.strptime(value.strip(), "%Y-%m")
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a month such as 2026-11", param_hint="--month") from None
    return moment.year, moment.month


def costs(
    month: str | None = typer.Option(None, "--month", help="The month, YYYY-MM (default: this month)."),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """What the paid platform calls cost this month (or --month), per account, day and purpose, and the cap."""
    from rich.markup import escape
    from rich.table import Table

    from bot.core.clock import SystemClock
    from bot.domains.costs import LABELS, STOP_AT, month_of, status, usd

    settings = settings_for(config, database)
    zone = settings.tz
    now = SystemClock().now().astimezone(zone)
    year, number = _month(month, now)
    start, end = month_of(year, number, zone)
    current = start <= now < end
    cap, warn_at = settings.costs.monthly_cap_usd, settings.costs.warn_at
    with command_store(settings) as store:
        totals = store.costs.totals(start, end, zone)
    title = start.strftime("%B %Y")
    accounts = sorted({t.account for t in totals} | set(settings.accounts))
    console.print(f"[bold]Paid platform calls in {title}[/bold] (days in {settings.timezone})", highlight=False)
    if cap is None:
        console.print("No monthly cap (costs.monthly_cap_usd is not set).", highlight=False)
    else:
        stops = ", ".join(f"{LABELS[p]} at {STOP_AT[p]:.0%}" for p in STOP_AT)
        console.print(
            f"Monthly cap: {usd(cap)} per account; a warning at {warn_at:.0%}; spending stops in this order: {stops}.",
            highlight=False,
        )
    for account in accounts:
        mine = [t for t in totals if t.account == account]
        spent = sum(t.usd for t in mine)
        state = status(spent, cap, warn_at)
        console.print()
        line = state.describe(account) if current else f"account {account}: {usd(spent)} spent in {title}"
        console.print(f"[bold]{escape(line)}[/bold]", highlight=False)
        if not mine:
            console.print("  no paid calls recorded", highlight=False)
            continue
        if current and state.warned and not state.stopped:
            console.print(f"  past the warning at {warn_at:.0%} of the cap; nothing is stopped yet", highlight=False)
        by_purpose: dict[str, list[float]] = {}
        by_day: dict[str, float] = {}
        for t in mine:
            entry = by_purpose.setdefault(t.purpose, [0, 0, 0.0])
            entry[0] += t.calls
            entry[1] += t.items
            entry[2] += t.usd
            label = t.day.strftime("%a %d %b")
            by_day[label] = by_day.get(label, 0.0) + t.usd
        purposes = Table(title=f"{account}: by purpose", title_justify="left")
        for column in ("what for", "calls", "items billed", "cost", "now"):
            purposes.add_column(column)
        for purpose, (calls, items, cost) in sorted(by_purpose.items(), key=lambda kv: -kv[1][2]):
            now_text = "stopped" if purpose in state.stopped and current else ""
            purposes.add_row(LABELS.get(purpose, purpose), str(int(calls)), str(int(items)), usd(cost), now_text)
        console.print(purposes)
        days = Table(title=f"{account}: by day", title_justify="left")
        days.add_column("day")
        days.add_column("cost")
        for t_day in sorted({t.day for t in mine}):
            label = t_day.strftime("%a %d %b")
            days.add_row(label, usd(by_day[label]))
        console.print(days)
