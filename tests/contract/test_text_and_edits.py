"""What people wrote reaches the bot as they wrote it, and an edited mention is answered once (issue 14).

X serves post and DM text HTML-escaped (`&amp;`, `&lt;`, `&gt;`) and an edit as a new post listing the earlier
versions; Bluesky does neither. The text tests run on every platform; the edit tests where people can edit.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.adapters.escalation import Escalator
from bot.adapters.store import Store
from bot.adapters.templating import TemplateRenderer
from bot.core.clock import ManualClock
from bot.core.models import MessageKind, OutgoingMessage
from bot.domains.conversations.intent import Classifier
from bot.domains.conversations.mentions import MentionService
from bot.domains.publishing.outbox import Outbox
from bot.settings.config import AccountConfig, Settings
from bot.settings.replies import Caps, RepliesConfig
from tests.conftest import REPO_ROOT
from tests.contract.harness import Harness
from tests.helpers import delivery

# every character X escapes, an entity typed by hand, and quotes X leaves alone
WORDS = '<3 & >:( "quotes" &amp; it\'s a<b>c &lt;'


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


def _post(text: str, key: str) -> OutgoingMessage:
    return OutgoingMessage(key=key, kind=MessageKind.POST, text=text, created_at=datetime.now(UTC))


def _dm(text: str, to: str) -> OutgoingMessage:
    return OutgoingMessage(
        key=f"dm:{to}", kind=MessageKind.DM, text=text, recipient_id=to, created_at=datetime.now(UTC)
    )


def test_a_mention_reads_back_exactly_as_typed(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    alice = harness.user("alice")
    mention = harness.post_as(alice, f"@shop {WORDS}")
    items = [item for page in p.mentions(None) for item in page.items]
    [read] = [item for item in items if item.id == mention]
    assert read.text == f"@{harness.username('shop')} {WORDS}"
    assert read.edit_of == ()


def test_our_own_post_reads_back_as_sent_and_is_found(platform_factory: Any) -> None:
    p = platform_factory("shop")
    message = _post(f"Tom & Jerry {WORDS}", "k1")
    sent = p.send(message)  # sent as written: X escapes on output, never us
    assert [(x.id, x.text) for x in p.recent_posts(limit=1)] == [(sent, message.text)]
    assert p.find_sent(message) == sent
    assert p.find_sent(_post("Tom &amp; Jerry <3", "k2")) is None  # an escaped spelling is other words


def test_a_dm_reads_back_as_typed(platform_factory: Any, harness: Harness) -> None:
    if not harness.supports_dms:
        pytest.skip(getattr(harness, "dm_skip_reason", f"{harness.name} has no DMs here"))
    p = platform_factory("shop")
    dave = harness.user("dave")
    harness.dm_as(dave, p.me().id, f"is it a<b? {WORDS}")
    answer = _dm(f"yes & no {WORDS}", dave)
    sent = p.send(answer)
    texts = {m.id: m.text for m in p.direct_messages()}
    assert f"is it a<b? {WORDS}" in texts.values()
    assert texts[sent] == answer.text
    assert p.find_sent(answer) == sent


def test_an_edit_is_a_new_post_listing_the_earlier_versions(platform_factory: Any, harness: Harness) -> None:
    if not harness.supports_edits:
        pytest.skip(getattr(harness, "edit_skip_reason", f"{harness.name} has no edits"))
    p = platform_factory("shop")
    alice = harness.user("alice")
    first = harness.post_as(alice, "@shop where is my order?")
    second = harness.edit_as(first, "@shop where is my order A1?")
    third = harness.edit_as(second, f"@shop where is my order A1? {WORDS}")
    pages = list(p.mentions(None))
    items = {item.id: item for page in pages for item in page.items}
    assert list(items) == [third, second, first]  # every version is a post of its own, newest first
    assert items[first].edit_of == () and items[second].edit_of == (first,)
    assert items[third].edit_of == (first, second) and items[third].text.endswith(WORDS)
    assert pages[0].newest_id == third


def _service(store: Store, platform: Any, clock: ManualClock) -> MentionService:
    settings = Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        templates_dir=REPO_ROOT / "templates",
        replies=RepliesConfig(enabled=True, caps=Caps(per_user_per_day=0, per_conversation=0)),
    )
    return MentionService(
        settings,
        store,
        {"shop": platform},
        Classifier(settings.replies),
        TemplateRenderer(settings),
        clock,
        escalator=Escalator(settings.replies.escalation, url=""),
    )


def test_an_edited_mention_is_answered_once(
    platform_factory: Any, harness: Harness, store: Store, clock: ManualClock
) -> None:
    if not harness.supports_edits:
        pytest.skip(getattr(harness, "edit_skip_reason", f"{harness.name} has no edits"))
    p = platform_factory("shop")
    service = _service(store, p, clock)
    alice, bob = harness.user("alice"), harness.user("bob")

    # answered, then edited: the edit is the same conversation, not a new question
    asked = harness.post_as(alice, "@shop where is my order A1?")
    first = service.poll("shop")
    assert (first.new, first.replies) == (1, 1)
    edited = harness.edit_as(asked, "@shop where is my order A1? it is late >:(")
    again = service.poll("shop")
    assert (again.mentions, again.new, again.replies) == (1, 0, 0)
    assert store.mentions.get("shop", edited) is None  # its first version is the one on record

    # written and edited twice before the bot looked: one answer, to the newest version
    v1 = harness.post_as(bob, "@shop do you ship to Canada?")
    v2 = harness.edit_as(v1, "@shop do you ship to Canada & the US?")
    v3 = harness.edit_as(v2, f"@shop do you ship to Canada & the US? {WORDS}")
    third = service.poll("shop")
    assert (third.mentions, third.new, third.replies) == (3, 3, 1)
    newest = store.mentions.get("shop", v3)
    assert newest is not None and newest.reply_key == f"reply:{v3}"
    assert newest.text == f"@shop do you ship to Canada & the US? {WORDS}"  # stored as typed
    for older in (v1, v2):
        record = store.mentions.get("shop", older)
        assert record is not None and record.reply_key is None
        assert record.reason == "an earlier version of an edited post"
    assert service.poll("shop").new == 0

    replies = [i for i in store.outbox.items(limit=None) if i.kind == "reply"]
    assert sorted(i.key for i in replies) == sorted([f"reply:{asked}", f"reply:{v3}"])
    outbox = Outbox(store, {"shop": p}, delivery=delivery(), owner="test", clock=clock, rng=random.Random(3))
    assert outbox.deliver_due().sent == 2
    answered = [x.replied_to_id for x in p.recent_posts(limit=10)]
    assert sorted(answered, key=str) == sorted([asked, v3])  # on the platform too: one reply per conversation
