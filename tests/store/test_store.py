"""Store behaviour on a real SQLite file and (when configured) a real PostgreSQL database."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store, campaign_key, migrate, text_hash
from bot.adapters.store.migrate import head_revision
from bot.core.clock import ManualClock
from bot.core.errors import StoreError
from bot.domains.publishing.outbox import Outbox
from tests.helpers import delivery

X_BUCKETS = XPlatform.buckets  # the rate-limit bucket names of an X account

T0 = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def store(db_url: str, clock: ManualClock) -> Store:
    s = Store.open(db_url, clock=clock)
    s.upgrade()
    yield s
    s.close()


def test_migrations_apply_to_empty_db_and_are_idempotent(db_url: str) -> None:
    s = Store.open(db_url)
    try:
        assert s.revision() is None
        before, after = s.upgrade()
        assert (before, after) == (None, head_revision())
        assert s.upgrade() == (after, after)
        assert s.outbox.items() == []
    finally:
        s.close()


def test_unupgraded_database_is_a_clear_store_error(db_url: str) -> None:
    s = Store.open(db_url)
    try:
        with pytest.raises(StoreError, match="db upgrade"):
            s.outbox.items()
    finally:
        s.close()


def test_unreachable_database_hides_the_password() -> None:
    with pytest.raises(StoreError) as info:
        Store.open("postgresql://bot:s3cret-pw@127.0.0.1:1/none")
    assert "s3cret-pw" not in str(info.value)
    assert "127.0.0.1" in str(info.value)


def test_sqlite_parent_folder_created_and_wal(tmp_path) -> None:
    s = Store.open(f"sqlite:///{tmp_path / 'a' / 'b' / 'bot.db'}")
    try:
        s.upgrade()
        with s.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    finally:
        s.close()
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(f"sqlite:///{tmp_path / 'missing.db'}", create=False)


def test_enqueue_is_idempotent_and_datetimes_are_utc(store: Store, clock: ManualClock) -> None:
    later = T0 + timedelta(hours=1)
    assert store.outbox.enqueue(
        "reply:42", account="shop", kind="reply", text="hi", in_reply_to_id="42", not_before=later
    )
    assert not store.outbox.enqueue("reply:42", account="shop", kind="reply", text="other")
    [item] = store.outbox.items()
    assert item.text == "hi" and item.state == "pending" and item.attempts == 0
    assert item.next_attempt_at == later and item.next_attempt_at.tzinfo is not None
    assert item.created_at == T0
    assert store.outbox.text_used("shop", text_hash("hi"))
    assert not store.outbox.text_used("other", text_hash("hi"))


def test_enqueue_campaign_slot_is_atomic(store: Store) -> None:
    slot = datetime(2026, 11, 11, 10, 0, tzinfo=UTC)
    assert store.slots.enqueue_campaign_slot("double11", slot, account="shop", text="Sale!", variant="a")
    assert not store.slots.enqueue_campaign_slot("double11", slot, account="shop", text="Sale 2!", variant="b")
    [item] = store.outbox.items()
    assert item.key == "campaign:double11:2026-11-11T10:00:00Z" == campaign_key("double11", slot)
    assert item.campaign == "double11" and item.slot_at == slot and item.kind == "post"
    [s] = store.slots.find("double11")
    assert (s.state, s.outbox_key, s.variant) == ("queued", item.key, "a")
    assert store.slots.last_at("double11") == slot
    # A slot already recorded as missed never produces an outbox row.
    missed = slot + timedelta(hours=1)
    assert store.slots.record("double11", missed, "missed", "daemon was down")
    assert not store.slots.record("double11", missed, "failed", "again")
    assert not store.slots.enqueue_campaign_slot("double11", missed, account="shop", text="Late", variant="a")
    assert len(store.outbox.items()) == 1
    assert [x.state for x in store.slots.find(since=missed)] == ["missed"]
    assert store.slots.last_at("nope") is None


def test_slot_follows_outbox_transitions(store: Store, clock: ManualClock) -> None:
    a, b = T0, T0 + timedelta(hours=1)
    store.slots.enqueue_campaign_slot("weekly", a, account="shop", text="A", variant=None)
    store.slots.enqueue_campaign_slot("weekly", b, account="shop", text="B", variant=None)
    claim = store.outbox.claim("w1", now=clock.now(), limit=10, lease_seconds=30, buckets=X_BUCKETS)
    assert [c.item.text for c in claim.items] == ["A", "B"]
    assert all(not c.reconcile and c.item.attempts == 0 for c in claim.items)  # a claim is no try
    first, second = (
        store.outbox.begin_attempt(c.item, "w1", now=clock.now(), buckets=X_BUCKETS).item for c in claim.items
    )
    assert first is not None and second is not None and first.attempts == second.attempts == 1
    assert store.outbox.mark_sent(first, "111", now=clock.now())
    assert store.outbox.mark_dead(second, "w1", reason="too long")
    states = {s.slot_at: (s.state, s.reason) for s in store.slots.find("weekly")}
    assert states == {a: ("published", None), b: ("failed", "too long")}
    assert store.outbox.item(key=first.key).remote_id == "111"
    assert store.outbox.retry(second.id)
    assert not store.outbox.retry(first.id)  # sent rows are never re-queued
    again = store.outbox.item(second.id)
    assert (again.state, again.attempts) == ("pending", 0)
    assert store.slots.get("weekly", b).state == "queued"


def test_expired_lease_is_reclaimed_for_reconciliation(store: Store, clock: ManualClock) -> None:
    store.outbox.enqueue("k", account="shop", kind="post", text="x")
    [held] = store.outbox.claim("crashed", now=clock.now(), limit=5, lease_seconds=30, buckets=X_BUCKETS).items
    assert (
        store.outbox.begin_attempt(held.item, "crashed", now=clock.now(), buckets=X_BUCKETS).item is not None
    )  # its request may have left
    assert store.outbox.claim("other", now=clock.now(), limit=5, lease_seconds=30, buckets=X_BUCKETS).items == []
    clock.advance(31)
    [again] = store.outbox.claim("other", now=clock.now(), limit=5, lease_seconds=30, buckets=X_BUCKETS).items
    assert again.reconcile and again.item.attempts == 1 and again.item.lease_owner == "other"
    assert store.outbox.renew_leases([held.item.id], "crashed", now=clock.now(), lease_seconds=30) == set()
    assert not store.outbox.mark_retry(
        held.item, "crashed", next_attempt_at=clock.now(), error="x", outcome_unknown=False
    )


def test_claims_by_crashed_workers_use_up_no_attempt(store: Store, clock: ManualClock) -> None:
    """A crash loop (claim, die before the request leaves, lease runs out) neither counts attempts nor makes the
    next worker pay for a reconciling lookup: only begin_attempt, right before a request leaves, counts."""
    store.outbox.enqueue("k", account="shop", kind="post", text="x")
    for worker in range(5):
        [claimed] = store.outbox.claim(
            f"crashed-{worker}", now=clock.now(), limit=5, lease_seconds=30, buckets=X_BUCKETS
        ).items
        assert not claimed.reconcile and claimed.item.attempts == 0
        clock.advance(31)
    [claimed] = store.outbox.claim("alive", now=clock.now(), limit=5, lease_seconds=30, buckets=X_BUCKETS).items
    attempt = store.outbox.begin_attempt(claimed.item, "alive", now=clock.now(), buckets=X_BUCKETS)
    assert attempt.item is not None and attempt.item.attempts == 1
    assert store.outbox.item(key="k").attempts == 1 and store.outbox.item(key="k").outcome_unknown


def test_paused_and_rate_limited_accounts_are_not_claimed(store: Store, clock: ManualClock) -> None:
    store.outbox.enqueue("p1", account="paused", kind="post", text="x")
    store.outbox.enqueue("r1", account="limited", kind="post", text="x")
    store.accounts.pause("paused", "auth failed")
    assert store.accounts.paused_reason("paused") == "auth failed"
    [claimed] = store.outbox.claim("w", now=clock.now(), limit=10, lease_seconds=30, buckets=X_BUCKETS).items
    assert claimed.item.key == "r1"
    reset = clock.now() + timedelta(minutes=15)
    assert store.outbox.release([claimed], "w", next_attempt_at=reset, block=("limited", "tweets", reset)) == 1
    assert store.outbox.item(key="r1").attempts == 0  # a rate-limited attempt does not count
    assert store.rate_limits.blocked_until("limited", "tweets") == reset
    store.outbox.enqueue("r2", account="limited", kind="reply", text="y", in_reply_to_id="5")
    store.outbox.enqueue("d1", account="limited", kind="dm", text="z", recipient_id="9")
    # Only the DM goes: posts and replies of that account wait for the tweets window to reset.
    [dm] = store.outbox.claim("w", now=clock.now(), limit=10, lease_seconds=30, buckets=X_BUCKETS).items
    assert dm.item.key == "d1"
    assert store.outbox.mark_sent(dm.item, "dm1", now=clock.now())
    clock.advance(15 * 60 - 1)
    assert store.outbox.claim("w", now=clock.now(), limit=10, lease_seconds=30, buckets=X_BUCKETS).items == []
    clock.advance(1)
    assert sorted(
        c.item.key
        for c in store.outbox.claim("w", now=clock.now(), limit=10, lease_seconds=30, buckets=X_BUCKETS).items
    ) == [
        "r1",
        "r2",
    ]
    assert store.accounts.resume_all() == ["paused"]
    assert not store.accounts.resume("paused")
    assert [
        c.item.key
        for c in store.outbox.claim("w", now=clock.now(), limit=10, lease_seconds=30, buckets=X_BUCKETS).items
    ] == ["p1"]


def test_summary_counts(store: Store, clock: ManualClock) -> None:
    for n in range(4):
        store.slots.enqueue_campaign_slot("c", T0 + timedelta(hours=n), account="shop", text=f"t{n}", variant=None)
    store.outbox.enqueue("reply:1", account="shop", kind="reply", text="r")
    store.slots.record("c", T0 + timedelta(days=1), "failed", "over 280")
    store.slots.record("c", T0 + timedelta(days=2), "missed", "down")
    items = {
        c.item.text: c.item
        for c in store.outbox.claim("w", now=clock.now(), limit=3, lease_seconds=30, buckets=X_BUCKETS).items
    }
    store.outbox.mark_sent(items["t0"], "1", now=clock.now())
    store.outbox.mark_sent(items["t1"], "2", now=clock.now())
    store.outbox.mark_dead(items["t2"], "w", reason="rejected")
    summary = store.outbox.summary()
    assert summary["posts_published"] == 2
    assert summary["posts_failed"] == 2  # one dead post + one slot that failed before the outbox
    assert summary["posts_pending"] == 1
    assert summary["dead"] == 1
    assert summary["outbox"] == {"pending": 2, "sending": 0, "sent": 2, "failed": 1, "cancelled": 0}
    assert summary["slots"] == {"queued": 1, "published": 2, "failed": 2, "missed": 1, "skipped": 0}


def test_two_daemons_drain_500_rows_exactly_once(db_url: str, sandbox: Any) -> None:
    from bot.adapters.platforms.x import XPlatform

    sandbox.configure_faults({"rate_limits": None})
    setup = Store.open(db_url)
    setup.upgrade()
    setup.outbox.enqueue_many(
        [{"key": f"bulk:{n}", "account": f"acct{n % 3}", "kind": "post", "text": f"post {n}"} for n in range(500)]
    )
    setup.close()
    reports = []
    errors: list[BaseException] = []

    def daemon(owner: str) -> None:
        s = Store.open(db_url)
        platforms = {f"acct{n}": XPlatform.for_sandbox(sandbox.url, f"acct{n}") for n in range(3)}
        try:
            outbox = Outbox(
                s,
                platforms,
                delivery=delivery(max_attempts=3, backoff_base_seconds=1, backoff_max_seconds=60),
                owner=owner,
                batch_size=20,
            )
            reports.append(outbox.deliver_due())
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            for platform in platforms.values():
                platform.close()
            s.close()

    threads = [threading.Thread(target=daemon, args=(f"daemon-{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert sum(r.sent for r in reports) == 500
    ledger: dict[str, str] = {}
    for n in range(3):
        uid = sandbox.add_user(f"acct{n}")
        with httpx.Client(base_url=sandbox.url, trust_env=False) as http:
            tweets = http.get("/_sandbox/tweets", params={"author_id": uid}).json()["tweets"]
        for tweet in tweets:
            assert tweet["text"] not in ledger, f"sent twice: {tweet['text']}"
            ledger[tweet["text"]] = tweet["id"]
    assert len(ledger) == 500
    check = Store.open(db_url)
    try:
        assert check.outbox.summary()["outbox"]["sent"] == 500
        assert all(i.remote_id == ledger[i.text] for i in check.outbox.items(limit=None))
    finally:
        check.close()


def test_migration_0008_adds_the_cost_ledger_and_post_metrics_and_goes_back(db_url: str) -> None:
    s = Store.open(db_url)
    try:
        s.upgrade()
        tables = set(sa.inspect(s.engine).get_table_names())
        assert {"cost_call", "post_metric"} <= tables
        with s.engine.begin() as conn:
            config = migrate.alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0007")
        assert not {"cost_call", "post_metric"} & set(sa.inspect(s.engine).get_table_names())
        s.upgrade()
        assert {"cost_call", "post_metric"} <= set(sa.inspect(s.engine).get_table_names())
    finally:
        s.close()
