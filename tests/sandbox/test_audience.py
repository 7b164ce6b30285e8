"""The simulated audience against a real sandbox over HTTP: users, actions, shop timelines, ground truth, orders."""

from __future__ import annotations

import csv
import re
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.platforms.x import XPlatform
from bot.sandbox import phrases
from bot.sandbox.audience import KINDS, Action, Audience

SHOP = "lumenhome"
UNTIL = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def http(sandbox: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5) as client:
        yield client


@pytest.fixture
def audience(sandbox: Any) -> Iterator[Audience]:
    with Audience(sandbox.url, SHOP, seed=11, users=60, communities=4, influencers=3) as aud:
        yield aud.setup()


def shop_tweets(sandbox: Any, audience: Audience, n: int = 3) -> list[str]:
    return [sandbox.add_tweet(audience.shop_id, f"new in: product {i}") for i in range(n)]


def signature(actions: list[Action]) -> list[tuple[Any, ...]]:
    return [(a.kind, a.username, a.text, a.intent, a.language, a.odd) for a in actions]


def test_setup_creates_users_idempotently(audience: Audience, http: httpx.Client) -> None:
    users = http.get("/_sandbox/users").json()["users"]
    names = {u["username"] for u in users}
    assert len(users) == 61 and SHOP in names
    assert {u.username for u in audience.users} <= names
    assert all(re.fullmatch(r"[A-Za-z0-9_]{1,15}", u.username) for u in audience.users)
    assert any(re.search(r"[\u4e00-\u9fff]", u.name) for u in audience.users), "some Chinese display names"
    assert phrases.SQL_USER[0] in names
    stars = audience.influencers
    assert len(stars) == 3 and len({u.community for u in stars}) == 3
    truth = audience.ground_truth()
    assert set(truth.communities) == {u.id for u in audience.users} and set(truth.communities.values()) == set(range(4))
    assert truth.influencers == [u.id for u in stars]

    again = Audience(audience.base_url, SHOP, seed=11, users=60, communities=4, influencers=3)
    with again:
        again.setup()
    assert len(http.get("/_sandbox/users").json()["users"]) == 61
    assert [u.id for u in again.users] == [u.id for u in audience.users]


def test_step_produces_every_kind_and_influencers_attract_reactions(sandbox: Any, audience: Audience) -> None:
    shop = set(shop_tweets(sandbox, audience))
    actions = audience.step(400)
    kinds = Counter(a.kind for a in actions)
    assert set(kinds) == set(KINDS), kinds
    assert any(a.kind in ("like", "retweet") and a.target_id in shop for a in actions)
    assert any(a.kind == "reply" and a.target_id in shop and a.summons_shop for a in actions)
    assert any(a.kind == "quote" and a.target_id in shop for a in actions)
    assert any(a.kind == "group_mention" and len(a.mentioned) >= 2 for a in actions)
    assert {a.language for a in actions if a.intent} >= {"en", "zh"}
    assert {a.intent for a in actions if a.intent} == set(phrases.INTENTS)

    # replies, quotes, likes and retweets between audience members go mostly to the planted influencers
    author = {t["id"]: t["author_id"] for t in sandbox_tweets(sandbox)}
    stars = {u.id for u in audience.influencers}
    social = [a for a in actions if a.target_id and a.target_id not in shop]
    to_stars = sum(author[a.target_id] in stars for a in social)
    assert to_stars / len(social) > 0.4
    per_user = Counter(author[a.target_id] for a in social)
    assert {uid for uid, _ in per_user.most_common(3)} == stars
    for a in actions:
        if a.text is not None and a.summons_shop and a.kind != "dm":
            assert f"@{SHOP}" in a.text


def shop_mentions(sandbox: Any, shop_id: str) -> list[dict[str, Any]]:
    """The shop's mentions timeline as the bot reads it: GET /2/users/:id/mentions, every page, plain httpx."""
    params = {"max_results": "100", "tweet.fields": "author_id,in_reply_to_user_id,entities,referenced_tweets"}
    headers = {"Authorization": f"Bearer {shop_id}-test"}
    out: list[dict[str, Any]] = []
    with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5, headers=headers) as client:
        while True:
            body = client.get(f"/2/users/{shop_id}/mentions", params=params).raise_for_status().json()
            out.extend(body.get("data", []))
            token = body.get("meta", {}).get("next_token")
            if not token:
                return out
            params["pagination_token"] = token


