"""Post metrics end to end: the X adapter against the sandbox over HTTP (batches, own vs others, old posts,
malformed answers), the store's due readings on SQLite and PostgreSQL, and the collector reading every delivered
post at +1 h, +24 h and +7 d once, within the daily read budget, as the planted audience plays over simulated time."""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.adapters.platforms.x import XPlatform
from bot.adapters.platforms.x.records import Malformed, metrics_of
from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.core.records import utc_day
from bot.domains.costs.cap import SpendingCap
from bot.domains.outcomes.collect import MetricsCollector
from bot.domains.publishing.outbox import Outbox
from bot.sandbox.audience import Audience
from bot.sandbox.server import SandboxServer
from bot.settings.config import AccountConfig, Settings
from bot.settings.costs import CostsConfig
from bot.settings.graph import EngagementConfig, GraphConfig
from bot.settings.metrics import MetricsConfig
from tests.conftest import REPO_ROOT
from tests.helpers import delivery

LOOKUP = "GET /2/tweets"


def make_settings(*, budget: int = 10_000, ages: tuple[str, ...] = ("1h", "24h", "7d")) -> Settings:
    return Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        templates_dir=REPO_ROOT / "templates",
        graph=GraphConfig(engagement=EngagementConfig(daily_read_budget=budget)),
        metrics=MetricsConfig(ages=list(ages)),
    )


@pytest.fixture
def clock() -> ManualClock:
    # real time: the X adapter never lets a rate limit end before real now
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def server(clock: ManualClock) -> Iterator[SandboxServer]:
    s = SandboxServer(clock=clock).start()
    yield s
    s.stop()


@pytest.fixture
def shop(server: SandboxServer, clock: ManualClock) -> Iterator[XPlatform]:
    platform = XPlatform.for_sandbox(server.url, "shop", account="shop", clock=clock)
    yield platform
    platform.close()


def lookups(server: SandboxServer) -> int:
    return int(server.stats_snapshot()["requests"].get(LOOKUP, 0))


def publish(store: Store, shop: XPlatform, clock: ManualClock, texts: list[str], variant: str = "0") -> list[str]:
    """Campaign posts through the real slots and outbox; returns their remote ids."""
    slots = []
    for text in texts:
        slot = clock.now() + timedelta(seconds=len(slots))
        assert store.slots.enqueue_campaign_slot("deals", slot, account="shop", text=text, variant=variant)
        slots.append(slot)
    outbox = Outbox(store, {"shop": shop}, delivery=delivery(), owner="t", clock=clock, rng=random.Random(1))
    assert outbox.deliver_due().sent == len(texts)
    clock.advance(timedelta(seconds=len(texts)))
    by_text = {item.text: str(item.remote_id) for item in store.outbox.items(state="sent", limit=None)}
    return [by_text[text] for text in texts]


# ------------------------------------------------------------------------------------------ the adapter


def test_adapter_reads_own_recent_old_and_others_posts(
    server: SandboxServer, shop: XPlatform, clock: ManualClock
) -> None:
    me = shop.me().id
    other = server.add_user("someone")
    old = server.add_tweet(me, "an old post https://shop.example/a")
    clock.advance(timedelta(days=31))
    recent = server.add_tweet(me, "a new post https://shop.example/b")
    theirs = server.add_tweet(other, "their post")
    server.world.like(other, recent)
    for tid in (old, recent, theirs):
        server.world.post_counters[tid] = {"impressions": 50, "link_clicks": 4, "profile_clicks": 2, "bookmarks": 1}
    got = shop.post_metrics([recent, old, theirs, "1999999999999999999"])
    assert set(got) == {recent, old, theirs}  # the missing one left out
    assert got[recent].likes == 1 and got[recent].impressions == 50
    assert got[recent].link_clicks == 4 and got[recent].profile_clicks == 2 and got[recent].bookmarks == 1
    for tid in (old, theirs):  # public counts only: X refuses their private metrics
        assert got[tid].impressions == 50 and got[tid].link_clicks is None and got[tid].profile_clicks is None


def test_adapter_batches_100_ids_a_call(server: SandboxServer, shop: XPlatform) -> None:
    me = shop.me().id
    ids = [server.add_tweet(me, f"post {i}") for i in range(230)]
    before = lookups(server)
    got = shop.post_metrics(ids)
    assert len(got) == 230 and lookups(server) - before == 3


def test_adapter_refused_private_metrics_are_read_without_them(server: SandboxServer, shop: XPlatform) -> None:
    """An id the adapter takes for recent but X refuses (here: someone else's post) is read again, public only,
    and the rest of the batch is not lost."""
    other = server.add_user("someone")
    mine = server.add_tweet(shop.me().id, "mine")
    theirs = server.add_tweet(other, "theirs")
    before = lookups(server)
    got = shop.post_metrics([mine, theirs])
    assert set(got) == {mine, theirs} and lookups(server) - before == 2


