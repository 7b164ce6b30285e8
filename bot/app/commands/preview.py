"""`socialbot preview` and `socialbot schedule`: what a campaign will post, and when. No credentials; no database,
except that `schedule` reads a best_times campaign's readings from the configured database (read-only) when it
exists, and says why each of its slots was chosen."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from bot.app.commands.common import ConfigOption, console, err_console, load_settings

if TYPE_CHECKING:
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

TIME_HELP = "A date/time such as '2026-11-11 10:00' or '2026-11-11T10:00+08:00' (naive: the campaign's timezone)."


def _load(config: Path | None) -> Settings:
    return load_settings(config)


def _parse_time(value: str, tz: tzinfo) -> datetime:
    text = value.strip()
    if text.lower() == "now":
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        err_console.print(f"[red]error[/red] cannot read the time {value!r}. {TIME_HELP}", highlight=False)
        raise typer.Exit(code=2) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz, fold=0)
    return moment.astimezone(UTC)


def _local(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _unknown_campaign(settings: Settings, name: str) -> typer.Exit:
    known = ", ".join(sorted(settings.campaigns)) or "(none)"
    err_console.print(f"[red]error[/red] no campaign named {name!r}; campaigns: {known}", highlight=False)
    return typer.Exit(code=2)


def preview(
    campaign: str = typer.Argument(..., help="Campaign name from config.yaml."),
    at: str | None = typer.Option(None, "--at", help=f"Preview the first slot at or after this time. {TIME_HELP}"),
    variant: int | None = typer.Option(
        None, "--variant", help="Render this variant (0-based) instead of the rotation's."
    ),
    all_variants: bool = typer.Option(False, "--all", help="Render every variant of the template."),
    account_name: str | None = typer.Option(
        None, "--account", help="Only this account of a campaign that posts to several."
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Print a campaign's text for its next slot (or the slot at/after --at), its length and validity, for each
    of its accounts (each from its platform's template, measured by that platform's rule).

    Exit status 2 when a text is invalid (too long, template error) or the config is bad.
    """
    from rich.rule import Rule
    from rich.text import Text

    from bot.adapters.scheduling import next_slots, slot_sequence
    from bot.adapters.templating import TemplateRenderer
    from bot.core.errors import TemplateError
    from bot.domains.publishing.campaigns import campaign_spec

    settings = _load(config)
    if campaign not in settings.campaigns:
        raise _unknown_campaign(settings, campaign)
    conf = settings.campaigns[campaign]
    accounts = list(conf.targets)
    if account_name is not None:
        if account_name not in accounts:
            err_console.print(
                f"[red]error[/red] campaign {campaign} does not post to {account_name!r}; "
                f"its accounts: {', '.join(accounts)}",
                highlight=False,
            )
            raise typer.Exit(code=2)
        accounts = [account_name]
    spec = campaign_spec(settings, campaign)
    tz = settings.campaign_timezone(campaign)
    start = _parse_time(at, tz) if at else datetime.now(UTC)
    found = next_slots(spec.trigger(), None, spec.window, start, 1)
    if found:
        slot = found[0]
    else:
        slot = start.replace(microsecond=0)
        console.print(
            f"[yellow]note[/yellow] {campaign} has no slot at or after {_local(start, tz)}; "
            f"previewing as if one were at {_local(slot, tz)}",
            highlight=False,
        )
    sequence = slot_sequence(spec, slot)
    renderer = TemplateRenderer(settings)
    several = len(conf.targets) > 1
    first = settings.accounts.get(accounts[0])
    handle = f" (@{first.handle})" if first and not several else ""
    console.print(
        f"[bold]{campaign}[/bold] · "
        + (f"accounts {', '.join(conf.targets)}" if several else f"account {accounts[0]}{handle}")
        + f" · template {conf.template}"
        + ("" if conf.enabled else " · [yellow]disabled[/yellow]"),
        highlight=False,
    )
    console.print(
        f"slot {_local(slot, tz)} ({tz}) = {slot.strftime('%Y-%m-%dT%H:%M:%SZ')} · sequence {sequence}",
        highlight=False,
    )
    invalid = 0
    rotating = False
    for name in accounts:
        account = settings.accounts[name]
        try:
            template = renderer.campaign_template(campaign, name)
            unit = "graphemes" if renderer.account_network(name) == "bluesky" else "weighted"
            if several or template != conf.template:
                console.print(
                    f"[bold]{name}[/bold] (@{account.handle}, {account.platform}) · template {template}",
                    highlight=False,
                )
            count = renderer.variants(template)
            rotating = rotating or count > 1
            if all_variants:
                chosen = list(range(count))
            elif variant is not None:
                if not 0 <= variant < count:
                    err_console.print(f"[red]error[/red] variant {variant} does not exist; {template} has {count}")
                    raise typer.Exit(code=2)
                chosen = [variant]
            else:
                chosen = [sequence % count]
            for index in chosen:
                rendered = renderer.render_campaign(
                    campaign, slot_at=slot, sequence=sequence, variant=index, account=name
                )
                console.print(Rule(f"variant {rendered.variant} of {rendered.variants}", align="left"))
                console.print(Text(rendered.text), soft_wrap=True)
                console.print(Rule(style="dim"))
                if rendered.valid:
                    console.print(
                        f"length {rendered.length}/{rendered.limit} {unit} [green]valid[/green]", highlight=False
                    )
                else:
                    invalid += 1
                    console.print(
                        f"length {rendered.length}/{rendered.limit} {unit} [red]invalid[/red]: {rendered.reason}",
                        highlight=False,
                    )
        except TemplateError as exc:
            err_console.print(f"[red]error[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from exc
    if not all_variants and variant is None and rotating:
        console.print(
            "[dim]the daemon moves on to the next variant when this text was already posted by the account[/dim]"
        )
    if invalid:
        raise typer.Exit(code=2)


@contextmanager
def _outcomes_if_any(settings: Settings) -> Iterator[tuple[Any, str | None]]:
    """store.outcomes of the configured database when it exists and holds the readings' tables (only read, never
    created or upgraded), else (None, why the best times fall back to evenly spread hours)."""
    from bot.adapters.store import Store
    from bot.core.errors import StoreError

    try:  # create=False: a SQLite file that does not exist is not made
        store = Store.open(settings.database_url, create=False, wal_checkpoints=False)
    except StoreError as exc:
        yield None, str(exc)
        return
    try:
        try:
            store.outcomes.ages()
        except StoreError:
            yield None, "the database has no post readings table yet (run `socialbot db upgrade`)"
            return
        yield store.outcomes, None
    finally:
        store.close()


def schedule(
    next_count: int = typer.Option(10, "--next", "-n", min=1, help="How many upcoming slots to list."),
    campaign: str | None = typer.Option(None, "--campaign", help="Only this campaign."),
    start: str | None = typer.Option(None, "--from", help=f"List slots from this time instead of now. {TIME_HELP}"),
    config: Path | None = ConfigOption,
) -> None:
    """List upcoming slots of the enabled campaigns, soonest first, in each campaign's local time. A best_times
    campaign's slots come from its post readings (the configured database, only read) and say why each was chosen."""
    from bot.settings.campaigns import BestTimesSchedule

    settings = _load(config)
    if campaign is not None and campaign not in settings.campaigns:
        raise _unknown_campaign(settings, campaign)
    names = [campaign] if campaign is not None else list(settings.enabled_campaigns())
    after = _parse_time(start, settings.tz) if start else datetime.now(UTC)
    if any(isinstance(settings.campaigns[name].schedule, BestTimesSchedule) for name in names):
        with _outcomes_if_any(settings) as (outcomes, missing):
            _schedule_table(settings, names, after, next_count, campaign, outcomes, missing)
    else:
        _schedule_table(settings, names, after, next_count, campaign, None, None)


def _schedule_table(
    settings: Settings,
    names: list[str],
    after: datetime,
    next_count: int,
    campaign: str | None,
    outcomes: Any,
    missing: str | None,
) -> None:
    from rich.table import Table

    from bot.adapters.scheduling import next_slots, period_start, zone
    from bot.domains.publishing.campaigns import best_times_planner, campaign_spec
    from bot.settings.campaigns import BestTimesSchedule

    rows: list[tuple[datetime, str]] = []
    reasons: dict[tuple[datetime, str], str] = {}
    now = datetime.now(UTC)
    for name in names:
        conf = settings.campaigns[name]
        best = conf.schedule if isinstance(conf.schedule, BestTimesSchedule) else None
        planner = best_times_planner(settings, name, outcomes) if best is not None else None
        spec = campaign_spec(settings, name, planner)
        found = next_slots(spec.trigger(), None, spec.window, after, next_count)
        rows.extend((slot, name) for slot in found)
        if best is None or planner is None:
            continue
        tzi = zone(spec.tz)
        for slot in found:
            period = period_start(best, tzi, slot)
            why = next((p.why for p in spec.planned(period) if p.at == slot), "")
            if not planner.settled(best, tzi, period, now):
                cutoff = planner.cutoff(best, tzi, period).astimezone(tzi).strftime("%Y-%m-%d")
                why += f" (provisional: fixed from readings before {cutoff})"
            reasons[(slot, name)] = why
    rows.sort()
    rows = rows[:next_count]
    if not rows:
        what = f"campaign {campaign}" if campaign else "the enabled campaigns"
        console.print(f"no upcoming slots for {what} after {_local(after, settings.tz)}", highlight=False)
        return
    if reasons and missing is not None:
        console.print(
            f"[yellow]note[/yellow] best times: {missing}; their slots are spread evenly inside `within` "
            "until posts have readings",
            highlight=False,
        )
    table = Table(title=f"next {len(rows)} slot(s) after {_local(after, settings.tz)}", title_justify="left")
    table.add_column("local time", no_wrap=True)
    table.add_column("campaign", no_wrap=True)
    table.add_column("account", no_wrap=True)
    table.add_column("timezone", no_wrap=True)
    table.add_column("template", no_wrap=True, overflow="ellipsis")
    if reasons:
        table.add_column("why this time")
    for slot, name in rows:
        conf = settings.campaigns[name]
        tz = settings.campaign_timezone(name)
        label = name if conf.enabled else f"{name} (disabled)"
        cells = [_local(slot, tz), label, ", ".join(conf.targets), str(tz), conf.template]
        if reasons:
            why = reasons.get((slot, name), "")
            cells.append(f"{slot.astimezone(zone(tz)).strftime('%a %H:%M')}: {why}" if why else "")
        table.add_row(*cells)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("preview")(preview)
    app.command("schedule")(schedule)
