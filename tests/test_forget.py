"""`socialbot forget @handle` / store.privacy.forget: nothing of the person remains in any column of any table, the
other people's data and the aggregate counts stay, and the opt-out still holds (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bot.adapters.store import Store
from bot.adapters.store.tables import metadata, outbox_t
from bot.app.cli import app
from bot.core.clock import FrozenClock
from bot.core.records import (
    InboxRecord,
    InteractionRecord,
    IssueSpec,
    Member,
    MentionRecord,
    OptOutRecord,
    OutboxState,
    RedemptionLine,
    UserRecord,
)
from bot.domains.coupons.issuing import coupon_key
from tests.conftest import REPO_ROOT

CONFIG = str(REPO_ROOT / "config.yaml")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

ZOE_ID, ZOE = "4242424242", "ZoeForget42"
ZOE_NAME = "Zoe Quixote Forgetful"
OTTO_ID, OTTO = "5151515151", "OttoKeep"
SHOP_ID = "1000"
ZOE_TEXTS = (
    "@shop my parcel 77-ALPHA never arrived, I live at 12 Elm Lane",
    "hi, this is Zoe, please send my refund to the card ending 9981",
    "stop messaging me",
)
OTTO_TEXT = "@shop @ZoeForget42 same problem with my parcel here"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url, clock=FrozenClock(NOW))
    s.upgrade()
    yield s
    s.close()


def _score(user_id: str, rank: int, reasons: list[str]) -> dict[str, Any]:
    return {
        "platform": "x",
        "user_id": user_id,
        "pagerank": 0.1,
        "in_strength": 1.0,
        "hub": 0.1,
        "authority": 0.1,
        "betweenness": 0.0,
        "followers": 10,
        "score": 1.0 / rank,
        "rank": rank,
        "community": 0,
        "reasons": reasons,
    }


def fill(store: Store) -> dict[str, Any]:
    """Zoe's data in every table that can hold a person's data, plus Otto's; returns what the test needs."""
    unit_users = [
        UserRecord("x", ZOE_ID, ZOE, ZOE_NAME, 321),
        UserRecord("x", OTTO_ID, OTTO, "Otto Keeper", 55),
        UserRecord("x", SHOP_ID, "shop", "The Shop", 9000),
    ]
    mentions = [
        MentionRecord("shop", "x", "mention", "9001", ZOE_TEXTS[0], "answered", ZOE_ID, NOW, mentions=["shop"]),
        MentionRecord("shop", "x", "dm", "9002", ZOE_TEXTS[1], "answered", ZOE_ID, NOW),
        MentionRecord(
            "shop",
            "x",
            "mention",
            "9003",
            OTTO_TEXT,
            "not_answered",
            OTTO_ID,
            NOW,
            in_reply_to_user_id=ZOE_ID,
            mentions=["shop", ZOE],
        ),
    ]
    interactions = [
        InteractionRecord("x", ZOE_ID, SHOP_ID, "mention", "9001", NOW),
        InteractionRecord("x", ZOE_ID, SHOP_ID, "like", "8001", NOW),
        InteractionRecord("x", OTTO_ID, ZOE_ID, "mention", "9003", NOW),
        InteractionRecord("x", OTTO_ID, SHOP_ID, "mention", "9003", NOW),
    ]
    inbox = [
        InboxRecord("shop", "x", "mention", "9001", ZOE_TEXTS[0], ZOE_ID, ZOE, "complaint"),
        InboxRecord("shop", "x", "mention", "9003", OTTO_TEXT, OTTO_ID, OTTO, "complaint"),
    ]
    with store.mentions.unit("shop") as unit:
        unit.write(users=unit_users, mentions=mentions, interactions=interactions, inbox=inbox)
    # outbox: a reply sent to Zoe, a DM to her still pending, Otto's reply pending
    store.outbox.enqueue(
        "reply:9001",
        account="shop",
        kind="reply",
        text=f"@{ZOE} so sorry, Zoe!",
        in_reply_to_id="9001",
        target_platform="x",
        target_user_id=ZOE_ID,
    )
    store.outbox.enqueue(
        "dm-reply:9002",
        account="shop",
        kind="dm",
        text="Zoe, your refund is on its way",
        recipient_id=ZOE_ID,
        target_platform="x",
        target_user_id=ZOE_ID,
    )
    store.outbox.enqueue(
        "reply:9003",
        account="shop",
        kind="reply",
        text=f"@{OTTO} we are on it",
        in_reply_to_id="9003",
        target_platform="x",
        target_user_id=OTTO_ID,
    )
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(outbox_t).where(outbox_t.c.key == "reply:9001").values(state=OutboxState.SENT, sent_at=NOW)
        )
    # graph snapshot and segments
    snapshot_id = store.graphs.save_snapshot(
        created_at=NOW,
        figures={
            "n_users": 3,
            "n_edges": 3,
            "n_interactions": 4,
            "n_communities": 1,
            "modularity": 0.1,
            "reciprocity": 0.0,
        },
        params={"window_days": 90},
        stats={"top_users": [ZOE_ID, OTTO_ID], "top_handles": [f"@{ZOE}", f"@{OTTO}"]},
        scores=[_score(ZOE_ID, 1, ["mentioned the shop"]), _score(OTTO_ID, 2, [f"talks to @{ZOE}"])],
        communities=[
            {
                "community": 0,
                "size": 2,
                "internal_share": 0.5,
                "top_members": [ZOE_ID, OTTO_ID],
                "top_terms": [["parcel", 2]],
            },
        ],
    )
    run_id = store.segments.save_run(
        created_at=NOW,
        k=2,
        silhouette=0.5,
        graph_snapshot_id=snapshot_id,
        params={},
        stats={},
        segments=[(0, "seg0", 1, {"x": 0.0}), (1, "seg1", 1, {"x": 1.0})],
        members=[("x", ZOE_ID, 0, 0.1), ("x", OTTO_ID, 1, 0.2)],
    )
    # coupons: c1 issued to both (Zoe's DM queued), c2 redeemed by Zoe, c3 Zoe held out
    counter = itertools.count(1)

    def new_code() -> str:
        return f"CODE-{next(counter):04d}"

    people = [Member("x", ZOE_ID, 0, False), Member("x", OTTO_ID, 1, False)]
    for campaign in ("c1", "c2"):
        store.coupons.issue(IssueSpec(campaign, 10, "dm", 86400 * 7, new_code=new_code), people)
    store.coupons.issue(IssueSpec("c3", 10, "dm", 86400 * 7, new_code=new_code), [Member("x", ZOE_ID, 0, True)])
    zoe_c1 = store.coupons.find(campaign="c1", user_id=ZOE_ID)[0]
    zoe_c2 = store.coupons.find(campaign="c2", user_id=ZOE_ID)[0]
    otto_c1 = store.coupons.find(campaign="c1", user_id=OTTO_ID)[0]
    assert (
        store.coupons.enqueue_dms(
            [
                (
                    zoe_c1.id,
                    {
                        "key": coupon_key("c1", "x", ZOE_ID),
                        "account": "shop",
                        "text": f"Your code: {zoe_c1.code}",
                        "recipient_id": ZOE_ID,
                        "target_platform": "x",
                        "target_user_id": ZOE_ID,
                    },
                )
            ]
        )
        == 1
    )
    assert zoe_c2.code is not None
    results = store.redemptions.record([RedemptionLine(zoe_c2.code, "order-1", 25.0, NOW + timedelta(hours=1))])
    assert results[0].status == "counted"
    # her opt-out ("stop" by DM): by id
    with store.mentions.unit("shop") as unit:
        unit.write(optouts=[OptOutRecord("x", ZOE_ID, ZOE, "dm 9002")])
    return {"snapshot": snapshot_id, "run": run_id, "zoe_c1": zoe_c1, "otto_c1": otto_c1, "zoe_c2": zoe_c2}