def test_planted_influencers_stand_out_in_what_reaches_the_shop(sandbox: Any, audience: Audience) -> None:
    shop_tweets(sandbox, audience)
    actions = audience.step(400)
    mentions = shop_mentions(sandbox, audience.shop_id)
    assert {a.tweet_id for a in actions if a.summons_shop and a.kind != "dm"} == {t["id"] for t in mentions}
    # who is replied to or @mentioned (besides the shop) in the shop's mentions: the edges the bot records
    addressed: Counter[str] = Counter()
    for tweet in mentions:
        targets = {m["id"] for m in tweet.get("entities", {}).get("mentions", []) if "id" in m}
        targets.add(tweet.get("in_reply_to_user_id") or audience.shop_id)
        addressed.update(targets - {tweet["author_id"], audience.shop_id})
    regular = [addressed[u.id] for u in audience.users if not u.influencer]
    stars = [addressed[u.id] for u in audience.influencers]
    assert min(stars) > statistics.median(regular), (stars, statistics.median(regular))
    assert min(stars) > max(regular), (stars, max(regular))  # the planted influencers are the top of the list
    # they show up in every way the brief lists: replies under their shop posts, group mentions, quotes
    by_kind = Counter(
        a.kind for a in actions if a.summons_shop and set(a.mentioned) & {u.id for u in audience.influencers}
    )
    assert by_kind["reply"] and by_kind["group_mention"] and by_kind["quote"], by_kind
    shout_outs = [a for a in actions if a.kind == "post" and a.summons_shop]
    assert shout_outs and all(a.user_id in {u.id for u in audience.influencers} for a in shout_outs)
    handle = {u.id: u.username for u in audience.users}
    replies = [a for a in actions if a.kind == "reply" and a.target_id in {s.tweet_id for s in shout_outs}]
    assert replies and all((a.text or "").startswith(f"@{handle[a.mentioned[0]]} @{SHOP} ") for a in replies)


def sandbox_tweets(sandbox: Any) -> list[dict[str, Any]]:
    return httpx.get(f"{sandbox.url}/_sandbox/tweets", trust_env=False).json()["tweets"]


def test_mentions_reach_the_shop_timeline_and_dms_its_inbox(sandbox: Any, audience: Audience) -> None:
    shop_tweets(sandbox, audience)
    actions = audience.step(200) + audience.showcase()
    platform = XPlatform.for_sandbox(sandbox.url, SHOP)
    seen = {post.id: post for page in platform.mentions() for post in page.items}
    to_shop = [a for a in actions if a.summons_shop and a.kind != "dm"]
    assert to_shop and {a.tweet_id for a in to_shop} <= set(seen)
    for a in to_shop:
        assert seen[a.tweet_id].text == a.text
    # chatter between users never reaches the shop
    assert not {a.tweet_id for a in actions if a.kind in ("post", "reply") and not a.summons_shop} & set(seen)

    params = {"to_user_id": audience.shop_id}
    dms = httpx.get(f"{sandbox.url}/_sandbox/dms", params=params, trust_env=False).json()["dms"]
    by_id = {d["id"]: d for d in dms}
    sent = [a for a in actions if a.kind == "dm"]
    assert sent and {a.tweet_id for a in sent} == set(by_id)
    assert all(by_id[a.tweet_id]["text"] == a.text and by_id[a.tweet_id]["from_user_id"] == a.user_id for a in sent)


def test_ground_truth_covers_every_intent_text(sandbox: Any, audience: Audience) -> None:
    shop_tweets(sandbox, audience)
    actions = audience.step(250) + audience.showcase() + audience.mention_burst(50, odd_rate=0.2)
    truth = audience.ground_truth()
    with_intent = {a.tweet_id: a.intent for a in actions if a.intent is not None}
    assert truth.intents == with_intent
    assert all(a.summons_shop for a in actions if a.intent is not None)
    assert truth.dm_ids == {a.tweet_id for a in actions if a.kind == "dm"}
    assert set(truth.languages) == set(truth.intents)
    assert truth.opt_outs == {a.user_id for a in actions if a.intent == "opt_out"}
    assert set(truth.intents.values()) == set(phrases.INTENTS)


def test_showcase_has_every_intent_in_both_languages_and_the_odd_texts(audience: Audience) -> None:
    actions = audience.showcase()
    mentions = [a for a in actions if a.kind == "mention" and not a.odd]
    assert {(a.intent, a.language) for a in mentions} == {(i, lang) for i in phrases.INTENTS for lang in ("en", "zh")}
    assert {a.intent for a in actions if a.kind == "dm"} == set(phrases.INTENTS)
    odd = [a.text or "" for a in actions if a.odd]
    assert len(odd) == len(phrases.ODD)
    assert f"@{SHOP}" in odd  # nothing after the handle
    assert any(t.count("🎉") == 280 for t in odd)
    assert any("{{7*7}}" in t for t in odd) and any("{% raw %}" in t for t in odd)
    assert any(re.search(r"[\u0590-\u06ff]", t) for t in odd), "RTL text"
    assert any(ch in t for t in odd for ch in phrases.ZERO_WIDTH)
    assert all(t.startswith(f"@{SHOP}") for t in odd)
    assert any(a.username == phrases.SQL_USER[0] for a in actions)