def test_malformed_metrics_name_the_field() -> None:
    with pytest.raises(Malformed, match=r"data\[0\]\.public_metrics\.like_count"):
        metrics_of({"id": "1", "public_metrics": {"retweet_count": 0}}, "data[0]")
    with pytest.raises(Malformed, match=r"data\.public_metrics\.reply_count"):
        metrics_of({"id": "1", "public_metrics": {"like_count": 1, "retweet_count": 0, "reply_count": -1}})
    with pytest.raises(Malformed, match=r"data\.public_metrics"):
        metrics_of({"id": "1"})
    ok = metrics_of(
        {"id": "1", "public_metrics": {"like_count": 2, "repost_count": 3, "reply_count": 0, "quote_count": 1}}
    )
    assert (ok.likes, ok.reposts, ok.quotes, ok.impressions) == (2, 3, 1, None)


# ------------------------------------------------------------------------------------------ store and collector


def test_each_post_is_read_once_at_each_age(store: Store, shop: XPlatform, clock: ManualClock) -> None:
    ids = publish(store, shop, clock, ["Deal of the week: lamp", "This week only: chair"], variant="1")
    collector = MetricsCollector(make_settings(), store, {"shop": shop}, clock)
    start = clock.now()
    assert collector.collect("shop", clock.now()).read == 0  # nothing is an hour old yet
    for age, label in ((timedelta(hours=1, minutes=5), "1h"), (timedelta(hours=24, minutes=30), "24h")):
        clock.set(start + age)
        report = collector.collect("shop", clock.now())
        assert report.read == 2 and report.by_age == {label: 2}
        assert collector.collect("shop", clock.now()).read == 0  # once per age
    clock.set(start + timedelta(days=7, hours=2))
    assert collector.collect("shop", clock.now()).read == 2
    readings = store.post_metrics.readings("shop")
    assert sorted((r["post_id"], r["age"]) for r in readings) == sorted(
        (i, a) for i in ids for a in ("1h", "24h", "7d")
    )
    first = readings[0]
    assert first["campaign"] == "deals" and first["variant"] == "1" and first["kind"] == "post"
    assert first["platform"] == "x" and first["slot_at"] is not None and first["impressions"] == 0


def test_a_missed_age_is_skipped_not_read_late(store: Store, shop: XPlatform, clock: ManualClock) -> None:
    publish(store, shop, clock, ["Deal of the week: lamp"])
    collector = MetricsCollector(make_settings(), store, {"shop": shop}, clock)
    start = clock.now()
    clock.set(start + timedelta(hours=3))  # past 1 h + its grace (at least twice `every`, a quarter of 1 h)
    assert collector.collect("shop", clock.now()).read == 0
    clock.set(start + timedelta(hours=25))
    assert collector.collect("shop", clock.now()).by_age == {"24h": 1}
    assert [r["age"] for r in store.post_metrics.readings("shop")] == ["24h"]


def test_reads_come_out_of_the_engagement_read_budget(store: Store, shop: XPlatform, clock: ManualClock) -> None:
    publish(store, shop, clock, [f"Deal of the week: lamp {i}" for i in range(5)])
    day = utc_day(clock.now() + timedelta(hours=1, minutes=5))
    store.engagement.reserve_reads("shop", day, 7, 10)  # engagement already spent 7 of today's 10
    collector = MetricsCollector(make_settings(budget=10), store, {"shop": shop}, clock)
    clock.advance(timedelta(hours=1, minutes=5))
    report = collector.collect("shop", clock.now())
    assert report.read == 0 and report.stopped_by == "budget"  # 5 posts do not fit in the 3 reads left
    assert store.engagement.reads_used("shop", day) == 7
    collector = MetricsCollector(make_settings(budget=12), store, {"shop": shop}, clock)
    report = collector.collect("shop", clock.now())
    assert report.read == 5 and store.engagement.reads_used("shop", day) == 12 and report.budget_left == 0


