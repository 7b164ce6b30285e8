"""The Platform contract: every adapter behaves the same against its platform (or sandbox)."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.errors import AuthError, DuplicateContent, NotAllowed, RateLimited, Rejected, TransientError
from bot.core.models import MessageKind, OutgoingMessage
from bot.core.ports import Platform
from tests.contract.harness import Harness


def post(text: str, key: str = "k") -> OutgoingMessage:
    return OutgoingMessage(key=key, kind=MessageKind.POST, text=text, created_at=datetime.now(UTC))


def reply(text: str, to: str) -> OutgoingMessage:
    return OutgoingMessage(
        key=f"reply:{to}", kind=MessageKind.REPLY, text=text, in_reply_to_id=to, created_at=datetime.now(UTC)
    )


def dm(text: str, to: str) -> OutgoingMessage:
    return OutgoingMessage(
        key=f"dm:{to}", kind=MessageKind.DM, text=text, recipient_id=to, created_at=datetime.now(UTC)
    )


def newer_cursor(a: str, b: str) -> bool:
    """How the mentions service orders cursors (Platform.newer: bot.core.models.numeric_or_text_newer): numbers
    as numbers, anything else as text."""
    return int(a) > int(b) if a.isdigit() and b.isdigit() else a > b


def test_is_a_platform_and_knows_itself(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    assert isinstance(p, Platform)
    me = p.me()
    assert me.username == harness.username("shop") and harness.is_user_id(me.id)
    assert p.me() == me
    assert p.length("hello") == 5 and p.max_length > 0


def test_post_appears_in_recent_posts(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    since = datetime.now(UTC) - timedelta(seconds=5)
    first = p.send(post("Double 11 sale starts now #deals"))
    second = p.send(post("Weekly deals are here https://shop.example/deals"))
    assert first != second and harness.sort_key(second) > harness.sort_key(first)
    recent = p.recent_posts(limit=10)
    assert [x.id for x in recent[:2]] == [second, first]
    assert recent[1].hashtags == ("deals",)
    assert [x.id for x in p.recent_posts(limit=10, since=since)][:2] == [second, first]
    assert [x.id for x in p.recent_posts(limit=1)] == [second]


def test_reply_to_summoning_mention_is_allowed(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    alice = harness.user("alice")
    mention = harness.post_as(alice, "@shop is the sale still on?")
    remote = p.send(reply("@alice yes, until Sunday!", mention))
    posts = p.recent_posts(limit=5)
    assert posts[0].id == remote and posts[0].replied_to_id == mention


def test_reply_to_quote_and_to_reply_of_ours_is_allowed(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    ours = p.send(post("New arrivals today"))
    bob = harness.user("bob")
    quote = harness.post_as(bob, "look at this", quote=ours)
    answer = harness.post_as(bob, "nice!", reply_to=ours)
    assert p.send(reply("thanks for sharing", quote))
    assert p.send(reply("glad you like it", answer))


def test_reply_to_non_summoning_tweet_is_not_allowed(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    carol = harness.user("carol")
    unrelated = harness.post_as(carol, "just having coffee")
    with pytest.raises(NotAllowed):
        p.send(reply("buy our coffee!", unrelated))


def test_duplicate_is_duplicate_content(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    message = post("Same words twice")
    first = p.send(message)
    # the same outbox message sent again never makes a second post: refused as a duplicate, or the same post
    try:
        again: str | None = p.send(message)
    except DuplicateContent:
        again = None
    assert again in (None, first)
    assert [x.text for x in p.recent_posts(limit=10)].count("Same words twice") == 1
    if harness.refuses_duplicate_text:  # X also refuses the same words in another message
        with pytest.raises(DuplicateContent):
            p.send(post("Same words twice"))


def test_over_long_is_rejected(platform_factory: Any) -> None:
    p = platform_factory("shop")
    text = "a" * (p.max_length + 1)
    assert p.length(text) > p.max_length
    with pytest.raises(Rejected) as info:
        p.send(post(text))
    assert not isinstance(info.value, (DuplicateContent, NotAllowed))


def test_rate_limited_carries_the_reset(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    p.me()
    before = time.time()
    harness.rate_limit_next(30)
    with pytest.raises(RateLimited) as info:
        p.send(post("limited"))
    err = info.value
    status = {s.endpoint: s for s in p.rate_limits()}
    assert err.retry_at == status[err.endpoint].reset_at
    assert before + 29 <= err.retry_at.timestamp() <= time.time() + 31
    assert status[err.endpoint].remaining == 0


def test_server_error_is_transient_and_not_sent(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    p.me()
    harness.fail_next_writes("error")
    with pytest.raises(TransientError) as info:
        p.send(post("server error"))
    assert info.value.maybe_sent is False
    harness.clear_faults()
    assert p.find_sent(post("server error")) is None


def test_processed_then_timeout_is_maybe_sent_and_found(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop", timeout=0.5)
    p.me()
    message = post("timeout but landed")
    harness.fail_next_writes("timeout")
    with pytest.raises(TransientError) as info:
        p.send(message)
    assert info.value.maybe_sent is True
    harness.clear_faults()
    found = p.find_sent(message, since=message.created_at)
    assert found is not None
    assert p.recent_posts(limit=1)[0].id == found


def test_find_sent_none_for_never_sent(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    p.send(post("something else"))
    assert p.find_sent(post("never sent")) is None
    alice = harness.user("alice")
    m = harness.post_as(alice, "@shop hello")
    assert p.find_sent(reply("something else", m)) is None


def test_find_sent_reply_matches_target(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    alice = harness.user("alice")
    m1 = harness.post_as(alice, "@shop one")
    m2 = harness.post_as(alice, "@shop two")
    message = reply("Thanks!", m1)  # as the outbox does: the same message (key, creation time) when reconciling
    sent = p.send(message)
    assert p.find_sent(message) == sent
    if harness.finds_sent_by_text:  # X looks a send up by its words: another message with them is found too
        assert p.find_sent(reply("Thanks!", m1)) == sent
    assert p.find_sent(reply("Thanks!", m2)) is None


def test_find_sent_many_answers_each_message(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    alice = harness.user("alice")
    mention = harness.post_as(alice, "@shop where is my order?")
    sent_post = post("landed post", key="a")
    sent_reply = reply("We are on it!", mention)
    ids = {"a": p.send(sent_post), sent_reply.key: p.send(sent_reply)}
    answers = p.find_sent_many([sent_post, sent_reply, post("never sent", key="b")])
    assert answers == {**ids, "b": None}


def test_mentions_pagination_and_since_id(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    fans = [harness.user(f"fan{i}") for i in range(5)]
    ids = [harness.post_as(fans[i % 5], f"@shop question {i}") for i in range(250)]
    pages = list(p.mentions(None, page_size=100))
    assert [len(pg.items) for pg in pages] == [100, 100, 50]
    seen = [item.id for pg in pages for item in pg.items]
    assert len(seen) == len(set(seen)) == 250
    assert seen == list(reversed(ids))
    cursor = pages[0].newest_id
    assert cursor is not None and all(pg.newest_id == cursor for pg in pages)
    if not harness.mentions_overlap:
        assert cursor == ids[-1]  # X: the cursor is the newest mention's id
    assert pages[-1].next_token is None
    first = pages[0].items[0]
    assert first.author_id in pages[0].users and harness.username("shop") in first.mentions
    newer = [harness.post_as(fans[0], f"@shop later {i}") for i in range(3)]
    again_pages = list(p.mentions(cursor, page_size=100))
    again = [i.id for pg in again_pages for i in pg.items]
    fresh = [i for i in again if i not in set(seen)]
    assert fresh == list(reversed(newer))
    if not harness.mentions_overlap:  # Bluesky re-reads a margin below the cursor (the caller de-duplicates)
        assert again == fresh
    later = again_pages[0].newest_id
    assert later is not None and newer_cursor(later, cursor)
    if not harness.mentions_overlap:
        assert later == newer[-1]
    empty = list(p.mentions(later))
    assert [i.id for pg in empty for i in pg.items if i.id not in set(seen) | set(newer)] == []
    if not harness.mentions_overlap:
        assert sum(len(pg.items) for pg in empty) == 0
    assert empty[0].newest_id == later


def test_dm_only_after_the_user_wrote_first(platform_factory: Any, harness: Harness) -> None:
    if not harness.supports_dms:
        pytest.skip(getattr(harness, "dm_skip_reason", f"{harness.name} has no DMs here"))
    p = platform_factory("shop")
    dave = harness.user("dave")
    with pytest.raises(NotAllowed):
        p.send(dm("hi there", dave))
    harness.dm_as(dave, p.me().id, "do you ship to Canada?")
    sent = p.send(dm("Yes we do!", dave))
    texts = {m.id: m for m in p.direct_messages()}
    assert texts[sent].text == "Yes we do!" and texts[sent].sender_id == p.me().id
    assert any(m.text == "do you ship to Canada?" and m.sender_id == dave for m in texts.values())
    assert p.find_sent(dm("Yes we do!", dave)) == sent
    assert p.find_sent(dm("never", dave)) is None
    # the same words, for a message written long after that DM went out: an earlier DM is not this one
    later = OutgoingMessage(
        key="dm:later",
        kind=MessageKind.DM,
        text="Yes we do!",
        recipient_id=dave,
        created_at=datetime.now(UTC) + timedelta(hours=1),
    )
    assert p.find_sent(later) is None


def test_delete_removes_from_recent(platform_factory: Any) -> None:
    p = platform_factory("shop")
    pid = p.send(post("to be deleted"))
    p.delete(pid)
    assert pid not in [x.id for x in p.recent_posts(limit=10)]
    p.send(post("to be deleted"))  # no longer a duplicate


def test_unknown_token_is_auth_error(harness: Harness) -> None:
    p = harness.bad_credentials_platform()
    try:
        with pytest.raises(AuthError):
            p.me()
        with pytest.raises(AuthError):
            p.send(post("hello"))
    finally:
        p.close()


def test_unreachable_server_is_transient_and_not_sent(harness: Harness) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: refused, and no other process can take the port
        port = sock.getsockname()[1]
        p = harness.unreachable_platform(f"http://127.0.0.1:{port}")
        try:
            with pytest.raises(TransientError) as info:
                p.send(post("refused"))
            assert info.value.maybe_sent is False
        finally:
            p.close()


def test_engagers_likes_and_retweets_with_follower_counts(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    ours = p.send(post("Engage with this"))
    fans = {harness.user(f"fan{i}", followers=100 * i): harness.expected_followers(100 * i) for i in range(7)}
    ids = list(fans)
    for uid in ids:
        harness.like_as(uid, ours)
    for uid in ids[:3]:
        harness.retweet_as(uid, ours)
    likes = p.engagers(ours, "like")
    assert likes.kind == "like" and not likes.truncated and not likes.missing and likes.posts == []
    assert {u.id for u in likes.users} == set(ids) and likes.reads == len(ids)
    assert {u.id: u.followers for u in likes.users} == fans
    assert all(u.username.startswith("fan") for u in likes.users)
    retweets = p.engagers(ours, "retweet")
    assert {u.id for u in retweets.users} == set(ids[:3]) and retweets.reads == 3
    nobody = p.engagers(p.send(post("Nobody cares")), "like")
    assert nobody.users == [] and nobody.reads == 0 and not nobody.missing


def test_engagers_limit_is_respected_across_pages(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    ours = p.send(post("Popular post"))
    fans = [harness.user(f"fan{i}") for i in range(130)]
    for uid in fans:
        harness.like_as(uid, ours)
    few = p.engagers(ours, "like", limit=5)
    assert len(few.users) == 5 and few.truncated and few.reads == 5
    assert few.reads <= p.engagers_cost("like", 5)
    many = p.engagers(ours, "like", limit=120)  # two pages
    assert len(many.users) == 120 == len({u.id for u in many.users}) and many.truncated
    everyone = p.engagers(ours, "like", limit=1000)
    assert {u.id for u in everyone.users} == set(fans) and not everyone.truncated and everyone.reads == 130
    assert p.engagers(ours, "like", limit=0).users == []


def test_engagers_quotes_carry_their_authors(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    ours = p.send(post("Quote me"))
    quoters = [harness.user(f"quoter{i}", followers=5000 + i) for i in range(12)]
    quotes = [harness.post_as(uid, f"look at this {i}", quote=ours) for i, uid in enumerate(quoters)]
    got = p.engagers(ours, "quote", limit=100)
    assert [q.id for q in got.posts] == list(reversed(quotes))  # newest first
    assert all(q.quoted_id == ours and q.created_at is not None for q in got.posts)
    assert {q.author_id for q in got.posts} == set(quoters)
    assert {u.id: u.followers for u in got.users} == {
        uid: harness.expected_followers(5000 + i) for i, uid in enumerate(quoters)
    }
    assert got.reads <= p.engagers_cost("quote", 100) and not got.truncated
    few = p.engagers(ours, "quote", limit=3)
    assert len(few.posts) == 3 and few.truncated
    assert {u.id for u in few.users} == {q.author_id for q in few.posts}
    assert few.reads <= p.engagers_cost("quote", 3)


def test_engagers_of_unknown_or_deleted_post(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    gone = p.send(post("Soon gone"))
    harness.like_as(harness.user("fan"), gone)
    p.delete(gone)
    for kind in ("like", "retweet", "quote"):
        result = p.engagers(gone, kind)
        assert result.missing and result.users == [] and result.posts == [] and result.reads == 0
    assert p.engagers(harness.unknown_post_id(p), "like").missing
    with pytest.raises(Rejected):
        p.engagers(gone, "bookmark")


def test_engagers_rate_limited(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    ours = p.send(post("Limited"))
    harness.rate_limit_next(30)
    with pytest.raises(RateLimited) as info:
        p.engagers(ours, "like")
    assert info.value.retry_at.timestamp() > time.time() + 20


def test_mentions_carry_follower_counts(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    alice = harness.user("alice", followers=1234)
    harness.post_as(alice, "@shop hi")
    [page] = list(p.mentions(None))
    assert page.users[alice].followers == harness.expected_followers(1234)


def test_mentions_resume_below_until_id(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    fan = harness.user("fan0")
    ids = [harness.post_as(fan, f"@shop resume {i}") for i in range(7)]
    first = next(iter(p.mentions(None, page_size=5)))  # an interrupted read: only its first page arrived
    assert [i.id for i in first.items] == list(reversed(ids))[:5]
    rest = [i.id for pg in p.mentions(None, page_size=5, until_id=first.items[-1].id) for i in pg.items]
    assert rest == list(reversed(ids))[5:]


class _Memory:
    """A RateLimitMemory like the store's: endpoint -> the reset a 429 announced."""

    def __init__(self) -> None:
        self.blocks: dict[str, datetime] = {}

    def blocked_until(self, endpoint: str) -> datetime | None:
        return self.blocks.get(endpoint)

    def block(self, endpoint: str, reset_at: datetime) -> None:
        self.blocks[endpoint] = reset_at


