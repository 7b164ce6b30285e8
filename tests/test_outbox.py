"""The outbox against the real sandbox X API over HTTP and a real SQLite file (PostgreSQL too when set)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.app.cli import app
from bot.core.clock import ManualClock
from bot.domains.publishing.outbox import Outbox
from bot.sandbox.server import SandboxServer
from bot.settings.config import XCredentials
from tests.helpers import delivery as delivery_for

X_BUCKETS = XPlatform.buckets  # the rate-limit bucket names of an X account


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def shop(sandbox: Any) -> Iterator[XPlatform]:
    platform = XPlatform.for_sandbox(sandbox.url, "shop", timeout=0.5)
    yield platform
    platform.close()


@pytest.fixture
def admin(sandbox: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5) as client:
        yield client


def make_outbox(store: Store, shop: XPlatform, clock: ManualClock, **delivery_overrides: Any) -> Outbox:
    import random

    return Outbox(
        store,
        {"shop": shop},
        delivery=delivery_for(**delivery_overrides),
        owner="test",
        clock=clock,
        rng=random.Random(7),
    )


def ledger(admin: httpx.Client, shop: XPlatform) -> list[dict[str, Any]]:
    resp = admin.get("/_sandbox/tweets", params={"author_id": shop.me().id})
    resp.raise_for_status()
    return resp.json()["tweets"]


def faults(admin: httpx.Client, **conf: Any) -> None:
    admin.post("/_sandbox/faults", json=conf).raise_for_status()


def stats(admin: httpx.Client) -> dict[str, Any]:
    return admin.get("/_sandbox/stats").json()


def test_send_records_remote_id(store: Store, shop: XPlatform, admin: httpx.Client, clock: ManualClock) -> None:
    store.slots.enqueue_campaign_slot("double11", clock.now(), account="shop", text="Double 11: 50% off!", variant="a")
    report = make_outbox(store, shop, clock).deliver_due()
    assert (report.sent, report.failed, report.retried) == (1, 0, 0)
    [item] = store.outbox.items()
    [tweet] = ledger(admin, shop)
    assert item.state == "sent" and item.remote_id == tweet["id"] and item.sent_at == clock.now()
    assert tweet["text"] == "Double 11: 50% off!"
    assert store.slots.find("double11")[0].state == "published"


def test_5xx_is_retried_later_with_backoff(
    store: Store, shop: XPlatform, admin: httpx.Client, clock: ManualClock
) -> None:
    store.outbox.enqueue("k1", account="shop", kind="post", text="New arrivals today")
    outbox = make_outbox(store, shop, clock)
    faults(admin, error_rate=1.0)
    report = outbox.deliver_due()
    assert (report.sent, report.retried) == (0, 1)
    item = store.outbox.item(key="k1")
    assert item.state == "pending" and item.attempts == 1 and not item.outcome_unknown
    delay = (item.next_attempt_at - clock.now()).total_seconds()
    assert 2.5 <= delay <= 5  # base 5s, jittered in [base/2, base]
    faults(admin, error_rate=0.0)
    assert outbox.deliver_due().sent == 0  # not due yet: nothing is sent early
    clock.advance(delay)
    assert outbox.deliver_due().sent == 1
    assert len(ledger(admin, shop)) == 1
    # backoff grows and is capped
    assert outbox.backoff(3) <= 20 and outbox.backoff(3) >= 10 and outbox.backoff(30) <= 900


def test_processed_then_timeout_is_reconciled_not_resent(
    store: Store, shop: XPlatform, admin: httpx.Client, clock: ManualClock
) -> None:
    store.outbox.enqueue("k1", account="shop", kind="post", text="Flash sale at noon")
    outbox = make_outbox(store, shop, clock)
    faults(admin, timeout_rate=1.0, timeout_seconds=1.0)
    report = outbox.deliver_due()
    assert report.retried == 1
    item = store.outbox.item(key="k1")
    assert item.outcome_unknown and item.state == "pending"
    faults(admin, timeout_rate=0.0)
    clock.advance(3600)
    report = outbox.deliver_due()
    assert (report.sent, report.reconciled) == (1, 1)
    [tweet] = ledger(admin, shop)
    assert store.outbox.item(key="k1").remote_id == tweet["id"]


def test_duplicate_403_counts_as_sent(store: Store, shop: XPlatform, admin: httpx.Client, clock: ManualClock) -> None:
    earlier = admin.post("/_sandbox/tweets", json={"author_id": shop.me().id, "text": "Weekly deals are live"})
    store.outbox.enqueue("k1", account="shop", kind="post", text="Weekly deals are live")
    report = make_outbox(store, shop, clock).deliver_due()
    assert (report.sent, report.failed) == (1, 0)
    item = store.outbox.item(key="k1")
    assert item.state == "sent" and item.remote_id == earlier.json()["id"]
    assert len(ledger(admin, shop)) == 1


def test_rejected_and_not_allowed_are_dead_and_never_retried(
    sandbox: Any, store: Store, shop: XPlatform, admin: httpx.Client, clock: ManualClock
) -> None:
    stranger = sandbox.add_user("stranger")
    unrelated = sandbox.add_tweet(stranger, "just talking about shoes")
    store.slots.enqueue_campaign_slot("long", clock.now(), account="shop", text="x" * 300, variant=None)
    store.outbox.enqueue("reply:1", account="shop", kind="reply", text="Hi there!", in_reply_to_id=unrelated)
    outbox = make_outbox(store, shop, clock)
    report = outbox.deliver_due()
    assert (report.sent, report.failed, report.retried) == (0, 2, 0)
    dead = {i.key: i for i in store.outbox.items(state="failed")}
    assert set(dead) == {"campaign:long:" + clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"), "reply:1"}
    assert all(i.last_error for i in dead.values())
    slot = store.slots.find("long")[0]
    assert slot.state == "failed" and slot.reason
    before = stats(admin)["requests_total"]
    clock.advance(86400)
    assert outbox.deliver_due().handled == 0
    assert stats(admin)["requests_total"] == before
    assert ledger(admin, shop) == []


def test_429_waits_exactly_until_reset(store: Store, clock: ManualClock) -> None:
    """The sandbox, the adapter and the outbox read the test's clock: the reset is reached by moving it."""
    server = SandboxServer(clock=clock).start()
    shop = XPlatform.for_sandbox(server.url, "shop", timeout=0.5, clock=clock)
    try:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=5) as admin:
            store.outbox.enqueue("k1", account="shop", kind="post", text="Limited offer")
            store.outbox.enqueue("k2", account="shop", kind="post", text="Another offer")
            outbox = make_outbox(store, shop, clock)
            faults(admin, burst_429=1, burst_reset_seconds=3, burst_endpoint="POST /2/tweets")
            report = outbox.deliver_due()
            assert report.sent == 0 and report.deferred == 2
            reset = store.rate_limits.blocked_until("shop", "tweets")
            assert reset is not None and reset > clock.now()
            assert all(i.next_attempt_at == reset and i.attempts == 0 for i in store.outbox.items())
            posts_before = stats(admin)["requests"].get("POST /2/tweets", 0)
            assert outbox.deliver_due().handled == 0  # before the reset: not a single request
            clock.set(reset - timedelta(milliseconds=1))
            assert outbox.deliver_due().handled == 0
            assert stats(admin)["requests"].get("POST /2/tweets", 0) == posts_before
            clock.set(reset)
            assert outbox.deliver_due().sent == 2
            assert stats(admin)["early_requests"] == 0
            assert len(ledger(admin, shop)) == 2
    finally:
        shop.close()
        server.stop()


