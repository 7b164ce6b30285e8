"""Triggers: a campaign schedule (cron, interval or times, in its timezone, inside its window) as an APScheduler 3
trigger. The slot computation (bot.adapters.scheduling.slots) and the job runner (bot.adapters.scheduling.runner)
share these triggers, so what the daemon fires and what `preview`, `schedule` and catch-up compute can never
disagree.

Slot semantics (all fire times are aware UTC datetimes):

* cron: five-field crontab in the campaign's local wall time (CronTrigger, with crontab's weekday
  numbering: bot.settings.cronspec). On a spring-forward day a wall time that does not exist (02:30 in
  New York) fires once, one hour later in wall time (03:30 EDT), as APScheduler computes it. On a
  fall-back day a cron whose hour field is fixed fires once, at the first occurrence of the repeated
  wall time; a cron with hour `*` (e.g. `*/30 * * * *`) keeps firing through both passes of the
  repeated hour (elapsed time).
* interval: with an explicit `start` anchor, slots are start + k*interval in elapsed time
  (IntervalTrigger). Without one, an interval that divides 24h is laid on the local wall-clock grid
  from midnight ("2h" -> 00:00, 02:00, ... every local day, DST-safe, stable across restarts); other
  intervals are anchored at the window start or, failing that, at 2000-01-01 00:00 local time.
* times: each listed time once (naive values are in the campaign's timezone).
* best_times: N slots per local day (from midnight) or week (from Monday 00:00), on whole hours inside `within`,
  chosen per period by a planner (bot.domains.outcomes.schedule: the best-time model over the readings dated
  before the period settled) or, without one, spread evenly over the hours of `within`. A period's slots are
  computed once per trigger and kept: the trigger never changes its mind about a period.
* window: `start`/`end` bound every kind; start is inclusive, end exclusive (as bot.settings.config documents).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.clock import ensure_utc
from bot.core.durations import parse_duration
from bot.core.errors import StoreError
from bot.settings.campaigns import BestTimesSchedule
from bot.settings.config import CronSchedule, IntervalSchedule, TimesSchedule
from bot.settings.cronspec import apscheduler_fields

Schedule = CronSchedule | IntervalSchedule | TimesSchedule | BestTimesSchedule

logger = logging.getLogger(__name__)


class ScheduleError(ValueError):
    """A schedule that cannot be computed (bad cron, interval or timezone); config maps it to ConfigError."""


DAY = timedelta(days=1)
FALLBACK_ANCHOR = datetime(2000, 1, 1)  # local midnight, for intervals that do not divide a day


def parse_interval(text: str) -> timedelta:
    """'90s', '30m', '2h', '1d', '1w' or '1h30m' -> timedelta > 0 (bot.core.durations); ScheduleError else."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ScheduleError(str(exc)) from exc


def zone(name: str | tzinfo | None, default: str = "UTC") -> tzinfo:
    """A tzinfo for an IANA name (or pass a tzinfo through)."""
    if isinstance(name, tzinfo):
        return name
    key = name or default
    if key.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown timezone {key!r}") from exc


def localize(value: datetime, tz: tzinfo) -> datetime:
    """Naive values are wall time in `tz`; aware values are kept. Result is aware UTC."""
    if value.tzinfo is None:
        return wall_to_utc(value, tz)
    return value.astimezone(UTC)


def wall_to_utc(wall: datetime, tz: tzinfo) -> datetime:
    """A naive local wall time -> UTC. Repeated times take the first pass; missing ones move forward."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """A campaign's active window, aware UTC: start inclusive, end exclusive; either may be open."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def of(cls, start: datetime | None, end: datetime | None, tz: tzinfo) -> Window:
        return cls(
            localize(start, tz) if start is not None else None,
            localize(end, tz) if end is not None else None,
        )

    def contains(self, moment: datetime) -> bool:
        moment = ensure_utc(moment)
        if self.start is not None and moment < self.start:
            return False
        return not (self.end is not None and moment >= self.end)


OPEN_WINDOW = Window()


@dataclass(frozen=True)
class PlannedSlot:
    """One slot a best_times period holds (aware UTC) and why it was chosen, in words."""

    at: datetime
    why: str


# (schedule, zone, the period's first local wall midnight) -> that period's slots, in any order
Planner = Callable[[BestTimesSchedule, tzinfo, datetime], Sequence[PlannedSlot]]


