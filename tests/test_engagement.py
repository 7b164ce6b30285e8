"""EngagementService over the real sandbox X API (HTTP) and real databases (SQLite, PostgreSQL when set)."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.core.records import utc_day
from bot.domains.audience.engagement import ENGAGEMENT, EngagementReport, EngagementService
from bot.domains.publishing.outbox import Outbox
from bot.sandbox.server import SandboxServer
from bot.settings.config import AccountConfig, Settings
from bot.settings.graph import EngagementConfig, GraphConfig
from bot.settings.replies import Caps, RepliesConfig
from tests.conftest import REPO_ROOT
from tests.helpers import delivery, mention_service

EVERY = timedelta(hours=1)
LOOKBACK = timedelta(days=7)
LIKERS = "GET /2/tweets/:id/liking_users"


def make_settings(*, budget: int = 10_000, max_per_post: int = 100, enabled: bool = True) -> Settings:
    return Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        templates_dir=REPO_ROOT / "templates",
        replies=RepliesConfig(enabled=True, caps=Caps(per_user_per_day=0, per_conversation=0)),
        graph=GraphConfig(
            engagement=EngagementConfig(
                enabled=enabled,
                every=EVERY,
                lookback=LOOKBACK,
                daily_read_budget=budget,
                max_per_post=max_per_post,
            )
        ),
    )


@pytest.fixture
def clock() -> ManualClock:
    # real time: the X adapter never lets a rate limit end before real now (tests about UTC days set their own)
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def server(clock: ManualClock) -> Iterator[SandboxServer]:
    """A sandbox whose clock (timestamps, rate-limit windows) is the test's clock."""
    s = SandboxServer(clock=clock).start()
    yield s
    s.stop()


@pytest.fixture
def shop(server: SandboxServer, clock: ManualClock) -> Iterator[XPlatform]:
    platform = XPlatform.for_sandbox(server.url, "shop", account="shop", clock=clock)
    yield platform
    platform.close()


@pytest.fixture
def admin(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, trust_env=False, timeout=5) as client:
        yield client


def publish(store: Store, shop: XPlatform, clock: ManualClock, *texts: str) -> list[str]:
    """Our posts, delivered through the real outbox; returns their remote ids."""
    keys = [f"campaign:test:{text}" for text in texts]
    for key, text in zip(keys, texts, strict=True):
        assert store.outbox.enqueue(key, account="shop", kind="post", text=text)
    outbox = Outbox(store, {"shop": shop}, delivery=delivery(), owner="t", clock=clock, rng=random.Random(1))
    assert outbox.deliver_due().sent == len(texts)
    ids = []
    for key in keys:
        item = store.outbox.item(key=key)
        assert item is not None and item.remote_id
        ids.append(item.remote_id)
    return ids


def engage(admin: httpx.Client, kind: str, user_id: str, post_id: str) -> None:
    admin.post(f"/_sandbox/{kind}", json={"user_id": user_id, "tweet_id": post_id}).raise_for_status()


def requests_to(server: SandboxServer, *prefixes: str) -> int:
    stats = server.stats_snapshot()["requests"]
    return sum(n for endpoint, n in stats.items() if endpoint.startswith(prefixes or ("GET /2/tweets/:id/",)))


def edges(store: Store, kind: str) -> set[tuple[str, str, str]]:
    return {(i.source_user_id, i.target_user_id, i.post_id) for i in store.people.interactions(kind=kind)}


def service(store: Store, shop: XPlatform, clock: ManualClock, settings: Settings | None = None) -> EngagementService:
    return EngagementService(settings or make_settings(), store, {"shop": shop}, clock)


# ------------------------------------------------------------------------------------------ collection


