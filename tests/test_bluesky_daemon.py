"""The real daemon with one X sandbox account and one Bluesky account on a local AT Protocol network (issue 7).

A campaign on both accounts posts once to each, the Bluesky one from its own template; a customer's mention on
Bluesky (a post with a mention facet, written through the customer's own session) gets exactly one reply, threaded
under it; the mention and its interaction land in the store. Skips where the network cannot run here
(`bluesky_devnet` from tests/conftest.py: scripts/bluesky-devnet exit 3).
"""

from __future__ import annotations

import re
import shutil
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.app.daemon import Daemon, DaemonOptions
from tests.helpers import wait_for

X_BUCKETS = XPlatform.buckets  # the rate-limit bucket names of an X account

REPO = Path(__file__).resolve().parent.parent

CONFIG = """\
timezone: UTC
database_url: {database_url}
templates_dir: templates
accounts:
  shop_x:
    platform: sandbox
    handle: shop
    base_url: {sandbox_url}
  shop_bsky:
    platform: bluesky
    handle: {handle}
    base_url: {pds_url}
campaigns:
  launch:
    accounts: [shop_x, shop_bsky]
    template: launch.j2
    schedule:
      times: ["{slot}"]
replies:
  accounts: [shop_bsky]
  poll_seconds: 1
delivery:
  min_spacing_seconds: 0
  per_account_per_day: 0
  poll_seconds: 0.2
"""

TEMPLATES = {
    "launch.j2": "Winter lamps are here, @{{ account.handle }} on X {{ 'https://shop.example/w' | utm }}\n",
    "launch.bluesky.j2": "Winter lamps are here 🕯️ Bluesky edition {{ 'https://shop.example/w' | utm }}\n",
}


def x_ledger(sandbox: Any, handle: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5) as http:
        user = http.get("/_sandbox/users", params={"username": handle})
        if user.status_code == 404:
            return []
        return list(http.get("/_sandbox/tweets", params={"author_id": user.json()["id"]}).json()["tweets"])


def repo_posts(pds: httpx.Client, did: str) -> list[dict[str, Any]]:
    """Every post record in an account's repository (the PDS is the truth, not the AppView's index)."""
    resp = pds.get(
        "/xrpc/com.atproto.repo.listRecords",
        params={"repo": did, "collection": "app.bsky.feed.post", "limit": 100},
    )
    resp.raise_for_status()
    return list(resp.json()["records"])


def mention_as(pds: httpx.Client, customer: Any, shop: Any, words: str) -> str:
    """The customer's own post mentioning the shop, with the mention facet (byte offsets in UTF-8)."""
    at = f"@{shop.handle}"
    text = f"{at} {words}"
    record = {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "facets": [
            {
                "index": {"byteStart": 0, "byteEnd": len(at.encode("utf-8"))},
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": shop.did}],
            }
        ],
    }
    resp = pds.post(
        "/xrpc/com.atproto.repo.createRecord",
        headers={"authorization": f"Bearer {customer.access}"},
        json={"repo": customer.did, "collection": "app.bsky.feed.post", "record": record},
    )
    resp.raise_for_status()
    return str(resp.json()["uri"])