@dataclass(frozen=True)
class SlotSpec:
    """Everything needed to compute a campaign's fire times: what the daemon schedules. `planner` chooses the slots
    of a best_times schedule (None: evenly spread inside `within`)."""

    schedule: Schedule
    tz: str | tzinfo = "UTC"
    window: Window = field(default_factory=Window)
    planner: Planner | None = field(default=None, compare=False)

    def trigger(self) -> BaseTrigger:
        return build_trigger(self.schedule, self.tz, self.window, self.planner)

    def planned(self, period_local: datetime) -> list[PlannedSlot]:
        """The slots of the best_times period starting at `period_local` (a local wall midnight), soonest first."""
        assert isinstance(self.schedule, BestTimesSchedule)
        return plan_period(self.schedule, zone(self.tz), period_local, self.planner)

    def scheduled(self, slot: datetime) -> bool:
        """Whether `slot` is one the schedule fires at. The trigger only makes such slots; a best_times period's
        plan is checked again because a slot may come from elsewhere (catch-up, a second daemon)."""
        if not isinstance(self.schedule, BestTimesSchedule):
            return True
        period = period_start(self.schedule, zone(self.tz), slot)
        return any(planned.at == slot for planned in self.planned(period))


def period_start(schedule: BestTimesSchedule, tz: tzinfo, moment: datetime) -> datetime:
    """The local wall midnight (naive) starting the period that holds `moment`: its day, or its week's Monday."""
    local = ensure_utc(moment).astimezone(tz).replace(tzinfo=None)
    day = datetime.combine(local.date(), time())
    return day if schedule.per == "day" else day - timedelta(days=day.weekday())


def period_cells(schedule: BestTimesSchedule, period_local: datetime) -> list[datetime]:
    """Every candidate slot of a period as naive local wall times, in order: each whole hour inside `within`."""
    return [period_local + timedelta(days=d, hours=h) for d in range(schedule.days) for h in schedule.hours]


