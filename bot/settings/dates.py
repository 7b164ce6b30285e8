"""Why a date or a date and time written in config.yaml does not exist, in plain words.

YAML reads `2026-11-01` and `2026-11-01 10:00:00` as dates; a value of that shape that names no real day or time
(`2026-02-30`, month 13, hour 25) is a config problem, reported with its file, line and key like any other. The
same words serve values the YAML reader left as text (`"2026-02-30"`, `2026-13-01 10:00`) when a date field reads
them.
"""

from __future__ import annotations

import calendar
import logging
import re
from datetime import date, timedelta, timezone

logger = logging.getLogger(__name__)

_DATE_LIKE = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"(?:(?:[Tt]|[ \t]+)(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d*)?)?"
    r"(?:[ \t]*(?P<zone>[Zz]|[-+]\d{1,2}(?::?\d{2})?))?)?"
)


def date_problem(text: str) -> str | None:
    """The reason `text`, written like a date (YYYY-MM-DD, optionally with a time and UTC offset), names no real
    day or time; None when it does, or when it does not look like a date at all."""
    text = text.strip()
    match = _DATE_LIKE.fullmatch(text)
    if match is None:
        return None
    year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
    if not 1 <= year <= 9999:
        return f"{text} is not a date (years go from 0001 to 9999)"
    if not 1 <= month <= 12:
        return f"{text} is not a date (there is no month {month}; months go from 1 to 12)"
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        month_name = date(year, month, 1).strftime("%B")
        return f"{text} is not a date ({month_name} {year} has {days} days)"
    if match["hour"] is None:
        return None
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"] or 0)
    for value, unit, top in ((hour, "hours", 23), (minute, "minutes", 59), (second, "seconds", 59)):
        if value > top:
            return f"{text} is not a time of day ({unit} go from 00 to {top})"
    zone = match["zone"]
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
        try:
            timezone(sign * timedelta(hours=hours, minutes=minutes))
        except ValueError:
            return f"{text} has no such UTC offset ({zone}: offsets go from -23:59 to +23:59)"
        if minutes > 59:
            return f"{text} has no such UTC offset ({zone}: minutes go from 00 to 59)"
    return None


def check_date_text(value: object) -> None:
    """Raise ValueError with the plain reason when `value` is text written like a date that does not exist."""
    if isinstance(value, str) and (problem := date_problem(value)) is not None:
        raise ValueError(problem)
