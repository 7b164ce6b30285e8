"""Poison input never blocks a queue: a NUL in a customer's text is stored without it (on PostgreSQL too), and a
message that still cannot be processed is set aside for a person while the messages after it are answered.
Real sandbox over HTTP, real SQLite (PostgreSQL too when set), real classifier and templates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.adapters.store.types import storable
from bot.app.metrics import Reading
from bot.core.clock import ManualClock
from bot.core.models import Page, Post, User
from tests.test_mentions import service


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def shop(sandbox: Any) -> Iterator[XPlatform]:
    platform = XPlatform.for_sandbox(sandbox.url, "shop", account="shop")
    yield platform
    platform.close()


def test_storable_removes_nul_and_replaces_lone_surrogates() -> None:
    assert storable("plain text") == "plain text"
    assert storable("where\x00 is it\x00?") == "where is it?"
    assert storable("好\x00的 \ud83d!") == "好的 \ufffd!"


def test_a_nul_in_one_mention_blocks_no_other(store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock) -> None:
    """Before: on PostgreSQL every poll failed ("cannot contain NUL") and no later mention was stored or answered."""
    mallory, ana = sandbox.add_user("mallory"), sandbox.add_user("ana")
    poisoned = sandbox.add_tweet(mallory, "@shop where is my order\x00 1234?")
    later = sandbox.add_tweet(ana, "@shop where is my order 5678?")
    report = service(store, shop, clock).poll("shop")
    assert (report.new, report.replies, report.set_aside, report.complete) == (2, 2, 0, True)
    assert store.mentions.get("shop", poisoned).text == "@shop where is my order 1234?"
    assert store.mentions.get("shop", later) is not None
    assert store.mentions.cursor("shop", "mentions") == later
    assert {i.key for i in store.outbox.items(limit=None)} == {f"reply:{poisoned}", f"reply:{later}"}


@pytest.mark.postgres
def test_a_message_that_cannot_be_stored_is_set_aside_and_the_cursor_moves_on(
    store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock
) -> None:
    """An id longer than any column PostgreSQL would take cannot be stored: that one mention becomes an inbox item
    for a person (and turns /healthz red), the mention after it is answered, the cursor moves past both."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    mallory = User(id="9001", username="mallory", name="Mallory")
    ana = User(id="9002", username="ana", name="Ana")
    me = shop.me()
    broken = Post(id="7" * 600, text="@shop hello", author_id=mallory.id, mentions=("shop",))
    fine = Post(id="8000", text="@shop where is my order 42?", author_id=ana.id, mentions=("shop",))
    page = Page(items=[fine, broken], users={mallory.id: mallory, ana.id: ana, me.id: me}, newest_id=fine.id)
    svc = service(store, shop, clock)
    report = svc.ingest_page("shop", page, cursor=fine.id)
    assert (report.new, report.replies, report.set_aside) == (1, 1, 1)
    assert store.mentions.cursor("shop", "mentions") == fine.id
    assert store.mentions.get("shop", fine.id) is not None
    [aside] = [i for i in store.mentions.inbox_items() if i.intent == "set_aside"]
    assert aside.user_id == mallory.id and "could not be processed" in aside.text and "@shop hello" in aside.text
    health = store.health.read(clock.now(), now=clock.now(), window_start=clock.now())
    assert health.set_aside == {"shop": 1}
    assert Reading(clock.now(), set_aside=health.set_aside).problems()
    assert store.mentions.resolve_inbox(aside.id, "looked at it")
    assert store.health.read(clock.now(), now=clock.now(), window_start=clock.now()).set_aside == {}
