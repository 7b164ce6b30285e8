"""The `delivery:` section: how the outbox paces, retries and leases what it sends."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.settings.base import ConfigModel


class DeliveryConfig(ConfigModel):
    per_account_per_day: Annotated[int, Field(ge=0)] | None = 50  # None/0: no limit (posts only)
    min_spacing_seconds: Annotated[float, Field(ge=0)] = 60  # between two posts of one account; 0: off
    max_attempts: Annotated[int, Field(ge=1)] = 8  # then dead-lettered
    backoff_base_seconds: Annotated[float, Field(gt=0)] = 5
    backoff_max_seconds: Annotated[float, Field(gt=0)] = 900
    lease_seconds: Annotated[float, Field(gt=0)] = 60
    grace_minutes: Annotated[float, Field(ge=0)] = 15  # a slot missed while down is sent late only within this
    poll_seconds: Annotated[float, Field(gt=0)] = 2  # how often the daemon looks for due outbox rows
