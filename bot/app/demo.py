"""The credential-free demo: the daemon against a built-in X sandbox (or, with platform="bluesky", the local AT
Protocol network of scripts/bluesky-devnet), a temporary database, fast schedules."""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from bot.settings.config import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoOptions:
    config_path: Path
    seconds: float = 60
    slot_seconds: float = 4
    json_summary: Path | None = None
    log_level: str = "WARNING"
    audience_rate: float = 2.0  # simulated audience actions per second
    audience_users: int = 120
    audience_history: int = 150  # actions before the daemon's first poll
    rate_window_seconds: float = 20  # the sandbox's rate-limit windows (X: 900)
    graph_html: Path | None = Path("var/demo-graph.html")  # the audience-graph page (relative: to the config's folder)
    platform: str = (
        "x"  # "x": the built-in X sandbox; "bluesky": the local AT Protocol network (scripts/bluesky-devnet)
    )
    bluesky_people: int = 16  # Bluesky: customers on the local network (one createAccount each, ~0.2 s)


def demo_settings(
    settings: Settings,
    *,
    sandbox_url: str,
    database_url: str,
    slot_seconds: float,
    orders_csv: Path | None = None,
) -> Settings:
    """The shipped settings, pointed at the sandbox, with every enabled campaign firing every `slot_seconds`."""
    from bot.settings.config import IntervalSchedule

    accounts = {
        name: account.model_copy(update={"platform": "sandbox", "base_url": sandbox_url, "credentials": None})
        for name, account in settings.accounts.items()
    }
    interval = f"{max(1, round(slot_seconds))}s"
    campaigns = {
        name: campaign.model_copy(update={"schedule": IntervalSchedule(interval=interval), "start": None, "end": None})
        for name, campaign in settings.campaigns.items()
    }
    delivery = settings.delivery.model_copy(
        update={
            "min_spacing_seconds": 0,
            "per_account_per_day": None,
            "poll_seconds": 0.5,
            "grace_minutes": max(2 * slot_seconds, 10) / 60,
        }
    )
    replies = settings.replies
    if replies.enabled:  # answer within seconds, whatever the time of day
        replies = replies.model_copy(update={"poll_seconds": 2.0, "quiet_hours": None})
    graph = settings.graph.model_copy(
        update={
            "every": timedelta(seconds=max(10.0, 3 * slot_seconds)),
            "engagement": settings.graph.engagement.model_copy(update={"every": timedelta(seconds=20)}),
        }
    )
    segments = settings.segments.model_copy(
        update={"every": timedelta(seconds=max(10.0, 3 * slot_seconds)), "orders_csv": orders_csv}
    )
    coupons = settings.coupons.model_copy(update={"every": timedelta(seconds=5)})
    return settings.model_copy(
        update={
            "accounts": accounts,
            "campaigns": campaigns,
            "delivery": delivery,
            "database_url": database_url,
            "replies": replies,
            "graph": graph,
            "segments": segments,
            "coupons": coupons,
            "metrics": settings.metrics.model_copy(update={"ages": ("20s",), "every": timedelta(seconds=10)}),
        }
    )


def _audience_shop(settings: Settings) -> str | None:
    """The handle the simulated audience talks to: the first account whose mentions are answered."""
    name = _audience_account(settings)
    return settings.accounts[name].handle if name is not None else None