def test_daemon_posts_to_x_and_bluesky_and_answers_a_bluesky_mention_once(
    sandbox: Any, bluesky_devnet: Any, tmp_path: Path, db_url: str
) -> None:
    """On SQLite, and on PostgreSQL when SOCIALBOT_TEST_POSTGRES_URL is set: at-URIs are longer than X's ids."""
    shop = bluesky_devnet.create_account("shop", app_password=True)
    customer = bluesky_devnet.create_account("customer")
    (tmp_path / "templates").mkdir()
    shutil.copytree(REPO / "templates" / "replies", tmp_path / "templates" / "replies")
    for name, body in TEMPLATES.items():
        (tmp_path / "templates" / name).write_text(body, encoding="utf-8")
    slot = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    config = tmp_path / "config.yaml"
    config.write_text(
        textwrap.dedent(
            CONFIG.format(
                database_url=db_url,
                sandbox_url=sandbox.url,
                handle=shop.handle,
                pds_url=bluesky_devnet.pds_url,
                slot=slot.strftime("%Y-%m-%d %H:%M:%S"),
            )
        ),
        encoding="utf-8",
    )
    environ = {"SOCIALBOT_SHOP_BSKY_APP_PASSWORD": shop.app_password}
    pds = httpx.Client(base_url=bluesky_devnet.pds_url, trust_env=False, timeout=10)
    daemon = Daemon(DaemonOptions(config_path=config, environ=environ, watch_seconds=0.5))
    daemon.start()
    try:
        # the campaign: one post on each platform, each from its own template
        wait_for(
            lambda: x_ledger(sandbox, "shop") and repo_posts(pds, shop.did),
            timeout=30,
            interval=0.2,
            what="the launch on both",
        )
        mention = mention_as(pds, customer, shop, "where is my order? it was due on Monday")

        def replies() -> list[dict[str, Any]]:
            return [
                r for r in repo_posts(pds, shop.did) if (r["value"].get("reply") or {}).get("parent", {}).get("uri")
            ]

        wait_for(replies, timeout=30, interval=0.2, what="the reply to the customer's mention")
        assert daemon.mentions is not None
        again = [daemon.mentions.poll("shop_bsky") for _ in range(3)]  # three more polls: nothing answered twice
        assert all(r.complete and r.new == 0 and r.replies == 0 for r in again), again
    finally:
        daemon.stop()

    x_posts = x_ledger(sandbox, "shop")
    [x_text] = [t["text"] for t in x_posts]  # + the variant and slot (attribution)
    assert re.fullmatch(
        r"Winter lamps are here, @shop on X https://shop\.example/w\?utm_source=x&utm_medium=social"
        r"&utm_campaign=launch&utm_content=v0&utm_term=\d{8}T\d{4,6}Z",
        x_text,
    ), x_text
    own = repo_posts(pds, shop.did)
    answers = [r for r in own if r["value"].get("reply")]
    launches = [r for r in own if not r["value"].get("reply")]
    [launch_text] = [r["value"]["text"] for r in launches]
    assert re.fullmatch(
        r"Winter lamps are here 🕯️ Bluesky edition "
        r"https://shop\.example/w\?utm_source=bluesky&utm_medium=social&utm_campaign=launch&utm_content=v0"
        r"&utm_term=\d{8}T\d{4,6}Z",
        launch_text,
    ), launch_text
    assert len(answers) == 1, [r["value"]["text"] for r in answers]
    [answer] = answers
    thread = answer["value"]["reply"]
    assert thread["parent"]["uri"] == mention and thread["root"]["uri"] == mention
    assert "@" not in answer["value"]["text"] or not answer["value"].get("facets")  # it mentions nobody

    with Store.open(db_url) as store:
        [slot_row] = store.slots.find("launch")
        items = {i.key: i for i in store.outbox.items(limit=None)}
        mentions = store.mentions.find("shop_bsky")
        edges = store.people.interactions(kind="mention")
        customer_row = store.people.social_user("bluesky", user_id=customer.did)
    assert slot_row.state == "published"
    slot_key = slot.strftime("%Y-%m-%dT%H:%M:%SZ")
    launch_x, launch_bsky = items[f"campaign:launch:shop_x:{slot_key}"], items[f"campaign:launch:shop_bsky:{slot_key}"]
    assert (launch_x.state, launch_bsky.state) == ("sent", "sent")
    assert launch_x.remote_id == x_posts[0]["id"] and launch_bsky.remote_id == launches[0]["uri"]
    reply = items[f"reply:{mention}"]
    assert (reply.state, reply.kind, reply.in_reply_to_id, reply.remote_id) == ("sent", "reply", mention, answer["uri"])
    [stored] = [m for m in mentions if m.platform_id == mention]
    assert (stored.platform, stored.author_id, stored.outcome, stored.reply_key) == (
        "bluesky",
        customer.did,
        "answered",
        f"reply:{mention}",
    )
    # the graph's input: the customer -> shop mention edge, and the customer as a person on Bluesky
    assert [(e.platform, e.source_user_id, e.target_user_id, e.post_id) for e in edges] == [
        ("bluesky", customer.did, shop.did, mention)
    ]
    assert customer_row is not None and customer_row.username == customer.handle


def test_a_database_from_before_bluesky_takes_at_uris_after_the_upgrade(db_url: str) -> None:
    """0005 widens the id columns (X's ids fit 64 characters, at-URIs do not); PostgreSQL enforces the width."""
    from bot.adapters.store import migrate
    from bot.core.records import InteractionRecord, MentionRecord, UserRecord

    did = "did:plc:" + "a" * 24
    uri = f"at://{did}/app.bsky.feed.post/3n3kfjtt6os27"
    handle = "a-rather-long-shop-handle-for-a-test." + "x" * 70 + ".bsky.social"
    with Store.open(db_url) as store:
        migrate.upgrade(store.engine, "0004")
        store.outbox.enqueue("campaign:old:2026-11-30T10:00:00Z", account="shop_x", kind="post", text="an X post")
        assert store.upgrade() == ("0004", migrate.head_revision())
        assert store.outbox.enqueue(
            f"reply:{uri}", account="shop_bsky", kind="reply", text="thanks!", in_reply_to_id=uri
        )
        claimed = [
            c
            for c in store.outbox.claim("t", now=datetime.now(UTC), lease_seconds=60, limit=10, buckets=X_BUCKETS).items
        ]
        [reply] = [c for c in claimed if c.item.account == "shop_bsky"]
        assert store.outbox.mark_sent(reply.item, uri.replace("3n3kfjtt6os27", "3n3kfjuqzihra"), now=datetime.now(UTC))
        with store.mentions.unit("shop_bsky") as unit:
            unit.write(
                users=[UserRecord("bluesky", did, handle)],
                mentions=[
                    MentionRecord(
                        account="shop_bsky",
                        platform="bluesky",
                        kind="mention",
                        platform_id=uri,
                        text="@shop.test hello",
                        outcome="not_answered",
                        seen_at=datetime.now(UTC),
                        author_id=did,
                        conversation_id=uri,
                    )
                ],
                interactions=[
                    InteractionRecord("bluesky", did, "did:web:" + "s" * 80, "mention", uri, datetime.now(UTC))
                ],
            )
            unit.set_resume("mentions", "2026-11-30T18:49:45.123000Z", uri)
        assert store.mentions.resume_point("shop_bsky", "mentions") == ("2026-11-30T18:49:45.123000Z", uri)
        assert store.people.social_user("bluesky", user_id=did) is not None
        assert [m.platform_id for m in store.mentions.find("shop_bsky")] == [uri]
