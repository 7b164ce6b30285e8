"""Small things several test modules share."""

from __future__ import annotations

from typing import Any

from bot.config import DeliveryConfig


def delivery(**overrides: Any) -> DeliveryConfig:
    """Delivery settings for tests: no per-account limits unless asked."""
    values: dict[str, Any] = {"per_account_per_day": None, "min_spacing_seconds": 0, "max_attempts": 4}
    return DeliveryConfig(**{**values, **overrides})
