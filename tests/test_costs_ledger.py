"""The cost ledger over the real sandbox X API (HTTP) and real databases: after a daemon-like run (mentions and DMs
polled, replies and DMs sent, campaign posts with and without a URL, engagement read) the ledger equals, call for
call, what the sandbox counts as priced requests, and each call carries what it was for."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.domains.audience.engagement import EngagementService
from bot.domains.costs import SpendingCap
from bot.domains.publishing.outbox import Outbox
from bot.sandbox.server import SandboxServer
from bot.settings.config import AccountConfig, Settings
from bot.settings.graph import EngagementConfig, GraphConfig
from bot.settings.replies import Caps, RepliesConfig
from tests.conftest import REPO_ROOT
from tests.helpers import delivery, mention_service


def make_settings() -> Settings:
    return Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        templates_dir=REPO_ROOT / "templates",
        replies=RepliesConfig(enabled=True, caps=Caps(per_user_per_day=0, per_conversation=0)),
        graph=GraphConfig(engagement=EngagementConfig(every=timedelta(hours=1), daily_read_budget=10_000)),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def server(clock: ManualClock) -> Iterator[SandboxServer]:
    s = SandboxServer(clock=clock).start()
    yield s
    s.stop()


@pytest.fixture
def admin(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, trust_env=False, timeout=5) as client:
        yield client


def user(admin: httpx.Client, name: str) -> str:
    return str(admin.post("/_sandbox/users", json={"username": name}).json()["id"])


def test_ledger_equals_the_sandbox_call_for_call(
    store: Store, server: SandboxServer, admin: httpx.Client, clock: ManualClock
) -> None:
    settings = make_settings()
    shop = XPlatform.for_sandbox(server.url, "shop", account="shop", clock=clock)
    cap = SpendingCap(store.costs, settings.costs, settings.tz, clock)
    shop.use_cost_ledger(cap, settings.costs.prices.x)
    platforms = {"shop": shop}
    try:
        shop_id = shop.me().id
        ann, bob, cat, dan = (user(admin, name) for name in ("ann", "bob", "cat", "dan"))
        for author, text in (
            (ann, "@shop my lamp arrived broken, I want a refund"),  # a complaint: answered and handed over
            (bob, "@shop I love the new lamp, thank you!"),  # praise: a reply
            (cat, "@shop stop"),  # an opt-out: confirmed
        ):
            admin.post("/_sandbox/tweets", json={"author_id": author, "text": text}).raise_for_status()
        admin.post("/_sandbox/dms", json={"from_user_id": dan, "to_user_id": shop_id, "text": "how long is delivery?"})
        mentions = mention_service(settings, store, platforms, clock, spending=cap)
        report = mentions.poll("shop")
        assert report.mentions == 3 and report.dms == 1 and report.replies >= 3, report

        for key, text in (
            ("campaign:sale:1", "Autumn sale: lamps at 20% off this week"),
            ("campaign:sale:2", "Autumn sale, every lamp: https://lumenhome.com/sale"),
        ):
            assert store.outbox.enqueue(key, account="shop", kind="post", text=text)
        outbox = Outbox(
            store, platforms, delivery=delivery(), owner="t", clock=clock, rng=random.Random(1), spending=cap
        )
        sent = outbox.deliver_due()
        assert sent.sent == report.replies + 2 and sent.deferred == 0, sent

        post_ids = [store.outbox.item(key=k).remote_id for k in ("campaign:sale:1", "campaign:sale:2")]
        for who in (ann, bob):
            admin.post("/_sandbox/likes", json={"user_id": who, "tweet_id": post_ids[0]}).raise_for_status()
        admin.post("/_sandbox/retweets", json={"user_id": cat, "tweet_id": post_ids[1]}).raise_for_status()
        admin.post(
            "/_sandbox/tweets", json={"author_id": dan, "text": "look at this", "quote_tweet_id": post_ids[1]}
        ).raise_for_status()
        engaged = EngagementService(settings, store, platforms, clock, spending=cap).collect("shop")
        assert engaged.interactions >= 4, engaged
    finally:
        shop.close()

    cap.close()  # the cap writes what it recorded at least every half second; close writes the rest now
    far = timedelta(days=400)
    ledger = [(c.endpoint, c.items, round(c.usd, 6)) for c in store.costs.calls(clock.now() - far, clock.now() + far)]
    priced = [(c["endpoint"], c["items"], round(c["usd"], 6)) for c in admin.get("/_sandbox/priced").json()["calls"]]
    assert ledger == priced
    endpoints = {endpoint for endpoint, _, _ in ledger}
    assert {
        "GET /2/users/me",
        "GET /2/users/:id/mentions",
        "GET /2/dm_events",
        "POST /2/tweets",
        "POST /2/dm_conversations/with/:id/messages",
        "GET /2/tweets/:id/liking_users",
        "GET /2/tweets/:id/retweeted_by",
        "GET /2/tweets/:id/quote_tweets",
    } <= endpoints
    posts = sorted(usd for endpoint, _, usd in ledger if endpoint == "POST /2/tweets")
    assert 0.2 in posts and 0.015 in posts and 0.01 in posts  # a URL, a plain post, summoned replies
    stats = server.stats_snapshot()["priced"]
    assert stats["calls"] == len(ledger) and stats["usd"] == pytest.approx(sum(u for _, _, u in ledger))

    purposes = {(c.endpoint, c.purpose) for c in store.costs.calls(clock.now() - far, clock.now() + far)}
    assert ("GET /2/users/:id/mentions", "reply") in purposes
    assert ("GET /2/dm_events", "reply") in purposes
    assert ("POST /2/dm_conversations/with/:id/messages", "reply") in purposes
    assert {("POST /2/tweets", p) for p in ("promotion", "reply", "complaint", "opt_out")} <= purposes
    assert ("GET /2/tweets/:id/liking_users", "engagement") in purposes
    spent = store.costs.spend(clock.now() - far, clock.now() + far)["shop"]
    assert cap.spent("shop") == pytest.approx(spent) and spent == pytest.approx(stats["usd"])
