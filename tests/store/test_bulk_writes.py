"""The mention unit's writes at the driver (bot/adapters/store/bulk.py) store exactly what Core stores: storable
text (NUL removed, lone surrogates replaced), aware UTC datetimes, JSON lists; and count only what was inserted.
SQLite, and PostgreSQL when SOCIALBOT_TEST_POSTGRES_URL is set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from bot.adapters.store import Store
from bot.adapters.store.bulk import BulkStatement, select_in
from bot.adapters.store.keys import text_hash, user_hash, username_hash
from bot.adapters.store.tables import inbox_t, interaction_t, mention_t, optout_t, outbox_t, social_user_t
from bot.core.clock import ManualClock
from bot.core.errors import StoreError
from bot.core.records import InboxRecord, InteractionRecord, MentionRecord, OptOutRecord, ReplyRecord, UserRecord

T0 = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
CST = timezone(timedelta(hours=8))
HOSTILE = "a\x00b \ud800 c\udfff 退订 🎉"  # NUL, two lone surrogates, Chinese, an emoji
REPLY = "thanks a\x00b 退订 🎉"  # keys.text_hash cannot hash a lone surrogate (UTF-8): a reply never has one here


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def _mentions() -> list[MentionRecord]:
    return [
        MentionRecord(
            account="shop",
            platform="x",
            kind="mention",
            platform_id="1",
            text=f"@shop {HOSTILE}",
            outcome="answered",
            author_id="42\x00",
            created_at=datetime(2026, 11, 11, 9, 30, 15, 123456, tzinfo=CST),  # aware, not UTC
            conversation_id="c\ud8001",
            mentions=["shop", "fan\ud800"],
            hashtags=["双11", "sale"],
            urls=[],
            intent="question",
            sentiment=-0.25,
            language="zh",
            summoned=True,
            reason=f"rule {HOSTILE}",
            reply_key="reply:1",
            seen_at=None,  # the unit's now
        ),
        MentionRecord(
            account="shop",
            platform="x",
            kind="mention",
            platform_id="2",
            text="plain",
            outcome="not_answered",
            created_at=datetime(2026, 11, 11, 1, 0),  # naive: taken as UTC
            mentions=["shop"],
            seen_at=T0 - timedelta(minutes=5),
        ),
        MentionRecord(account="shop", platform="x", kind="dm", platform_id="1", text="", outcome="not_answered"),
    ]


def _users() -> list[UserRecord]:
    return [UserRecord("x", "42\x00", f"fan{HOSTILE}", f"Fan {HOSTILE}", 12), UserRecord("x", "7", None, None, None)]


def _interactions() -> list[InteractionRecord]:
    return [
        InteractionRecord("x", "42\x00", "9", "mention", "1\ud800", datetime(2026, 11, 11, 10, 0, tzinfo=CST)),
        InteractionRecord("x", "7", "9", "reply", "2", datetime(2026, 11, 11, 1, 0)),
    ]


def _replies() -> list[ReplyRecord]:
    return [
        ReplyRecord("reply:1", "shop", "reply", REPLY, in_reply_to_id="1", target_platform="x"),
        ReplyRecord(
            "dm-reply:1",
            "shop",
            "dm",
            "a dm",
            recipient_id="42\x00",
            not_before=datetime(2026, 11, 11, 18, 0, tzinfo=CST),
            target_platform="x",
            target_user_id="42\x00",
        ),
    ]


def _inbox() -> list[InboxRecord]:
    return [
        InboxRecord("shop", "x", "mention", "1", f"@shop {HOSTILE}", "42\x00", f"fan{HOSTILE}", "complaint", True, "a"),
        InboxRecord("shop", "x", "dm", "1", "help", reason=f"why {HOSTILE}"),
    ]


def _optouts() -> list[OptOutRecord]:
    return [OptOutRecord("x", "7", "@Seven\x00", f"mention 2 {HOSTILE}"), OptOutRecord("x", None, "someone", None)]


_TABLES = (mention_t, social_user_t, interaction_t, outbox_t, optout_t, inbox_t)


def _write_with_core(store: Store, now: datetime) -> None:
    """The rows as SQLAlchemy Core inserts them (one dict per row, its own bind processing)."""
    mentions = [dict(vars(m), seen_at=m.seen_at or now) for m in _mentions()]
    users = [dict(vars(u), first_seen=now, last_seen=now) for u in _users()]
    replies = [
        {
            "key": r.key,
            "account": r.account,
            "kind": r.kind,
            "text": r.text,
            "text_hash": text_hash(r.text),
            "in_reply_to_id": r.in_reply_to_id,
            "recipient_id": r.recipient_id,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": r.not_before or now,
            "outcome_unknown": False,
            "created_at": now,
            "campaign": None,
            "slot_at": None,
            "target_platform": r.target_platform,
            "target_user_id": r.target_user_id,
        }
        for r in _replies()
    ]
    optouts = [
        {
            "platform": "x",
            "user_id": "7",
            "username": "Seven\x00",
            "user_hash": user_hash("x", "7"),
            "reason": f"mention 2 {HOSTILE}",
            "created_at": now,
        },
        {
            "platform": "x",
            "user_id": None,
            "username": "someone",
            "user_hash": username_hash("x", "someone"),
            "reason": None,
            "created_at": now,
        },
    ]
    inbox = [
        {
            "account": i.account,
            "platform": i.platform,
            "kind": i.kind,
            "mention_id": i.mention_id,
            "user_id": i.user_id,
            "username": i.username,
            "intent": i.intent,
            "text": i.text,
            "created_at": now,
            "status": "open",
            "note": None,
            "webhook_status": "pending" if i.webhook else None,
            "reason": i.reason,
        }
        for i in _inbox()
    ]
    with store.engine.begin() as conn:
        conn.execute(sa.insert(inbox_t), inbox)
        conn.execute(sa.insert(mention_t), mentions)
        conn.execute(sa.insert(social_user_t), users)
        conn.execute(sa.insert(interaction_t), [vars(i) for i in _interactions()])
        conn.execute(sa.insert(outbox_t), replies)
        conn.execute(sa.insert(optout_t), optouts)


def _stored(store: Store) -> dict[str, Any]:
    """Every row of the written tables without its id: as the driver returns it, and as Core reads it."""
    out: dict[str, Any] = {}
    with store.engine.connect() as conn:
        for table in _TABLES:
            names = [c.name for c in table.columns if c.name != "id"]
            quoted = ", ".join(conn.dialect.identifier_preparer.quote(n) for n in names)
            out[f"{table.name} (driver)"] = conn.exec_driver_sql(f"SELECT {quoted} FROM {table.name} ORDER BY id").all()
            out[f"{table.name} (core)"] = [
                tuple(row) for row in conn.execute(sa.select(*(table.c[n] for n in names)).order_by(table.c.id))
            ]
    return out


def _clear(store: Store) -> None:
    with store.engine.begin() as conn:
        for table in _TABLES:
            conn.execute(sa.delete(table))


def test_the_fast_path_stores_exactly_what_core_stores(store: Store, clock: ManualClock) -> None:
    _write_with_core(store, clock.now())
    expected = _stored(store)
    _clear(store)
    with store.mentions.unit("shop") as unit:
        writes = unit.write(
            users=_users(),
            mentions=_mentions(),
            interactions=_interactions(),
            replies=_replies(),
            inbox=_inbox(),
            optouts=_optouts(),
        )
    assert (writes.mentions, writes.replies, writes.optouts, len(writes.inbox_ids)) == (3, 2, 2, 2)
    stored = _stored(store)
    for table in expected:
        assert stored[table] == expected[table], table
    [first, second, _dm] = store.mentions.find()
    assert first.text == "@shop ab \ufffd c\ufffd 退订 🎉" and first.author_id == "42"  # made storable
    assert first.conversation_id == "c\ufffd1" and first.reason == "rule ab \ufffd c\ufffd 退订 🎉"
    assert first.created_at == datetime(2026, 11, 11, 1, 30, 15, 123456, tzinfo=UTC)  # aware UTC, same instant
    assert first.created_at.tzinfo is not None and first.created_at.utcoffset() == timedelta(0)
    assert first.seen_at == T0 and second.seen_at == T0 - timedelta(minutes=5)
    assert second.created_at == datetime(2026, 11, 11, 1, 0, tzinfo=UTC)
    assert first.mentions == ["shop", "fan\ud800"] and first.hashtags == ["双11", "sale"] and first.urls == []
    assert (first.sentiment, first.summoned, second.summoned) == (-0.25, True, False)
    user = store.people.social_user("x", user_id="42")
    assert user is not None and user.name == "Fan ab \ufffd c\ufffd 退订 🎉"


def test_counts_are_what_the_database_inserted(store: Store) -> None:
    with store.mentions.unit("shop") as unit:
        first = unit.write(mentions=_mentions()[:2], replies=_replies()[:1], optouts=_optouts()[:1])
    with store.mentions.unit("shop") as unit:  # repeats (in the batch and stored) are skipped, and not counted
        again = unit.write(
            mentions=[*_mentions(), _mentions()[2]],
            interactions=[*_interactions(), *_interactions()],
            replies=[*_replies(), *_replies()],
            optouts=[*_optouts(), *_optouts()],
        )
    assert (first.mentions, first.replies, first.optouts) == (2, 1, 1)
    assert (again.mentions, again.replies, again.optouts) == (1, 1, 1)
    assert len(store.mentions.find()) == 3 and len(store.outbox.items()) == 2 and len(store.mentions.optouts()) == 2
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(interaction_t)).scalar_one() == 2


def test_inbox_ids_are_those_of_the_new_items_only(store: Store) -> None:
    def items(first: int, last: int) -> list[InboxRecord]:
        return [
            InboxRecord("shop", "x", "mention", str(n), f"text {n}", reason="complaint") for n in range(first, last)
        ]

    with store.mentions.unit("shop") as unit:
        before = unit.write(inbox=items(0, 10))
    with store.mentions.unit("shop") as unit:  # 150 items (several statements on SQLite), 10 of them stored already
        after = unit.write(inbox=[*items(0, 160), *items(150, 160)])
    stored = {item.mention_id: item.id for item in store.mentions.inbox_items(status=None)}
    assert before.inbox_ids == [stored[str(n)] for n in range(10)]
    assert after.inbox_ids == sorted(stored[str(n)] for n in range(10, 160))
    assert len(stored) == 160


def test_the_users_upsert_keeps_what_a_later_record_does_not_know(store: Store, clock: ManualClock) -> None:
    with store.mentions.unit("shop") as unit:
        unit.write(users=[UserRecord("x", "42", "fan", "A Fan", 10)])
    clock.advance(60)
    with store.mentions.unit("shop") as unit:
        unit.write(users=[UserRecord("x", "42", None, None, None), UserRecord("x", "42", "Fan2", None, None)])
    user = store.people.social_user("x", user_id="42")
    assert user is not None
    assert (user.username, user.name, user.followers_count) == ("Fan2", "A Fan", 10)
    assert (user.first_seen, user.last_seen) == (T0, T0 + timedelta(seconds=60))


def test_select_in_filters_counts_and_reads_through_the_columns_types(store: Store, clock: ManualClock) -> None:
    with store.mentions.unit("shop") as unit:
        unit.write(mentions=_mentions())
    with store.engine.begin() as conn:
        ids = [str(n) for n in range(2000)] + ["1", "2"]  # more than one chunk
        found = select_in(conn, mention_t, "platform_id", ids, ["platform_id", "seen_at"], where={"kind": "mention"})
        assert sorted(found) == [("1", T0), ("2", T0 - timedelta(minutes=5))]  # aware UTC, as Core reads it
        counted = select_in(
            conn,
            mention_t,
            "account",
            ["shop"],
            (),
            since={"seen_at": (T0 - timedelta(minutes=1)).astimezone(CST)},
            not_null=["reply_key"],
            count=True,
        )
        assert list(counted) == [("shop", 1)]
        assert list(select_in(conn, mention_t, "author_id", ["42\x00"], ["author_id"])) == [("42",)]  # bound storable


def test_an_update_runs_through_a_bulk_statement_with_a_fixed_value(store: Store) -> None:
    with store.mentions.unit("shop") as unit:
        unit.write(mentions=_mentions())
    statement = (
        sa.update(mention_t)
        .where(mention_t.c.platform_id == sa.bindparam("pid"), mention_t.c.kind == "mention")
        .values(reason=sa.bindparam("why", type_=mention_t.c.reason.type))
    )
    with store.engine.begin() as conn:
        updated = BulkStatement(statement, ["pid", "why"], conn.dialect).run(
            conn, {"pid": ["1", "2", "nope"], "why": ["one\x00", "two", "none"]}
        )
    assert updated == 2
    assert [m.reason for m in store.mentions.find(kind="mention")] == ["one", "two"]


def test_known_ids_are_read_while_another_connection_holds_the_write_lock(store: Store) -> None:
    with store.mentions.unit("shop") as unit:
        unit.write(mentions=_mentions())
    with store.engine.begin() as writer:  # SQLite: BEGIN IMMEDIATE, held until the end of the block
        writer.execute(sa.delete(mention_t).where(mention_t.c.platform_id == "2"))
        assert store.mentions.stored_ids("shop", "mention", ["1", "2", "3"]) == {"1", "2"}  # the committed rows
    assert store.mentions.stored_ids("shop", "mention", ["1", "2", "3"]) == {"1"}


def test_reading_known_ids_outside_a_transaction_still_names_the_problem(sqlite_url: str) -> None:
    s = Store.open(sqlite_url)  # not upgraded
    try:
        with pytest.raises(StoreError, match=r"reading known mentions failed: no such table: mention .*db upgrade"):
            s.mentions.stored_ids("shop", "mention", ["1"])
    finally:
        s.close()
