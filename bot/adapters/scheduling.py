"""Schedules and the job runner: the only module that imports APScheduler (3.x).

Two halves share one set of triggers, so what the daemon fires and what `preview`, `schedule` and
catch-up compute can never disagree:

* pure slot computation: `build_trigger`, `slots_between`, `next_slots`, `previous_slot`;
* `Scheduler`, a small job API over APScheduler's BackgroundScheduler (memory job store) whose slot
  jobs receive their *scheduled* fire time (aware UTC), not "now".

Slot semantics (all fire times are aware UTC datetimes):

* cron: five-field crontab in the campaign's local wall time (CronTrigger.from_crontab). On a
  spring-forward day a wall time that does not exist (02:30 in New York) fires once, one hour later
  in wall time (03:30 EDT), as APScheduler computes it. On a fall-back day a cron whose hour field is
  fixed fires once, at the first occurrence of the repeated wall time; a cron with hour `*`
  (e.g. `*/30 * * * *`) keeps firing through both passes of the repeated hour (elapsed time).
* interval: with an explicit `start` anchor, slots are start + k*interval in elapsed time
  (IntervalTrigger). Without one, an interval that divides 24h is laid on the local wall-clock grid
  from midnight ("2h" -> 00:00, 02:00, ... every local day, DST-safe, stable across restarts); other
  intervals are anchored at the window start or, failing that, at 2000-01-01 00:00 local time.
* times: each listed time once (naive values are in the campaign's timezone).
* window: `start`/`end` bound every kind; start is inclusive, end exclusive (as bot.settings.config documents).
"""

from __future__ import annotations

import bisect
import concurrent.futures
import logging
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.clock import Clock, SystemClock, ensure_utc
from bot.core.errors import BotError
from bot.settings.config import CronSchedule, IntervalSchedule, TimesSchedule
from bot.settings.cronspec import apscheduler_fields

logger = logging.getLogger(__name__)

Schedule = CronSchedule | IntervalSchedule | TimesSchedule


class ScheduleError(ValueError):
    """A schedule that cannot be computed (bad cron, interval or timezone); config maps it to ConfigError."""


DAY = timedelta(days=1)
_FALLBACK_ANCHOR = datetime(2000, 1, 1)  # local midnight, for intervals that do not divide a day
_INTERVAL_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# --------------------------------------------------------------------------------------------------
# small helpers


def parse_interval(text: str) -> timedelta:
    """'90s', '30m', '2h', '1d', '1w' (or a bare number of seconds) -> timedelta > 0."""
    try:
        from bot.settings.config import parse_interval as config_parse_interval  # the config's own, when present
    except ImportError:
        config_parse_interval = None
    if config_parse_interval is not None:
        try:
            return config_parse_interval(text)
        except (ValueError, BotError) as exc:
            raise ScheduleError(str(exc)) from exc
    match = _INTERVAL_RE.match(text)
    if not match:
        raise ScheduleError(f"bad interval {text!r}: use a number with s, m, h, d or w (e.g. '30m')")
    value = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if value <= 0:
        raise ScheduleError(f"bad interval {text!r}: must be greater than zero")
    return timedelta(seconds=value)


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
        return _wall_to_utc(value, tz)
    return value.astimezone(UTC)


def _wall_to_utc(wall: datetime, tz: tzinfo) -> datetime:
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
class SlotSpec:
    """Everything needed to compute a campaign's fire times: what the daemon schedules."""

    schedule: Schedule
    tz: str | tzinfo = "UTC"
    window: Window = field(default_factory=Window)

    def trigger(self) -> BaseTrigger:
        return build_trigger(self.schedule, self.tz, self.window)


def demo_schedule(seconds: float) -> IntervalSchedule:
    """The demo's sped-up schedule: fire every `seconds` (wall grid from local midnight)."""
    if seconds <= 0:
        raise ValueError("demo schedule needs a positive number of seconds")
    text = f"{int(seconds)}s" if float(seconds).is_integer() else f"{seconds}s"
    return IntervalSchedule(interval=text)


# --------------------------------------------------------------------------------------------------
# triggers


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
            moment = _wall_to_utc(day + offset, self.tz)
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


def build_trigger(schedule: Schedule, tz: str | tzinfo | None, window: Window = OPEN_WINDOW) -> BaseTrigger:
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
            anchor = window.start or _wall_to_utc(_FALLBACK_ANCHOR, tzi)
            inner = IntervalTrigger(seconds=step.total_seconds(), start_date=anchor)
    elif isinstance(schedule, TimesSchedule):
        inner = _TimesTrigger([localize(t, tzi) for t in schedule.times])
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


# --------------------------------------------------------------------------------------------------
# pure slot computation


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


