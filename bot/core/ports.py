"""The ports: every Protocol a domain service needs from the adapters, in one place."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.core.models import (
    DirectMessage,
    Engagers,
    OutgoingMessage,
    Page,
    Post,
    RateLimitBuckets,
    RateLimitStatus,
    User,
)


class RateLimitMemory(Protocol):
    """Where an adapter keeps the resets its 429s announced, so a restarted process or another daemon on the
    same account makes no request to that endpoint before them (bot.app.daemon backs it with the store)."""

    def blocked_until(self, endpoint: str) -> datetime | None: ...

    def block(self, endpoint: str, reset_at: datetime) -> None: ...



@runtime_checkable
class Platform(Protocol):
    """A social network account. Every method raises only bot.core.errors.PlatformError subclasses."""

    name: str
    max_length: int
    dm_max_length: int
    buckets: RateLimitBuckets  # the names of its rate-limit windows

    def newer(self, a: str, b: str | None) -> bool:
        """Whether post id or cursor `a` comes after `b` (None: nothing seen yet) in this platform's order."""
        ...

    def age_key(self, item_id: str, created_at: datetime | None) -> tuple[object, ...]:
        """A sort key putting incoming items oldest first, by what this platform's ids say about time."""
        ...

    def me(self) -> User: ...

    def length(self, text: str) -> int:
        """Length of `text` as the platform counts it (X: twitter-text v3 weighted length)."""
        ...

    def send(self, message: OutgoingMessage) -> str:
        """Send a post, reply or DM; return the remote id."""
        ...

    def find_sent(self, message: OutgoingMessage, *, since: datetime | None = None) -> str | None:
        """Remote id of an earlier send of `message` whose outcome was unknown, or None if it never landed."""
        ...

    def find_sent_many(
        self, messages: Sequence[OutgoingMessage], *, since: datetime | None = None
    ) -> dict[str, str | None]:
        """find_sent for several messages in as few reads as the platform allows; keyed by message key."""
        ...

    def delete(self, post_id: str) -> None: ...

    def recent_posts(self, *, limit: int = 100, since: datetime | None = None) -> list[Post]:
        """The account's own most recent posts, newest first."""
        ...

    def mentions(
        self, since_id: str | None = None, *, page_size: int = 100, until_id: str | None = None
    ) -> Iterator[Page]:
        """Pages of mentions newer than since_id (and older than until_id), newest first, following every
        next_token lazily: a page is requested when the iterator is advanced, so a caller paced by rate limits
        can stop between pages and resume later with until_id. Page.users holds authors and mentioned users."""
        ...

    def direct_messages(self, since_id: str | None = None) -> list[DirectMessage]:
        """DM events (sent and received) newer than since_id, newest first."""
        ...

    def engagers(self, post_id: str, kind: str, *, limit: int = 100) -> Engagers:
        """Who liked ("like"), reposted ("retweet") or quoted ("quote") `post_id`, newest first, at most `limit`
        of them (following pages as needed), with follower counts when the platform gives them. An unknown or
        deleted post gives an empty Engagers with missing=True."""
        ...

    def engagers_cost(self, kind: str, limit: int) -> int:
        """The most billable reads engagers(..., kind, limit=limit) can spend: at least `limit`, more when
        the platform's smallest page is larger than `limit` or it bills what it includes alongside."""
        ...

    def use_rate_limit_memory(self, memory: RateLimitMemory) -> None:
        """Consult `memory` before every request and tell it every 429's reset."""
        ...

    def rate_limits(self) -> list[RateLimitStatus]:
        """What the platform last said about each endpoint's window."""
        ...

    def close(self) -> None: ...
