"""The Platform contract for post metrics: every adapter counts likes, reposts, replies and quotes of the account's
posts the same way (X over the sandbox; Bluesky over the local network, where it can run)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from bot.core.models import MessageKind, OutgoingMessage, PostMetrics
from tests.contract.harness import Harness


def post(text: str, key: str) -> OutgoingMessage:
    return OutgoingMessage(key=key, kind=MessageKind.POST, text=text, created_at=datetime.now(UTC))


def test_post_metrics_count_what_people_did(platform_factory: Any, harness: Harness) -> None:
    p = platform_factory("shop")
    ours = p.send(post("Measure me, please", "m1"))
    quiet = p.send(post("Nobody looks at this one", "m2"))
    fans = [harness.user(f"mfan{i}") for i in range(3)]
    for uid in fans:
        harness.like_as(uid, ours)
    harness.retweet_as(fans[0], ours)
    harness.post_as(fans[1], f"@{harness.username('shop')} nice one", reply_to=ours)
    harness.post_as(fans[2], "look at this", quote=ours)
    want = (3, 1, 1, 1)
    got: dict[str, PostMetrics] = {}
    deadline = time.monotonic() + 15  # the Bluesky AppView counts what it has indexed
    while time.monotonic() < deadline:
        got = p.post_metrics([ours, quiet])
        m = got.get(ours)
        if m is not None and (m.likes, m.reposts, m.replies, m.quotes) == want:
            break
        time.sleep(0.3)
    m = got[ours]
    assert (m.likes, m.reposts, m.replies, m.quotes) == want and m.post_id == ours
    assert (got[quiet].likes, got[quiet].reposts, got[quiet].replies, got[quiet].quotes) == (0, 0, 0, 0)
    p.delete(quiet)
    deadline = time.monotonic() + 15  # the AppView forgets a deleted post once it has indexed the deletion
    while quiet in (left := p.post_metrics([ours, quiet])) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert quiet not in left and ours in left  # a deleted post is left out
    assert p.post_metrics([]) == {}