def slots_between(
    schedule: Schedule | BaseTrigger,
    tz: str | tzinfo | None,
    window: Window,
    start: datetime,
    end: datetime,
) -> Iterator[datetime]:
    """Every fire time in [start, end), as aware UTC datetimes, in order."""
    trigger = schedule if isinstance(schedule, BaseTrigger) else build_trigger(schedule, tz, window)
    end_utc = ensure_utc(end)
    for moment in _iter_trigger(trigger, start):
        if moment >= end_utc:
            return
        yield moment


def next_slots(
    schedule: Schedule | BaseTrigger,
    tz: str | tzinfo | None,
    window: Window,
    after: datetime,
    n: int,
) -> list[datetime]:
    """The first `n` fire times at or after `after` (aware UTC)."""
    trigger = schedule if isinstance(schedule, BaseTrigger) else build_trigger(schedule, tz, window)
    out: list[datetime] = []
    if n <= 0:
        return out
    for moment in _iter_trigger(trigger, after):
        out.append(moment)
        if len(out) >= n:
            break
    return out


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
    2000-01-01 local); cron -> slots since the window start when that is within ~a year, else
    week number * slots that week + index within the local week (Monday 00:00).
    """
    slot = ensure_utc(slot_at)
    tzi = zone(spec.tz)
    schedule = spec.schedule
    if isinstance(schedule, TimesSchedule):
        times = sorted({localize(t, tzi) for t in schedule.times})
        return bisect.bisect_left(times, slot)
    if isinstance(schedule, IntervalSchedule):
        step = parse_interval(schedule.interval)
        if schedule.start is not None:
            return max(0, (slot - localize(schedule.start, tzi)) // step)
        if step <= DAY and (DAY % step) == timedelta(0):
            wall = slot.astimezone(tzi).replace(tzinfo=None)
            return max(0, (wall - _FALLBACK_ANCHOR) // step)
        anchor = spec.window.start or _wall_to_utc(_FALLBACK_ANCHOR, tzi)
        return max(0, (slot - anchor) // step)
    trigger = spec.trigger()
    start = spec.window.start
    if start is not None and slot - start <= timedelta(days=400):
        count = _count(trigger, start, slot)
        if count is not None:
            return count
    local = slot.astimezone(tzi)
    monday = datetime.combine(local.date() - timedelta(days=local.weekday()), time())
    week_start = _wall_to_utc(monday, tzi)
    week_end = _wall_to_utc(monday + timedelta(days=7), tzi)
    week_index = (monday - _FALLBACK_ANCHOR).days // 7
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


# --------------------------------------------------------------------------------------------------
# the job runner


SlotFunc = Callable[[datetime], object]


@dataclass(frozen=True)
class Job:
    """A job for `Scheduler.replace_all`: `func(slot_at)` on `spec`'s slots, or `func()` every N seconds."""

    job_id: str
    func: Callable[..., object]
    spec: SlotSpec | float  # float: plain interval in seconds, func takes no argument
    name: str | None = None
    start_at: datetime | None = None  # slot jobs: first slot considered (catch-up "now"); interval jobs: first run


class _Invoker:
    """What APScheduler stores as the job function; the executor calls it with the run time."""

    def __init__(self, func: Callable[..., object], passes_slot: bool) -> None:
        self.func = func
        self.passes_slot = passes_slot

    def __call__(self, run_time: datetime | None = None) -> object:
        # the default only satisfies APScheduler's signature check; _run_job always passes it
        if self.passes_slot:
            if run_time is None:
                raise TypeError("a slot job needs its scheduled run time")
            return self.func(ensure_utc(run_time))
        return self.func()


class _SlotExecutor(BaseExecutor):
    """A thread-pool executor that hands each job its scheduled run time (APScheduler 3 doesn't)."""

    def __init__(self, max_workers: int = 4) -> None:
        super().__init__()
        self._max_workers = max_workers
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._max_workers, thread_name_prefix="socialbot-job"
        )

    def shutdown(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        assert self._pool is not None
        alias = getattr(job, "_jobstore_alias", "default")

        def done(future: concurrent.futures.Future[list[JobExecutionEvent]]) -> None:
            exc = future.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        future = self._pool.submit(_run_job, job, alias, run_times)
        future.add_done_callback(done)


def _run_job(job: Any, jobstore_alias: str, run_times: list[datetime]) -> list[JobExecutionEvent]:
    """Like apscheduler's run_job, but passes each scheduled run time to the job function."""
    events: list[JobExecutionEvent] = []
    for run_time in run_times:
        logger.debug("running job %s for slot %s", job.id, run_time.isoformat())
        try:
            retval = job.func(run_time, *job.args, **job.kwargs)
        except BaseException:
            exc, tb = sys.exc_info()[1:]
            formatted = "".join(traceback.format_tb(tb))
            events.append(
                JobExecutionEvent(EVENT_JOB_ERROR, job.id, jobstore_alias, run_time, exception=exc, traceback=formatted)
            )
            logger.exception("job %s failed for slot %s", job.id, run_time.isoformat())
            del tb
        else:
            events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, jobstore_alias, run_time, retval=retval))
    return events


