"""Pure slot computation over the triggers: the fire times in a range, the next ones, the previous one, and a
stable sequence number per slot (which variant a slot renders)."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from datetime import datetime, time, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger

from bot.adapters.scheduling.triggers import (
    DAY,
    FALLBACK_ANCHOR,
    Schedule,
    SlotSpec,
    Window,
    build_trigger,
    localize,
    parse_interval,
    period_start,
    wall_to_utc,
    zone,
)
from bot.core.clock import ensure_utc
from bot.settings.campaigns import BestTimesSchedule
from bot.settings.config import IntervalSchedule, TimesSchedule


def _iter_trigger(trigger: BaseTrigger, start: datetime) -> Iterator[datetime]:
    prev: datetime | None = None
    now = ensure_utc(start)
    while True:
        nxt = trigger.get_next_fire_time(prev, now if prev is None else prev)
        if nxt is None:
            return
        nxt_utc = ensure_utc(nxt)
        if prev is not None and nxt_utc <= ensure_utc(prev):  # defensive: never loop on one instant
            prev = nxt_utc
            continue
        yield nxt_utc
        prev = nxt


def _trigger(schedule: Schedule | BaseTrigger, tz: str | tzinfo | None, window: Window) -> BaseTrigger:
    return schedule if isinstance(schedule, BaseTrigger) else build_trigger(schedule, tz, window)


def slots_between(
    schedule: Schedule | BaseTrigger,
    tz: str | tzinfo | None,
    window: Window,
    start: datetime,
    end: datetime,
) -> Iterator[datetime]:
    """Every fire time in [start, end), as aware UTC datetimes, in order."""
    end_utc = ensure_utc(end)
    return itertools.takewhile(lambda moment: moment < end_utc, _iter_trigger(_trigger(schedule, tz, window), start))


def next_slots(
    schedule: Schedule | BaseTrigger,
    tz: str | tzinfo | None,
    window: Window,
    after: datetime,
    n: int,
) -> list[datetime]:
    """The first `n` fire times at or after `after` (aware UTC)."""
    return list(itertools.islice(_iter_trigger(_trigger(schedule, tz, window), after), max(n, 0)))


def previous_slot(
    schedule: Schedule | BaseTrigger,
    tz: str | tzinfo | None,
    window: Window,
    at: datetime,
    lookback: timedelta = timedelta(days=7),
) -> datetime | None:
    """The latest fire time <= `at` within `lookback`, or None."""
    last: datetime | None = None
    for moment in slots_between(schedule, tz, window, ensure_utc(at) - lookback, ensure_utc(at) + _EPS):
        last = moment
    return last


_EPS = timedelta(microseconds=1)
_SEQUENCE_SCAN_LIMIT = 5000


def slot_sequence(spec: SlotSpec, slot_at: datetime) -> int:
    """A stable ordinal for a slot, derived from the schedule alone (same answer after any restart).

    Consecutive slots get consecutive numbers for times lists, intervals and most crons, so
    `sequence % variants` rotates round-robin:
    times -> index in the sorted list; interval -> steps since its anchor (wall grid: since
    2000-01-01 local); best_times -> periods since 2000-01-01 local * N + index within its period;
    cron -> slots since the window start when that is within ~a year, else
    week number * slots that week + index within the local week (Monday 00:00).
    """
    slot = ensure_utc(slot_at)
    tzi = zone(spec.tz)
    schedule = spec.schedule
    if isinstance(schedule, BestTimesSchedule):
        period = period_start(schedule, tzi, slot)
        planned = [s.at for s in spec.planned(period)]
        index = (period - FALLBACK_ANCHOR).days // schedule.days
        return max(0, index * schedule.best_times + bisect.bisect_left(planned, slot.replace(microsecond=0)))
    if isinstance(schedule, TimesSchedule):
        times = sorted({localize(t, tzi) for t in schedule.times})
        return bisect.bisect_left(times, slot)
    if isinstance(schedule, IntervalSchedule):
        step = parse_interval(schedule.interval)
        if schedule.start is not None:
            return max(0, (slot - localize(schedule.start, tzi)) // step)
        if step <= DAY and (DAY % step) == timedelta(0):
            wall = slot.astimezone(tzi).replace(tzinfo=None)
            return max(0, (wall - FALLBACK_ANCHOR) // step)
        anchor = spec.window.start or wall_to_utc(FALLBACK_ANCHOR, tzi)
        return max(0, (slot - anchor) // step)
    trigger = spec.trigger()
    start = spec.window.start
    if start is not None and slot - start <= timedelta(days=400):
        count = _count(trigger, start, slot)
        if count is not None:
            return count
    local = slot.astimezone(tzi)
    monday = datetime.combine(local.date() - timedelta(days=local.weekday()), time())
    week_start = wall_to_utc(monday, tzi)
    week_end = wall_to_utc(monday + timedelta(days=7), tzi)
    week_index = (monday - FALLBACK_ANCHOR).days // 7
    in_week = _count(trigger, week_start, slot)
    per_week = _count(trigger, week_start, week_end)
    if in_week is None or per_week is None:
        return int(slot.timestamp() // 60)
    return week_index * max(per_week, 1) + in_week


def _count(trigger: BaseTrigger, start: datetime, end: datetime) -> int | None:
    """Number of fire times in [start, end), or None when there are too many to count cheaply."""
    count = 0
    for moment in _iter_trigger(trigger, start):
        if moment >= end:
            return count
        count += 1
        if count > _SEQUENCE_SCAN_LIMIT:
            return None
    return count