def test_crash_mid_send_is_reconciled(store: Store, shop: XPlatform, admin: httpx.Client, clock: ManualClock) -> None:
    store.outbox.enqueue("landed", account="shop", kind="post", text="This one left before the crash")
    store.outbox.enqueue("lost", account="shop", kind="post", text="This one never left")
    claim = store.outbox.claim("crashed-daemon", now=clock.now(), limit=10, lease_seconds=60, buckets=X_BUCKETS)
    assert len(claim.items) == 2
    landed = next(c for c in claim.items if c.item.key == "landed")
    from bot.core.models import MessageKind, OutgoingMessage

    assert (
        store.outbox.begin_attempt(landed.item, "crashed-daemon", now=clock.now(), buckets=X_BUCKETS).item is not None
    )  # as the daemon does
    remote = shop.send(OutgoingMessage(key="landed", kind=MessageKind.POST, text=landed.item.text))
    # ...the daemon dies here: no mark_sent. Another daemon takes over once the lease expires.
    outbox = make_outbox(store, shop, clock)
    assert outbox.deliver_due().handled == 0  # lease still held
    clock.advance(61)
    report = outbox.deliver_due()
    assert (report.sent, report.reconciled) == (2, 1)
    assert store.outbox.item(key="landed").remote_id == remote
    texts = sorted(t["text"] for t in ledger(admin, shop))
    assert texts == ["This one left before the crash", "This one never left"]