class Scheduler:
    """Jobs rebuilt from config; the database, not APScheduler, decides what was missed.

    Slot jobs run for every due fire time, late or not (misfire_grace_time=None, coalesce=False):
    the job body compares the slot with the clock and records it as missed when it is too old.
    One instance per job at a time (max_instances=1).
    """

    def __init__(self, clock: Clock | None = None, *, max_workers: int = 4) -> None:
        self.clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._specs: dict[str, SlotSpec | float] = {}
        self._managed: set[str] = set()  # ids owned by replace_all; other jobs are left alone
        self._aps = BackgroundScheduler(
            executors={"default": _SlotExecutor(max_workers=max_workers)},
            job_defaults={"coalesce": False, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    # -- jobs ---------------------------------------------------------------------------------------

    def add_job(
        self,
        job_id: str,
        func: SlotFunc,
        spec: SlotSpec | Schedule | BaseTrigger,
        *,
        tz: str | None = None,
        window: Window = OPEN_WINDOW,
        name: str | None = None,
        start_at: datetime | None = None,
    ) -> None:
        """`func(slot_at)` at every slot of `spec` (a SlotSpec, a config schedule, or a raw trigger).

        `start_at`: the first slot to run is the first one at or after it (past ones run at once);
        default: the first slot after now.
        """
        if isinstance(spec, SlotSpec):
            trigger = spec.trigger()
            stored: SlotSpec | float = spec
        elif isinstance(spec, BaseTrigger):
            trigger = spec
            stored = -1.0  # never equal to another spec: always replaced
        else:
            stored = SlotSpec(spec, tz or "UTC", window)
            trigger = stored.trigger()
        extra: dict[str, Any] = {}
        if start_at is not None:
            extra["next_run_time"] = trigger.get_next_fire_time(None, ensure_utc(start_at))
        with self._lock:
            self._aps.add_job(
                _Invoker(func, passes_slot=True),
                trigger=trigger,
                id=job_id,
                name=name or job_id,
                replace_existing=True,
                **extra,
            )
            self._specs[job_id] = stored
        logger.info("scheduled job %s (%s)", job_id, trigger)

    def add_interval_job(
        self,
        job_id: str,
        func: Callable[[], object],
        seconds: float,
        *,
        name: str | None = None,
        first_run_at: datetime | None = None,
    ) -> None:
        """`func()` every `seconds`, first at `first_run_at` (default: one interval from now); late runs are
        coalesced."""
        extra: dict[str, Any] = {} if first_run_at is None else {"next_run_time": first_run_at}
        with self._lock:
            self._aps.add_job(
                _Invoker(func, passes_slot=False),
                trigger=IntervalTrigger(seconds=seconds, timezone=UTC),
                id=job_id,
                name=name or job_id,
                replace_existing=True,
                coalesce=True,
                **extra,
            )
            self._specs[job_id] = float(seconds)
        logger.info("scheduled job %s every %ss", job_id, seconds)

    def remove_job(self, job_id: str) -> None:
        with self._lock:
            if self._aps.get_job(job_id) is not None:
                self._aps.remove_job(job_id)
            self._specs.pop(job_id, None)
            self._managed.discard(job_id)

    def replace_all(self, jobs: Iterable[Job]) -> None:
        """Make the jobs managed here exactly `jobs` (config reload); jobs added with add_job /
        add_interval_job outside replace_all are left alone. Unchanged schedules keep their next run."""
        wanted = {job.job_id: job for job in jobs}
        with self._lock:
            for job_id in sorted(self._managed):
                if job_id not in wanted:
                    self.remove_job(job_id)
                    logger.info("removed job %s", job_id)
            for job in wanted.values():
                current = self._specs.get(job.job_id)
                aps_job = self._aps.get_job(job.job_id)
                passes_slot = isinstance(job.spec, SlotSpec)
                if current == job.spec and aps_job is not None:
                    aps_job.modify(func=_Invoker(job.func, passes_slot=passes_slot), name=job.name or job.job_id)
                elif isinstance(job.spec, SlotSpec):
                    self.add_job(job.job_id, job.func, job.spec, name=job.name, start_at=job.start_at)
                else:
                    self.add_interval_job(job.job_id, job.func, job.spec, name=job.name, first_run_at=job.start_at)
            self._managed = set(wanted)

    def job_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._specs)

    def next_run_time(self, job_id: str) -> datetime | None:
        job = self._aps.get_job(job_id)
        if job is None or job.next_run_time is None:
            return None
        return ensure_utc(job.next_run_time)

    # -- life cycle ---------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return bool(self._aps.running)

    def start(self) -> None:
        self._aps.start()
        logger.info("scheduler started with %d job(s)", len(self._specs))

    def shutdown(self, wait: bool = True) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=wait)
            logger.info("scheduler stopped")
