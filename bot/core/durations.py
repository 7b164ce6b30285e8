"""Durations as the team writes them in config.yaml: '90s', '30m', '2h', '1d', '1w' or '1h30m'."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

_PART = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>w|d|h|m|s)", re.I)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """'90s', '30m', '2h', '1d', '1w' or combinations like '1h30m' -> timedelta (must be > 0); ValueError else."""
    compact = str(text).strip().replace(" ", "").lower()
    if not compact:
        raise ValueError("interval is empty")
    position, seconds, seen = 0, 0.0, set()
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        unit = match.group("unit")
        if unit in seen:
            raise ValueError(f"interval {text!r} repeats the unit {unit!r}")
        seen.add(unit)
        seconds += float(match.group("n")) * _UNIT_SECONDS[unit]
        position = match.end()
    if position != len(compact):
        raise ValueError(f"cannot read interval {text!r}; use e.g. '90s', '30m', '2h', '1d' or '1h30m'")
    if seconds <= 0:
        raise ValueError(f"interval {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def duration_value(value: Any, name: str) -> Any:
    """A config value meant as a duration, for a pydantic `mode="before"` validator: a timedelta or a number of
    seconds as given, ISO 8601 text (what model_dump(mode="json") writes) left to pydantic, else parse_duration."""
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a duration such as '30d', '6h' or '90m', not {value!r}")
    if value.strip().upper().startswith("P"):
        return value
    return parse_duration(value)