def test_metric_reads_are_the_first_to_stop_near_the_monthly_cap(
    store: Store, shop: XPlatform, clock: ManualClock
) -> None:
    publish(store, shop, clock, ["Deal of the week: lamp"])
    cap = SpendingCap(store.costs, CostsConfig(monthly_cap_usd=1.0), ZoneInfo("UTC"), clock)
    cap.record("shop", "x", "GET /2/tweets", "reply", 1, 0.86)  # past metrics' 85% of the cap
    collector = MetricsCollector(make_settings(), store, {"shop": shop}, clock, spending=cap)
    clock.advance(timedelta(hours=1, minutes=5))
    report = collector.collect("shop", clock.now())
    assert (report.read, report.stopped_by) == (0, "spending cap")
    assert cap.may_spend("shop", "reply")  # replies go on
    cap.use(CostsConfig(monthly_cap_usd=2.0), ZoneInfo("UTC"))  # the cap raised: the reading is taken
    assert collector.collect("shop", clock.now()).read == 1


def test_a_rate_limit_waits_for_the_reset(
    store: Store, server: SandboxServer, shop: XPlatform, clock: ManualClock
) -> None:
    publish(store, shop, clock, ["Deal of the week: lamp"])
    collector = MetricsCollector(make_settings(), store, {"shop": shop}, clock)
    clock.advance(timedelta(hours=1, minutes=1))
    server.configure_faults({"burst_429": 1, "burst_endpoint": LOOKUP, "burst_reset_seconds": 60})
    report = collector.collect("shop", clock.now())
    assert report.stopped_by == "rate_limit" and report.read == 0
    assert collector.collect("shop", clock.now()).stopped_by == "rate_limit"  # blocked until the reset
    clock.advance(timedelta(seconds=61))
    assert collector.collect("shop", clock.now()).read == 1


def test_readings_grow_and_appeal_shows(
    store: Store, server: SandboxServer, shop: XPlatform, clock: ManualClock
) -> None:
    with Audience(server.url, "shop", seed=3, users=150, communities=4, influencers=2) as audience:
        audience.setup()
        texts = ["Deal of the week: lamp", "This week only: lamp", "Monday treat: lamp", "Fresh in: lamp"]
        strong, weak = max(texts, key=audience.outcomes.appeal), min(texts, key=audience.outcomes.appeal)
        posts = {
            kind: publish(store, shop, clock, [f"{text} {i}" for i in range(6)], variant=kind)
            for kind, text in (("strong", strong), ("weak", weak))
        }
        collector = MetricsCollector(make_settings(), store, {"shop": shop}, clock)
        start = clock.now()
        for age in (timedelta(hours=1, minutes=5), timedelta(hours=24, minutes=5), timedelta(days=7, minutes=5)):
            clock.set(start + age)
            audience.play(clock.now())
            assert collector.collect("shop", clock.now()).read == 12
    readings = store.post_metrics.readings("shop")
    by_post: dict[str, dict[str, dict[str, int]]] = {}
    for r in readings:
        by_post.setdefault(r["post_id"], {})[r["age"]] = r
    for ages in by_post.values():
        assert ages["1h"]["impressions"] < ages["24h"]["impressions"] <= ages["7d"]["impressions"]
        assert ages["1h"]["likes"] <= ages["24h"]["likes"] <= ages["7d"]["likes"]

    def engagement(kind: str) -> float:
        return statistics.mean(by_post[p]["7d"]["likes"] + by_post[p]["7d"]["reposts"] for p in posts[kind])

    assert engagement("strong") > engagement("weak")


def test_metrics_settings_errors_name_the_field() -> None:
    from pydantic import ValidationError

    assert MetricsConfig().ages == ("1h", "24h", "7d")
    assert MetricsConfig(ages=["7d", "1H"]).ages == ("1h", "7d")
    for bad, words in (
        (["1h", "60m"], "same age"),
        (["soon"], "cannot read interval"),
        ("1h", "list of durations"),
        ([], "at least one"),
    ):
        with pytest.raises(ValidationError, match=words) as info:
            MetricsConfig(ages=bad)
        assert info.value.errors()[0]["loc"] == ("ages",)


def test_the_daemon_registers_a_metrics_job(store: Store, shop: XPlatform, clock: ManualClock) -> None:
    jobs = MetricsCollector(make_settings(), store, {"shop": shop}, clock).jobs()
    assert [j.job_id for j in jobs] == ["metrics:shop"] and jobs[0].spec == 600
    off = make_settings().model_copy(update={"metrics": MetricsConfig(enabled=False)})
    assert MetricsCollector(off, store, {"shop": shop}, clock).jobs() == []


def test_sandbox_http_admin_counters(server: SandboxServer) -> None:
    uid = server.add_user("x1")
    tid = server.add_tweet(uid, "hi")
    with httpx.Client(base_url=server.url, trust_env=False) as admin:
        assert admin.post("/_sandbox/metrics", json={"tweet_id": "1", "impressions": 1}).status_code == 400
        assert admin.post("/_sandbox/metrics", json={"tweet_id": tid, "impressions": -1}).status_code == 400