def run_demo(options: DemoOptions, *, console: Console) -> dict[str, Any]:
    if options.platform == "bluesky":
        return run_bluesky_demo(options, console=console)
    if options.platform != "x":
        raise ValueError(f"unknown demo platform {options.platform!r} (x or bluesky)")
    from bot.app.daemon import Daemon, DaemonOptions
    from bot.core.logs import setup_logging
    from bot.sandbox.server import SandboxServer

    setup_logging(options.log_level)
    with tempfile.TemporaryDirectory(prefix="socialbot-demo-") as tmp, SandboxServer() as sandbox:
        database_url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        console.print(f"[bold]socialbot demo[/]: X sandbox at {sandbox.url}, database {database_url}")
        # the demo runs days of campaigns in a minute, so X's 15-minute rate-limit windows pass faster too
        # (same limits per window; the bot still waits for each reset it is told)
        from bot.sandbox.ratelimit import DEFAULT_LIMITS

        window = {"window": options.rate_window_seconds}
        sandbox.configure_faults({"rate_limits": dict.fromkeys(DEFAULT_LIMITS, window)})

        orders_csv = Path(tmp) / "orders.csv"
        audiences: list[Any] = []

        def hook(settings: Settings) -> Settings:
            shop_handle = _audience_shop(settings)
            if shop_handle is not None and not audiences:
                from bot.sandbox.audience import Audience

                audience_ = Audience(
                    sandbox.url, shop_handle, seed=7, users=options.audience_users, communities=4, influencers=4
                )
                audience_.write_orders_csv(orders_csv, product_column=True)  # the shop's order history
                audiences.append(audience_)
            return demo_settings(
                settings,
                sandbox_url=sandbox.url,
                database_url=database_url,
                slot_seconds=options.slot_seconds,
                orders_csv=orders_csv if audiences else None,
            )

        daemon = Daemon(DaemonOptions(config_path=options.config_path, settings_hook=hook, require_credentials=False))
        daemon.start()
        audience = None
        assert daemon.settings is not None
        shop = _audience_shop(daemon.settings)
        try:
            if shop is not None:
                # some history (people talking, influencers' shout-outs, likes of the shop's posts), every
                # intent in English and Chinese, DMs, and the odd and hostile texts; then a steady trickle
                audience = audiences[0].setup()
                history = audience.step(options.audience_history)
                showcase = audience.showcase()
                console.print(
                    f"simulated audience: {len(audience.ground_truth().usernames)} people in 4 communities with 4 "
                    f"planted influencers; {len(history)} actions of history, {len(showcase)} showcase messages "
                    f"to @{shop}, then about {options.audience_rate:g} a second"
                )
                audience.start_background(rate_per_s=options.audience_rate)
            _watch(daemon, options.seconds, console, answering=shop is not None)
        finally:
            if audience is not None:
                audience.stop()
                audience.close()
            daemon.stop()
        from bot.app.demo_summary import summary as daemon_summary

        summary = daemon_summary(daemon, sandbox.stats_snapshot().get("requests", {}))
        summary.update(_graph_summary(daemon, options, console))
        summary.update(_coupon_summary(daemon, Path(tmp)))
    _finish(summary, options, console)
    return summary


SHOWCASE_INTENTS: tuple[str, ...] = ("question", "complaint", "coupon_request", "praise")


def bluesky_accounts(settings: Settings, *, pds_url: str, handles: dict[str, str], environ: dict[str, str]) -> Any:
    """The settings' accounts moved to the local Bluesky network: platform bluesky, the handle made there, the
    PDS as base_url, and the app password from SOCIALBOT_<ACCOUNT>_APP_PASSWORD in `environ`, as load_config
    reads it for an account that says `platform: bluesky` (the demo's config may say sandbox)."""
    from bot.settings.config import BlueskyCredentials, credential_variables

    accounts = {}
    for name, account in settings.accounts.items():
        (variable,) = credential_variables(name, "bluesky")
        accounts[name] = account.model_copy(
            update={
                "platform": "bluesky",
                "handle": handles[name],
                "base_url": pds_url,
                "credentials": BlueskyCredentials(app_password=environ[variable]),
            }
        )
    return accounts


