"""Delivery under a bad moment: an opt-out, a pause or a cancellation recorded while a batch is being sent is
honoured by the very next request; a slow platform holds up no other account; /healthz sees a queue falling
behind before anything is late. Real sandbox over HTTP, real SQLite (PostgreSQL too when set), a real daemon."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.adapters.store.health import Flow
from bot.app.daemon import Daemon, DaemonOptions
from bot.app.metrics import Reading, read
from bot.core.clock import ManualClock
from bot.core.models import OutgoingMessage
from bot.domains.publishing.outbox import Outbox
from bot.sandbox.server import SandboxServer
from tests.helpers import delivery, wait_for

X_BUCKETS = XPlatform.buckets  # the rate-limit bucket names of an X account


class _Hooked(XPlatform):
    """The real sandbox adapter; after each send that succeeds, runs what the test says happened meanwhile."""

    after_send: Callable[[OutgoingMessage], None] = staticmethod(lambda message: None)

    def send(self, message: OutgoingMessage) -> str | None:
        remote = super().send(message)
        self.after_send(message)
        return remote


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def shop(sandbox: Any) -> Iterator[_Hooked]:
    platform = _Hooked.for_sandbox(sandbox.url, "shop", timeout=2)
    yield platform
    platform.close()


def _ledger(sandbox: Any, handle: str = "shop") -> list[str]:
    with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5) as http:
        uid = http.get("/_sandbox/users", params={"username": handle}).json()["id"]
        return [t["text"] for t in http.get("/_sandbox/tweets", params={"author_id": uid}).json()["tweets"]]


def _outbox(store: Store, shop: XPlatform, clock: ManualClock) -> Outbox:
    return Outbox(store, {"shop": shop}, delivery=delivery(), owner="test", clock=clock, rng=random.Random(3))


def _queue_for(store: Store, person: str, n: int) -> None:
    """n messages for one person, each with the person as its target (like a reply, a DM or a coupon)."""
    for i in range(n):
        store.outbox.enqueue(
            f"for:{person}:{i}",
            account="shop",
            kind="post",
            text=f"A message for {person}, number {i}",
            target_platform="x",
            target_user_id=person,
        )


def test_an_opt_out_recorded_while_a_batch_is_sent_stops_the_next_message(
    store: Store, shop: _Hooked, sandbox: Any, clock: ManualClock
) -> None:
    """Before: opt-out was checked when the batch of 50 was claimed, so the rest of the batch still went out."""
    _queue_for(store, "u-7", 4)
    shop.after_send = lambda message: store.mentions.add_optout("x", user_id="u-7", reason="stop")
    report = _outbox(store, shop, clock).deliver_due()
    assert (report.sent, report.cancelled) == (1, 3)
    assert _ledger(sandbox) == ["A message for u-7, number 0"]
    states = {i.key: (i.state, i.attempts) for i in store.outbox.items(limit=None)}
    assert states["for:u-7:0"] == ("sent", 1)
    assert {states[f"for:u-7:{i}"] for i in (1, 2, 3)} == {("cancelled", 0)}


def test_a_pause_or_a_cancellation_recorded_mid_batch_is_honoured(
    store: Store, shop: _Hooked, sandbox: Any, clock: ManualClock
) -> None:
    _queue_for(store, "u-1", 3)
    second = store.outbox.item(key="for:u-1:1")
    assert second is not None
    shop.after_send = lambda message: store.outbox.cancel(second.id, "withdrawn by the team")
    report = _outbox(store, shop, clock).deliver_due()
    assert report.sent == 2 and "A message for u-1, number 1" not in _ledger(sandbox)

    _queue_for(store, "u-2", 3)
    shop.after_send = lambda message: store.accounts.pause("shop", "credentials revoked")
    report = _outbox(store, shop, clock).deliver_due()
    assert report.sent == 1
    waiting = [i for i in store.outbox.items(limit=None) if i.key.startswith("for:u-2:") and i.state == "pending"]
    assert len(waiting) == 2 and all(i.attempts == 0 for i in waiting)  # given back, no try counted


def test_a_slow_platform_holds_up_no_other_account(sandbox: Any, tmp_path: Path) -> None:
    """One delivery worker per account: with 1 s per write on one account's platform, the other's messages
    all go out before the slow one has sent most of its own (before: one thread sent them in turn), and the
    health check says the slow account's queue falls behind before any message is late."""
    slow_sandbox = SandboxServer(host="127.0.0.1", port=0)
    slow_sandbox.start()
    try:
        with httpx.Client(base_url=slow_sandbox.url, trust_env=False, timeout=5) as http:
            http.post("/_sandbox/faults", json={"latency_seconds": 1.0}).raise_for_status()
        (tmp_path / "templates").mkdir()
        database = f"sqlite:///{tmp_path / 'bot.db'}"
        config = tmp_path / "config.yaml"
        config.write_text(
            f"timezone: UTC\ndatabase_url: {database}\ntemplates_dir: templates\n"
            "accounts:\n"
            f"  slow: {{platform: sandbox, handle: slowshop, base_url: '{slow_sandbox.url}'}}\n"
            f"  fast: {{platform: sandbox, handle: fastshop, base_url: '{sandbox.url}'}}\n"
            "delivery: {min_spacing_seconds: 0, per_account_per_day: 0, poll_seconds: 0.1}\n",
            encoding="utf-8",
        )
        with Store.open(database) as store:
            store.upgrade()
            for account in ("slow", "fast"):  # the slow account's rows first: a single worker would take them first
                for i in range(12 if account == "slow" else 6):
                    store.outbox.enqueue(f"{account}:{i}", account=account, kind="post", text=f"{account} news {i}")
        daemon = Daemon(DaemonOptions(config_path=config, environ={}))
        daemon.start()
        try:
            wait_for(lambda: len(_ledger(sandbox, "fastshop")) == 6, what="the fast account's six posts", timeout=30)
            slow_sent = len(_ledger(slow_sandbox, "slowshop"))
            problems = read(daemon).problems()  # what /healthz says, long before anything is 5 minutes late
        finally:
            daemon.stop()
        assert slow_sent < 6, "the fast account waited for the slow one"
        assert [p for p in problems if p.startswith("account slow: ") and "messages due" in p], problems
        assert not [p for p in problems if p.startswith("account fast")], problems
    finally:
        slow_sandbox.stop()


