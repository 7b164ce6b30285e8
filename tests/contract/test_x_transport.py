"""X-adapter specifics: transport failures map to TransientError with the right maybe_sent."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from bot.adapters.platforms.x import XPlatform, endpoint_of
from bot.core.errors import TransientError
from bot.core.models import MessageKind, OutgoingMessage
from bot.settings.config import XCredentials


def test_connection_reset_after_send_is_maybe_sent_for_writes_only(sandbox: Any) -> None:
    p = XPlatform.for_sandbox(sandbox.url, "shop", timeout=0.5)
    try:
        p.me()
        httpx.post(f"{sandbox.url}/_sandbox/faults", json={"reset_rate": 1.0}, trust_env=False)
        with pytest.raises(TransientError) as write:
            p.send(OutgoingMessage("k", MessageKind.POST, "reset"))
        assert write.value.maybe_sent is True
        with pytest.raises(TransientError) as read:
            p.recent_posts()
        assert read.value.maybe_sent is False
    finally:
        p.close()


def test_connection_refused_is_not_sent() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: refused, and no other process can take the port
        port = sock.getsockname()[1]
        creds = XCredentials(consumer_key="a", consumer_secret="b", access_token="1-x", access_token_secret="c")
        p = XPlatform(creds, base_url=f"http://127.0.0.1:{port}", timeout=0.5)
        try:
            with pytest.raises(TransientError) as info:
                p.send(OutgoingMessage("k", MessageKind.POST, "refused"))
            assert info.value.maybe_sent is False
        finally:
            p.close()


def test_endpoint_keys_match_sandbox_templates() -> None:
    assert endpoint_of("GET", "https://api.twitter.com/2/users/me") == "GET /2/users/me"
    assert endpoint_of("GET", "http://127.0.0.1:1/2/users/123/mentions?x=1") == "GET /2/users/:id/mentions"
    assert (
        endpoint_of("POST", "http://h/2/dm_conversations/with/5/messages")
        == "POST /2/dm_conversations/with/:id/messages"
    )


def test_after_a_429_no_request_reaches_that_endpoint_before_its_reset(sandbox: Any) -> None:
    from bot.core.errors import RateLimited

    p = XPlatform.for_sandbox(sandbox.url, "shop")
    try:
        p.me()
        httpx.post(f"{sandbox.url}/_sandbox/faults", json={"burst_429": 1, "burst_reset_seconds": 30}, trust_env=False)
        with pytest.raises(RateLimited) as first:
            p.recent_posts()
        before = httpx.get(f"{sandbox.url}/_sandbox/stats", trust_env=False).json()
        with pytest.raises(RateLimited) as again:  # refused by the adapter itself: X said when
            p.recent_posts()
        after = httpx.get(f"{sandbox.url}/_sandbox/stats", trust_env=False).json()
        assert again.value.retry_at == first.value.retry_at
        assert after["requests_total"] == before["requests_total"] and after["early_requests"] == 0
        p.me()  # other endpoints are not held up
    finally:
        p.close()


def test_a_429_is_honoured_by_a_restarted_process_and_by_other_daemons(sandbox: Any, db_url: str) -> None:
    """The reset goes to the store: a fresh adapter on the same account (a restart, another daemon) makes
    no request to that endpoint before it either."""
    from bot.adapters.store import Store
    from bot.app.daemon import StoredRateLimits
    from bot.core.errors import RateLimited

    store = Store.open(db_url)
    store.upgrade()
    first = XPlatform.for_sandbox(sandbox.url, "shop", account="shop")
    second = XPlatform.for_sandbox(sandbox.url, "shop", account="shop")
    try:
        for p in (first, second):
            p.use_rate_limit_memory(StoredRateLimits(store, "shop"))
        httpx.post(f"{sandbox.url}/_sandbox/faults", json={"burst_429": 1, "burst_reset_seconds": 30}, trust_env=False)
        with pytest.raises(RateLimited) as told:
            first.me()
        before = httpx.get(f"{sandbox.url}/_sandbox/stats", trust_env=False).json()
        with pytest.raises(RateLimited) as refused:
            second.me()
        after = httpx.get(f"{sandbox.url}/_sandbox/stats", trust_env=False).json()
        assert refused.value.retry_at == told.value.retry_at
        assert after["requests_total"] == before["requests_total"] and after["early_requests"] == 0
        assert store.rate_limits.blocked_until("shop", "GET /2/users/me") == told.value.retry_at
    finally:
        first.close()
        second.close()
        store.close()


def test_reads_are_tried_three_times_and_writes_once(sandbox: Any) -> None:
    p = XPlatform.for_sandbox(sandbox.url, "shop", timeout=0.5)
    try:
        p.me()
        httpx.post(f"{sandbox.url}/_sandbox/faults", json={"error_rate": 1.0}, trust_env=False)

        def requests(template: str) -> int:
            return int(httpx.get(f"{sandbox.url}/_sandbox/stats", trust_env=False).json()["requests"].get(template, 0))

        reads, writes = requests("GET /2/users/:id/tweets"), requests("POST /2/tweets")
        with pytest.raises(TransientError) as read:
            p.recent_posts()
        with pytest.raises(TransientError) as write:
            p.send(OutgoingMessage("k", MessageKind.POST, "once"))
        assert read.value.maybe_sent is False and write.value.maybe_sent is False  # a 503 means not processed
        assert requests("GET /2/users/:id/tweets") - reads == 3
        assert requests("POST /2/tweets") - writes == 1
    finally:
        p.close()
