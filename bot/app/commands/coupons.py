"""`socialbot coupons issue|list|report|import-redemptions`: targeted coupon campaigns and what they brought."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from bot.app.commands.common import ConfigOption, cli_owner, command_store, console, err_console, settings_for
from bot.app.commands.database import DatabaseOption

if TYPE_CHECKING:
    from bot.adapters.store import Store
    from bot.settings.config import Settings

coupons_app = typer.Typer(
    help="Coupon campaigns: issue codes to segments (exactly once, within budget), list them, import "
    "redemptions, report conversion and uplift against the holdout.",
    no_args_is_help=True,
)


IMPORT_EXAMPLES = 5  # bad rows and uncounted lines shown by import-redemptions (all: --problems-file)


def register(app: typer.Typer) -> None:
    app.add_typer(coupons_app, name="coupons")


def _service(settings: Settings, store: Store) -> Any:
    from bot.app.daemon.jobs import coupon_features
    from bot.core.clock import SystemClock
    from bot.domains.coupons.issuing import CouponService

    return CouponService(settings, store, SystemClock(), owner=cli_owner(), features=coupon_features(settings, store))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


@coupons_app.command("issue")
def issue(
    campaign: str | None = typer.Argument(None, help="One campaign (default: every enabled one)."),
    deliver: bool = typer.Option(True, "--deliver/--no-deliver", help="Then queue DMs / write exports."),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """Issue codes now to whoever is eligible (latest segmentation), with progress."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    settings = settings_for(config, database)
    names = [campaign] if campaign else [n for n, c in settings.coupons.campaigns.items() if c.enabled]
    if campaign and campaign not in settings.coupons.campaigns:
        known = ", ".join(sorted(settings.coupons.campaigns)) or "none configured"
        err_console.print(f"no coupon campaign {escape(campaign)!r} (campaigns: {escape(known)})")
        raise typer.Exit(2)
    if not names:
        err_console.print("no coupon campaigns configured (coupons.campaigns in config.yaml)")
        raise typer.Exit(1)
    table = Table(title="coupon issuance")
    for column in ("campaign", "targeted", "issued", "held out", "already", "opted out", "low influence",
                   "cooldown", "over budget", "budget left", "delivery", "note"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("campaign", "delivery", "note") else "right")
    with command_store(settings, create=True) as store:
        service = _service(settings, store)
        for name in names:
            with Progress(
                TextColumn(f"issuing {escape(name)}"), BarColumn(), MofNCompleteColumn(), console=err_console
            ) as progress:
                task = progress.add_task(name, total=None)
                report = service.issue(
                    name, progress=lambda done, total, t=task: progress.update(t, completed=done, total=total)
                )
            delivered = ""
            if deliver and settings.coupons.campaigns[name].channel != "reply":
                d = service.deliver(name)
                if d.channel == "dm":
                    delivered = f"{d.enqueued} DMs queued, {d.waiting} waiting"
                elif d.file is not None:
                    delivered = f"{d.exported} exported to {d.file}"
            table.add_row(
                escape(name),
                *(
                    str(v)
                    for v in (
                        report.targeted,
                        report.issued,
                        report.held_out,
                        report.already,
                        report.opted_out,
                        report.low_influence,
                        report.cooldown,
                        report.over_budget,
                        report.budget_left,
                    )
                ),
                escape(delivered),
                escape("; ".join(filter(None, (report.stopped, _targeting(report))))),
            )
    console.print(table)


def _targeting(report: Any) -> str:
    """How an uplift campaign chose its people this time, or why it gave the codes to its segments."""
    if report.fallback:
        return f"target uplift: its segments got the codes ({report.fallback})"
    if report.target == "uplift":
        return f"target uplift: {report.ranked} ranked highest, {report.explored} drawn at random"
    return ""