def test_likes_retweets_and_quotes_are_stored_once(
    store: Store, shop: XPlatform, server: SandboxServer, admin: httpx.Client, clock: ManualClock
) -> None:
    popular, quiet = publish(store, shop, clock, "Double 11 sale", "Quiet news")
    me = shop.me().id
    fans = [server.add_user(f"fan{i}", followers=10 * i) for i in range(6)]
    star = server.add_user("star", followers=40_000)
    for uid in fans:
        engage(admin, "likes", uid, popular)
    for uid in fans[:2]:
        engage(admin, "retweets", uid, popular)
    engage(admin, "likes", me, popular)  # our own like is no interaction
    clock.advance(60)
    quote = server.add_tweet(star, "this sale is great", quote_tweet_id=popular)
    quote_at = clock.now()
    clock.advance(60)
    svc = service(store, shop, clock)

    first = svc.collect("shop")
    assert (first.posts, first.interactions, first.stopped_by) == (2, 6 + 2 + 1, None)
    assert first.reads == 7 + 2 + 2  # 7 likers, 2 reposters, 1 quote + its author
    assert store.engagement.reads_used("shop", utc_day(clock.now())) == first.reads
    assert first.budget_left == 10_000 - first.reads
    assert edges(store, "like") == {(uid, me, popular) for uid in fans}
    assert edges(store, "retweet") == {(uid, me, popular) for uid in fans[:2]}
    assert edges(store, "quote") == {(star, me, quote)}  # the quote's own id, as the mentions poll stores it
    [quoted] = store.people.interactions(kind="quote")
    assert quoted.created_at == quote_at
    assert {i.created_at for i in store.people.interactions(kind="like")} == {clock.now()}
    stored_star = store.people.social_user("x", user_id=star)
    assert stored_star is not None and stored_star.username == "star" and stored_star.followers_count == 40_000
    assert store.people.social_user("x", user_id=fans[3]).followers_count == 30  # type: ignore[union-attr]
    tracked = store.engagement.tracked_post("shop", popular)
    assert tracked is not None and (tracked.likes, tracked.retweets, tracked.quotes) == (7, 2, 1)
    assert tracked.last_collected_at == clock.now()

    # nothing due: no request, no read
    before = requests_to(server)
    again = svc.collect("shop")
    assert (again.posts, again.interactions, again.reads) == (0, 0, 0) and requests_to(server) == before

    # an hour later: both posts are read again; only the new like is new, the old ones keep their first time
    first_seen = clock.now()
    clock.advance(EVERY)
    newcomer = server.add_user("newcomer", followers=3)
    engage(admin, "likes", newcomer, quiet)
    third = svc.collect("shop")
    assert (third.posts, third.interactions) == (2, 1)
    assert edges(store, "like") == {(uid, me, popular) for uid in fans} | {(newcomer, me, quiet)}
    times = {i.source_user_id: i.created_at for i in store.people.interactions(kind="like")}
    assert times[fans[0]] == first_seen and times[newcomer] == clock.now()
    assert len(store.people.interactions(kind="quote")) == 1


def test_posts_outside_lookback_are_ignored_and_every_is_respected(
    store: Store, shop: XPlatform, server: SandboxServer, admin: httpx.Client, clock: ManualClock
) -> None:
    start = clock.now()
    clock.set(start - LOOKBACK - timedelta(days=1))
    [ancient] = publish(store, shop, clock, "Last year's sale")
    clock.set(start - LOOKBACK + timedelta(hours=2))
    [ageing] = publish(store, shop, clock, "Almost a week old")
    clock.set(start)
    [fresh] = publish(store, shop, clock, "Brand new")
    fan = server.add_user("fan")
    for post in (ancient, ageing, fresh):
        engage(admin, "likes", fan, post)
    svc = service(store, shop, clock)

    report = svc.collect("shop")
    assert report.posts == 2
    assert {p.post_id for p in store.engagement.tracked_posts("shop")} == {ageing, fresh}  # never tracked: too old
    assert {i.post_id for i in store.people.interactions(kind="like")} == {ageing, fresh}

    before = requests_to(server)
    clock.advance(EVERY - timedelta(minutes=1))
    assert svc.collect("shop").posts == 0 and requests_to(server) == before
    clock.advance(timedelta(minutes=1))
    assert svc.collect("shop").posts == 2
    clock.advance(timedelta(hours=2))  # `ageing` leaves the lookback
    report = svc.collect("shop")
    assert report.posts == 1 and requests_to(server, LIKERS) == 2 + 2 + 1
    assert store.engagement.tracked_post("shop", ageing).last_collected_at < clock.now()  # type: ignore[union-attr]


def test_disabled_collects_nothing(store: Store, shop: XPlatform, clock: ManualClock) -> None:
    publish(store, shop, clock, "Hello")
    svc = service(store, shop, clock, make_settings(enabled=False))
    assert svc.accounts() == [] and svc.jobs() == []
    assert svc.collect("shop") == EngagementReport("shop")


# ------------------------------------------------------------------------------------------ budget


