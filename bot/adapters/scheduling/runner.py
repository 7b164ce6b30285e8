"""`Scheduler`, a small job API over APScheduler 3's BackgroundScheduler (memory job store) whose slot jobs receive
their *scheduled* fire time (aware UTC), not "now"."""

from __future__ import annotations

import concurrent.futures
import logging
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.adapters.scheduling.triggers import OPEN_WINDOW, Schedule, SlotSpec, Window
from bot.core.clock import Clock, SystemClock, ensure_utc

logger = logging.getLogger(__name__)

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
    """A thread-pool executor that hands each job its scheduled run time (APScheduler 3 doesn't). A slot that
    falls due while the same campaign's previous slot still runs waits for it instead of being skipped (APScheduler
    skips a job at max_instances, and a skipped slot would be lost until the next start's catch-up); interval jobs
    are still skipped then (their next run does the same work)."""

    def __init__(self, max_workers: int = 4) -> None:
        super().__init__()
        self._max_workers = max_workers
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._waiting: dict[str, tuple[Any, list[datetime]]] = {}  # job id -> (job, slots due while it ran)

    def submit_job(self, job: Any, run_times: list[datetime]) -> None:
        assert self._lock is not None, "the executor has not been started"
        with self._lock:
            if self._instances[job.id] >= job.max_instances and getattr(job.func, "passes_slot", False):
                self._waiting.setdefault(job.id, (job, []))[1].extend(run_times)
                slots = ", ".join(r.isoformat() for r in run_times)
                logger.info("job %s: slot %s waits for the one still running", job.id, slots)
                return
        super().submit_job(job, run_times)

    def _next_waiting(self, job_id: str) -> None:
        with self._lock:
            waiting = self._waiting.pop(job_id, None)
        if waiting is None:
            return
        try:
            self.submit_job(*waiting)
        except RuntimeError:  # shutting down: the next start's catch-up decides about these slots
            logger.info("job %s: %d waiting slot(s) left to the next start", job_id, len(waiting[1]))

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
            self._next_waiting(job.id)

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