def run_bluesky_demo(options: DemoOptions, *, console: Console) -> dict[str, Any]:
    """The demo on the local AT Protocol network: the shop's account made there (its app password goes to the
    daemon through the environment and is never printed), customers who mention it through their own sessions,
    and the same summary as the X demo, with what the PDS's ledger shows."""
    import os

    from bot.app.daemon import Daemon, DaemonOptions
    from bot.core.logs import setup_logging
    from bot.sandbox.bluesky_world import BlueskyWorld, Customers
    from bot.settings.config import credential_variables, load_config

    setup_logging(options.log_level)
    base = load_config(options.config_path, require_credentials=False)  # which accounts to make (a bad file: here)
    with (
        tempfile.TemporaryDirectory(prefix="socialbot-demo-") as tmp,
        _bluesky_network(console) as net,
        BlueskyWorld(net.pds_url) as world,
    ):
        database_url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        where = "started for the demo" if net.started_here else "already running"
        console.print(
            f"[bold]socialbot demo[/]: the local Bluesky network ({where}), PDS {net.pds_url}, database {database_url}"
        )
        environ = dict(os.environ)
        with console.status("creating the shop's account on the network and an app password for the bot"):
            made = {name: world.create_account(account.handle) for name, account in base.accounts.items()}
            for name, account in made.items():
                (variable,) = credential_variables(name, "bluesky")
                environ[variable] = world.app_password(account)  # the daemon's environment; never printed
        handles = {name: account.handle for name, account in made.items()}
        console.print("shop account(s): " + ", ".join(f"{name} = @{handle}" for name, handle in handles.items()))
        shop_name = _audience_account(base)
        customers: Customers | None = None
        orders_csv = Path(tmp) / "orders.csv"
        if shop_name is not None:
            with console.status(f"creating {options.bluesky_people} customers on the network"):
                customers = Customers(world, handles[shop_name], people=options.bluesky_people, communities=3, seed=7)
            customers.write_orders_csv(orders_csv)

        def hook(settings: Settings) -> Settings:
            settings = demo_settings(
                settings,
                sandbox_url=net.pds_url,
                database_url=database_url,
                slot_seconds=options.slot_seconds,
                orders_csv=orders_csv if customers is not None else None,
            )
            accounts = bluesky_accounts(settings, pds_url=net.pds_url, handles=handles, environ=environ)
            return settings.model_copy(update={"accounts": accounts})

        daemon = Daemon(
            DaemonOptions(
                config_path=options.config_path, environ=environ, settings_hook=hook, require_credentials=False
            )
        )
        daemon.start()
        try:
            if customers is not None:
                history = max(0, min(options.audience_history, 40))  # each is a real post (~50 ms)
                with console.status(f"{history} posts of history, then one mention per intent in English and Chinese"):
                    for _ in range(history):
                        customers.act()
                    for intent in SHOWCASE_INTENTS:
                        for language in ("en", "zh"):
                            customers.mention(intent=intent, language=language, kind="mention")
                console.print(
                    f"customers: {len(customers.people)} people in 3 communities with "
                    f"{len(customers.influencers)} influencers; {len(customers.mentions)} posts to "
                    f"@{customers.shop_handle} so far, then about {options.audience_rate:g} actions a second"
                )
                customers.start(per_second=options.audience_rate)
            _watch(daemon, options.seconds, console, answering=customers is not None)
            if customers is not None:
                customers.stop()
                _catch_up(daemon, len(customers.mentions), console)
        finally:
            if customers is not None:
                customers.stop()
            daemon.stop()
        from bot.app.demo_summary import summary as daemon_summary

        summary = daemon_summary(daemon, {})
        summary["platform"] = "bluesky"
        summary.update(_bluesky_ledger(world, made, customers))
        summary.update(_graph_summary(daemon, options, console))
        summary.update(_coupon_summary(daemon, Path(tmp)))
    _finish(summary, options, console)
    return summary


def _audience_account(settings: Settings) -> str | None:
    """The account whose mentions are answered (the customers talk to it), or None."""
    if not settings.replies.enabled or not settings.accounts:
        return None
    return (settings.replies.accounts or list(settings.accounts))[0]


@contextlib.contextmanager
def _bluesky_network(console: Console) -> Iterator[Any]:
    """The local network (SOCIALBOT_BLUESKY_PDS_URL, a running devnet, or one started here), with progress."""
    from bot.core.errors import BotError
    from bot.sandbox.bluesky_world import DevnetUnavailable, local_network

    with contextlib.ExitStack() as stack:
        with console.status("the local Bluesky network (the first start installs it: about 90 s)") as status:
            try:
                net = stack.enter_context(
                    local_network(on_line=lambda line: status.update(line.removeprefix("bluesky-devnet: ")))
                )
            except DevnetUnavailable as exc:
                raise BotError(f"the local Bluesky network cannot run here: {exc.reason}") from exc
        yield net


def _catch_up(daemon: Any, mentions: int, console: Console, *, timeout: float = 20.0) -> None:
    """After the customers stop: let the daemon read the last mentions and send what it queued for them."""
    deadline = time.monotonic() + timeout
    with console.status("answering the last mentions") as status:
        while time.monotonic() < deadline and daemon.store is not None:
            counts = daemon.store.outbox.summary()
            outbox = counts.get("outbox", {})
            waiting = outbox.get("pending", 0) + outbox.get("sending", 0) - counts.get("posts_pending", 0)
            seen = daemon.store.mentions.summary()["mentions_seen"]
            status.update(f"answering the last mentions: {seen} of {mentions} seen, {waiting} replies queued")
            if seen >= mentions and waiting <= 0:
                return
            time.sleep(0.5)


