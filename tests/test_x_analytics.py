"""X's hourly analytics (GET /2/tweets/analytics) over HTTP: the sandbox's answer against the OpenAPI schema, its
validation errors, other people's posts refused, the buckets adding up to what GET /2/tweets serves at the same
moment and following the planted audience's active hours; the adapter reading it (100 ids a call); and the cost
ledger still equal to the sandbox's priced calls with analytics reads in the mix."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.core.costs import METRICS, spending
from bot.core.errors import PlatformError, RateLimited
from bot.domains.costs import SpendingCap
from bot.sandbox.audience import Audience
from bot.sandbox.server import SandboxServer
from bot.settings.config import AccountConfig, Settings
from tests.conftest import REPO_ROOT

SPEC_PATH = Path("/work/shared/reference/x-openapi.json")  # X's own OpenAPI document, beside the project
if not SPEC_PATH.exists():
    SPEC_PATH = REPO_ROOT.parent / "shared" / "reference" / "x-openapi.json"
SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8")) if SPEC_PATH.exists() else {}
needs_spec = pytest.mark.skipif(not SPEC, reason=f"X's OpenAPI document is not at {SPEC_PATH}")
START = datetime(2030, 1, 7, 9, 20, tzinfo=UTC)  # ahead of real time: no rate-limit reset waits for it
ROUTE = "/2/tweets/analytics"
ALL_METRICS = "engagements,impressions,likes,retweets,replies,quote_tweets,bookmarks,url_clicks,user_profile_clicks"


def schema_errors(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Where `value` breaks the OpenAPI `schema` (the subset the analytics schemas use: $ref, oneOf with a
    discriminator, type, properties, required, items, enum, pattern, nullable)."""
    if "$ref" in schema:
        return schema_errors(value, SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]], where)
    if value is None and schema.get("nullable"):
        return []
    if "oneOf" in schema:
        mapping = schema.get("discriminator", {}).get("mapping", {})
        ref = mapping.get(value.get("type")) if isinstance(value, dict) else None
        if ref is None:
            return [f"{where}: type {value!r} is none of the problems"]
        return schema_errors(value, {"$ref": ref}, where)
    kinds = {"object": dict, "array": list, "string": str, "integer": int}
    kind = schema.get("type")
    if kind in kinds and (not isinstance(value, kinds[kind]) or isinstance(value, bool)):
        return [f"{where}: {value!r} is not {kind}"]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if kind == "object":
        errors += [f"{where}: {name} missing" for name in schema.get("required", []) if name not in value]
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name not in properties:
                errors.append(f"{where}: {name} is not in the schema")
            else:
                errors += schema_errors(item, properties[name], f"{where}.{name}")
    if kind == "array":
        for index, item in enumerate(value):
            errors += schema_errors(item, schema.get("items", {}), f"{where}[{index}]")
    return errors


RESPONSE = SPEC["paths"][ROUTE]["get"]["responses"]["200"]["content"]["application/json"]["schema"] if SPEC else {}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def server(clock: ManualClock) -> Iterator[SandboxServer]:
    s = SandboxServer(clock=clock, seed=5).start()
    yield s
    s.stop()


@pytest.fixture
def shop(server: SandboxServer, clock: ManualClock) -> Iterator[XPlatform]:
    platform = XPlatform.for_sandbox(server.url, "shop", account="shop", clock=clock)
    yield platform
    platform.close()


@pytest.fixture
def audience(server: SandboxServer) -> Iterator[Audience]:
    with Audience(server.url, "shop", seed=5, users=120, communities=4) as a:
        a.setup()
        yield a


def api(server: SandboxServer, user_id: str, params: dict[str, str], path: str = ROUTE) -> httpx.Response:
    headers = {"Authorization": f"Bearer {user_id}-sandbox"}
    return httpx.get(server.url + path, params=params, headers=headers, trust_env=False, timeout=10)


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def play_hours(audience: Audience, clock: ManualClock, hours: float, step: timedelta = timedelta(minutes=47)) -> None:
    end = clock.now() + timedelta(hours=hours)
    while clock.now() < end:
        clock.advance(min(step, end - clock.now()))
        audience.play(clock.now())