@coupons_app.command("list")
def list_(
    campaign: str | None = typer.Option(None, "--campaign", help="Only this campaign."),
    state: str | None = typer.Option(None, "--state", help="issued|delivered|redeemed|expired|held_out|forgotten"),
    limit: int = typer.Option(100, "--limit", min=0, help="Rows shown (0: all)."),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """Coupons with their person, code, state and dates."""
    from bot.core.records import CouponState

    if state is not None and state not in CouponState.ALL:
        err_console.print(f"unknown state {escape(state)!r} (one of {', '.join(CouponState.ALL)})")
        raise typer.Exit(2)
    settings = settings_for(config, database)
    with command_store(settings, create=True) as store:
        store.coupons.mark_delivered_by_outbox()
        rows = store.coupons.find(campaign=campaign, state=state, limit=limit or None)
    table = Table(title=f"coupons ({len(rows)} shown)")
    for column in ("id", "campaign", "person", "segment", "code", "state", "issued", "expires", "delivered",
                   "order"):  # fmt: skip
        table.add_column(column)
    for c in rows:
        table.add_row(
            str(c.id),
            escape(c.campaign),
            escape(f"@{c.username}" if c.username else f"{c.platform}:{c.user_id}"),
            "" if c.segment_id is None else str(c.segment_id),
            escape(c.code or "—"),
            c.state,
            c.issued_at.strftime("%Y-%m-%d %H:%M"),
            c.expires_at.strftime("%Y-%m-%d") if c.expires_at else "",
            c.delivered_at.strftime("%Y-%m-%d %H:%M") if c.delivered_at else "",
            escape(c.order_id or ""),
        )
    console.print(table)


@coupons_app.command("report")
def report(
    json_file: Path | None = typer.Option(None, "--json", help="Write the report as JSON (- for stdout)."),
    orders: Path | None = typer.Option(
        None, "--orders", help="Orders CSV for the holdout's conversion (default: segments.orders_csv)."
    ),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """Per campaign and segment: eligible, held out, issued, delivered, redeemed, conversion, revenue, uplift."""
    from bot.adapters.orders import read_orders_csv

    settings = settings_for(config, database)
    orders_path = orders if orders is not None else settings.orders_csv_path
    order_rows = None
    if orders_path is not None:
        order_rows, problems = read_orders_csv(orders_path)
        for problem in problems[:20]:
            err_console.print(f"[yellow]warning[/] {escape(str(problem))}", highlight=False)
        if problems and not order_rows:
            order_rows = None
    with command_store(settings, create=True) as store:
        rows = _service(settings, store).report(order_rows)
        depths, depth_problem = _depths(settings, store, order_rows)
        uplift = _uplift(settings, store)
    if json_file is not None:
        data = json.dumps({"orders": str(orders_path) if order_rows is not None else None,
                           "rows": [r.as_dict() for r in rows],
                           "depths": [d.as_dict() for d in depths],
                           "uplift": [u.as_dict() for u in uplift]}, indent=2, default=str)  # fmt: skip
        if str(json_file) == "-":
            sys.stdout.write(data + "\n")
            return
        json_file.parent.mkdir(parents=True, exist_ok=True)
        json_file.write_text(data + "\n", encoding="utf-8")
    table = Table(title="coupon campaigns" + ("" if order_rows is not None else " (no orders CSV: uplift n/a)"))
    for column in ("campaign", "segment", "eligible", "held out", "issued", "delivered", "redeemed", "conversion",
                   "revenue", "holdout conv.", "uplift"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("campaign", "segment") else "right")
    for r in rows:
        segment = "all" if r.segment == "all" else f"{r.segment_id} {r.segment or ''}".strip()
        table.add_row(
            escape(r.campaign),
            escape(segment),
            str(r.eligible),
            str(r.held_out),
            str(r.issued),
            str(r.delivered),
            str(r.redeemed),
            _pct(r.conversion),
            f"{r.revenue:,.2f}",
            _pct(r.holdout_conversion),
            "n/a" if r.uplift is None else f"{r.uplift * 100:+.1f} pts",
            style="bold" if r.segment == "all" else None,
        )
    if not rows:
        console.print("no coupons issued yet (`socialbot coupons issue`)")
        return
    console.print(table)
    if depth_problem:
        err_console.print(f"[red]discount depths:[/red] {escape(depth_problem)}", highlight=False)
    campaign = None
    for d in depths:
        if d.campaign != campaign:
            campaign = d.campaign
            console.print(f"\n[bold]{escape(campaign)}: the discount depth each segment needs[/bold]", highlight=False)
        console.print(escape(d.sentence(settings.currency)), highlight=False, soft_wrap=True)
    if uplift:
        console.print("\n[bold]coupons to the people they change (target: uplift)[/bold]", highlight=False)
    for u in uplift:
        console.print(escape(u.sentence()), highlight=False, soft_wrap=True)


def _uplift(settings: Settings, store: Store) -> list[Any]:
    """The `target: uplift` campaigns: how their codes were chosen and how well the ranking did."""
    from bot.app.daemon.jobs import coupon_features
    from bot.core.clock import SystemClock
    from bot.domains.coupons.uplift_report import uplift_rows

    return uplift_rows(settings, store.coupons, SystemClock().now(), coupon_features(settings, store))


def _depths(settings: Settings, store: Store, orders: Any) -> tuple[list[Any], str | None]:
    """The campaigns with several `discounts`: what each segment's depth learned (or why it cannot say)."""
    from bot.core.clock import SystemClock
    from bot.domains.coupons.depth_report import MarginError, depth_rows

    try:
        return depth_rows(settings, store, SystemClock().now(), orders), None
    except MarginError as exc:
        return [], str(exc)


@coupons_app.command("import-redemptions")
def import_redemptions_(
    file: Path = typer.Argument(..., help="CSV with code, order_id, amount, time."),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
    problems_file: Path | None = typer.Option(
        None,
        "--problems-file",
        help="Write every bad row and every line not counted to this CSV (line, problem, field, detail, "
        "order_id, code); the screen shows counts and the first few.",
    ),
) -> None:
    """Record the shop's redemptions; unknown, expired and reused codes are reported, never counted."""
    from bot.app.commands.check import LongProgress
    from bot.domains.coupons.redemptions import import_redemptions

    settings = settings_for(config, database)
    progress = LongProgress("import-redemptions")
    try:
        with command_store(settings, create=True) as store:
            result = import_redemptions(
                store,
                file,
                progress=lambda done, total: progress(f"importing {file}", done, total),
                problems_file=problems_file,
            )
    finally:
        progress.stop()
    shown = IMPORT_EXAMPLES
    unusable = [p for p in result.problems if p.line is None]
    for problem in unusable:
        err_console.print(f"[red]error[/red] {escape(str(problem))}", highlight=False, soft_wrap=True)
    if result.bad_rows:
        kinds = ", ".join(f"{kind} {count:,}" for kind, count in result.bad_kinds.most_common())
        err_console.print(
            f"[red]{result.bad_rows:,} bad row(s)[/red] ({escape(kinds)}), not imported"
            + (f"; the first {shown}:" if result.bad_rows > shown else ":"),
            highlight=False,
            soft_wrap=True,
        )
        for problem in [p for p in result.problems if p.line is not None][:shown]:
            err_console.print(f"  {escape(str(problem))}", highlight=False, soft_wrap=True)
    rejected = result.rejected()
    not_counted = sum(result.counts[s] for s in ("unknown", "expired", "reused"))
    if rejected:
        console.print(
            f"[yellow]{not_counted:,} line(s) recorded but not counted[/yellow]"
            + (f"; the first {shown}:" if not_counted > shown else ":"),
            highlight=False,
        )
        for r in rejected[:shown]:
            console.print(
                f"  [yellow]{r.status}[/yellow] order {escape(r.line.order_id)} code {escape(r.line.code)}"
                f" ({escape(r.line.source or '')})",
                highlight=False,
            )
    counts = result.counts
    console.print(
        f"{counts['counted']} counted, {counts['unknown']} unknown, {counts['expired']} expired, "
        f"{counts['reused']} reused, {counts['duplicate']} imported before, {counts['bad_rows']} bad rows",
        highlight=False,
    )
    if problems_file is not None:
        console.print(f"every bad row and line not counted: {escape(str(problems_file))}", highlight=False)
    elif result.bad_rows + not_counted > shown:
        console.print("the full list: --problems-file FILE", highlight=False)
    if unusable:
        raise typer.Exit(2)
