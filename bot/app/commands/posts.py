"""`socialbot posts report`: how every post did against the account's usual post, per campaign and variant, and
when to post (a weekday x hour heat map in the shop's time zone)."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from bot.app.commands.common import (
    ConfigOption,
    console,
    err_console,
    open_output,
    opened_store_in_zone,
    parse_since,
)
from bot.app.commands.database import DatabaseOption

if TYPE_CHECKING:
    from bot.adapters.orders import Visit
    from bot.adapters.store import Store
    from bot.domains.outcomes.attribution import Attribution
    from bot.domains.outcomes.report import PostReport
    from bot.settings.config import Settings

posts_app = typer.Typer(help="How the posts did: engagement, campaigns, variants, best times.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(posts_app, name="posts")


def _zone(zone: tzinfo | None) -> tzinfo:
    return zone or datetime.now().astimezone().tzinfo or UTC


@posts_app.command("report")
def report(
    campaign: str | None = typer.Option(None, "--campaign", help="Only this campaign's posts and variants."),
    since: str | None = typer.Option(
        None, "--since", help="Posted since: 7d, 16w, or a date such as 2026-12-01 (default: the last 16 weeks)."
    ),
    csv_file: Path | None = typer.Option(None, "--csv", help="Write every post as CSV (- for stdout)."),
    json_file: Path | None = typer.Option(None, "--json", help="Write the whole report as JSON (- for stdout)."),
    html_file: Path | None = typer.Option(None, "--html", help="Write a self-contained page with the heat maps."),
    limit: int = typer.Option(20, "--limit", min=1, help="At most this many posts on screen, newest first."),
    orders: Path | None = typer.Option(
        None, "--orders", help="Orders CSV with UTM columns or a landing URL (default: segments.orders_csv)."
    ),
    visits: Path | None = typer.Option(
        None, "--visits", help="Visits CSV (landing URL, time, order_id) for orders that carry no UTM themselves."
    ),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """Per post (time in the shop's zone, campaign, variant, text, engagement, lift, orders and revenue), per
    campaign, per variant (a 90% interval and its share of sends) and a weekday x hour heat map of the best times to
    post. Orders are attributed to posts by the UTM of their links (docs/outcomes.md, "Attribution")."""
    from bot.domains.outcomes.report import build_report

    settings = _shop_settings(config)
    with opened_store_in_zone(config, database) as (store, zone):
        tz = _zone(zone)
        now = store.clock.now()
        after = parse_since(since, tz, now)
        attribution = _attribution(settings, store, orders, visits)
        result = build_report(
            store.outcomes,
            tz,
            now,
            since=after,
            campaign=campaign,
            attribution=attribution,
            currency=settings.currency if settings is not None else "$",
            campaign_currency=_currencies(settings),
        )
    if result.empty:
        scope = f" for campaign {campaign}" if campaign else ""
        console.print(f"no readings yet{scope}: the daemon reads how posts did 1 h, 24 h and 7 d after they go out")
        return
    if csv_file is not None:
        _write_csv(result, csv_file)
    if json_file is not None:
        from bot.domains.outcomes.report import to_json

        out = open_output(json_file)
        json.dump(to_json(result), out, ensure_ascii=False, indent=2)
        out.write("\n")
        if out is not sys.stdout:
            out.close()
    if html_file is not None:
        from bot.reports.posts_page import render_html

        html_file.parent.mkdir(parents=True, exist_ok=True)
        html_file.write_text(render_html(result), encoding="utf-8")
    if "-" in (str(csv_file), str(json_file)):
        return
    _print(result, limit)


def _shop_settings(config: Path | None) -> Settings | None:
    """config.yaml when it can be read (its orders CSV, campaigns, accounts and currency), else None."""
    from bot.app.commands.common import config_path
    from bot.core.errors import ConfigError
    from bot.settings.config import load_config

    path = config_path(config)
    if not path.is_file():
        return None
    try:
        return load_config(path, require_credentials=False)
    except (ConfigError, OSError, ValueError):
        return None


def _currencies(settings: Settings | None) -> dict[str, str]:
    if settings is None:
        return {}
    return {name: settings.campaign_currency(name) for name in settings.campaigns}


def _attribution(
    settings: Settings | None, store: Store, orders: Path | None, visits: Path | None
) -> Attribution | None:
    """The orders CSV (--orders, else segments.orders_csv) attributed to the stored posts; None without one. Bad
    rows are warned about with their line and left out."""
    from bot.adapters.orders import read_orders_csv, read_visits_csv
    from bot.core.models import platform_name
    from bot.domains.outcomes.attribution import attribute, store_posts, utm_campaigns

    path = orders if orders is not None else settings.orders_csv_path if settings is not None else None
    if path is None:
        return None
    rows, problems = read_orders_csv(path)
    seen: list[Visit] = []
    if visits is not None:
        seen, visit_problems = read_visits_csv(visits)
        problems = [*problems, *visit_problems]
    for problem in problems[:20]:
        err_console.print(f"[yellow]warning[/] {escape(str(problem))}", highlight=False)
    if len(problems) > 20:
        err_console.print(f"[yellow]warning[/] … and {len(problems) - 20:,} more bad rows", highlight=False)
    if not rows and problems:
        return None
    campaigns: set[str] | dict[str, list[str]] = set()
    if settings is not None:
        campaigns = utm_campaigns({name: c.utm for name, c in settings.campaigns.items()})
    networks = {}
    if settings is not None:
        networks = {name: platform_name(account.platform) for name, account in settings.accounts.items()}
    lookup = store_posts(store, networks)
    if settings is None:  # no config: the campaigns the store has slots of are the shop's
        named = {o.utm["campaign"] for o in rows if o.utm.get("campaign")} | {v.utm["campaign"] for v in seen}
        campaigns = {name for name in named if store.slots.last_at(name) is not None}
    return attribute(rows, lookup, campaigns, visits=seen)


def _write_csv(result: PostReport, target: Path) -> None:
    from bot.domains.outcomes.report import CSV_COLUMNS, csv_rows

    out = open_output(target)
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(result))
    if out is not sys.stdout:
        out.close()


def _print(result: PostReport, limit: int) -> None:
    from rich.table import Table

    from bot.domains.outcomes.rates import WEEKDAYS
    from bot.domains.outcomes.report import ORDER_COLUMNS, POST_COLUMNS

    since = result.since.astimezone(result.posts[0].posted_at.tzinfo).strftime("%Y-%m-%d")
    console.print(f"{len(result.posts):,} posts since {since} (times in {result.zone})", highlight=False)
    for sentence in result.sentences():
        console.print(f"• {escape(sentence)}", highlight=False, soft_wrap=True)
    table = Table(title="posts, newest first")
    columns = POST_COLUMNS + (ORDER_COLUMNS if result.attributed else ())
    for column in columns:
        table.add_column(column, overflow="fold")
    for p in result.posts[:limit]:
        cells = p.cells() + (p.order_cells() if result.attributed else ())
        table.add_row(*(escape(v) for v in cells))
    console.print(table)
    if len(result.posts) > limit:
        console.print(f"… and {len(result.posts) - limit:,} older posts (--limit, --csv)", highlight=False)
    for account, model in result.models.items():
        heat = Table(title=f"{account}: engagement against your usual post, by weekday and hour ({result.zone})")
        heat.add_column("")
        for hour in range(24):
            heat.add_column(f"{hour:02d}", justify="right")
        top = model.lift.max()
        for weekday in range(7):
            cells = []
            for hour in range(24):
                value, n = float(model.lift[weekday, hour]), int(model.posts[weekday, hour])
                style = "bold green" if value >= top * 0.95 and value > 1.05 else ("green" if value > 1.1 else "")
                style = "red" if value < 0.9 else style
                text = f"{value:.1f}" if n or model.has_activity else "·"
                cells.append(f"[{style}]{text}[/]" if style else text)
            heat.add_row(WEEKDAYS[weekday][:3], *cells)
        console.print(heat)
