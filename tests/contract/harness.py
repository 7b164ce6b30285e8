"""Per-platform test harnesses: everything platform-specific the contract suite needs.

A harness builds adapters for accounts, acts as other users (posts, DMs), injects faults and reads the
platform's ledger. The contract tests only talk to `Harness`, so a new platform (Bluesky) only adds one.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from bot.platforms.base import Platform


class Harness(Protocol):
    name: str

    def platform(self, handle: str, *, timeout: float = 0.5) -> Platform: ...

    def user(self, handle: str, *, followers: int | None = None) -> str:
        """Create (or look up) a user other than the bot, with this many followers when given; return its id."""
        ...

    def like_as(self, user_id: str, post_id: str) -> None: ...

    def retweet_as(self, user_id: str, post_id: str) -> None: ...

    def post_as(self, user_id: str, text: str, *, reply_to: str | None = None, quote: str | None = None) -> str: ...

    def dm_as(self, sender_id: str, recipient_id: str, text: str) -> str: ...

    def fail_next_writes(self, kind: str) -> None:
        """kind: 'error' (5xx before processing) or 'timeout' (processed, then no response)."""
        ...

    def rate_limit_next(self, seconds: float) -> int:
        """Make the next API request get a 429 whose window resets `seconds` from now; return the reset epoch."""
        ...

    def clear_faults(self) -> None: ...

    def bad_credentials_platform(self) -> Platform: ...


class XSandboxHarness:
    name = "x"

    def __init__(self, server: Any) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, trust_env=False, timeout=5)

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.http.post(path, json=body)
        resp.raise_for_status()
        return dict(resp.json())

    def platform(self, handle: str, *, timeout: float = 0.5) -> Platform:
        from bot.platforms.x import XPlatform

        return XPlatform.for_sandbox(self.server.url, handle, timeout=timeout)

    def user(self, handle: str, *, followers: int | None = None) -> str:
        body: dict[str, Any] = {"username": handle, "name": handle.title()}
        if followers is not None:
            body["followers"] = followers
        return str(self._post("/_sandbox/users", body)["id"])

    def like_as(self, user_id: str, post_id: str) -> None:
        self._post("/_sandbox/likes", {"user_id": user_id, "tweet_id": post_id})

    def retweet_as(self, user_id: str, post_id: str) -> None:
        self._post("/_sandbox/retweets", {"user_id": user_id, "tweet_id": post_id})

    def post_as(self, user_id: str, text: str, *, reply_to: str | None = None, quote: str | None = None) -> str:
        body: dict[str, Any] = {"author_id": user_id, "text": text}
        if reply_to:
            body["in_reply_to_tweet_id"] = reply_to
        if quote:
            body["quote_tweet_id"] = quote
        return str(self._post("/_sandbox/tweets", body)["id"])

    def dm_as(self, sender_id: str, recipient_id: str, text: str) -> str:
        return str(
            self._post("/_sandbox/dms", {"from_user_id": sender_id, "to_user_id": recipient_id, "text": text})["id"]
        )

    def fail_next_writes(self, kind: str) -> None:
        rates = {"error": "error_rate", "timeout": "timeout_rate"}
        self._post("/_sandbox/faults", {rates[kind]: 1.0, "timeout_seconds": 1.0})

    def rate_limit_next(self, seconds: float) -> int:
        import math
        import time

        self._post("/_sandbox/faults", {"burst_429": 1, "burst_reset_seconds": seconds})
        return math.ceil(time.time() + seconds)

    def clear_faults(self) -> None:
        self._post("/_sandbox/faults", {"error_rate": 0, "timeout_rate": 0, "reset_rate": 0, "burst_429": 0})

    def bad_credentials_platform(self) -> Platform:
        from bot.config import XCredentials
        from bot.platforms.x import XPlatform

        creds = XCredentials(consumer_key="k", consumer_secret="s", access_token="999-nobody", access_token_secret="t")
        return XPlatform(creds, base_url=self.server.url, timeout=0.5, account="nobody")
