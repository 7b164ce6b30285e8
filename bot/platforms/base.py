"""The Platform protocol every social network adapter implements."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.errors import BotError, RateLimited
from bot.models import DirectMessage, Engagers, OutgoingMessage, Page, Post, RateLimitStatus, User

logger = logging.getLogger(__name__)


class RateLimitMemory(Protocol):
    """Where an adapter keeps the resets its 429s announced, so a restarted process or another daemon on the
    same account makes no request to that endpoint before them (bot.daemon backs it with the store)."""

    def blocked_until(self, endpoint: str) -> datetime | None: ...

    def block(self, endpoint: str, reset_at: datetime) -> None: ...


class RateLimitBlocks:
    """What an adapter was told by 429s: this process's resets plus the shared RateLimitMemory, if any. Refuses
    (raises RateLimited) a request to an endpoint before its reset, without sending anything."""

    def __init__(self, platform: str, now: Callable[[], datetime]) -> None:
        self.platform = platform
        self._now = now
        self._blocked: dict[str, datetime] = {}  # endpoint -> the reset a 429 announced
        self.memory: RateLimitMemory | None = None

    def check(self, endpoint: str) -> None:
        blocked = self._blocked.get(endpoint)
        if self.memory is not None:
            try:
                shared = self.memory.blocked_until(endpoint)
            except BotError as exc:
                logger.warning(
                    "%s %s: cannot read the stored rate limits (%s); using this process's", self.platform, endpoint, exc
                )
                shared = None
            if shared is not None and (blocked is None or shared > blocked):
                blocked = shared
        if blocked is not None and self._now() < blocked:  # the platform said when: nothing before then
            raise RateLimited(self.platform, f"{endpoint} rate limited (waiting for its reset)", blocked, endpoint)
        self._blocked.pop(endpoint, None)

    def block(self, endpoint: str, retry_at: datetime) -> None:
        self._blocked[endpoint] = retry_at
        if self.memory is not None:
            try:
                self.memory.block(endpoint, retry_at)
            except BotError as exc:
                logger.warning(
                    "%s %s: cannot store the rate limit until %s (%s)", self.platform, endpoint, retry_at, exc
                )


@runtime_checkable
class Platform(Protocol):
    """A social network account. Every method raises only bot.errors.PlatformError subclasses."""

    name: str
    max_length: int
    dm_max_length: int

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