def test_a_crashed_batch_is_reconciled_with_one_timeline_read(
    store: Store, shop: XPlatform, admin: httpx.Client, clock: ManualClock
) -> None:
    from bot.core.models import MessageKind, OutgoingMessage

    for n in range(6):
        store.outbox.enqueue(f"batch:{n}", account="shop", kind="post", text=f"Batch post {n}")
    claim = store.outbox.claim("crashed-daemon", now=clock.now(), limit=10, lease_seconds=60, buckets=X_BUCKETS)
    assert len(claim.items) == 6
    for c in claim.items:  # each request may have left: the daemon counted them all before they went
        assert store.outbox.begin_attempt(c.item, "crashed-daemon", now=clock.now(), buckets=X_BUCKETS).item is not None
    landed = {
        c.item.key: shop.send(OutgoingMessage(key=c.item.key, kind=MessageKind.POST, text=c.item.text))
        for c in claim.items[:3]
    }
    # the daemon dies with its whole claimed batch unrecorded
    reads_before = admin.get("/_sandbox/stats").json()["requests"].get("GET /2/users/:id/tweets", 0)
    clock.advance(61)
    report = make_outbox(store, shop, clock).deliver_due()
    assert (report.sent, report.reconciled) == (6, 3)
    assert {k: store.outbox.item(key=k).remote_id for k in landed} == landed
    reads = admin.get("/_sandbox/stats").json()["requests"].get("GET /2/users/:id/tweets", 0) - reads_before
    assert reads == 1
    assert sorted(t["text"] for t in ledger(admin, shop)) == [f"Batch post {n}" for n in range(6)]


def test_max_attempts_dead_letter_and_retry_command(
    db_url: str, store: Store, shop: XPlatform, admin: httpx.Client, clock: ManualClock
) -> None:
    store.slots.enqueue_campaign_slot("weekly", clock.now(), account="shop", text="Deals of the week", variant=None)
    outbox = make_outbox(store, shop, clock, max_attempts=3)
    faults(admin, error_rate=1.0)
    for _ in range(3):
        outbox.deliver_due()
        clock.advance(900)
    [item] = store.outbox.items(state="failed")
    assert item.attempts == 3 and "gave up after 3 attempts" in (item.last_error or "")
    assert store.slots.find("weekly")[0].state == "failed"
    assert outbox.deliver_due().handled == 0

    runner = CliRunner()
    listed = runner.invoke(app, ["outbox", "--state", "failed", "--database", db_url])
    assert listed.exit_code == 0, listed.output
    assert "failed" in listed.output and "no outbox rows" not in listed.output
    result = runner.invoke(app, ["outbox", "retry", str(item.id), "--database", db_url])
    assert result.exit_code == 0, result.output
    again = store.outbox.item(item.id)
    assert (again.state, again.attempts) == ("pending", 0)
    faults(admin, error_rate=0.0)
    assert outbox.deliver_due().sent == 1
    assert store.slots.find("weekly")[0].state == "published"
    assert runner.invoke(app, ["outbox", "retry", str(item.id), "--database", db_url]).exit_code == 1


def test_per_day_limit_and_min_spacing(store: Store, shop: XPlatform, admin: httpx.Client, clock: ManualClock) -> None:
    for n in range(3):
        store.outbox.enqueue(f"k{n}", account="shop", kind="post", text=f"Post number {n}")
    store.outbox.enqueue("reply:9", account="shop", kind="dm", text="Thanks!", recipient_id="1")  # not a post: no limit
    outbox = make_outbox(store, shop, clock, per_account_per_day=2, min_spacing_seconds=60)
    first_at = clock.now()
    report = outbox.deliver_due()
    assert report.sent + report.failed == 2 and report.deferred == 2  # 1 post + the DM; 2 posts wait
    assert store.outbox.item(key="k1").next_attempt_at == first_at + timedelta(seconds=60)
    clock.advance(30)
    assert outbox.deliver_due().sent == 0
    clock.advance(30)
    assert outbox.deliver_due().sent == 1
    # two posts in 24 h: the third waits until the first leaves the window
    clock.advance(3600)
    assert outbox.deliver_due().sent == 0
    assert store.outbox.item(key="k2").next_attempt_at == first_at + timedelta(hours=24)
    clock.set(first_at + timedelta(hours=24))
    assert outbox.deliver_due().sent == 1
    assert [t["text"] for t in ledger(admin, shop)] == ["Post number 0", "Post number 1", "Post number 2"]


def test_auth_error_pauses_account_and_keeps_rows(
    sandbox: Any, store: Store, admin: httpx.Client, clock: ManualClock
) -> None:
    bad = XPlatform(
        XCredentials(consumer_key="k", consumer_secret="s", access_token="0-revoked", access_token_secret="t"),
        base_url=sandbox.url,
        timeout=2,
        account="shop",
    )
    store.outbox.enqueue("k1", account="shop", kind="post", text="hello")
    store.outbox.enqueue("k2", account="shop", kind="post", text="hello again")
    report = make_outbox(store, bad, clock).deliver_due()
    assert report.sent == 0 and report.failed == 0 and report.deferred == 2
    assert store.accounts.paused_reason("shop")
    assert {(i.state, i.attempts) for i in store.outbox.items()} == {("pending", 0)}
    assert stats(admin)["requests_total"] == 1  # the second row was not tried once the account paused
    bad.close()
