"""Store queries for mentions, cursors, opt-outs and the inbox (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store, migrate
from bot.core.clock import ManualClock
from bot.core.records import InboxRecord, MentionRecord, OptOutRecord, ReplyRecord, UserRecord

X_BUCKETS = XPlatform.buckets  # the rate-limit bucket names of an X account

T0 = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def mention(mid: str, author: str = "42", decision: str = "replied", conversation: str = "c1") -> MentionRecord:
    replied = decision == "replied"
    return MentionRecord(
        account="shop",
        platform="x",
        kind="mention",
        platform_id=mid,
        text=f"@shop hello {mid}",
        outcome="answered" if replied else "not_answered",
        reply_key=f"reply:{mid}" if replied else None,
        author_id=author,
        conversation_id=conversation,
        mentions=["shop"],
        seen_at=T0,
    )


def test_upgrade_from_0001_keeps_outbox_rows(db_url: str) -> None:
    s = Store.open(db_url)
    try:
        migrate.upgrade(s.engine, "0001")
        assert s.outbox.enqueue("campaign:a:1", account="shop", kind="post", text="hello")
        s.upgrade()
        assert s.revision() == migrate.head_revision()
        [item] = s.outbox.items()
        assert (
            item.key == "campaign:a:1"
            and s.outbox.claim("o", now=datetime.now(UTC), limit=5, lease_seconds=5, buckets=X_BUCKETS).items
        )
    finally:
        s.close()


def test_cursor_only_moves_forward_and_resume_points(store: Store) -> None:
    with store.mentions.unit("shop") as unit:
        assert unit.advance_cursor("mentions", "100")
        assert not unit.advance_cursor("mentions", "99")  # numeric, not string order
        assert unit.advance_cursor("mentions", "1000")
        unit.set_resume("mentions", "2000", "1500")
    assert store.mentions.cursor("shop", "mentions") == "1000"
    assert store.mentions.resume_point("shop", "mentions") == ("2000", "1500")
    with store.mentions.unit("shop") as unit:
        unit.advance_cursor("mentions", "2000")
        unit.set_resume("mentions", "1800", "1700")  # already covered by the cursor: nothing to resume
    assert store.mentions.resume_point("shop", "mentions") is None
    assert store.mentions.cursor("other", "mentions") is None


def test_a_failed_unit_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.mentions.unit("shop") as unit:
        unit.write(
            mentions=[mention("1")],
            replies=[ReplyRecord("reply:1", "shop", "reply", "hi", in_reply_to_id="1")],
        )
        unit.advance_cursor("mentions", "1")
        raise RuntimeError("crash before commit")
    assert (
        store.mentions.find() == [] and store.outbox.items() == [] and store.mentions.cursor("shop", "mentions") is None
    )


def test_unit_reads_for_caps_optouts_and_duplicates(store: Store, clock: ManualClock) -> None:
    with store.mentions.unit("shop") as unit:
        writes = unit.write(
            users=[UserRecord("x", "42", "Fan", "A Fan"), UserRecord("x", "42", None, None)],
            mentions=[mention("1"), mention("2"), mention("3", decision="skipped"), mention("4", author="7")],
            replies=[ReplyRecord("reply:1", "shop", "reply", "thanks!", in_reply_to_id="1", target_platform="x")],
            optouts=[OptOutRecord("x", "7", "seven", "mention 4")],
        )
        assert (writes.mentions, writes.replies, writes.optouts) == (4, 1, 1)
    clock.advance(3600)
    with store.mentions.unit("shop") as unit:
        assert unit.existing("mention", ["1", "4", "9"]) == {"1", "4"}
        assert unit.existing("dm", ["1"]) == set()
        assert unit.replies_to_users(["42", "7"], T0 - timedelta(hours=1)) == {"42": 2, "7": 1}
        assert unit.replies_to_users(["42"], T0 + timedelta(minutes=1)) == {}
        assert unit.replies_in_conversations(["c1", "c2"]) == {"c1": 3}
        assert unit.opted_out("x", [("7", None), ("42", "fan")]) == {"7"}
        assert unit.used_texts(["thanks!", "other"]) == {"thanks!"}
        assert unit.users("x", ["42"])["42"].username == "Fan"  # a later None did not erase the handle
        again = unit.write(mentions=[mention("1")], optouts=[OptOutRecord("x", "7", "seven")])
        assert (again.mentions, again.optouts) == (0, 0)
    assert store.people.social_user("x", username="fan").name == "A Fan"


def test_claim_cancels_rows_to_people_who_opted_out_but_not_the_confirmation(store: Store, clock: ManualClock) -> None:
    with store.mentions.unit("shop") as unit:
        unit.write(
            replies=[
                ReplyRecord(
                    "reply:1", "shop", "reply", "answer", in_reply_to_id="1", target_platform="x", target_user_id="42"
                ),
                ReplyRecord("reply:2", "shop", "reply", "confirmation", in_reply_to_id="2"),  # no target
                ReplyRecord(
                    "dm-reply:3", "shop", "dm", "dm answer", recipient_id="42", target_platform="x", target_user_id="42"
                ),
                ReplyRecord(
                    "reply:4",
                    "shop",
                    "reply",
                    "to someone else",
                    in_reply_to_id="4",
                    target_platform="x",
                    target_user_id="5",
                ),
            ]
        )
    assert store.mentions.add_optout("x", user_id="42", username="fan", reason="stop")
    assert not store.mentions.add_optout("x", user_id="42")
    claim = store.outbox.claim("owner", now=clock.now(), limit=10, lease_seconds=30, buckets=X_BUCKETS)
    assert claim.cancelled == 2
    assert sorted(c.item.key for c in claim.items) == ["reply:2", "reply:4"]
    assert store.outbox.item(key="reply:1").state == "cancelled"
    assert store.outbox.item(key="reply:1").last_error == "the recipient opted out"
    assert store.outbox.item(key="dm-reply:3").state == "cancelled"


def test_optouts_by_handle_and_removal(store: Store) -> None:
    assert store.mentions.add_optout("x", username="@Someone", reason="by hand")
    assert store.mentions.is_opted_out("x", "123", "someone") and not store.mentions.is_opted_out("x", "123")
    assert store.mentions.is_opted_out("x", "9", "SOMEONE")
    assert [o.username for o in store.mentions.optouts()] == ["Someone"]
    assert store.mentions.remove_optout("x", username="someone") == 1
    assert store.mentions.optouts() == []
    with pytest.raises(ValueError):
        store.mentions.add_optout("x")


def test_inbox_resolve_webhook_claims_and_summary(store: Store) -> None:
    with store.mentions.unit("shop") as unit:
        writes = unit.write(
            mentions=[mention("1"), mention("2", decision="skipped")],
            inbox=[
                InboxRecord("shop", "x", "mention", "1", "broken!", "42", "fan", "complaint", webhook=True),
                InboxRecord("shop", "x", "mention", "2", "refund", "42", "fan", "complaint"),
                InboxRecord("shop", "x", "mention", "1", "broken!", "42", "fan", "complaint", webhook=True),
            ],
            replies=[ReplyRecord("reply:1", "shop", "reply", "sorry", in_reply_to_id="1")],
            optouts=[OptOutRecord("x", "8", None)],
        )
    assert len(writes.inbox_ids) == 2  # the duplicate mention id is one item
    first, second = writes.inbox_ids
    [claimed] = store.mentions.claim_webhooks()
    assert claimed.id == first and claimed.webhook_status == "sending"
    assert store.mentions.claim_webhooks() == []  # one daemon posts each
    store.mentions.set_webhook_status(first, "sent: HTTP 200")
    assert store.mentions.inbox_item(first).webhook_status == "sent: HTTP 200"
    assert store.mentions.inbox_item(second).webhook_status is None
    assert store.mentions.resolve_inbox(first, "refunded")
    assert not store.mentions.resolve_inbox(first)
    assert [i.id for i in store.mentions.inbox_items()] == [second]
    assert len(store.mentions.inbox_items(status=None)) == 2
    assert store.mentions.summary() == {
        "mentions_seen": 2,
        "replies_sent": 0,
        "escalations": 2,
        "optouts": 1,
        "answered_from_data": 0,
    }
    assert store.mentions.outcomes() == {"answered": 1, "handed_over": 0, "not_answered": 1}
    claim = store.outbox.claim(
        "o", now=datetime.now(UTC) + timedelta(days=30), limit=5, lease_seconds=5, buckets=X_BUCKETS
    )
    store.outbox.mark_sent(claim.items[0].item, "999", now=datetime.now(UTC))
    assert store.mentions.summary()["replies_sent"] == 1


def test_enqueue_with_a_target_is_cancelled_for_an_opted_out_person(store: Store, clock: ManualClock) -> None:
    assert store.outbox.enqueue(
        "coupon:c1:42",
        account="shop",
        kind="dm",
        text="code",
        recipient_id="42",
        target_platform="x",
        target_user_id="42",
    )
    assert (
        store.outbox.enqueue_many(
            [
                {
                    "key": "coupon:c1:43",
                    "account": "shop",
                    "kind": "dm",
                    "text": "code 2",
                    "recipient_id": "43",
                    "target_platform": "x",
                    "target_user_id": "43",
                },
            ]
        )
        == 1
    )
    store.mentions.add_optout("x", user_id="43")
    claim = store.outbox.claim("o", now=clock.now(), limit=10, lease_seconds=30, buckets=X_BUCKETS)
    assert [c.item.key for c in claim.items] == ["coupon:c1:42"] and claim.cancelled == 1


def test_upgrade_to_0007_gives_every_stored_mention_its_outcome_and_inbox_items_a_reason(db_url: str) -> None:
    s = Store.open(db_url)
    try:
        migrate.upgrade(s.engine, "0006")
        insert = sa.text(
            "INSERT INTO mention (account, platform, kind, platform_id, text, decision, reason, reply_key, summoned, "
            "seen_at) VALUES ('shop', 'x', 'mention', :id, 'hi', :decision, :reason, :key, :yes, :at)"
        )
        inbox = sa.text(
            "INSERT INTO inbox (account, platform, kind, mention_id, intent, text, created_at, status) "
            "VALUES ('shop', 'x', 'mention', :id, 'complaint', 'broken', :at, 'open')"
        )
        at = datetime(2026, 11, 1, tzinfo=UTC)
        with s.engine.begin() as conn:
            for mid, decision, reason, key in [
                ("1", "replied", None, "reply:1"),
                ("2", "skipped", "no reply for intent other", None),
                ("3", "replied", None, "reply:3"),
            ]:
                conn.execute(
                    insert, {"id": mid, "decision": decision, "reason": reason, "key": key, "yes": True, "at": at}
                )
            conn.execute(inbox, {"id": "3", "at": at})
        s.upgrade()
        assert [(m.platform_id, m.outcome) for m in s.mentions.find()] == [
            ("1", "answered"),
            ("2", "not_answered"),
            ("3", "handed_over"),
        ]
        assert [i.reason for i in s.mentions.inbox_items()] == ["complaint"]
        assert s.mentions.outcomes() == {"answered": 1, "handed_over": 1, "not_answered": 1}
        with s.engine.begin() as conn:  # and back: the old values return
            config = migrate.alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0006")
        with s.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT platform_id, decision FROM mention ORDER BY platform_id")).all()
        assert [tuple(r) for r in rows] == [("1", "replied"), ("2", "skipped"), ("3", "replied")]
    finally:
        s.close()
