"""Small things several test modules share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.settings.config import DeliveryConfig, Settings


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


def mention_service(settings: Settings, store: Any, platforms: dict[str, Any], clock: Any, **kwargs: Any) -> Any:
    """The real MentionService of `settings` (classifier, templates), its escalation webhook off."""
    from bot.adapters.escalation import Escalator
    from bot.adapters.templating import TemplateRenderer
    from bot.domains.conversations.intent import Classifier
    from bot.domains.conversations.mentions import MentionService

    kwargs.setdefault("escalator", Escalator(settings.replies.escalation, url=""))
    return MentionService(
        settings, store, platforms, Classifier(settings.replies), TemplateRenderer(settings), clock, **kwargs
    )
