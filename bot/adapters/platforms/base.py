"""What every platform adapter shares: the 429 resets it was told (kept here and in the RateLimitMemory), the
rate-limit headers it reads, and the engagement kinds it knows."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from bot.core.clock import Clock
from bot.core.errors import BotError, RateLimited, Rejected
from bot.core.models import ENGAGEMENT_KINDS, RateLimitStatus
from bot.core.ports import RateLimitMemory

logger = logging.getLogger(__name__)


class RateLimitBlocks:
    """What an adapter was told by 429s: this process's resets plus the shared RateLimitMemory, if any. Refuses
    (raises RateLimited) a request to an endpoint before its reset, without sending anything."""

    def __init__(self, platform: str, clock: Clock) -> None:
        self.platform = platform
        self._clock = clock
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
        if blocked is not None and self._clock.now() < blocked:  # the platform said when: nothing before then
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


def limit_status(endpoint: str, headers: Mapping[str, str], prefix: str) -> RateLimitStatus | None:
    """What an answer's `<prefix>limit`, `<prefix>remaining` and `<prefix>reset` (epoch seconds) headers say."""
    reset = headers.get(f"{prefix}reset")
    if reset is None:
        return None
    try:
        return RateLimitStatus(
            endpoint=endpoint,
            limit=int(headers.get(f"{prefix}limit", "0")),
            remaining=int(headers.get(f"{prefix}remaining", "0")),
            reset_at=datetime.fromtimestamp(int(reset), UTC),
        )
    except ValueError:
        return None


def retry_at(platform: str, reset: int, now: datetime, window: timedelta) -> datetime:
    """When a 429's window resets: the epoch second it announced, never in the past; a whole window without one."""
    if not reset:
        logger.warning("%s answered 429 without a reset time; waiting %s", platform, window)
        return now + window
    return max(datetime.fromtimestamp(reset, UTC), now + timedelta(seconds=1))


def check_engagement_kind(platform: str, kind: str, known: Mapping[str, object]) -> None:
    if kind not in known:
        raise Rejected(platform, f"unknown engagement kind {kind!r} (known: {', '.join(ENGAGEMENT_KINDS)})")
