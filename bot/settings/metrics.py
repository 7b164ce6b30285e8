"""The `metrics:` section of config.yaml: reading how every delivered post and reply did, at fixed ages.

    metrics:
      enabled: true
      ages: ["1h", "24h", "7d"]   # read each post this long after it went out
      every: 10m                  # how often the daemon looks for posts due a reading

Reads are paid (X bills every post read) and come out of graph.engagement.daily_read_budget, the account's one
daily read budget. A post not read within the grace window after an age (a quarter of the age, at least twice
`every`) is not read late for that age: its reading at that age is skipped.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import field_validator

from bot.core.durations import duration_value, parse_duration
from bot.settings.base import ConfigModel

DEFAULT_AGES = ("1h", "24h", "7d")
MAX_AGES = 10


class MetricsConfig(ConfigModel):
    """When the bot reads the metrics of what it posted (see the module docstring)."""

    enabled: bool = True
    ages: tuple[str, ...] = DEFAULT_AGES  # as written ("1h", "24h", "7d"): the label each reading is stored under
    every: timedelta = timedelta(minutes=10)

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: Any) -> Any:
        return duration_value(value, "a duration")

    @field_validator("ages", mode="before")
    @classmethod
    def _ages(cls, value: Any) -> Any:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ValueError(f'ages must be a list of durations such as ["1h", "24h", "7d"], not {value!r}')
        if not value:
            raise ValueError('ages must name at least one age, e.g. ["1h", "24h", "7d"] (or set enabled: false)')
        if len(value) > MAX_AGES:
            raise ValueError(f"ages may name at most {MAX_AGES} ages, not {len(value)}")
        labels: list[str] = []
        seen: dict[timedelta, str] = {}
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f'each age must be a duration in quotes such as "24h", not {item!r}')
            label = item.strip().lower()
            duration = parse_duration(label)
            if duration in seen:
                raise ValueError(f"ages {seen[duration]!r} and {item!r} are the same age")
            seen[duration] = item
            labels.append(label)
        return tuple(sorted(labels, key=parse_duration))

    def durations(self) -> list[tuple[str, timedelta]]:
        """(label, age), youngest first."""
        return [(label, parse_duration(label)) for label in self.ages]

    def grace(self, age: timedelta) -> timedelta:
        """How late a reading at `age` may still be taken: a quarter of the age, at least twice `every`."""
        return max(age / 4, 2 * self.every)