def test_budget_is_never_exceeded_and_resets_the_next_utc_day(
    store: Store,
    shop: XPlatform,
    server: SandboxServer,
    admin: httpx.Client,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    budget = 45
    clock.set(clock.now().replace(hour=9, minute=0, second=0))  # far from midnight
    posts = publish(store, shop, clock, *(f"Deal number {i}" for i in range(5)))
    fans = [server.add_user(f"fan{i}") for i in range(12)]
    for post in posts:
        for uid in fans:
            engage(admin, "likes", uid, post)
    svc = service(store, shop, clock, make_settings(budget=budget, max_per_post=10))
    caplog.set_level(logging.INFO, logger="bot.domains.audience.engagement")

    day_one = utc_day(clock.now())
    report = svc.collect("shop")
    used = store.engagement.reads_used("shop", day_one)
    assert report.stopped_by == "budget" and 0 < used <= budget
    assert report.reads == used == len(store.people.interactions(kind="like"))  # every read was a new liker
    assert report.budget_left == budget - used
    clock.advance(timedelta(hours=2))
    later = svc.collect("shop")
    assert later.stopped_by == "budget" and later.reads == 0 and store.engagement.reads_used("shop", day_one) == used
    used_up = [r.getMessage() for r in caplog.records if "used up today" in r.getMessage()]
    assert used_up == [f"engagement reads for shop used up today ({used} of {budget}); next collection after 00:00 UTC"]

    collected = len(store.people.interactions(kind="like"))
    clock.set(clock.now().replace(hour=0, minute=0, second=1) + timedelta(days=1))  # the next UTC day
    day_two = utc_day(clock.now())
    assert store.engagement.reads_used("shop", day_two) == 0
    report = svc.collect("shop")
    assert 0 < store.engagement.reads_used("shop", day_two) <= budget and report.reads == store.engagement.reads_used(
        "shop", day_two
    )
    assert len(store.people.interactions(kind="like")) > collected
    assert len([r for r in caplog.records if "used up today" in r.getMessage()]) == 2  # once per day


def test_two_collectors_share_one_budget(
    db_url: str, server: SandboxServer, admin: httpx.Client, clock: ManualClock
) -> None:
    budget = 50
    settings = make_settings(budget=budget, max_per_post=10)
    stores = [Store.open(db_url, clock=clock) for _ in range(2)]
    platforms = [XPlatform.for_sandbox(server.url, "shop", account="shop", clock=clock) for _ in range(2)]
    try:
        stores[0].upgrade()
        posts = publish(stores[0], platforms[0], clock, *(f"Flash sale {i}" for i in range(8)))
        fans = [server.add_user(f"fan{i}") for i in range(10)]
        for post in posts:
            for uid in fans:
                engage(admin, "likes", uid, post)
        services = [EngagementService(settings, s, {"shop": p}, clock) for s, p in zip(stores, platforms, strict=True)]
        reports: list[EngagementReport] = []
        barrier = threading.Barrier(2)

        def run(svc: EngagementService) -> None:
            barrier.wait()
            reports.append(svc.collect("shop"))

        threads = [threading.Thread(target=run, args=(svc,)) for svc in services]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(reports) == 2
        used = stores[0].engagement.reads_used("shop", utc_day(clock.now()))
        assert used <= budget and sum(r.reads for r in reports) == used
        likes = stores[0].people.interactions(kind="like")
        assert len(likes) == used  # no post was read by both: every read found a new liker
        assert sum(r.interactions for r in reports) == len(likes)
        assert {r.stopped_by for r in reports} <= {"budget", None}
    finally:
        for p in platforms:
            p.close()
        for s in stores:
            s.close()


def test_reservations_from_many_threads_grant_exactly_the_budget(db_url: str, clock: ManualClock) -> None:
    stores = [Store.open(db_url, clock=clock) for _ in range(2)]
    try:
        stores[0].upgrade()
        day = utc_day(clock.now())
        granted: list[int] = []
        barrier = threading.Barrier(6)

        def spend(store: Store) -> None:
            barrier.wait()
            while (got := store.engagement.reserve_reads("shop", day, 7, 100)) > 0:
                granted.append(got)

        threads = [threading.Thread(target=spend, args=(stores[i % 2],)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sum(granted) == stores[1].engagement.reads_used("shop", day) == 100  # no read granted twice, none lost
        assert sorted(granted)[0] == 100 % 7 and len(granted) == 100 // 7 + 1
        assert stores[0].engagement.reserve_reads("shop", day, 5, 100) == 0
        stores[0].engagement.release_reads("shop", day, 4)  # a call that used 3 of its 7
        assert stores[0].engagement.reserve_reads("shop", day, 5, 100) == 4
        assert stores[0].engagement.reserve_reads("shop", day, 5, 103) == 3  # a larger budget (config reload)
        assert stores[0].engagement.reads_used("shop", utc_day(clock.now() + timedelta(days=1))) == 0
    finally:
        for s in stores:
            s.close()


# ------------------------------------------------------------------------------------------ with the mentions poll


def test_a_quote_that_mentions_us_is_one_interaction(
    store: Store, shop: XPlatform, server: SandboxServer, clock: ManualClock
) -> None:
    settings = make_settings()
    [ours] = publish(store, shop, clock, "New arrivals")
    me = shop.me().id
    alice, bob = server.add_user("alice", followers=900), server.add_user("bob", followers=5)
    mentions = mention_service(settings, store, {"shop": shop}, clock)
    engagement = service(store, shop, clock, settings)

    first = server.add_tweet(alice, "@shop love these!", quote_tweet_id=ours)
    mentions.poll("shop")  # the mentions poll sees it first
    assert edges(store, "quote") == {(alice, me, first)}
    clock.advance(60)
    report = engagement.collect("shop")
    assert report.interactions == 0 and edges(store, "quote") == {(alice, me, first)}

    clock.advance(EVERY)
    second = server.add_tweet(bob, "@shop is this in stock?", quote_tweet_id=ours)
    report = engagement.collect("shop")  # this time engagement collection sees it first
    assert report.interactions == 1
    mentions.poll("shop")
    assert edges(store, "quote") == {(alice, me, first), (bob, me, second)}
    assert len(store.people.interactions(kind="quote")) == 2
    assert store.people.social_user("x", user_id=alice).followers_count == 900  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------ failures


def test_a_429_stops_the_pass_and_the_next_pass_waits_for_the_reset(
    store: Store, shop: XPlatform, server: SandboxServer, admin: httpx.Client, clock: ManualClock
) -> None:
    posts = publish(store, shop, clock, "First", "Second")
    fan = server.add_user("fan")
    for post in posts:
        engage(admin, "likes", fan, post)
    admin.post("/_sandbox/faults", json={"burst_429": 1, "burst_reset_seconds": 600, "burst_endpoint": LIKERS})
    svc = service(store, shop, clock)

    report = svc.collect("shop")  # must not raise
    assert report.stopped_by == "rate_limit" and report.waiting_until is not None
    assert report.waiting_until >= clock.now() + timedelta(seconds=599)
    assert store.rate_limits.blocked_until("shop", ENGAGEMENT) == report.waiting_until
    assert store.engagement.reads_used("shop", utc_day(clock.now())) == 0  # the reservation was given back
    assert store.people.interactions(kind="like") == []
    assert all(p.last_collected_at is None for p in store.engagement.tracked_posts("shop"))  # still due

    before = server.stats_snapshot()
    clock.advance(timedelta(minutes=5))
    waiting = svc.collect("shop")
    other = service(store, shop, clock).collect("shop")  # another daemon sees the stored block
    for r in (waiting, other):
        assert r.stopped_by == "rate_limit" and r.waiting_until == report.waiting_until and r.reads == 0
    after = server.stats_snapshot()
    assert after["requests_total"] == before["requests_total"] and after["early_requests"] == 0

    clock.advance(timedelta(minutes=6))  # past the reset
    done = svc.collect("shop")
    assert done.stopped_by is None and done.posts == 2
    assert edges(store, "like") == {(fan, shop.me().id, p) for p in posts}
    assert server.stats_snapshot()["early_requests"] == 0


def test_server_errors_stop_the_pass_without_raising(
    store: Store, shop: XPlatform, server: SandboxServer, admin: httpx.Client, clock: ManualClock
) -> None:
    [post] = publish(store, shop, clock, "Hello")
    engage(admin, "likes", server.add_user("fan"), post)
    svc = service(store, shop, clock)
    shop.me()
    admin.post("/_sandbox/faults", json={"error_rate": 1.0})
    report = svc.collect("shop")
    assert report.stopped_by == "error" and report.errors and report.reads == 0
    assert store.engagement.reads_used("shop", utc_day(clock.now())) == 0
    [job] = svc.jobs()
    assert job.job_id == "engagement:shop" and job.spec == EVERY.total_seconds() and job.start_at == clock.now()
    job.func()  # logs, never raises
    admin.post("/_sandbox/faults", json={"error_rate": 0.0})
    assert svc.collect("shop").interactions == 1
