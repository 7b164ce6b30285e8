"""What every platform adapter shares: the 429 resets it was told, kept here and in the RateLimitMemory."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.core.errors import BotError, RateLimited
from bot.core.ports import RateLimitMemory

logger = logging.getLogger(__name__)


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
