"""The sandbox serves text and edits as X does: & < > HTML-escaped (nothing else), every post with its edit history,
an edit a new post listing the earlier versions (the admin API and POST /2/tweets with edit_options)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.core.clock import ManualClock
from tests.sandbox.test_sandbox_api import RECORDED, auth, tweet, user

TYPED = '@shop <3 & >:( "quotes" &amp; it\'s a<b>c'
SERVED = '@shop &lt;3 &amp; &gt;:( "quotes" &amp;amp; it\'s a&lt;b&gt;c'
FIELDS = {"tweet.fields": "author_id,referenced_tweets", "expansions": "referenced_tweets.id"}


@pytest.fixture
def http(sandbox: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5) as client:
        yield client


def edit(http: httpx.Client, tweet_id: str, text: str) -> dict[str, Any]:
    resp = http.post("/_sandbox/edits", json={"tweet_id": tweet_id, "text": text})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_recordings_escape_only_what_the_sandbox_escapes() -> None:
    """The recorded answers carry apostrophes and quotes as written: the sandbox escapes & < > only."""
    texts = [
        item["text"]
        for path in RECORDED.glob("*.json")
        for exchange in json.loads(path.read_text())
        for item in (exchange["response"].get("json") or {}).get("data") or []
        if isinstance(item, dict) and "text" in item
    ]
    assert any("'" in text for text in texts)
    assert not any("&#39;" in text or "&quot;" in text or "&apos;" in text for text in texts)


def test_post_and_dm_text_is_served_escaped_and_kept_as_written(http: httpx.Client) -> None:
    me, alice = user(http, "shop"), user(http, "alice")
    ours = tweet(http, me, "New lamps")
    mention = tweet(http, alice, TYPED, quote_tweet_id=ours)
    assert http.get(f"/2/tweets/{mention}", headers=auth(me)).json()["data"]["text"] == SERVED
    mentions = http.get(f"/2/users/{me}/mentions", headers=auth(me), params=FIELDS).json()
    assert [t["text"] for t in mentions["data"]] == [SERVED]
    quotes = http.get(f"/2/tweets/{ours}/quote_tweets", headers=auth(me)).json()
    assert [t["text"] for t in quotes["data"]] == [SERVED]
    created = http.post(
        "/2/tweets", headers=auth(me), json={"text": "Tom & Jerry <3", "reply": {"in_reply_to_tweet_id": mention}}
    )
    assert created.status_code == 201 and created.json()["data"]["text"] == "Tom &amp; Jerry &lt;3"
    reply_id = created.json()["data"]["id"]
    included = http.get(f"/2/tweets/{reply_id}", headers=auth(me), params=FIELDS).json()["includes"]["tweets"]
    assert [t["text"] for t in included] == [SERVED]
    http.post("/_sandbox/dms", json={"from_user_id": alice, "to_user_id": me, "text": "a<b & c>d"})
    events = http.get("/2/dm_events", headers=auth(me)).json()["data"]
    assert [e["text"] for e in events] == ["a&lt;b &amp; c&gt;d"]
    # the world (and the admin API) keeps what was typed; duplicates and length count the typed text
    ledger = http.get("/_sandbox/tweets", params={"author_id": alice}).json()["tweets"]
    assert [t["text"] for t in ledger] == [TYPED]
    assert http.get("/_sandbox/dms").json()["dms"][0]["text"] == "a<b & c>d"
    again = http.post("/2/tweets", headers=auth(me), json={"text": "Tom & Jerry <3"})
    assert again.status_code == 403 and "duplicate" in again.json()["detail"]
    assert http.post("/2/tweets", headers=auth(me), json={"text": "&" * 280}).status_code == 201


def test_an_admin_edit_is_a_new_post_with_the_whole_history(http: httpx.Client) -> None:
    me, alice = user(http, "shop"), user(http, "alice")
    first = tweet(http, alice, "@shop where is my order?")
    second = edit(http, first, "@shop where is my order A1?")
    third = edit(http, second["id"], "@shop where is my order A1? <3")
    chain = [first, second["id"], third["id"]]
    assert second["edit_history_tweet_ids"] == chain[:2] and third["edit_history_tweet_ids"] == chain
    mentions = http.get(f"/2/users/{me}/mentions", headers=auth(me)).json()
    assert [t["id"] for t in mentions["data"]] == list(reversed(chain))  # each version is a mention of its own
    assert all(t["edit_history_tweet_ids"] == chain for t in mentions["data"])  # every version shows the chain
    assert mentions["meta"]["newest_id"] == third["id"]
    assert mentions["data"][0]["text"] == "@shop where is my order A1? &lt;3"
    old = http.get(f"/2/tweets/{first}", headers=auth(me)).json()["data"]
    assert old["text"] == "@shop where is my order?" and old["edit_history_tweet_ids"] == chain
    since = http.get(f"/2/users/{me}/mentions", headers=auth(me), params={"since_id": first}).json()
    assert [t["id"] for t in since["data"]] == [third["id"], second["id"]]  # edits are newer posts
    ledger = http.get("/_sandbox/tweets", params={"author_id": alice}).json()["tweets"]
    assert [t["edit_history_tweet_ids"] for t in ledger] == [chain, chain, chain]


def test_a_reply_or_quote_keeps_its_target_when_edited(http: httpx.Client) -> None:
    me, alice = user(http, "shop"), user(http, "alice")
    ours = tweet(http, me, "Sale today")
    answer = tweet(http, alice, "@shop nice", in_reply_to_tweet_id=ours)
    edited = edit(http, answer, "@shop very nice")["id"]
    item = http.get(
        f"/2/tweets/{edited}", headers=auth(me), params={"tweet.fields": "conversation_id,referenced_tweets"}
    )
    data = item.json()["data"]
    assert data["referenced_tweets"] == [{"type": "replied_to", "id": ours}] and data["conversation_id"] == ours


def test_editing_through_the_api_follows_x_rules() -> None:
    from bot.sandbox import SandboxServer

    clock = ManualClock(datetime.fromtimestamp(1_800_000_000, UTC))
    with SandboxServer(clock=clock) as server, httpx.Client(base_url=server.url, trust_env=False) as http:
        me, alice = user(http, "shop"), user(http, "alice")

        def post_as(uid: str, text: str, previous: str) -> httpx.Response:
            body = {"text": text, "edit_options": {"previous_post_id": previous}}
            return http.post("/2/tweets", headers=auth(uid), json=body)

        first = http.post("/2/tweets", headers=auth(me), json={"text": "Lamps & more"}).json()["data"]["id"]
        assert post_as(alice, "mine now", first).status_code == 403  # only its author
        versions = [first]
        for n in range(5):
            resp = post_as(me, f"Lamps & more, take {n}", versions[-1])
            assert resp.status_code == 201, resp.text
            data = resp.json()["data"]
            versions.append(data["id"])
            assert data["edit_history_tweet_ids"] == versions and data["text"] == f"Lamps &amp; more, take {n}"
        sixth = post_as(me, "one edit too many", versions[-1])
        assert sixth.status_code == 403 and "5 times" in sixth.json()["detail"]
        assert post_as(me, "from the middle", versions[1]).status_code == 403  # only the latest version

        late = http.post("/2/tweets", headers=auth(me), json={"text": "Winter sale"}).json()["data"]["id"]
        clock.advance(timedelta(minutes=31))
        closed = post_as(me, "Winter sale, extended", late)
        assert closed.status_code == 403 and "30 minutes" in closed.json()["detail"]

        mention = tweet(http, alice, "@shop hello")
        reply = http.post(
            "/2/tweets", headers=auth(me), json={"text": "hi!", "reply": {"in_reply_to_tweet_id": mention}}
        )
        assert post_as(me, "hi there!", reply.json()["data"]["id"]).status_code == 403  # a reply to someone else
        bad = http.post("/2/tweets", headers=auth(me), json={"text": "x", "edit_options": {"previous_post_id": "no"}})
        assert bad.status_code == 400 and "previous_post_id" in json.dumps(bad.json())


def test_deleting_a_version_deletes_every_version(http: httpx.Client) -> None:
    me, alice = user(http, "shop"), user(http, "alice")
    first = tweet(http, alice, "@shop typo")
    second = edit(http, first, "@shop no typo")["id"]
    assert http.delete(f"/2/tweets/{first}", headers=auth(alice)).json() == {"data": {"deleted": True}}
    for gone in (first, second):
        body = http.get(f"/2/tweets/{gone}", headers=auth(me)).json()
        assert "data" not in body and body["errors"][0]["resource_id"] == gone
    assert http.get(f"/2/users/{me}/mentions", headers=auth(me)).json() == {"meta": {"result_count": 0}}
    assert http.post("/_sandbox/edits", json={"tweet_id": second, "text": "again"}).status_code == 400