def test_same_seed_same_actions(sandbox: Any) -> None:
    runs = []
    for seed in (5, 5, 6):
        sandbox.reset()
        with Audience(sandbox.url, SHOP, seed=seed, users=40, communities=3, influencers=2) as aud:
            aud.setup()
            shop_tweets(sandbox, aud)
            runs.append(signature(aud.step(120) + aud.mention_burst(20, odd_rate=0.3)))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_mention_burst_fast_path(sandbox: Any, audience: Audience) -> None:
    actions = audience.mention_burst(500)
    assert len(actions) == 500 and len({a.tweet_id for a in actions}) == 500
    stored = {t["id"]: t for t in sandbox_tweets(sandbox)}
    assert all(stored[a.tweet_id]["text"] == a.text for a in actions)
    assert all(a.text and a.text.startswith(f"@{SHOP} ") for a in actions)
    assert set(audience.ground_truth().intents) >= {a.tweet_id for a in actions}

    only = audience.mention_burst(30, intents=("complaint", "opt_out"), language_mix=1.0)
    assert {a.intent for a in only} <= {"complaint", "opt_out"}
    assert {a.language for a in only} == {"zh"}


def test_paced_run_and_background_thread(sandbox: Any, audience: Audience) -> None:
    actions = audience.run(rate_per_s=500, seconds=0.1)
    assert actions and all(a.kind in KINDS for a in actions)

    before = sum(audience.counts.values())
    audience.start_background(rate_per_s=200)
    deadline = time.monotonic() + 5
    while sum(audience.counts.values()) < before + 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    audience.stop()
    after = sum(audience.counts.values())
    assert after >= before + 5
    time.sleep(0.05)
    assert sum(audience.counts.values()) == after, "the thread stopped"


def test_orders_csv(tmp_path: Path, sandbox: Any) -> None:
    aud = Audience(sandbox.url, SHOP, seed=3, users=150, communities=5, influencers=3)
    path = tmp_path / "orders.csv"
    count = aud.write_orders_csv(path, until=UNTIL)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    assert header == ["handle", "order_id", "amount", "time"]
    assert len(rows) == count > 100 and all(len(r) == 4 for r in rows)
    assert len({r[1] for r in rows}) == count
    names = {u.username: u for u in aud.users}
    amounts: dict[int, list[float]] = {}
    orders_per_handle = Counter(r[0] for r in rows)
    for handle, _order_id, amount, when in rows:
        assert handle in names
        value = float(amount)
        assert 5 < value < 10_000 and re.fullmatch(r"\d+\.\d\d", amount)
        stamp = datetime.fromisoformat(when.replace("Z", "+00:00"))
        assert stamp.tzinfo is not None and stamp <= UNTIL and when.endswith("Z")
        amounts.setdefault(names[handle].community, []).append(value)
    assert max(orders_per_handle.values()) <= 5
    means = [sum(v) / len(v) for v in amounts.values()]
    assert max(means) > 1.3 * min(means), "communities spend differently"
    star_orders = [orders_per_handle[u.username] for u in aud.influencers]
    assert min(star_orders) == 5
    star_spend = [float(r[2]) for r in rows if names[r[0]].influencer]
    assert sum(star_spend) / len(star_spend) > sum(float(r[2]) for r in rows) / len(rows)

    again = tmp_path / "again.csv"
    aud.write_orders_csv(again, until=UNTIL)
    assert again.read_text() == path.read_text()
    aud.close()


def test_sandbox_command_runs_an_audience() -> None:
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--port", "0", "--audience", "100", "--audience-shop", "shop"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = ""
        while not url.startswith("http://"):
            line = proc.stdout.readline()
            assert line, "sandbox exited early"
            url = line.strip().split()[-1] if "http://" in line else ""
        deadline = time.monotonic() + 20
        stats: dict[str, Any] = {}
        while time.monotonic() < deadline:
            stats = httpx.get(f"{url}/_sandbox/stats", trust_env=False).json()
            if stats["tweets"] > 20:
                break
            time.sleep(0.1)
        assert stats["users"] == 201 and stats["tweets"] > 20
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