# ------------------------------------------------------------------------------------------ the sandbox


@needs_spec
def test_the_answer_follows_the_openapi_schema_and_adds_up_to_get_tweets(
    server: SandboxServer, shop: XPlatform, audience: Audience, clock: ManualClock
) -> None:
    me = shop.me().id
    posts = [server.add_tweet(me, f"Deal {i}: lamp https://shop.example/p/{i}") for i in range(3)]
    fan = server.add_user("fan")
    server.add_tweet(fan, "@shop nice lamp", in_reply_to_tweet_id=posts[0])
    server.add_tweet(fan, "look at this", quote_tweet_id=posts[1])
    play_hours(audience, clock, 30)
    params = {
        "ids": ",".join(posts),
        "start_time": iso(START - timedelta(hours=2)),
        "end_time": iso(clock.now() + timedelta(hours=1)),
        "granularity": "hourly",
        "analytics.fields": f"id,timestamp,timestamped_metrics,{ALL_METRICS}",
    }
    body = api(server, me, params).json()
    assert schema_errors(body, RESPONSE) == []
    assert [d["id"] for d in body["data"]] == posts and "errors" not in body
    tweets = api(
        server,
        me,
        {"ids": ",".join(posts), "tweet.fields": "public_metrics,non_public_metrics"},
        "/2/tweets",
    ).json()["data"]
    for data, tweet in zip(body["data"], tweets, strict=True):
        public, private = tweet["public_metrics"], tweet["non_public_metrics"]
        buckets = data["timestamped_metrics"]
        assert len(buckets) == 31  # 09:00 on the day posted to 15:00 the next day: every hour, none in the future
        assert buckets[0]["timestamp"] == "2030-01-07T09:00:00.000Z"
        sums = {name: sum(b["metrics"][name] for b in buckets) for name in ALL_METRICS.split(",")}
        assert sums == {name: data[name] for name in sums}  # the buckets add up to the window's totals
        told = {
            "likes": public["like_count"],
            "retweets": public["retweet_count"],
            "replies": public["reply_count"],
            "quote_tweets": public["quote_count"],
            "bookmarks": public["bookmark_count"],
            "impressions": public["impression_count"],
            "url_clicks": private["url_link_clicks"],
            "user_profile_clicks": private["user_profile_clicks"],
        }
        assert {name: sums[name] for name in told} == told
        engaged = ("likes", "retweets", "replies", "quote_tweets", "bookmarks", "url_clicks")
        assert sums["engagements"] == sum(told[name] for name in engaged) > 0
    assert body["data"][0]["replies"] == 1 and body["data"][1]["quote_tweets"] == 1


def test_only_the_fields_asked_for_and_the_granularities(
    server: SandboxServer, shop: XPlatform, audience: Audience, clock: ManualClock
) -> None:
    me = shop.me().id
    post = server.add_tweet(me, "Fresh in: the oak stool")
    play_hours(audience, clock, 50)
    window = {"ids": post, "start_time": iso(START), "end_time": iso(clock.now())}
    bare = api(server, me, window).json()
    assert bare == {"data": [{"id": post}]}  # granularity total, no fields asked: the id alone
    fields = {"analytics.fields": "timestamped_metrics,likes"}
    for granularity, count in (("hourly", 51), ("daily", 3), ("weekly", 1), ("total", 1)):
        data = api(server, me, {**window, **fields, "granularity": granularity}).json()["data"][0]
        assert set(data) == {"id", "likes", "timestamped_metrics"}
        buckets = data["timestamped_metrics"]
        assert len(buckets) == count, granularity
        assert all(set(b["metrics"]) == {"likes"} for b in buckets)
        assert sum(b["metrics"]["likes"] for b in buckets) == data["likes"]
    weekly = api(server, me, {**window, **fields, "granularity": "weekly"}).json()["data"][0]
    assert weekly["timestamped_metrics"][0]["timestamp"] == "2030-01-07T00:00:00.000Z"  # a Monday


