"""Post metrics in the sandbox, as X serves them: public_metrics for any post, non_public_metrics / organic_metrics
only for the caller's own posts younger than 30 days (otherwise the post is left out with a Field Authorization
Error), GET /2/tweets?ids= batches of up to 100; and the planted audience that drives the counts over simulated
time."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.core.clock import ManualClock
from bot.sandbox.audience import Audience
from bot.sandbox.audience.outcomes import variant_key
from bot.sandbox.server import SandboxServer

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PRIVATE = "public_metrics,non_public_metrics,organic_metrics"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def server(clock: ManualClock) -> Iterator[SandboxServer]:
    with SandboxServer(clock=clock) as srv:
        yield srv


def client(server: SandboxServer, uid: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, trust_env=False, timeout=5, headers={"Authorization": f"Bearer {uid}-token"}
    )


def test_public_metrics_count_what_the_world_holds(server: SandboxServer) -> None:
    shop = server.add_user("shop")
    fans = [server.add_user(f"fan{i}") for i in range(3)]
    tid = server.add_tweet(shop, "hello https://example.com/x")
    for fan in fans:
        server.world.like(fan, tid)
    server.world.retweet(fans[0], tid)
    server.add_tweet(fans[1], "@shop nice", in_reply_to_tweet_id=tid)
    server.add_tweet(fans[2], "look", quote_tweet_id=tid)
    with httpx.Client(base_url=server.url, trust_env=False) as admin:
        resp = admin.post("/_sandbox/metrics", json={"tweet_id": tid, "impressions": 120, "bookmarks": 2})
        assert resp.status_code == 200
        # counters never go down
        admin.post("/_sandbox/metrics", json={"tweet_id": tid, "impressions": 50})
    with client(server, fans[0]) as http:
        body = http.get("/2/tweets", params={"ids": tid, "tweet.fields": "public_metrics"}).json()
    assert body["data"][0]["public_metrics"] == {
        "retweet_count": 1,
        "reply_count": 1,
        "like_count": 3,
        "quote_count": 1,
        "bookmark_count": 2,
        "impression_count": 120,
    }
    assert "non_public_metrics" not in body["data"][0]


def test_private_metrics_only_for_own_recent_posts(server: SandboxServer, clock: ManualClock) -> None:
    shop = server.add_user("shop")
    other = server.add_user("other")
    old = server.add_tweet(shop, "an old post")
    clock.advance(timedelta(days=31))
    mine = server.add_tweet(shop, "a new post")
    theirs = server.add_tweet(other, "not the shop's")
    with httpx.Client(base_url=server.url, trust_env=False) as admin:
        admin.post(
            "/_sandbox/metrics", json={"tweet_id": mine, "impressions": 40, "link_clicks": 3, "profile_clicks": 1}
        )
    with client(server, shop) as http:
        ids = ",".join([mine, old, theirs, "1999999999999999999"])
        body = http.get("/2/tweets", params={"ids": ids, "tweet.fields": PRIVATE}).json()
        assert [d["id"] for d in body["data"]] == [mine]
        data = body["data"][0]
        assert data["non_public_metrics"] == {"impression_count": 40, "url_link_clicks": 3, "user_profile_clicks": 1}
        assert data["organic_metrics"]["impression_count"] == 40 and data["organic_metrics"]["like_count"] == 0
        refused = [e for e in body["errors"] if e["title"] == "Field Authorization Error"]
        assert {(e["resource_id"], e["field"]) for e in refused} == {
            (old, "non_public_metrics"),
            (old, "organic_metrics"),
            (theirs, "non_public_metrics"),
            (theirs, "organic_metrics"),
        }
        assert all(e["type"].endswith("/not-authorized-for-field") for e in refused)
        missing = [e for e in body["errors"] if e["title"] == "Not Found Error"]
        assert [e["resource_id"] for e in missing] == ["1999999999999999999"]
        # public metrics alone: every existing post
        body = http.get("/2/tweets", params={"ids": ids, "tweet.fields": "public_metrics"}).json()
        assert [d["id"] for d in body["data"]] == [mine, old, theirs]
        # the single lookup: 200 with only the errors
        single = http.get(f"/2/tweets/{theirs}", params={"tweet.fields": PRIVATE})
        assert single.status_code == 200 and "data" not in single.json() and single.json()["errors"]


def test_lookup_takes_1_to_100_ids(server: SandboxServer) -> None:
    shop = server.add_user("shop")
    ids = [server.add_tweet(shop, f"post {i}") for i in range(101)]
    with client(server, shop) as http:
        ok = http.get("/2/tweets", params={"ids": ",".join(ids[:100]), "tweet.fields": "public_metrics"})
        assert ok.status_code == 200 and len(ok.json()["data"]) == 100
        too_many = http.get("/2/tweets", params={"ids": ",".join(ids)})
        assert too_many.status_code == 400 and too_many.json()["title"] == "Invalid Request"
        assert http.get("/2/tweets").status_code == 400
        assert http.get("/2/tweets", params={"ids": "12,abc"}).status_code == 400


def test_variant_key_ignores_handles_urls_and_what_changes() -> None:
    assert variant_key("Deal of the week: Lamp, bright. $10") == "deal of"
    assert variant_key("@ann @bob Deal of the week: Chair") == "deal of"
    assert variant_key("https://x.co/a Monday treat (3 Mar)") == "monday treat"


def _post_counts(server: SandboxServer, shop: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    with client(server, shop) as http:
        body = http.get("/2/tweets", params={"ids": ",".join(ids), "tweet.fields": PRIVATE}).json()
    return {d["id"]: d for d in body["data"]}


def test_audience_plays_engagement_over_simulated_time(server: SandboxServer, clock: ManualClock) -> None:
    with Audience(server.url, "shop", seed=5, users=120, communities=4, influencers=2) as audience:
        audience.setup()
        shop = audience.shop_id
        tid = server.add_tweet(shop, "Deal of the week: the lamp https://shop.example/lamp")
        readings = []
        for age in (timedelta(hours=1), timedelta(hours=24), timedelta(days=7)):
            clock.set(START + age)
            audience.play(clock.now())
            audience.play(clock.now())  # twice at one time: no more
            data = _post_counts(server, shop, [tid])[tid]
            readings.append((data["public_metrics"], data["non_public_metrics"]))
        impressions = [p["impression_count"] for p, _ in readings]
        likes = [p["like_count"] for p, _ in readings]
        assert impressions[0] < impressions[1] <= impressions[2] and impressions[0] > 0
        assert likes[0] <= likes[1] <= likes[2] and likes[2] > 0
        assert readings[2][1]["url_link_clicks"] > 0
        # likes are real likes by audience members
        assert len(server.world.likes_of[tid]) == likes[2]


def test_planted_hours_and_appeal_show_in_the_counts(server: SandboxServer, clock: ManualClock) -> None:
    with Audience(server.url, "shop", seed=9, users=150, communities=4, influencers=2) as audience:
        audience.setup()
        planted = audience.outcomes
        best, worst = planted.top_hours(1)[0], min(range(24), key=planted.hour_weight)
        texts = ["Deal of the week: lamp", "This week only: lamp", "Monday treat (2 Mar): lamp", "Fresh in: lamp"]
        strong = max(texts, key=planted.appeal)
        weak = min(texts, key=planted.appeal)
        ids: dict[tuple[str, str], list[str]] = {}
        day = START.replace(hour=0)
        for i in range(6):
            for hour, name in ((best, "best"), (worst, "worst")):
                clock.set(day + timedelta(days=i, hours=hour))
                for text, kind in ((strong, "strong"), (weak, "weak")):
                    ids.setdefault((name, kind), []).append(server.add_tweet(audience.shop_id, f"{text} {i}"))
        clock.set(day + timedelta(days=14))
        audience.play(clock.now())
        everything = [t for group in ids.values() for t in group]
        counts = _post_counts(server, audience.shop_id, everything[:100])

        def mean(name: str, kind: str, metric: str) -> float:
            return statistics.mean(counts[t]["public_metrics"][metric] for t in ids[(name, kind)] if t in counts)

        assert mean("best", "strong", "impression_count") > mean("worst", "strong", "impression_count")
        assert mean("best", "strong", "like_count") > mean("best", "weak", "like_count")
        assert planted.ground_truth()["top_hours_utc"][0] == best