def aggregates(store: Store, seeded: dict[str, Any]) -> dict[str, Any]:
    summary = store.mentions.summary()
    snapshot = store.graphs.snapshot(seeded["snapshot"])
    run = store.segments.run(seeded["run"])
    assert snapshot is not None and run is not None
    return {
        "coupons": [astuple(c)[:-1] for c in store.coupons.counts()],  # (minus `extra`)
        "budgets": [store.coupons.budget(c) for c in ("c1", "c2", "c3")],
        "redemptions": [(r.code, r.order_id, r.amount, r.status) for r in store.redemptions.find()],
        "snapshot": (snapshot.n_users, snapshot.n_edges, snapshot.n_interactions),
        "segments": run.n_users,
        "summary": (summary["replies_sent"], summary["escalations"], summary["optouts"]),
    }


def hits(store: Store, needles: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, value) of every stored value in every table containing one of the needles."""
    found = []
    lowered = [n.lower() for n in needles]
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    if value is None:
                        continue
                    text = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
                    if any(n in text.lower() for n in lowered):
                        found.append((table.name, column, text))
    return found


def test_forget_leaves_nothing_of_the_person_and_keeps_the_rest(store: Store) -> None:
    seeded = fill(store)
    zoe_code = seeded["zoe_c1"].code
    needles = [ZOE_ID, ZOE, ZOE_NAME, *ZOE_TEXTS, zoe_code]
    assert {t for t, _, _ in hits(store, needles)} >= {
        "social_user",
        "mention",
        "interaction",
        "inbox",
        "optout",
        "outbox",
        "graph_score",
        "graph_community",
        "graph_snapshot",
        "segment_member",
        "coupon",
    }
    before = aggregates(store, seeded)

    report = store.privacy.forget("x", None, "@zoeforget42")  # resolved from the handle, case-insensitively

    assert report.user_id == ZOE_ID and report.optout_kept
    assert report.erased == {
        "social_user": 1,
        "mention": 2,
        "interaction": 3,
        "graph_score": 1,
        "segment_member": 1,
    }
    assert report.anonymised == {"inbox": 1, "outbox": 3, "coupon": 3, "optout": 1}
    assert report.masked == {"mention": 1, "inbox": 1, "graph_score": 1, "graph_community": 1, "graph_snapshot": 1}
    assert hits(store, needles) == []
    assert aggregates(store, seeded) == before

    # the opt-out still holds, by id and with the handle
    assert store.mentions.is_opted_out("x", ZOE_ID)
    assert store.mentions.is_opted_out("x", ZOE_ID, ZOE)
    assert [(o.user_id, o.username) for o in store.mentions.optouts()] == [(None, None)]
    # her unredeemed code is void, the redeemed one still counts
    assert store.coupons.by_code(zoe_code) is None
    assert store.coupons.find(user_id=ZOE_ID) == []
    states = sorted(
        (c.campaign, c.state, c.code is None) for c in store.coupons.find() if c.user_id.startswith("forgot")
    )
    assert states == [("c1", "forgotten", True), ("c2", "redeemed", False), ("c3", "held_out", True)]
    # her pending DM is cancelled, the sent reply kept without its text
    mine = {o.key: o for o in store.outbox.items(limit=None) if ":forgotten:" in o.key}
    assert sorted((k.split(":")[0], o.state, o.text) for k, o in mine.items()) == [
        ("coupon", "cancelled", "[forgotten]"),
        ("dm-reply", "cancelled", "[forgotten]"),
        ("reply", "sent", "[forgotten]"),
    ]

    # Otto's data intact (his mention of her masked)
    otto = store.people.social_user("x", user_id=OTTO_ID)
    assert otto is not None and otto.username == OTTO and otto.followers_count == 55
    otto_mention = store.mentions.get("shop", "9003")
    assert otto_mention is not None
    assert otto_mention.text == "@shop @[forgotten] same problem with my parcel here"
    assert otto_mention.mentions == ["shop"] and otto_mention.in_reply_to_user_id is None
    assert [(i.source_user_id, i.target_user_id) for i in store.people.interactions()] == [(OTTO_ID, SHOP_ID)]
    otto_reply = store.outbox.item(key="reply:9003")
    assert otto_reply is not None and otto_reply.text == f"@{OTTO} we are on it" and otto_reply.state == "pending"
    [otto_coupon] = store.coupons.find(user_id=OTTO_ID, campaign="c1")
    assert otto_coupon.code == seeded["otto_c1"].code and otto_coupon.state == "issued"
    assert [i.username for i in store.mentions.inbox_items()] == [None, OTTO]
    members = [m for chunk in store.segments.members(seeded["run"]) for m in chunk]
    assert [m[1] for m in members] == [OTTO_ID]
    assert [c.top_members for c in store.graphs.snapshot_communities(seeded["snapshot"])] == [(OTTO_ID,)]
    assert [s.user_id for s in store.graphs.snapshot_scores(seeded["snapshot"])] == [OTTO_ID]

    again = store.privacy.forget("x", ZOE_ID, ZOE)  # idempotent: only the kept opt-out row is touched again
    assert again.erased == {} and again.anonymised == {"optout": 1}


def test_a_handle_never_stored_clears_its_hand_added_opt_out_to_the_hash(store: Store) -> None:
    store.mentions.add_optout("x", username="@GhostHandle", reason="asked by email")
    assert store.privacy.forget("x", None, "ghosthandle").anonymised == {"optout": 1}
    assert hits(store, ["GhostHandle", "asked by email"]) == []
    assert store.mentions.is_opted_out("x", "777", "GHOSTHANDLE")  # seen later, with any id: still out
    assert store.privacy.forget("x", None, "@nobody_at_all").total == 0


def invoke(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=input, env={"COLUMNS": "200"})


def test_forget_command(db_url: str) -> None:
    with Store.open(db_url, clock=FrozenClock(NOW)) as store:
        store.upgrade()
        fill(store)
    common = ["--config", CONFIG, "--database", db_url]

    refused = invoke("forget", "@ZoeForget42", *common, input="n\n")
    assert refused.exit_code == 1 and "nothing erased" in refused.output
    with Store.open(db_url) as store:
        assert store.people.social_user("x", user_id=ZOE_ID) is not None  # nothing happened

    done = invoke("forget", "@zoeforget42", "--yes", *common)
    assert done.exit_code == 0, done.output
    for table in ("social_user", "mention", "interaction", "coupon", "optout", "outbox"):
        assert table in done.output
    assert "opt-out is kept" in done.output
    with Store.open(db_url) as store:
        assert hits(store, [ZOE_ID, ZOE, *ZOE_TEXTS]) == []
        assert store.mentions.is_opted_out("x", ZOE_ID)

    unknown = invoke("forget", "@never_seen_anyone", "--yes", *common)
    assert unknown.exit_code == 1 and "nothing stored" in unknown.output
    bad = invoke("forget", "not a handle", "--yes", *common)
    assert bad.exit_code == 2


def test_masking_takes_the_handle_as_a_mention_or_link_only() -> None:
    from bot.adapters.store.privacy import _Scrubber

    scrub = _Scrubber(ZOE_ID, ZOE)
    assert scrub.text("hi @ZOEFORGET42, see x.com/zoeforget42/status/1") == (
        "hi @[forgotten], see x.com/[forgotten]/status/1"
    )
    untouched = "@ZoeForget421 ordered 4242424242 units, zoeforget42 style"  # another handle, a number, a word
    assert scrub.text(untouched) == untouched
    assert scrub.json({"top": [ZOE_ID, OTTO_ID, f"@{ZOE}"], ZOE_ID: 1, "n": 2}) == {"top": [OTTO_ID], "n": 2}
