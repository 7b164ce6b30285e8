"""X answers the adapter cannot read are platform errors naming the missing field (issue 14), and a mentions read
whose answers leave out meta.newest_id still moves the cursor to the newest mention it delivered.

The adapter talks to the sandbox through tests/contract/faultproxy.py, which hands the sandbox's answers on with
their JSON changed: the sandbox did the work (the DM or post exists), the answer is what is broken."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.core.errors import PlatformError, TransientError
from bot.core.models import MessageKind, OutgoingMessage
from bot.domains.conversations.mentions import MentionService
from bot.domains.publishing.outbox import Outbox
from bot.settings.config import AccountConfig, Settings
from bot.settings.replies import Caps, RepliesConfig
from tests.conftest import REPO_ROOT
from tests.contract.faultproxy import FaultProxy
from tests.helpers import delivery, mention_service

MENTIONS = "/2/users/"
DM_CREATE = "/2/dm_conversations/with/"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def proxy(sandbox: Any) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(sandbox.url).start()
    yield fault_proxy
    fault_proxy.stop()


@pytest.fixture
def shop(proxy: FaultProxy) -> Iterator[XPlatform]:
    platform = XPlatform.for_sandbox(proxy.url, "shop", account="shop")
    platform.me()
    yield platform
    platform.close()


def without(path: str) -> Any:
    """A change for FaultProxy.rewrite: the answer without the field at `path` ('data.dm_event_id')."""

    def change(body: Any) -> Any:
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        del node[last]
        return body

    return change


def dm(text: str, to: str, key: str = "dm:1") -> OutgoingMessage:
    return OutgoingMessage(key=key, kind=MessageKind.DM, text=text, recipient_id=to, created_at=datetime.now(UTC))


def test_a_dm_answered_without_its_event_id_may_have_been_sent(
    sandbox: Any, proxy: FaultProxy, shop: XPlatform
) -> None:
    dave = sandbox.add_user("dave")
    sandbox.add_dm(dave, shop.me().id, "do you ship to Canada?")
    proxy.rewrite("POST", DM_CREATE, without("data.dm_event_id"))
    message = dm("Yes we do!", dave)
    with pytest.raises(TransientError) as info:
        shop.send(message)
    error = info.value
    assert error.maybe_sent is True  # X took it: look it up before sending again
    assert str(error) == (
        "x: POST /2/dm_conversations/with/:id/messages: the answer is malformed: data.dm_event_id is missing"
    )
    sent = [d for d in sandbox.world.dms if d.sender_id == shop.me().id]
    assert [d.text for d in sent] == ["Yes we do!"]
    assert shop.find_sent(message) == sent[0].id


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (without("data.id"), "data.id is missing"),
        (lambda body: {"data": None}, "data is missing"),
        (lambda body: {"data": {"id": ["1"], "text": "x"}}, 'data.id is a list ["1"], not an id'),
        (lambda body: [], "the answer is a list [], not an object"),
    ],
)
def test_a_post_answered_without_its_id_is_a_platform_error(
    proxy: FaultProxy, shop: XPlatform, change: Any, named: str
) -> None:
    proxy.rewrite("POST", "/2/tweets", change)
    with pytest.raises(PlatformError) as info:
        shop.send(OutgoingMessage("k", MessageKind.POST, f"New lamps ({named})"))
    assert isinstance(info.value, TransientError) and info.value.maybe_sent is True
    assert str(info.value).startswith("x: POST /2/tweets: the answer is malformed: " + named)
    assert not isinstance(info.value.__cause__, KeyError | TypeError)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (without("data.1.id"), "data[1].id is missing"),
        (without("data.0.text"), "data[0].text is missing"),
        (without("includes.users.0.username"), "includes.users[0].username is missing"),
        (lambda body: {**body, "data": {"id": "1"}}, 'data is an object {"id": "1"}, not a list'),
        (lambda body: {**body, "meta": "x"}, 'meta is a string "x", not an object'),
        (
            lambda body: {**body, "data": [{**body["data"][0], "created_at": "yesterday"}]},
            "data[0].created_at is not a time: 'yesterday'",
        ),
        (
            lambda body: {**body, "data": [{**body["data"][0], "edit_history_tweet_ids": "1"}]},
            'data[0].edit_history_tweet_ids is a string "1", not a list of ids',
        ),
    ],
)
def test_a_mentions_page_with_missing_fields_is_a_platform_error(
    sandbox: Any, proxy: FaultProxy, shop: XPlatform, change: Any, named: str
) -> None:
    alice = sandbox.add_user("alice")
    for n in range(2):
        sandbox.add_tweet(alice, f"@shop question {n}")
    proxy.rewrite("GET", MENTIONS, change)
    with pytest.raises(PlatformError) as info:
        list(shop.mentions(None))
    assert not isinstance(info.value, TransientError)  # a read: nothing was sent
    assert str(info.value).startswith("x: GET /2/users/:id/mentions: the answer is malformed: " + named)
    assert [len(page.items) for page in shop.mentions(None)] == [2]  # the next answer is whole again


def test_users_me_without_a_username_is_a_platform_error(proxy: FaultProxy) -> None:
    platform = XPlatform.for_sandbox(proxy.url, "shop")
    try:
        proxy.rewrite("GET", "/2/users/me", without("data.username"))
        with pytest.raises(PlatformError, match=r"GET /2/users/me: the answer is malformed: data.username is missing"):
            platform.me()
        assert platform.me().username == "shop"
    finally:
        platform.close()


def _service(store: Store, shop: XPlatform, clock: ManualClock) -> MentionService:
    settings = Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        templates_dir=REPO_ROOT / "templates",
        replies=RepliesConfig(enabled=True, caps=Caps(per_user_per_day=0, per_conversation=0)),
    )
    return mention_service(
        settings,
        store,
        {"shop": shop},
        clock,
        page_size=5,
    )


def test_without_newest_id_the_cursor_moves_to_the_newest_mention_read(
    sandbox: Any, proxy: FaultProxy, shop: XPlatform, store: Store, clock: ManualClock
) -> None:
    proxy.rewrite("GET", MENTIONS, without("meta.newest_id"), times=None)  # every mentions page, from now on
    fans = [sandbox.add_user(f"fan{i}") for i in range(3)]
    ids = [sandbox.add_tweet(fans[i % 3], f"@shop where is order A{i}?") for i in range(12)]
    pages = list(shop.mentions(None, page_size=5))
    assert [len(page.items) for page in pages] == [5, 5, 2]
    assert [page.newest_id for page in pages] == [ids[-1]] * 3  # from the items, where the answer said nothing

    service = _service(store, shop, clock)
    first = service.poll("shop")
    assert (first.mentions, first.new, first.complete) == (12, 12, True)
    assert store.mentions.cursor("shop", "mentions") == ids[-1]
    assert service.poll("shop").mentions == 0  # read from the cursor: nothing again
    later = [sandbox.add_tweet(fans[0], f"@shop and order B{i}?") for i in range(7)]
    second = service.poll("shop")
    assert (second.mentions, second.new) == (7, 7)  # nothing skipped
    assert store.mentions.cursor("shop", "mentions") == later[-1]
    stored = {m.platform_id for m in store.mentions.find("shop")}
    assert stored == set(ids) | set(later)


def test_a_dm_reply_answered_oddly_is_reconciled_not_sent_twice(
    sandbox: Any, proxy: FaultProxy, shop: XPlatform, store: Store, clock: ManualClock
) -> None:
    dave = sandbox.add_user("dave")
    sandbox.add_dm(dave, shop.me().id, "where is my order A1?")
    assert _service(store, shop, clock).poll("shop").replies == 1
    proxy.rewrite("POST", DM_CREATE, without("data.dm_event_id"))
    outbox = Outbox(store, {"shop": shop}, delivery=delivery(), owner="test", clock=clock, rng=random.Random(3))
    failed = outbox.deliver_due()
    assert (failed.sent, failed.retried) == (0, 1)
    clock.advance(timedelta(hours=1))
    assert outbox.deliver_due().sent == 1  # found on the conversation: recorded, not sent again
    from_shop = [d for d in sandbox.world.dms if d.sender_id == shop.me().id]
    assert len(from_shop) == 1
    [row] = [i for i in store.outbox.items(limit=None) if i.kind == "dm"]
    assert row.remote_id == from_shop[0].id
