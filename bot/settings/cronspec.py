"""Five-field crontab expressions, checked by APScheduler 3's own CronTrigger.

apscheduler is imported by bot/adapters/scheduling (the jobs) and here (validating what the team wrote). Two things
need translating: the macros (@daily ...), and the day of week: crontab counts 0 = Sunday .. 6 = Saturday (7 is
Sunday too) where APScheduler 3 counts 0 = Monday, so that field is spelled out as names ("1-5" ->
"mon,tue,wed,thu,fri"). Restricting both the day of month and the day of week is refused: cron ORs them,
APScheduler ANDs them, and neither is what a campaign usually means.
"""

from __future__ import annotations

import re

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

# CronTrigger's keyword per crontab position: (keyword, what the team calls it, what it takes)
_FIELDS = (
    ("minute", "minute", "0-59"),
    ("hour", "hour", "0-23"),
    ("day", "day of month", "1-31"),
    ("month", "month", "1-12 or jan-dec"),
    ("day_of_week", "day of week", "0-7, 0 and 7 = Sunday, or sun-sat"),
)
_DAY_ITEM = re.compile(r"^(?P<first>\*|[0-9a-z]+)(?:-(?P<last>[0-9a-z]+))?(?:/(?P<step>[0-9]+))?$")


class CronSyntaxError(ValueError):
    """The expression is not a valid five-field crontab."""


def _invalid(position: int, value: str, reason: str) -> CronSyntaxError:
    _keyword, label, takes = _FIELDS[position]
    return CronSyntaxError(f"{label}: {value!r} is not valid ({takes}): {reason}")


def normalise(expr: str) -> str:
    text = " ".join(expr.split())
    return MACROS.get(text.lower(), text)


def _day(token: str, field: str) -> int:
    """A day of week as cron numbers it (0-7; names 0-6)."""
    if token.isdigit():
        if int(token) > 7:
            raise _invalid(4, field, f"{int(token)} is out of range 0-7")
        return int(token)
    if token in WEEKDAYS:
        return WEEKDAYS.index(token)
    raise _invalid(4, field, f"{token!r} is not a number or one of {', '.join(WEEKDAYS)}")


def weekdays(field: str) -> str:
    """A crontab day-of-week field as APScheduler 3 reads it: '*' (every day) or the days as names."""
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.lower().split(","):
        match = _DAY_ITEM.match(item)
        if match is None:
            raise _invalid(4, field, f"cannot read {item!r}")
        first, last, step = match.group("first", "last", "step")
        if step is not None and int(step) < 1:
            raise _invalid(4, field, "the step must be at least 1")
        low = 0 if first == "*" else _day(first, field)
        high = _day(last, field) if last is not None else 7 if first == "*" or step is not None else low
        if low > high:
            raise _invalid(4, field, f"the range {item} runs backwards")
        days.update(day % 7 for day in range(low, high + 1, int(step or 1)))
    return "*" if len(days) == 7 else ",".join(WEEKDAYS[day] for day in sorted(days))


def _five(expr: str) -> list[str]:
    fields = normalise(expr).split()
    if len(fields) != 5:
        raise CronSyntaxError(f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}")
    return fields


def _one_day_field(fields: list[str]) -> None:
    if fields[2] != "*" and fields[4] != "*":
        raise CronSyntaxError(
            "restrict either day-of-month or day-of-week, not both "
            "(cron would OR them, which is rarely what a campaign means)"
        )


def apscheduler_fields(expr: str) -> dict[str, str]:
    """Keyword arguments for ``apscheduler.triggers.cron.CronTrigger`` with standard cron meaning."""
    fields = _five(expr)
    _one_day_field(fields)
    kwargs = {keyword: value.lower() for (keyword, _label, _takes), value in zip(_FIELDS, fields, strict=True)}
    kwargs["day_of_week"] = weekdays(fields[4])
    return kwargs


def validate_cron(expr: str) -> str:
    """The normalised expression, once APScheduler's CronTrigger accepts its translated fields; else
    CronSyntaxError naming the first bad field (in crontab order) and quoting its value."""
    from apscheduler.triggers.cron import CronTrigger

    fields = _five(expr)
    kwargs: dict[str, str] = {}
    for position, (keyword, _label, _takes) in enumerate(_FIELDS):
        kwargs[keyword] = weekdays(fields[4]) if keyword == "day_of_week" else fields[position].lower()
        try:
            CronTrigger(**kwargs, timezone="UTC")  # field by field, so that the first bad one is named
        except ValueError as exc:
            reason = str(exc)
            if reason.startswith("Error validating expression"):
                reason = reason.partition(": ")[2] or reason  # the value is quoted already
            raise _invalid(position, fields[position], reason) from exc
    _one_day_field(fields)
    return " ".join(fields)
