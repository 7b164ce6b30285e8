"""Engagement hours end to end, on SQLite and PostgreSQL: the collector reads a post's hourly analytics when it takes
its last reading (from the same read budget, billed as metrics), stores them once per hour, keeps its readings when
the analytics read fails; store.outcomes.activity counts the hours by their engagements (instead of the likes it
only saw late), and the best-time model's activity follows them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.core.costs import METRICS
from bot.core.models import Activity, EngagementHour
from bot.core.records import InteractionRecord, utc_day
from bot.domains.costs import SpendingCap
from bot.domains.outcomes.best_time import activity_cells
from bot.domains.outcomes.collect import MetricsCollector
from bot.domains.publishing.outbox import Outbox
from bot.sandbox.audience import Audience
from bot.sandbox.server import SandboxServer
from bot.settings.config import AccountConfig, Settings
from bot.settings.graph import EngagementConfig, GraphConfig
from bot.settings.metrics import MetricsConfig
from tests.conftest import REPO_ROOT
from tests.helpers import delivery

START = datetime(2030, 1, 7, 9, 20, tzinfo=UTC)
ANALYTICS = "GET /2/tweets/analytics"


def make_settings(*, budget: int = 10_000) -> Settings:
    return Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        templates_dir=REPO_ROOT / "templates",
        graph=GraphConfig(engagement=EngagementConfig(daily_read_budget=budget)),
        metrics=MetricsConfig(ages=["1h", "24h"]),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def server(clock: ManualClock) -> Iterator[SandboxServer]:
    s = SandboxServer(clock=clock, seed=9).start()
    yield s
    s.stop()


@pytest.fixture
def shop(server: SandboxServer, clock: ManualClock) -> Iterator[XPlatform]:
    platform = XPlatform.for_sandbox(server.url, "shop", account="shop", clock=clock)
    yield platform
    platform.close()


@pytest.fixture
def audience(server: SandboxServer) -> Iterator[Audience]:
    with Audience(server.url, "shop", seed=9, users=100, communities=3) as a:
        a.setup()
        yield a


def publish(store: Store, shop: XPlatform, clock: ManualClock, n: int) -> list[str]:
    for i in range(n):
        slot = clock.now() + timedelta(seconds=i)
        text = f"Deal {i}: the oak stool https://shop.example/p/{i}"
        assert store.slots.enqueue_campaign_slot("deals", slot, account="shop", text=text, variant=str(i % 2))
    outbox = Outbox(store, {"shop": shop}, delivery=delivery(), owner="t", clock=clock, rng=random.Random(1))
    assert outbox.deliver_due().sent == n
    return [str(item.remote_id) for item in store.outbox.items(state="sent", limit=None)]


def run_until(collector: MetricsCollector, audience: Audience, clock: ManualClock, hours: float) -> list[int]:
    """Play and collect every 20 minutes; the engagement hours stored by each pass."""
    stored = []
    end = clock.now() + timedelta(hours=hours)
    while clock.now() < end:
        clock.advance(timedelta(minutes=20))
        audience.play(clock.now())
        stored.append(collector.collect("shop", clock.now()).hours)
    return stored


def test_the_last_reading_brings_the_posts_hours(
    store: Store, server: SandboxServer, shop: XPlatform, audience: Audience, clock: ManualClock
) -> None:
    settings = make_settings()
    cap = SpendingCap(store.costs, settings.costs, settings.tz, clock)
    shop.use_cost_ledger(cap, settings.costs.prices.x)
    posts = publish(store, shop, clock, 3)
    collector = MetricsCollector(settings, store, {"shop": shop}, clock, spending=cap)
    stored = run_until(collector, audience, clock, 30)
    assert sum(stored) > 0 and len([n for n in stored if n]) == 1  # once: with the 24 h readings
    assert store.post_metrics.count("shop") == 6
    for post_id in posts:
        hours = store.post_metrics.hours("shop", post_id=post_id)
        assert hours and hours[0].hour == START.replace(minute=0) and hours[-1].hour < START + timedelta(hours=24)
        reading = next(r for r in store.post_metrics.readings("shop", post_id=post_id) if r["age"] == "24h")
        engaged = sum(reading[k] or 0 for k in ("likes", "reposts", "replies", "quotes", "bookmarks", "link_clicks"))
        assert sum(h.engagements for h in hours) <= engaged  # the 24 h window; the reading came a little later
        assert sum(h.engagements for h in hours) >= 0.9 * engaged
    cap.close()
    calls = list(store.costs.calls(START - timedelta(days=1), clock.now()))
    analytics = [c for c in calls if c.endpoint == ANALYTICS]
    assert [(c.items, c.purpose) for c in analytics] == [(3, METRICS)]
    day = utc_day(START + timedelta(days=1))
    assert store.engagement.reads_used("shop", day) + store.engagement.reads_used("shop", utc_day(START)) == 3 * 3
    # stored again (a second daemon, a repeated read): one row per hour, the counts replaced
    before = store.post_metrics.hours("shop")
    first = before[0]
    again = {first.post_id: [EngagementHour(first.post_id, first.hour, 999, 1000, 5)]}
    assert store.post_metrics.record_hours("shop", again, clock.now()) == 1
    after = store.post_metrics.hours("shop")
    assert len(after) == len(before) and after[0].engagements == 999 and after[0].impressions == 1000


def test_a_failed_analytics_read_keeps_the_readings(
    store: Store, server: SandboxServer, shop: XPlatform, audience: Audience, clock: ManualClock
) -> None:
    publish(store, shop, clock, 2)
    collector = MetricsCollector(make_settings(), store, {"shop": shop}, clock)
    run_until(collector, audience, clock, 23.5)
    server.configure_faults({"burst_429": 1, "burst_endpoint": ANALYTICS, "burst_reset_seconds": 3600})
    stored = run_until(collector, audience, clock, 6)
    assert sum(stored) == 0 and store.post_metrics.hours("shop") == []
    assert store.post_metrics.count("shop") == 4  # both ages of both posts
    assert store.rate_limits.blocked_until("shop", "analytics") is not None
    assert store.rate_limits.blocked_until("shop", "metrics") is None  # metric reads go on


def test_no_budget_for_the_hours_keeps_the_readings(
    store: Store, server: SandboxServer, shop: XPlatform, audience: Audience, clock: ManualClock
) -> None:
    publish(store, shop, clock, 2)
    collector = MetricsCollector(make_settings(budget=3), store, {"shop": shop}, clock)
    run_until(collector, audience, clock, 30)
    assert store.post_metrics.count("shop") == 4 and store.post_metrics.hours("shop") == []
    assert int(server.stats_snapshot()["requests"].get(ANALYTICS, 0)) == 0


def test_activity_counts_hours_by_their_engagements(store: Store, clock: ManualClock) -> None:
    store.accounts.set_platform_user_id("shop", "100")
    seen = START + timedelta(days=2)
    likes = [
        InteractionRecord("x", f"u{i}", "100", "like", post_id, seen) for i, post_id in enumerate(("p1", "p1", "p2"))
    ]
    for post_id in ("p1", "p2"):
        store.engagement.record("shop", post_id, interactions=[i for i in likes if i.post_id == post_id])
    hours = {
        "p1": [
            EngagementHour("p1", START.replace(minute=0), 5, 40, 1),
            EngagementHour("p1", START.replace(minute=0) + timedelta(hours=1), 0, 10, 0),  # views only
            EngagementHour("p1", START.replace(minute=0) + timedelta(hours=3), 2, 20, 0),
        ]
    }
    store.post_metrics.record_hours("shop", hours, seen)
    activity = store.outcomes.activity("shop", since=START - timedelta(days=1), until=START + timedelta(days=7))
    assert isinstance(activity, Activity)
    pairs = sorted(zip(activity.times, activity.weights, strict=True))
    hour = START.replace(minute=0).timestamp()
    # the hours with engagement at their middle, by engagements; p2's like when it was seen; p1's likes not again
    assert pairs == [(hour + 1800, 5.0), (hour + 3 * 3600 + 1800, 2.0), (seen.timestamp(), 1.0)]
    later = store.outcomes.activity("shop", since=START + timedelta(hours=2), until=START + timedelta(days=7))
    assert (hour + 1800) not in later.times
    cells = activity_cells(activity, ZoneInfo("UTC"))
    assert cells[0, 9] == 5.0 and cells[0, 12] == 2.0 and cells[2, 9] == 1.0  # Monday 09:00, 12:00; Wednesday
    assert np.isclose(cells.sum(), sum(activity.weights))
