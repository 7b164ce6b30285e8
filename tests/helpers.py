"""Small things several test modules share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.settings.config import DeliveryConfig


def delivery(**overrides: Any) -> DeliveryConfig:
    """Delivery settings for tests: no per-account limits unless asked."""
    values: dict[str, Any] = {"per_account_per_day": None, "min_spacing_seconds": 0, "max_attempts": 4}
    return DeliveryConfig(**{**values, **overrides})


def wait_for(
    condition: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition", interval: float = 0.05
) -> Any:
    """Poll `condition` until it returns something truthy (returned); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(interval)
