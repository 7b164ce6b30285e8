"""Five-field crontab expressions: syntax and range checks, and a safe translation for APScheduler 3.x.

Standard cron counts weekdays 0=Sunday..6=Saturday (7 is Sunday too); APScheduler 3.x's
``CronTrigger.from_crontab`` treats 0 as *Monday*. `apscheduler_fields` therefore spells the weekday
field out as names, so "0 10 * * 1-5" really means Monday to Friday.
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron numbering: 0 = Sunday

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# (name, low, high, names) per field position
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, WEEKDAYS),
)

_ITEM = re.compile(r"^(?P<range>\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(?P<step>[0-9]+))?$")


class CronSyntaxError(ValueError):
    """The expression is not a valid five-field crontab."""


def _value(token: str, field: tuple[str, int, int, tuple[str, ...]]) -> int:
    name, low, high, names = field
    if token.isdigit():
        number = int(token)
    elif names and token in names:
        number = names.index(token) + (1 if names is MONTHS else 0)
    else:
        choices = f" or one of {', '.join(names)}" if names else ""
        raise CronSyntaxError(f"{name}: {token!r} is not a number{choices}")
    if not low <= number <= high:
        raise CronSyntaxError(f"{name}: {number} is out of range {low}-{high}")
    return number


def _expand(text: str, field: tuple[str, int, int, tuple[str, ...]]) -> set[int]:
    name, low, high, _names = field
    values: set[int] = set()
    if not text:
        raise CronSyntaxError(f"{name}: empty field")
    for item in text.lower().split(","):
        match = _ITEM.match(item)
        if match is None:
            raise CronSyntaxError(f"{name}: cannot read {item!r}")
        part, step_text = match.group("range"), match.group("step")
        step = 1 if step_text is None else int(step_text)
        if step < 1:
            raise CronSyntaxError(f"{name}: step must be at least 1")
        if part == "*":
            first, last = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            first, last = _value(a, field), _value(b, field)
            if first > last:
                raise CronSyntaxError(f"{name}: range {part} runs backwards")
        else:
            first = _value(part, field)
            last = high if step_text is not None else first
        values.update(range(first, last + 1, step))
    return values


def normalise(expr: str) -> str:
    text = " ".join(expr.split())
    return MACROS.get(text.lower(), text)


def parse_cron(expr: str) -> list[set[int]]:
    """Expand every field into its set of values; raise CronSyntaxError with a precise message."""
    fields = normalise(expr).split()
    if len(fields) != 5:
        raise CronSyntaxError(f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}")
    expanded = [_expand(text, spec) for text, spec in zip(fields, _FIELDS, strict=True)]
    if 7 in expanded[4]:
        expanded[4].discard(7)
        expanded[4].add(0)
    if fields[2] != "*" and fields[4] != "*":
        raise CronSyntaxError(
            "restrict either day-of-month or day-of-week, not both "
            "(cron would OR them, which is rarely what a campaign means)"
        )
    return expanded


def validate_cron(expr: str) -> str:
    """Return the normalised expression or raise CronSyntaxError."""
    parse_cron(expr)
    return normalise(expr)


def apscheduler_fields(expr: str) -> dict[str, str]:
    """Keyword arguments for ``apscheduler.triggers.cron.CronTrigger`` with standard cron meaning."""
    fields = normalise(expr).split()
    expanded = parse_cron(expr)
    weekdays = expanded[4]
    every_day = fields[4] == "*" or len(weekdays) == 7
    day_of_week = "*" if every_day else ",".join(WEEKDAYS[d] for d in sorted(weekdays))
    return {
        "minute": fields[0],
        "hour": fields[1],
        "day": fields[2],
        "month": fields[3].lower(),
        "day_of_week": day_of_week,
    }
