"""The sandbox over real HTTP: shapes match the recorded X responses, rules, limits, faults, stats."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.core.clock import ManualClock

RECORDED = Path("/work/shared/reference/x-api-recorded")
if not RECORDED.exists():
    RECORDED = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "x-api-recorded"


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def recorded(name: str, index: int = 0) -> dict[str, Any]:
    return json.loads((RECORDED / name).read_text())[index]["response"]


def auth(uid: str) -> dict[str, str]:
    return {"Authorization": f'OAuth oauth_consumer_key="k", oauth_token="{uid}-sandbox", oauth_signature="x"'}


@pytest.fixture
def http(sandbox: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5) as client:
        yield client


def user(http: httpx.Client, name: str) -> str:
    return str(http.post("/_sandbox/users", json={"username": name, "name": name.title()}).json()["id"])


def tweet(http: httpx.Client, author: str, text: str, **extra: Any) -> str:
    return str(http.post("/_sandbox/tweets", json={"author_id": author, "text": text, **extra}).json()["id"])


def assert_like_recorded(resp: httpx.Response, name: str, index: int = 0, *, drop_meta: set[str] = frozenset()) -> None:
    rec = recorded(name, index)
    assert resp.status_code == rec["status"]
    ours, theirs = shape(resp.json()), shape(rec["json"])
    if "meta" in theirs:
        for key in drop_meta:
            theirs["meta"].pop(key, None)
            ours["meta"].pop(key, None)
    assert ours.keys() == theirs.keys()
    if isinstance(theirs.get("data"), list):
        assert set(ours["data"][0]) == set(theirs["data"][0])
        assert ours["data"][0] == theirs["data"][0]
    else:
        assert ours["data"] == theirs["data"] or set(theirs["data"]) <= set(ours["data"])
    for header in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset", "x-access-level"):
        assert header in resp.headers
    assert resp.headers.get_list("x-rate-limit-reset") == [str(int(resp.headers["x-rate-limit-reset"]))]


def test_shapes_match_recorded_responses(http: httpx.Client) -> None:
    me = user(http, "shop")
    fans = [user(http, f"fan{i}") for i in range(12)]
    for i, fan in enumerate(fans):
        tweet(http, fan, f"@shop hello {i}")
    mine = [tweet(http, me, f"post {i}") for i in range(12)]
    for fan in fans:
        http.post("/_sandbox/likes", json={"user_id": fan, "tweet_id": mine[0]})
        http.post("/_sandbox/retweets", json={"user_id": fan, "tweet_id": mine[0]})
        tweet(http, fan, f"quoting {fan}", quote_tweet_id=mine[0])
    h = auth(me)
    assert_like_recorded(http.get("/2/users/me", headers=h), "get_me.json")
    assert_like_recorded(http.get(f"/2/tweets/{mine[0]}", headers=h), "get_tweet.json")
    assert_like_recorded(http.get(f"/2/users/{me}/tweets", headers=h), "get_users_tweets.json")
    assert_like_recorded(http.get(f"/2/users/{me}/mentions", headers=h), "get_users_mentions.json")
    assert_like_recorded(http.get(f"/2/tweets/{mine[0]}/liking_users", headers=h), "get_liking_users.json")
    assert_like_recorded(http.get(f"/2/tweets/{mine[0]}/retweeted_by", headers=h), "get_retweeters.json")
    assert_like_recorded(http.get(f"/2/tweets/{mine[0]}/quote_tweets", headers=h), "get_quote_tweets.json")
    created = http.post("/2/tweets", headers=h, json={"text": "Test Tweet"})
    assert_like_recorded(created, "create_and_delete_tweet.json", 0)
    assert created.headers["location"].endswith(created.json()["data"]["id"])
    deleted = http.delete(f"/2/tweets/{created.json()['data']['id']}", headers=h)
    assert_like_recorded(deleted, "create_and_delete_tweet.json", 1)
    liked = http.post(f"/2/users/{me}/likes", headers=h, json={"tweet_id": mine[1]})
    assert_like_recorded(liked, "like_and_unlike.json", 0)
    assert_like_recorded(http.delete(f"/2/users/{me}/likes/{mine[1]}", headers=h), "like_and_unlike.json", 1)
    assert_like_recorded(
        http.post(f"/2/users/{me}/retweets", headers=h, json={"tweet_id": mine[1]}), "retweet_and_unretweet.json", 0
    )
    http.post("/_sandbox/dms", json={"from_user_id": fans[0], "to_user_id": me, "text": "hi"})
    sent = http.post(f"/2/dm_conversations/with/{fans[0]}/messages", headers=h, json={"text": "Testing 1"})
    assert_like_recorded(sent, "manage_and_lookup_direct_messages.json", 0)
    low, high = sorted((me, fans[0]), key=int)
    assert sent.json()["data"]["dm_conversation_id"] == f"{low}-{high}"
    events = http.get(f"/2/dm_conversations/with/{fans[0]}/dm_events", headers=h)
    assert_like_recorded(
        events, "manage_and_lookup_direct_messages.json", 5, drop_meta={"next_token", "previous_token"}
    )
    assert http.get("/2/dm_events", headers=auth(fans[5])).json() == {"meta": {"result_count": 0}}


def test_fields_and_expansions(http: httpx.Client) -> None:
    me, alice = user(http, "shop"), user(http, "alice")
    ours = tweet(http, me, "Sale today")
    m = tweet(http, alice, "@shop is #sale on? see https://example.com/x", in_reply_to_tweet_id=ours)
    params = {
        "tweet.fields": "author_id,created_at,conversation_id,in_reply_to_user_id,referenced_tweets,entities",
        "expansions": "author_id,referenced_tweets.id",
        "user.fields": "created_at",
    }
    body = http.get(f"/2/users/{me}/mentions", headers=auth(me), params=params).json()
    item = body["data"][0]
    assert item["id"] == m and item["author_id"] == alice and item["conversation_id"] == ours
    assert item["in_reply_to_user_id"] == me
    assert item["referenced_tweets"] == [{"type": "replied_to", "id": ours}]
    assert item["created_at"].endswith(".000Z") and len(item["created_at"]) == 24
    assert item["entities"]["mentions"] == [{"start": 0, "end": 5, "username": "shop", "id": me}]
    assert item["entities"]["hashtags"][0]["tag"] == "sale"
    assert item["entities"]["urls"][0]["expanded_url"] == "https://example.com/x"
    assert body["includes"]["users"][0]["id"] == alice and "created_at" in body["includes"]["users"][0]
    assert body["includes"]["tweets"][0]["id"] == ours
    plain = http.get(f"/2/users/{me}/mentions", headers=auth(me)).json()["data"][0]
    assert set(plain) == {"id", "text", "edit_history_tweet_ids"}


def test_ids_are_19_digits_and_increasing(http: httpx.Client) -> None:
    me = user(http, "shop")
    ids = [http.post("/2/tweets", headers=auth(me), json={"text": f"t{i}"}).json()["data"]["id"] for i in range(50)]
    assert all(len(i) == 19 and int(i) > 10**18 for i in ids)
    assert [int(i) for i in ids] == sorted({int(i) for i in ids})


def test_only_800_most_recent_mentions_and_pagination(http: httpx.Client) -> None:
    me, fan = user(http, "shop"), user(http, "fan")
    ids = [tweet(http, fan, f"@shop n{i}") for i in range(850)]
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"max_results": 100}
        if token:
            params["pagination_token"] = token
        body = http.get(f"/2/users/{me}/mentions", headers=auth(me), params=params).json()
        seen.extend(t["id"] for t in body.get("data", []))
        token = body["meta"].get("next_token")
        if not token:
            break
    assert seen == list(reversed(ids[-800:]))
    newer = http.get(f"/2/users/{me}/mentions", headers=auth(me), params={"since_id": ids[-3]}).json()
    assert [t["id"] for t in newer["data"]] == [ids[-1], ids[-2]]
    assert newer["meta"]["newest_id"] == ids[-1] and newer["meta"]["oldest_id"] == ids[-2]
    empty = http.get(f"/2/users/{me}/mentions", headers=auth(me), params={"since_id": ids[-1]})
    assert empty.json() == {"meta": {"result_count": 0}}


@pytest.mark.parametrize("value", ["0", "4", "101", "x"])
def test_max_results_validation_body(http: httpx.Client, value: str) -> None:
    me = user(http, "shop")
    resp = http.get(f"/2/users/{me}/mentions", headers=auth(me), params={"max_results": value})
    assert resp.status_code == 400
    assert resp.json() == {
        "errors": [
            {
                "parameters": {"max_results": [value]},
                "message": f"The `max_results` query parameter value [{value}] is not between 5 and 100",
            }
        ],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


def test_duplicate_and_not_summoned_and_too_long(http: httpx.Client) -> None:
    me, carol = user(http, "shop"), user(http, "carol")
    assert http.post("/2/tweets", headers=auth(me), json={"text": "same"}).status_code == 201
    dup = http.post("/2/tweets", headers=auth(me), json={"text": "same"})
    assert dup.status_code == 403
    assert dup.json() == {
        "detail": "You are not allowed to create a Tweet with duplicate content.",
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
    }
    other = tweet(http, carol, "coffee time")
    refused = http.post("/2/tweets", headers=auth(me), json={"text": "hi", "reply": {"in_reply_to_tweet_id": other}})
    assert refused.status_code == 403 and refused.json()["title"] == "Forbidden"
    assert "mentioned" in refused.json()["detail"]
    summon = tweet(http, carol, "@Shop help")
    ok = http.post("/2/tweets", headers=auth(me), json={"text": "hi", "reply": {"in_reply_to_tweet_id": summon}})
    assert ok.status_code == 201
    own = http.post(
        "/2/tweets", headers=auth(me), json={"text": "more", "reply": {"in_reply_to_tweet_id": ok.json()["data"]["id"]}}
    )
    assert own.status_code == 201
    long = http.post("/2/tweets", headers=auth(me), json={"text": "日" * 141})
    assert long.status_code == 403 and "shorter" in long.json()["detail"]
    assert http.post("/2/tweets", headers=auth(me), json={"text": "日" * 140}).status_code == 201
    ledger = http.get("/_sandbox/tweets", params={"author_id": me}).json()["tweets"]
    assert [t["text"] for t in ledger] == ["same", "hi", "more", "日" * 140]
    assert ledger[1]["in_reply_to_tweet_id"] == summon and ledger[0]["deleted"] is False


def test_dm_needs_user_to_write_first(http: httpx.Client) -> None:
    me, dave = user(http, "shop"), user(http, "dave")
    first = http.post(f"/2/dm_conversations/with/{dave}/messages", headers=auth(me), json={"text": "hello"})
    assert first.status_code == 403 and first.json()["status"] == 403
    http.post("/_sandbox/dms", json={"from_user_id": dave, "to_user_id": me, "text": "question"})
    assert (
        http.post(f"/2/dm_conversations/with/{dave}/messages", headers=auth(me), json={"text": "answer"}).status_code
        == 201
    )
    ledger = http.get("/_sandbox/dms", params={"to_user_id": dave}).json()["dms"]
    assert [d["text"] for d in ledger] == ["answer"]
    events = http.get(
        "/2/dm_events", headers=auth(me), params={"dm_event.fields": "sender_id,created_at,dm_conversation_id"}
    ).json()
    assert [(e["text"], e["sender_id"]) for e in events["data"]] == [("answer", me), ("question", dave)]


def test_auth_required(http: httpx.Client) -> None:
    user(http, "shop")
    for headers in ({}, auth("12345"), {"Authorization": "Bearer nope"}):
        resp = http.get("/2/users/me", headers=headers)
        assert resp.status_code == 401 and resp.json()["title"] == "Unauthorized"
    me = user(http, "shop")
    assert http.get("/2/users/me", headers={"Authorization": f"Bearer {me}-abc"}).json()["data"]["id"] == me


def test_rate_limits_headers_429_and_early_requests(http: httpx.Client) -> None:
    me = user(http, "shop")
    http.post("/_sandbox/faults", json={"rate_limits": {"GET /2/users/me": {"limit": 3, "window": 60}}})
    seen = [http.get("/2/users/me", headers=auth(me)) for _ in range(3)]
    assert [r.headers["x-rate-limit-remaining"] for r in seen] == ["2", "1", "0"]
    assert {r.headers["x-rate-limit-limit"] for r in seen} == {"3"}
    limited = http.get("/2/users/me", headers=auth(me))
    assert limited.status_code == 429
    assert limited.json() == {
        "title": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
        "detail": "Too Many Requests",
    }
    assert limited.headers["x-rate-limit-reset"] == seen[0].headers["x-rate-limit-reset"]
    stats = http.get("/_sandbox/stats").json()
    assert stats["rate_limited"] == 1 and stats["early_requests"] == 0
    assert http.get("/2/users/me", headers=auth(me)).status_code == 429  # too early
    stats = http.get("/_sandbox/stats").json()
    assert stats["early_requests"] == 1 and stats["requests"]["GET /2/users/me"] == 5
    assert stats["rate_limited_by_endpoint"] == {"GET /2/users/me": 2}
    # other endpoints and other users have their own windows
    assert http.get(f"/2/users/{me}/tweets", headers=auth(me)).status_code == 200
    other = user(http, "other")
    assert http.get("/2/users/me", headers=auth(other)).status_code == 200
    http.post("/_sandbox/faults", json={"rate_limits": None})
    assert all(http.get("/2/users/me", headers=auth(me)).status_code == 200 for _ in range(10))


def test_rate_limit_window_resets_with_clock() -> None:
    from bot.sandbox import SandboxServer

    clock = ManualClock(datetime.fromtimestamp(1_800_000_000, UTC))
    with SandboxServer(clock=clock) as server, httpx.Client(base_url=server.url, trust_env=False) as http:
        me = user(http, "shop")
        http.post("/_sandbox/faults", json={"rate_limits": {"POST /2/tweets": {"limit": 1, "window": 900}}})
        assert http.post("/2/tweets", headers=auth(me), json={"text": "a"}).status_code == 201
        limited = http.post("/2/tweets", headers=auth(me), json={"text": "b"})
        assert limited.status_code == 429 and limited.headers["x-rate-limit-reset"] == str(1_800_000_900)
        clock.set(datetime.fromtimestamp(1_800_000_900, UTC))
        assert http.post("/2/tweets", headers=auth(me), json={"text": "b"}).status_code == 201
        assert http.get("/_sandbox/stats").json()["early_requests"] == 0


def test_faults_error_timeout_reset(http: httpx.Client, sandbox: Any) -> None:
    me = user(http, "shop")
    http.post("/_sandbox/faults", json={"error_rate": 1.0, "seed": 1})
    err = http.post("/2/tweets", headers=auth(me), json={"text": "e"})
    assert err.status_code == 503 and err.json()["status"] == 503
    http.post("/_sandbox/faults", json={"error_rate": 0, "timeout_rate": 1.0, "timeout_seconds": 1})
    with pytest.raises(httpx.ReadTimeout):
        http.post("/2/tweets", headers=auth(me), json={"text": "processed"}, timeout=0.3)
    http.post("/_sandbox/faults", json={"timeout_rate": 0, "reset_rate": 1.0})
    with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5) as fresh, pytest.raises(httpx.TransportError):
        fresh.post("/2/tweets", headers=auth(me), json={"text": "never"})
    http.post("/_sandbox/faults", json={"reset_rate": 0})
    texts = [t["text"] for t in http.get("/_sandbox/tweets", params={"author_id": me}).json()["tweets"]]
    assert texts == ["processed"]
    faults = http.get("/_sandbox/stats").json()["faults"]
    assert faults == {"error": 1, "timeout": 1, "reset": 1}
    # admin endpoints are never faulted
    http.post("/_sandbox/faults", json={"error_rate": 1.0})
    assert http.get("/_sandbox/stats").status_code == 200


def test_burst_429_and_reset(http: httpx.Client) -> None:
    me = user(http, "shop")
    http.post("/_sandbox/faults", json={"burst_429": 2, "burst_reset_seconds": 30})
    first = http.get("/2/users/me", headers=auth(me))
    assert first.status_code == 429 and int(first.headers["x-rate-limit-reset"]) > 0
    http.post("/_sandbox/reset")
    stats = http.get("/_sandbox/stats").json()
    assert stats["requests"] == {} and stats["users"] == 0
    me = user(http, "shop")
    assert http.get("/2/users/me", headers=auth(me)).status_code == 200


def test_admin_users_idempotent(http: httpx.Client) -> None:
    a = user(http, "shop")
    assert user(http, "shop") == a
    assert http.get("/_sandbox/users", params={"username": "shop"}).json()["id"] == a
    assert http.get("/_sandbox/users", params={"username": "ghost"}).status_code == 404


def test_latency_delays_the_answer_not_the_write(http: httpx.Client) -> None:
    me = user(http, "shop")
    assert http.post("/_sandbox/faults", json={"latency_seconds": 0.2}).json()["latency_seconds"] == 0.2
    with pytest.raises(httpx.ReadTimeout):
        http.post("/2/tweets", headers=auth(me), json={"text": "slow but written"}, timeout=0.05)
    texts = [t["text"] for t in http.get("/_sandbox/tweets", params={"author_id": me}).json()["tweets"]]
    assert texts == ["slow but written"]
    assert http.get("/2/users/me", headers=auth(me), timeout=0.05).status_code == 200  # reads are not delayed


def test_followers_are_set_by_admin_and_rendered_in_public_metrics(http: httpx.Client, sandbox: Any) -> None:
    me = user(http, "shop")
    star = str(http.post("/_sandbox/users", json={"username": "star", "followers": 25_000}).json()["id"])
    plain = user(http, "plain")
    assert http.get("/_sandbox/users", params={"username": "star"}).json()["followers"] == 25_000
    assert http.get("/_sandbox/users", params={"username": "plain"}).json()["followers"] == 0
    # an existing handle: same id, the count updated only when given
    assert http.post("/_sandbox/users", json={"username": "plain", "followers": 12}).json()["id"] == plain
    assert http.post("/_sandbox/users", json={"username": "plain"}).json()["id"] == plain
    assert http.get("/_sandbox/users", params={"username": "plain"}).json()["followers"] == 12
    assert sandbox.add_user("third", followers=7) and sandbox.world.user_by_name("third").followers == 7
    assert http.post("/_sandbox/users", json={"username": "bad", "followers": -1}).status_code == 400
    ours = tweet(http, me, "like me")
    for uid in (star, plain):
        http.post("/_sandbox/likes", json={"user_id": uid, "tweet_id": ours})
    tweet(http, star, "quoting", quote_tweet_id=ours)
    fields = {"user.fields": "public_metrics"}
    likers = http.get(f"/2/tweets/{ours}/liking_users", headers=auth(me), params=fields).json()["data"]
    assert {u["id"]: u["public_metrics"]["followers_count"] for u in likers} == {star: 25_000, plain: 12}
    assert set(likers[0]["public_metrics"]) == {"followers_count", "following_count", "tweet_count", "listed_count"}
    assert "public_metrics" not in http.get(f"/2/tweets/{ours}/liking_users", headers=auth(me)).json()["data"][0]
    quotes = http.get(
        f"/2/tweets/{ours}/quote_tweets",
        headers=auth(me),
        params={**fields, "expansions": "author_id", "tweet.fields": "author_id"},
    ).json()
    assert quotes["includes"]["users"][0]["public_metrics"]["followers_count"] == 25_000
    me_body = http.get("/2/users/me", headers=auth(star), params=fields).json()["data"]
    assert me_body["public_metrics"]["followers_count"] == 25_000
