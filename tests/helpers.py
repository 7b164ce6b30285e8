"""Small things several test modules share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import DeliveryConfig


class StepClock:
    """A clock the test moves by hand; call it for the time (the Outbox/Store clock seam)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def delivery(**overrides: Any) -> DeliveryConfig:
    """Delivery settings for tests: no per-account limits unless asked."""
    values: dict[str, Any] = {"per_account_per_day": None, "min_spacing_seconds": 0, "max_attempts": 4}
    return DeliveryConfig(**{**values, **overrides})