def test_engagement_arrives_in_the_audiences_active_hours(
    server: SandboxServer, shop: XPlatform, audience: Audience, clock: ManualClock
) -> None:
    """Posts sent at every hour of a day: per UTC hour, the engagement that arrived then follows the planted
    activity of the audience (its busiest hours get more than its quietest), not the hours the posts went out."""
    me = shop.me().id
    posts = []
    for i in range(24):
        posts.append(server.add_tweet(me, f"Deal {i} of the day https://shop.example/p/{i}"))
        play_hours(audience, clock, 1, timedelta(minutes=30))
    play_hours(audience, clock, 48, timedelta(hours=3))
    params = {
        "ids": ",".join(posts),
        "start_time": iso(START),
        "end_time": iso(clock.now()),
        "granularity": "hourly",
        "analytics.fields": "timestamped_metrics,engagements",
    }
    per_hour = [0] * 24
    for data in api(server, me, params).json()["data"]:
        for bucket in data["timestamped_metrics"]:
            per_hour[int(bucket["timestamp"][11:13])] += bucket["metrics"]["engagements"]
    weights = audience.outcomes.ground_truth()["hour_weights"]
    busiest = sorted(range(24), key=lambda h: -weights[h])[:4]
    quietest = sorted(range(24), key=lambda h: weights[h])[:4]
    assert sum(per_hour[h] for h in busiest) > 2 * sum(per_hour[h] for h in quietest)


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"start_time": "2030-01-07T00:00:00Z", "end_time": "2030-01-08T00:00:00Z"}, "ids"),
        (
            {"ids": ",".join(["1"] * 101), "start_time": "2030-01-07T00:00:00Z", "end_time": "2030-01-08T00:00:00Z"},
            "ids",
        ),
        ({"ids": "12a", "start_time": "2030-01-07T00:00:00Z", "end_time": "2030-01-08T00:00:00Z"}, "ids"),
        ({"ids": "1", "end_time": "2030-01-08T00:00:00Z"}, "start_time"),
        ({"ids": "1", "start_time": "yesterday", "end_time": "2030-01-08T00:00:00Z"}, "start_time"),
        ({"ids": "1", "start_time": "2030-01-07T00:00:00", "end_time": "2030-01-08T00:00:00Z"}, "start_time"),
        ({"ids": "1", "start_time": "2030-01-07T00:00:00Z"}, "end_time"),
        ({"ids": "1", "start_time": "2030-01-08T00:00:00Z", "end_time": "2030-01-07T00:00:00Z"}, "end_time"),
        (
            {"ids": "1", "start_time": "2030-01-07T00:00:00Z", "end_time": "2030-01-08T00:00:00Z", "granularity": "x"},
            "granularity",
        ),
        (
            {
                "ids": "1",
                "start_time": "2030-01-07T00:00:00Z",
                "end_time": "2030-01-08T00:00:00Z",
                "analytics.fields": "likes,views",
            },
            "analytics.fields",
        ),
    ],
)
def test_bad_parameters_are_xs_400(
    server: SandboxServer, shop: XPlatform, params: dict[str, str], parameter: str
) -> None:
    resp = api(server, shop.me().id, params)
    assert resp.status_code == 400
    body = resp.json()
    assert body["title"] == "Invalid Request" and body["type"].endswith("/problems/invalid-request")
    assert list(body["errors"][0]["parameters"]) == [parameter]
    assert not [c for c in server.stats.priced if c.endpoint == "GET /2/tweets/analytics"]  # errors cost nothing


@needs_spec
def test_other_peoples_and_missing_posts_come_back_as_errors(server: SandboxServer, shop: XPlatform) -> None:
    me = shop.me().id
    someone = server.add_user("someone")
    mine = server.add_tweet(me, "mine")
    theirs = server.add_tweet(someone, "theirs")
    gone = "1999999999999999999"
    params = {"ids": f"{theirs},{mine},{gone}", "start_time": iso(START), "end_time": iso(START + timedelta(days=1))}
    body = api(server, me, params).json()
    assert schema_errors(body, RESPONSE) == []
    assert [d["id"] for d in body["data"]] == [mine]
    kinds = {e["resource_id"]: e["type"].rsplit("/", 1)[-1] for e in body["errors"]}
    assert kinds == {theirs: "not-authorized-for-resource", gone: "resource-not-found"}
    only_theirs = api(server, me, {**params, "ids": theirs}).json()
    assert "data" not in only_theirs and len(only_theirs["errors"]) == 1


