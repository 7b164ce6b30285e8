"""The rate-limit blocks every daemon sees: an account's bucket may not be called before its reset. Bucket names
are the platform's (bot.core.models.RateLimitBuckets); the store knows none of them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from bot.adapters.store.base import Repository, utc_or_none
from bot.adapters.store.rows import block_endpoint
from bot.adapters.store.tables import rate_limit_t
from bot.core.clock import ensure_utc


class RateLimitRepository(Repository):
    """rate_limit rows (store.rate_limits)."""

    def blocked_until(self, account: str, endpoint: str) -> datetime | None:
        """The stored reset of `account`'s bucket `endpoint` (it may lie in the past), or None."""
        r = rate_limit_t
        with self._tx("rate_limited_until") as conn:
            value = conn.execute(
                sa.select(r.c.reset_at).where(r.c.account == account, r.c.endpoint == endpoint)
            ).scalar()
        return utc_or_none(value)

    def block(self, account: str, endpoint: str, until: datetime) -> None:
        """Record that `endpoint` of `account` may not be called before `until` (seen by every daemon)."""
        with self._tx("recording a rate limit") as conn:
            block_endpoint(self.db, conn, account, endpoint, ensure_utc(until))