def test_health_turns_red_when_a_queue_grows_faster_than_it_drains() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    keeping_up = Flow(due=40, oldest_due=now - timedelta(seconds=20), arrived=100, sent=95)
    behind = Flow(due=150, oldest_due=now - timedelta(seconds=40), arrived=190, sent=40)
    stuck = Flow(due=12, oldest_due=now - timedelta(seconds=30), arrived=12, sent=0)
    draining = Flow(due=300, oldest_due=now - timedelta(seconds=60), arrived=10, sent=200)
    reading = Reading(now, flows={"a": keeping_up, "b": behind, "c": stuck, "d": draining})
    problems = reading.problems()
    assert len(problems) == 2, problems
    assert problems[0].startswith("account b: 150 messages due and the queue grows")
    assert "190 arrived and 40 went out" in problems[0] and "min late" in problems[0]
    assert problems[1].startswith("account c: 12 messages due and none sent")
    assert Reading(now, set_aside={"shop": 2}).problems() == [
        "account shop: 2 message(s) could not be processed and wait for a person (socialbot inbox)"
    ]


def test_store_health_counts_what_arrived_was_sent_and_is_due(store: Store, clock: ManualClock) -> None:
    for i in range(3):
        store.outbox.enqueue(f"k{i}", account="shop", kind="post", text=f"t{i}")
    [claimed, *_] = store.outbox.claim("w", now=clock.now(), limit=1, lease_seconds=30, buckets=X_BUCKETS).items
    attempt = store.outbox.begin_attempt(claimed.item, "w", now=clock.now(), buckets=X_BUCKETS)
    assert attempt.item is not None
    store.outbox.mark_sent(attempt.item, "1", now=clock.now())
    clock.advance(1)
    health = store.health.read(
        clock.now() - timedelta(minutes=5), now=clock.now(), window_start=clock.now() - timedelta(minutes=2)
    )
    assert health.flows["shop"] == Flow(due=2, oldest_due=health.flows["shop"].oldest_due, arrived=3, sent=1)
    assert health.set_aside == {}