# ------------------------------------------------------------------------------------------ the adapter


def test_the_adapter_reads_hours_100_ids_a_call(
    server: SandboxServer, shop: XPlatform, audience: Audience, clock: ManualClock
) -> None:
    me = shop.me().id
    someone = server.add_user("someone")
    posts = [server.add_tweet(me, f"Deal {i}: lamp https://shop.example/p/{i}") for i in range(130)]
    theirs = server.add_tweet(someone, "theirs")
    play_hours(audience, clock, 6, timedelta(hours=2))
    before = server.stats_snapshot()["requests"].get("GET /2/tweets/analytics", 0)
    got = shop.post_analytics([*posts, theirs], START, clock.now())
    assert server.stats_snapshot()["requests"]["GET /2/tweets/analytics"] - before == 2
    assert set(got) == set(posts)  # someone else's post is left out, never failing the batch
    hours = got[posts[0]]
    assert [h.hour for h in hours] == [START.replace(minute=0) + timedelta(hours=i) for i in range(7)]
    assert all(h.hour.tzinfo is UTC or h.hour.utcoffset() == timedelta(0) for h in hours)
    metrics = shop.post_metrics([posts[0]])[posts[0]]
    assert sum(h.impressions or 0 for h in hours) == metrics.impressions
    assert sum(h.url_clicks or 0 for h in hours) == metrics.link_clicks
    engaged = metrics.likes + metrics.reposts + metrics.replies + metrics.quotes
    assert sum(h.engagements for h in hours) == engaged + (metrics.bookmarks or 0) + (metrics.link_clicks or 0)


def test_the_adapter_maps_errors(server: SandboxServer, shop: XPlatform) -> None:
    shop.me()
    server.configure_faults({"burst_429": 1, "burst_endpoint": "GET /2/tweets/analytics"})
    with pytest.raises(RateLimited):
        shop.post_analytics(["1"], START, START + timedelta(hours=1))
    server.configure_faults({"error_rate": 1.0})
    with pytest.raises(PlatformError):
        shop.post_analytics(["1"], START, START + timedelta(hours=1))


def test_the_ledger_equals_the_sandbox_with_analytics_reads(
    store: Store, server: SandboxServer, shop: XPlatform, audience: Audience, clock: ManualClock
) -> None:
    settings = Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")}, templates_dir=REPO_ROOT / "templates"
    )
    cap = SpendingCap(store.costs, settings.costs, settings.tz, clock)
    shop.use_cost_ledger(cap, settings.costs.prices.x)
    me = shop.me().id
    someone = server.add_user("someone")
    posts = [server.add_tweet(me, f"Deal {i}") for i in range(105)] + [server.add_tweet(someone, "theirs")]
    play_hours(audience, clock, 3, timedelta(hours=1))
    with spending(METRICS):
        shop.post_metrics(posts[:3])
        shop.post_analytics(posts, START, clock.now())
        shop.post_analytics([posts[-1]], START, clock.now())  # only someone else's: nothing returned, nothing billed
    cap.close()
    far = timedelta(days=3650)
    ledger = [(c.endpoint, c.items, round(c.usd, 6), c.purpose) for c in store.costs.calls(START - far, START + far)]
    with httpx.Client(base_url=server.url, trust_env=False, timeout=10) as http:
        priced = [(c["endpoint"], c["items"], round(c["usd"], 6)) for c in http.get("/_sandbox/priced").json()["calls"]]
    assert [row[:3] for row in ledger] == priced
    analytics = [row for row in ledger if row[0] == "GET /2/tweets/analytics"]
    assert analytics == [
        ("GET /2/tweets/analytics", 100, 0.5, METRICS),
        ("GET /2/tweets/analytics", 5, 0.025, METRICS),
    ]