def even_slots(schedule: BestTimesSchedule, tz: tzinfo, period_local: datetime, why: str) -> list[PlannedSlot]:
    """N slots spread evenly over the period's candidate hours (the middle of N equal parts): the fallback."""
    cells = period_cells(schedule, period_local)
    n = schedule.best_times
    chosen = [cells[min(len(cells) - 1, (2 * k + 1) * len(cells) // (2 * n))] for k in range(n)]
    return [PlannedSlot(wall_to_utc(cell, tz), why) for cell in chosen]


def even_reason(schedule: BestTimesSchedule) -> str:
    return f"spread evenly inside {schedule.within}"


def plan_period(
    schedule: BestTimesSchedule, tz: tzinfo, period_local: datetime, planner: Planner | None
) -> list[PlannedSlot]:
    """A period's slots, soonest first, one per instant (two wall times a DST jump maps onto one instant: once)."""
    if planner is not None:
        found = planner(schedule, tz, period_local)
    else:
        found = even_slots(schedule, tz, period_local, even_reason(schedule))
    unique: dict[datetime, PlannedSlot] = {}
    for slot in sorted(found, key=lambda s: s.at):
        unique.setdefault(ensure_utc(slot.at).replace(microsecond=0), slot)
    return [PlannedSlot(at, slot.why) for at, slot in unique.items()]


def demo_schedule(seconds: float) -> IntervalSchedule:
    """The demo's sped-up schedule: fire every `seconds` (wall grid from local midnight)."""
    if seconds <= 0:
        raise ValueError("demo schedule needs a positive number of seconds")
    text = f"{int(seconds)}s" if float(seconds).is_integer() else f"{seconds}s"
    return IntervalSchedule(interval=text)


class _WindowTrigger(BaseTrigger):
    """Bounds any trigger by a [start, end) window."""

    def __init__(self, inner: BaseTrigger, window: Window) -> None:
        self.inner = inner
        self.window = window

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        if previous_fire_time is None and self.window.start is not None:
            now = max(ensure_utc(now), self.window.start)
        nxt = self.inner.get_next_fire_time(previous_fire_time, now)
        if nxt is None or (self.window.end is not None and ensure_utc(nxt) >= self.window.end):
            return None
        return nxt

    def __str__(self) -> str:
        return f"{self.inner} within {self.window.start}..{self.window.end}"


class _DstCronTrigger(CronTrigger):
    """CronTrigger that fires a fixed-hour slot once in an autumn repeated hour."""

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        nxt = super().get_next_fire_time(previous_fire_time, now)
        for _ in range(120):  # a repeated hour holds at most 60 crontab slots; usually one
            if nxt is None or not self._second_pass(nxt):
                return nxt
            nxt = super().get_next_fire_time(nxt, nxt)
        return nxt

    def _second_pass(self, moment: datetime) -> bool:
        hour_field = next(f for f in self.fields if f.name == "hour")
        if str(hour_field) == "*":
            return False  # wildcard hours run through both passes, like cron
        local = moment.astimezone(self.timezone)
        wall = local.replace(tzinfo=None)
        first = wall.replace(tzinfo=self.timezone, fold=0)
        second = wall.replace(tzinfo=self.timezone, fold=1)
        if first.utcoffset() == second.utcoffset():
            return False
        return local.utcoffset() == second.utcoffset() and local.utcoffset() != first.utcoffset()


class _WallGridTrigger(BaseTrigger):
    """Every `step` (dividing 24h) on the local wall-clock grid starting at each local midnight."""

    def __init__(self, step: timedelta, tz: tzinfo) -> None:
        self.step = step
        self.tz = tz

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        after = ensure_utc(previous_fire_time) if previous_fire_time is not None else None
        start = ensure_utc(now) if after is None else after
        wall = start.astimezone(self.tz).replace(tzinfo=None)
        day = datetime.combine(wall.date(), time())
        unit = timedelta(microseconds=1)
        index = -(-((wall - day) // unit) // (self.step // unit))  # ceil: first grid point >= wall
        for _ in range(1_000_000):  # bounded; a DST repeated hour costs at most 1h/step extra steps
            offset = index * self.step
            if offset >= DAY:
                day, index = day + DAY, 0
                continue
            moment = wall_to_utc(day + offset, self.tz)
            if moment > start if after is not None else moment >= start:
                # a wall time skipped by spring-forward maps onto a later instant: it fires once
                return moment
            index += 1
        return None  # pragma: no cover

    def __str__(self) -> str:
        return f"every {self.step} on the {self.tz} wall grid"


class _TimesTrigger(BaseTrigger):
    """Each listed time once."""

    def __init__(self, times: Sequence[datetime]) -> None:
        self.times = sorted({ensure_utc(t) for t in times})

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        if previous_fire_time is not None:
            idx = bisect.bisect_right(self.times, ensure_utc(previous_fire_time))
        else:
            idx = bisect.bisect_left(self.times, ensure_utc(now))
        return self.times[idx] if idx < len(self.times) else None

    def __str__(self) -> str:
        return f"times[{len(self.times)}]"


class _PeriodTrigger(BaseTrigger):
    """The slots of a best_times schedule, period after period, each period planned once and kept."""

    SCAN = 800  # periods looked at for the next slot before giving up (over two years of days)

    def __init__(self, schedule: BestTimesSchedule, tz: tzinfo, planner: Planner | None) -> None:
        self.schedule = schedule
        self.tz = tz
        self.planner = planner
        self._plans: dict[datetime, list[datetime]] = {}

    def slots(self, period_local: datetime) -> list[datetime]:
        if period_local not in self._plans:
            try:
                planned = plan_period(self.schedule, self.tz, period_local, self.planner)
            except StoreError as exc:  # not kept: the slot's own check (CampaignService.fire) waits for the database
                logger.warning("best times for %s could not be read (%s); spreading evenly for now", period_local, exc)
                return [s.at for s in plan_period(self.schedule, self.tz, period_local, None)]
            self._plans[period_local] = [s.at for s in planned]
        return self._plans[period_local]

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        after = ensure_utc(previous_fire_time if previous_fire_time is not None else now)
        period = period_start(self.schedule, self.tz, after)
        step = timedelta(days=self.schedule.days)
        for _ in range(self.SCAN):
            for moment in self.slots(period):
                if moment > after or (previous_fire_time is None and moment == after):
                    return moment
            period += step
        return None

    def __str__(self) -> str:
        return f"best {self.schedule.best_times} per {self.schedule.per} within {self.schedule.within} ({self.tz})"


def build_trigger(
    schedule: Schedule, tz: str | tzinfo | None, window: Window = OPEN_WINDOW, planner: Planner | None = None
) -> BaseTrigger:
    """The APScheduler trigger for a campaign schedule, in its timezone, bounded by its window."""
    tzi = zone(tz)
    inner: BaseTrigger
    if isinstance(schedule, CronSchedule):
        try:
            inner = _DstCronTrigger(**apscheduler_fields(schedule.cron), timezone=tzi)
        except ValueError as exc:
            raise ScheduleError(f"bad cron expression {schedule.cron!r}: {exc}") from exc
    elif isinstance(schedule, IntervalSchedule):
        step = parse_interval(schedule.interval)
        if schedule.start is not None:
            inner = IntervalTrigger(seconds=step.total_seconds(), start_date=localize(schedule.start, tzi))
        elif step <= DAY and (DAY % step) == timedelta(0):
            inner = _WallGridTrigger(step, tzi)
        else:
            anchor = window.start or wall_to_utc(FALLBACK_ANCHOR, tzi)
            inner = IntervalTrigger(seconds=step.total_seconds(), start_date=anchor)
    elif isinstance(schedule, TimesSchedule):
        inner = _TimesTrigger([localize(t, tzi) for t in schedule.times])
    elif isinstance(schedule, BestTimesSchedule):
        inner = _PeriodTrigger(schedule, tzi, planner)
    else:  # pragma: no cover - the config model forbids it
        raise ScheduleError(f"unknown schedule {schedule!r}")
    return _WindowTrigger(inner, window)


def validate_schedule(schedule: Schedule, tz: str | None) -> str | None:
    """None when the schedule and timezone are usable, else a one-line reason (for `check`)."""
    try:
        build_trigger(schedule, tz, OPEN_WINDOW)
    except ScheduleError as exc:
        return str(exc)
    return None