def _bluesky_ledger(world: Any, shops: dict[str, Any], customers: Any) -> dict[str, Any]:
    """What the PDS holds (com.atproto.repo.listRecords of the shop accounts): posts, replies, and how often
    each customer post to the shop was answered."""
    records = [record for account in shops.values() for record in world.ledger(account.did)]
    replies: dict[str, int] = {}
    for record in records:
        if record.reply_parent:
            replies[record.reply_parent] = replies.get(record.reply_parent, 0) + 1
    out: dict[str, Any] = {
        "pds_posts": sum(1 for r in records if not r.reply_parent),
        "pds_replies": sum(1 for r in records if r.reply_parent),
    }
    if customers is not None:
        uris = [m.uri for m in customers.mentions]
        out.update(
            {
                "customer_posts_to_shop": len(uris),
                "customer_posts_answered": sum(1 for uri in uris if replies.get(uri)),
                "customer_posts_answered_twice": sum(1 for uri in uris if replies.get(uri, 0) > 1),
                "customer_actions": dict(customers.actions),
                "customer_errors": len(customers.errors),
                "unanswered_customer_posts": [m.uri for m in customers.mentions if not replies.get(m.uri)],
            }
        )
    return out


def _watch(daemon: Any, seconds: float, console: Console, *, answering: bool, label: str = "running") -> None:
    """A progress bar for `seconds` with the daemon's figures (posts published, pending, failed; mentions and
    replies when it answers anyone)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=seconds)
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            counts = daemon.store.outbox.summary() if daemon.store else {}
            talk = daemon.store.mentions.summary() if daemon.store and answering else {}
            progress.update(
                task,
                completed=elapsed,
                description=(
                    f"{label}: {counts.get('posts_published', 0)} published, "
                    f"{counts.get('posts_pending', 0)} pending, {counts.get('posts_failed', 0)} failed; "
                    f"{talk.get('mentions_seen', 0)} mentions, {talk.get('replies_sent', 0)} replies"
                ),
            )
            time.sleep(0.25)
        progress.update(task, completed=seconds)


def _finish(summary: dict[str, Any], options: DemoOptions, console: Console) -> None:
    _print_summary(summary, console)
    if options.json_summary is not None:
        options.json_summary.parent.mkdir(parents=True, exist_ok=True)
        options.json_summary.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        console.print(f"JSON summary written to {options.json_summary}")


def _graph_summary(daemon: Any, options: DemoOptions, console: Console) -> dict[str, Any]:
    """A last analysis of everything the demo collected, its figures and (graph_html) its HTML page."""
    from bot.adapters.store import Store
    from bot.domains.audience.service import AnalysisService
    from bot.reports.graph_page import snapshot_html

    settings = daemon.settings
    if settings is None or not settings.graph.enabled:
        return {}
    store = Store.open(settings.database_url)
    try:
        with console.status("analysing the audience graph", spinner="dots") as status:
            run = AnalysisService(settings, store, daemon.clock, owner="demo").run(
                force=True, progress=lambda step: status.update(step)
            )
        if run is None or run.report.snapshot_id is None:
            return {}
        report = run.report
        out: dict[str, Any] = {
            "users_ranked": report.n_users,
            "communities": report.n_communities,
            "graph_interactions": report.n_interactions,
            "top_influencers": [f"@{u.username or u.user_id}" for u in report.top[:5]],
        }
        if options.graph_html is not None:
            target = options.graph_html
            if not target.is_absolute():
                target = options.config_path.resolve().parent / target
            snapshot = store.graphs.snapshot(report.snapshot_id)
            assert snapshot is not None
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(snapshot_html(store, settings, snapshot, report), encoding="utf-8")
            out["graph_html"] = str(target)
        return out
    finally:
        store.close()


def _coupon_summary(daemon: Any, tmp: Path) -> dict[str, Any]:
    """Segments as the daemon last built them, coupons issued and delivered, and some of the delivered ones
    redeemed by the simulated customers (a redemptions CSV imported as the shop would)."""
    import random

    from bot.adapters.store import Store
    from bot.domains.audience.segments import SegmentService
    from bot.domains.coupons.issuing import CouponService
    from bot.domains.coupons.redemptions import import_redemptions

    settings = daemon.settings
    if settings is None or not settings.segments.enabled:
        return {}
    store = Store.open(settings.database_url)
    try:
        run = store.segments.latest_run()
        if run is None:
            SegmentService(settings, store, daemon.clock, owner="demo").run(force=True)
            run = store.segments.latest_run()
        out: dict[str, Any] = {
            "segments": [{"id": s.segment_id, "label": s.label, "size": s.size} for s in store.segments.of_run(run.id)]
            if run is not None
            else []
        }
        if not settings.coupons.campaigns:
            return out
        CouponService(settings, store, daemon.clock).mark_delivered_by_outbox()
        delivered = [c for c in store.coupons.find() if c.delivered_at is not None and c.code]
        redeemers = random.Random(7).sample(delivered, k=(len(delivered) + 1) // 2)
        if redeemers:
            path = tmp / "redemptions.csv"
            lines = ["code,order_id,amount,time"]
            now = daemon.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
            lines += [f"{c.code},DEMO{1000 + i},{199 + 10 * i:.2f},{now}" for i, c in enumerate(redeemers)]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            import_redemptions(store, path)
        coupons = store.coupons.find()
        out.update(
            {
                "coupons_issued": sum(1 for c in coupons if c.code),
                "coupons_held_out": sum(1 for c in coupons if c.holdout),
                "coupons_delivered": sum(1 for c in coupons if c.delivered_at is not None),
                "coupons_redeemed": sum(1 for c in coupons if c.state == "redeemed"),
            }
        )
        return out
    finally:
        store.close()


def _print_summary(summary: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    table = Table(title="socialbot demo: what happened")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("posts published", str(summary["posts_published"]))
    table.add_row("posts failed", str(summary["posts_failed"]))
    table.add_row("posts still pending", str(summary["posts_pending"]))
    for state, count in sorted(summary["slots"].items()):
        table.add_row(f"slots {state}", str(count))
    for key, label in (
        ("mentions_seen", "mentions and DMs seen"),
        ("replies_sent", "replies sent"),
        ("escalations", "escalated to the inbox"),
        ("answered_from_data", "questions answered from the shop's data"),
        ("promises_without_inbox", "replies promising a follow-up nobody was given"),
        ("optouts", "opt-outs recorded"),
    ):
        table.add_row(label, str(summary[key]))
        if key == "mentions_seen":
            for outcome, count in summary.get("mentions_by_outcome", {}).items():
                table.add_row(f"  of which {outcome.replace('_', ' ')}", str(count))
    if summary.get("posts_rate_limited_until") and summary["posts_pending"]:
        table.add_row(
            "pending because",
            "X allows 100 posts and replies per window (15 min; in the demo 20 s); "
            f"they go at {summary['posts_rate_limited_until'][11:19]} UTC",
        )
    if "pds_posts" in summary:
        table.add_row("posts on the PDS (listRecords)", str(summary["pds_posts"]))
        table.add_row("replies on the PDS", str(summary["pds_replies"]))
    if "customer_posts_to_shop" in summary:
        table.add_row("customer posts to the shop", str(summary["customer_posts_to_shop"]))
        table.add_row("  answered (the rest: config rules)", str(summary["customer_posts_answered"]))
        table.add_row("  answered more than once", str(summary["customer_posts_answered_twice"]))
    if "users_ranked" in summary:
        table.add_row("people in the audience graph", str(summary["users_ranked"]))
        table.add_row("communities", str(summary["communities"]))
        table.add_row("top influencers", ", ".join(summary["top_influencers"]) or "-")
    if "coupons_issued" in summary:
        for key, label in (
            ("coupons_issued", "coupons issued"),
            ("coupons_held_out", "people held out (for uplift)"),
            ("coupons_delivered", "coupons delivered (with replies)"),
            ("coupons_redeemed", "coupons redeemed"),
        ):
            table.add_row(label, str(summary[key]))
    table.add_row("post metrics read", str(summary.get("post_metrics_read", 0)))
    for account, hours in sorted(summary.get("best_hours", {}).items()):
        table.add_row(f"best hours of {account} so far", ", ".join(hours) or "-")
    table.add_row("paid X calls this month", f"${summary.get('spend_usd', 0.0):,.2f}")
    console.print(table)
    if summary.get("segments"):
        segments = ", ".join(f"{s['label']} ({s['size']})" for s in summary["segments"])
        console.print(f"audience segments: {segments}", highlight=False)
    if summary.get("graph_html"):
        console.print(f"audience graph page: {summary['graph_html']}", highlight=False)
    for post in summary["recent_posts"]:
        console.print(f"  [dim]{post['campaign']}[/] {post['remote_id']}: {post['text']}", highlight=False)
    for reply in summary["recent_replies"]:
        console.print(f"  [dim]reply to {reply['to']}[/]: {reply['text']}", highlight=False)
