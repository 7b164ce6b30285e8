"""`socialbot preview` and `socialbot schedule`: what a campaign will post, and when. No credentials; no database,
except that `schedule` reads a best_times campaign's readings from the configured database (read-only) when it
exists, and says why each of its slots was chosen; and for a `pick: interest` campaign both read the latest graph
snapshot, mentions and orders the same way and say which product each slot names and why."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from bot.app.commands.common import ConfigOption, console, err_console, load_settings

if TYPE_CHECKING:
    from bot.adapters.scheduling import SlotSpec
    from bot.adapters.store import Store
    from bot.domains.publishing.campaigns import CampaignService
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
    product: int | None = None
    why: str | None = None
    if conf.pick == "interest":
        with _database_if_any(settings) as (store, missing):
            product, why = ProductChooser(settings, store, missing).choose(campaign, slot, spec)
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
    if why is not None:
        console.print(f"product (pick: interest): {escape(why)}", highlight=False)
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
                    campaign, slot_at=slot, sequence=sequence, variant=index, account=name, product=product
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
def _database_if_any(settings: Settings) -> Iterator[tuple[Store | None, str | None]]:
    """The configured database when it exists (only read, never created or upgraded), else (None, why not)."""
    from bot.adapters.store import Store
    from bot.core.errors import StoreError

    try:  # create=False: a SQLite file that does not exist is not made
        store = Store.open(settings.database_url, create=False, wal_checkpoints=False)
    except StoreError as exc:
        yield None, str(exc)
        return
    try:
        yield store, None
    finally:
        store.close()


def _outcomes_of(store: Store | None, missing: str | None) -> tuple[Any, str | None]:
    """store.outcomes when the database holds the readings' tables, else (None, why the best times fall back to
    evenly spread hours)."""
    from bot.core.errors import StoreError

    if store is None:
        return None, missing
    try:
        store.outcomes.ages()
    except StoreError:
        return None, "the database has no post readings table yet (run `socialbot db upgrade`)"
    return store.outcomes, None


class ProductChooser:
    """The product a `pick: interest` slot names and why, as the daemon would pick it now: CampaignService's
    product_choice over the interests of the database's latest graph snapshot (read once); the rotation's product,
    with the reason, when there is no database or graph yet."""

    def __init__(self, settings: Settings, store: Store | None, missing: str | None) -> None:
        from bot.adapters.templating import TemplateRenderer
        from bot.core.clock import SystemClock
        from bot.core.errors import StoreError
        from bot.domains.audience.interests import InterestPicker, interests_from_store
        from bot.domains.publishing.campaigns import CampaignService

        self.settings = settings
        self.service: CampaignService | None = None
        self.missing = f"no database to read interests from ({missing})" if missing else None
        if store is None:
            return
        clock = SystemClock()
        try:
            interests = interests_from_store(store, settings, clock.now())
        except StoreError as exc:
            self.missing = f"the database's audience graph cannot be read ({exc})"
            return
        if interests is None:
            self.missing = "no audience graph yet (the daemon makes one; so does `socialbot graph report`)"
            return
        picker = InterestPicker(store, settings, clock, interests=interests)
        self.service = CampaignService(settings, store, TemplateRenderer(settings), clock, products=picker)

    def choose(self, name: str, slot: datetime, spec: SlotSpec) -> tuple[int | None, str]:
        """(index of the product the slot names, None: the rotation's; "product: why" in words)."""
        from bot.adapters.scheduling import slot_sequence

        products = [p.name for p in self.settings.campaigns[name].products]
        if not products:
            return None, "the campaign has no products"
        if len(products) == 1:
            return None, f"{products[0]} (the campaign's only product)"
        choice = self.service.product_choice(name, slot) if self.service is not None else None
        if choice is not None:
            return choice.index, f"{products[choice.index]}: {choice.reason}"
        turn = products[slot_sequence(spec, slot) % len(products)]
        return None, f"{turn} (in turn: {self.missing or 'the picker had no answer'})"


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
    best = any(isinstance(settings.campaigns[name].schedule, BestTimesSchedule) for name in names)
    picks = any(settings.campaigns[name].pick == "interest" for name in names)
    if not best and not picks:
        _schedule_table(settings, names, after, next_count, campaign, None, None)
        return
    with _database_if_any(settings) as (store, missing):
        outcomes, why_not = _outcomes_of(store, missing) if best else (None, None)
        chooser = ProductChooser(settings, store, missing) if picks else None
        _schedule_table(settings, names, after, next_count, campaign, outcomes, why_not, chooser)


def _schedule_table(
    settings: Settings,
    names: list[str],
    after: datetime,
    next_count: int,
    campaign: str | None,
    outcomes: Any,
    missing: str | None,
    chooser: ProductChooser | None = None,
) -> None:
    from rich.table import Table

    from bot.adapters.scheduling import next_slots, period_start, zone
    from bot.domains.publishing.campaigns import best_times_planner, campaign_spec
    from bot.settings.campaigns import BestTimesSchedule

    rows: list[tuple[datetime, str]] = []
    reasons: dict[tuple[datetime, str], str] = {}
    specs: dict[str, SlotSpec] = {}
    now = datetime.now(UTC)
    for name in names:
        conf = settings.campaigns[name]
        best = conf.schedule if isinstance(conf.schedule, BestTimesSchedule) else None
        planner = best_times_planner(settings, name, outcomes) if best is not None else None
        spec = specs[name] = campaign_spec(settings, name, planner)
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
    picking = chooser is not None and any(settings.campaigns[name].pick == "interest" for _, name in rows)
    if picking:
        table.add_column("product and why")
    for slot, name in rows:
        conf = settings.campaigns[name]
        tz = settings.campaign_timezone(name)
        label = name if conf.enabled else f"{name} (disabled)"
        cells = [_local(slot, tz), label, ", ".join(conf.targets), str(tz), conf.template]
        if reasons:
            why = reasons.get((slot, name), "")
            cells.append(f"{slot.astimezone(zone(tz)).strftime('%a %H:%M')}: {why}" if why else "")
        if picking:
            assert chooser is not None
            cells.append(escape(chooser.choose(name, slot, specs[name])[1]) if conf.pick == "interest" else "")
        table.add_row(*cells)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("preview")(preview)
    app.command("schedule")(schedule)