def test_a_429_reset_is_remembered_and_shared(platform_factory: Any, harness: Harness) -> None:
    memory = _Memory()
    p = platform_factory("shop")
    p.use_rate_limit_memory(memory)
    p.me()
    harness.rate_limit_next(30)
    with pytest.raises(RateLimited) as info:
        p.send(post("limited"))
    assert memory.blocks[info.value.endpoint] == info.value.retry_at
    with pytest.raises(RateLimited):  # the fault answered one request: this one never left the process
        p.send(post("limited, again", key="k2"))
    other = platform_factory("shop")  # another process on the same account, with the same memory
    other.use_rate_limit_memory(memory)
    with pytest.raises(RateLimited):
        other.send(post("limited, from elsewhere", key="k3"))
    assert [x.text for x in other.recent_posts(limit=5)] == []


def test_an_expired_session_is_renewed_without_logging_in_again(platform_factory: Any, harness: Harness) -> None:
    if not harness.has_sessions:
        pytest.skip(f"{harness.name}: requests are signed one by one; there is no session to expire")
    p = platform_factory("shop")
    p.me()
    assert harness.logins() == 1  # type: ignore[attr-defined]
    harness.expire_session()  # type: ignore[attr-defined]
    first = p.send(post("after expiry"))
    harness.expire_session()  # type: ignore[attr-defined]
    assert [x.id for x in p.recent_posts(limit=5)] == [first]  # a read renews it too
    assert harness.logins() == 1 and harness.refreshes() == 2  # type: ignore[attr-defined]


def test_without_dms_reading_gives_nothing_and_sending_is_not_allowed(platform_factory: Any, harness: Harness) -> None:
    if harness.supports_dms:
        pytest.skip(f"{harness.name} has DMs: test_dm_only_after_the_user_wrote_first covers them")
    p = platform_factory("shop")
    dave = harness.user("dave")
    assert p.direct_messages() == []
    with pytest.raises(NotAllowed) as info:
        p.send(dm("hi there", dave))
    assert "DM" in str(info.value)
    assert p.find_sent(dm("hi there", dave)) is None
