"""The shop's orders attributed to the campaign posts, kept for the variant bandit (`learn_on: revenue | auto`).

The orders CSV (segments.orders_csv) is read and attributed (attribution.attribute over the store's slots and
outbox) once, then again when the file changes or REFRESH has passed (posts sent since may now own orders). Bad
rows are logged once per version of the file, with the first one's line, and left out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot.adapters.orders import Order, read_orders_csv
from bot.core.clock import Clock, ensure_utc
from bot.core.errors import Problem
from bot.core.models import platform_name
from bot.domains.outcomes.attribution import Attribution, Money, attribute, store_posts, utm_campaigns

if TYPE_CHECKING:
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

REFRESH = timedelta(minutes=10)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _Version:
    mtime_ns: int
    size: int


class AttributedOrders:
    """The orders of `path` attributed to the posts of `store` (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        store: object,
        networks: Mapping[str, str],
        campaigns: Collection[str] | Mapping[str, Sequence[str]],
        clock: Clock,
        *,
        reader: Callable[[Path], tuple[list[Order], list[Problem]]] = read_orders_csv,
    ) -> None:
        self.path = path
        self._lookup = store_posts(store, networks)  # type: ignore[arg-type]
        self._campaigns = dict(campaigns) if isinstance(campaigns, Mapping) else list(campaigns)
        self._clock = clock
        self._reader = reader
        self._version: _Version | None = None
        self._read_at: datetime | None = None
        self._result = Attribution()
        self._warned: _Version | None = None

    @classmethod
    def for_settings(cls, settings: Settings, store: object, clock: Clock) -> AttributedOrders | None:
        """Over segments.orders_csv (relative to config.yaml's folder); None when the shop gives no orders."""
        path = settings.orders_csv_path
        if path is None:
            return None
        networks = {name: platform_name(account.platform) for name, account in settings.accounts.items()}
        campaigns = utm_campaigns({name: c.utm for name, c in settings.campaigns.items()})
        return cls(path, store, networks, campaigns, clock)

    def _stat(self) -> _Version | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return _Version(stat.st_mtime_ns, stat.st_size)

    def current(self) -> Attribution:
        """The attribution, read again when the file changed or REFRESH passed; empty while there is no file."""
        now = self._clock.now()
        version = self._stat()
        if version is None:
            if self._version is not None:
                logger.warning("orders file %s is gone; revenue learning waits for it", self.path)
            self._version, self._result = None, Attribution()
            return self._result
        fresh = self._read_at is not None and now - self._read_at < REFRESH
        if version == self._version and fresh:
            return self._result
        orders, problems = self._reader(self.path)
        if problems and self._warned != version:
            self._warned = version
            logger.warning(
                "orders file %s: %d bad row(s) left out, the first: %s", self.path, len(problems), problems[0]
            )
        self._result = attribute(orders, self._lookup, self._campaigns)
        self._version, self._read_at = version, now
        logger.debug(
            "orders file %s: %d order(s), %d attributed to posts", self.path, self._result.total, self._result.to_posts
        )
        return self._result

    def per_post(self, campaign: str, until: datetime) -> dict[str, Money]:
        """outbox key -> the orders and revenue `campaign`'s posts brought before `until`."""
        return self.current().only(EPOCH, ensure_utc(until), campaign).per_post()
