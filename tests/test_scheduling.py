"""Slot computation (cron / interval / times, windows, timezones, DST) and the real APScheduler runner."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.scheduling import (
    Job,
    ScheduleError,
    Scheduler,
    SlotSpec,
    Window,
    build_trigger,
    demo_schedule,
    next_slots,
    previous_slot,
    slot_sequence,
    slots_between,
    validate_schedule,
)
from bot.core.clock import ManualClock, SystemClock
from bot.settings.config import CronSchedule, IntervalSchedule, TimesSchedule

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
OPEN = Window()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(tz: ZoneInfo, moments: list[datetime]) -> list[str]:
    return [m.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") for m in moments]


# ------------------------------------------------------------------------------------------ cron


def test_cron_weekdays_use_crontab_numbering_in_the_campaign_timezone() -> None:
    # 2026-11-02 is a Monday; "1-5" is Monday..Friday as in crontab (APScheduler alone would shift it)
    slots = list(
        slots_between(CronSchedule(cron="0 10 * * 1-5"), "Europe/Berlin", OPEN, utc(2026, 11, 1), utc(2026, 11, 9))
    )
    assert local(BERLIN, slots) == [f"2026-11-0{d} 10:00 CET" for d in range(2, 7)]
    assert all(s.tzinfo == UTC for s in slots)
    assert slots[0] == utc(2026, 11, 2, 9)


def test_cron_spring_forward_fires_once() -> None:
    # 2026-03-08 02:30 does not exist in New York: the slot happens once, an hour later in wall time
    slots = list(slots_between(CronSchedule(cron="30 2 * * *"), NY, OPEN, utc(2026, 3, 7), utc(2026, 3, 10)))
    assert local(NY, slots) == ["2026-03-07 02:30 EST", "2026-03-08 03:30 EDT", "2026-03-09 02:30 EDT"]


def test_cron_fall_back_repeated_hour_fires_once() -> None:
    slots = list(slots_between(CronSchedule(cron="30 1 * * *"), NY, OPEN, utc(2026, 10, 31), utc(2026, 11, 3)))
    assert local(NY, slots) == ["2026-10-31 01:30 EDT", "2026-11-01 01:30 EDT", "2026-11-02 01:30 EST"]


def test_cron_with_many_slots_in_the_repeated_hour_fires_each_once() -> None:
    slots = list(slots_between(CronSchedule(cron="*/15 1 * * *"), NY, OPEN, utc(2026, 11, 1), utc(2026, 11, 2, 12)))
    assert local(NY, slots) == [f"2026-11-01 01:{m:02d} EDT" for m in (0, 15, 30, 45)] + [
        f"2026-11-02 01:{m:02d} EST" for m in (0, 15, 30, 45)
    ]


def test_cron_fall_back_in_berlin_fires_once() -> None:
    slots = list(slots_between(CronSchedule(cron="30 2 * * *"), BERLIN, OPEN, utc(2026, 10, 24), utc(2026, 10, 27)))
    assert local(BERLIN, slots) == ["2026-10-24 02:30 CEST", "2026-10-25 02:30 CEST", "2026-10-26 02:30 CET"]


def test_cron_with_wildcard_hour_runs_through_both_passes() -> None:
    slots = list(slots_between(CronSchedule(cron="0 * * * *"), NY, OPEN, utc(2026, 11, 1, 4), utc(2026, 11, 1, 8)))
    assert slots == [utc(2026, 11, 1, 4), utc(2026, 11, 1, 5), utc(2026, 11, 1, 6), utc(2026, 11, 1, 7)]


# -------------------------------------------------------------------------------------- interval


def test_interval_without_anchor_is_a_local_wall_grid_and_dst_safe() -> None:
    schedule = IntervalSchedule(interval="1h")
    spring = list(slots_between(schedule, NY, OPEN, utc(2026, 3, 8, 5), utc(2026, 3, 8, 9)))
    assert local(NY, spring) == [
        "2026-03-08 00:00 EST",
        "2026-03-08 01:00 EST",
        "2026-03-08 03:00 EDT",
        "2026-03-08 04:00 EDT",
    ]
    autumn = list(slots_between(schedule, NY, OPEN, utc(2026, 11, 1, 4), utc(2026, 11, 1, 9)))
    assert local(NY, autumn) == [
        "2026-11-01 00:00 EDT",
        "2026-11-01 01:00 EDT",
        "2026-11-01 02:00 EST",
        "2026-11-01 03:00 EST",
    ]
    grid = next_slots(IntervalSchedule(interval="2h"), "Asia/Shanghai", OPEN, utc(2026, 5, 1, 0, 30), 3)
    assert local(ZoneInfo("Asia/Shanghai"), grid) == [
        "2026-05-01 10:00 CST",
        "2026-05-01 12:00 CST",
        "2026-05-01 14:00 CST",
    ]


def test_interval_with_anchor_counts_elapsed_time() -> None:
    schedule = IntervalSchedule(interval="90m", start=datetime(2026, 1, 1, 9, 15))
    assert next_slots(schedule, "UTC", OPEN, utc(2026, 1, 1), 3) == [
        utc(2026, 1, 1, 9, 15),
        utc(2026, 1, 1, 10, 45),
        utc(2026, 1, 1, 12, 15),
    ]


def test_interval_that_does_not_divide_a_day_is_anchored_at_the_window_start() -> None:
    window = Window.of(datetime(2026, 1, 1, 8), None, UTC)
    assert next_slots(IntervalSchedule(interval="7h"), "UTC", window, utc(2025, 12, 1), 2) == [
        utc(2026, 1, 1, 8),
        utc(2026, 1, 1, 15),
    ]


def test_demo_schedule_fires_every_n_seconds() -> None:
    assert next_slots(demo_schedule(5), "UTC", OPEN, utc(2026, 1, 1, 0, 0, 3), 2) == [
        utc(2026, 1, 1, 0, 0, 5),
        utc(2026, 1, 1, 0, 0, 10),
    ]


# ----------------------------------------------------------------------------------------- times


def test_times_are_local_sorted_and_each_fires_once() -> None:
    schedule = TimesSchedule(
        times=[
            datetime(2026, 11, 11, 20),  # Shanghai wall time = 12:00 UTC
            datetime(2026, 11, 11, 0),
            datetime(2026, 11, 11, 12, tzinfo=UTC),  # the same instant as the first: fires once
        ]
    )
    slots = list(slots_between(schedule, "Asia/Shanghai", OPEN, utc(2026, 1, 1), utc(2027, 1, 1)))
    assert slots == [utc(2026, 11, 10, 16), utc(2026, 11, 11, 12)]
    assert next_slots(schedule, "Asia/Shanghai", OPEN, utc(2026, 11, 11, 12), 5) == [utc(2026, 11, 11, 12)]


# ---------------------------------------------------------------------------------------- window


def test_window_bounds_every_kind_start_inclusive_end_exclusive() -> None:
    window = Window.of(datetime(2026, 11, 10, 10), datetime(2026, 11, 12, 10), ZoneInfo("Asia/Shanghai"))
    daily = list(
        slots_between(CronSchedule(cron="0 10 * * *"), "Asia/Shanghai", window, utc(2026, 11, 1), utc(2026, 12, 1))
    )
    assert local(ZoneInfo("Asia/Shanghai"), daily) == ["2026-11-10 10:00 CST", "2026-11-11 10:00 CST"]
    times = TimesSchedule(times=[datetime(2026, 11, 9), datetime(2026, 11, 11), datetime(2026, 11, 13)])
    assert list(slots_between(times, "Asia/Shanghai", window, utc(2026, 1, 1), utc(2027, 1, 1))) == [
        utc(2026, 11, 10, 16)
    ]
    assert window.contains(utc(2026, 11, 10, 2)) and not window.contains(utc(2026, 11, 12, 2))


def test_previous_slot_and_sequence_are_stable() -> None:
    spec = SlotSpec(CronSchedule(cron="0 10 * * *"), "UTC")
    assert previous_slot(spec.schedule, "UTC", OPEN, utc(2026, 1, 5, 9, 59)) == utc(2026, 1, 4, 10)
    assert previous_slot(spec.schedule, "UTC", OPEN, utc(2026, 1, 5, 10)) == utc(2026, 1, 5, 10)
    days = next_slots(spec.schedule, "UTC", OPEN, utc(2026, 1, 1), 10)
    sequences = [slot_sequence(spec, d) for d in days]
    assert sequences == list(range(sequences[0], sequences[0] + 10))  # consecutive: variants rotate
    assert [slot_sequence(spec, d) for d in days] == sequences  # same answer every time
    grid = SlotSpec(IntervalSchedule(interval="30m"), NY)
    grid_slots = next_slots(grid.schedule, NY, OPEN, utc(2026, 11, 1), 5)
    seqs = [slot_sequence(grid, s) for s in grid_slots]
    assert seqs == list(range(seqs[0], seqs[0] + 5))
    times = SlotSpec(TimesSchedule(times=[datetime(2026, 1, 2), datetime(2026, 1, 1)]), "UTC")
    assert [slot_sequence(times, utc(2026, 1, 1)), slot_sequence(times, utc(2026, 1, 2))] == [0, 1]


def test_bad_schedules_are_reported() -> None:
    assert validate_schedule(IntervalSchedule(interval="5m"), "Mars/Olympus") is not None
    assert validate_schedule(CronSchedule(cron="0 10 * * 1-5"), "Europe/Berlin") is None
    with pytest.raises(ScheduleError):
        build_trigger(CronSchedule(cron="0 10 * * *"), "No/Such_Zone")


# ------------------------------------------------------------------------------------ the runner


def test_scheduler_fires_a_real_interval_job() -> None:
    ran = threading.Event()
    scheduler = Scheduler(clock=SystemClock())
    scheduler.add_interval_job("tick", ran.set, 1)
    scheduler.start()
    try:
        assert ran.wait(timeout=15)
    finally:
        scheduler.shutdown(wait=True)
    assert not scheduler.running


def test_slot_job_receives_its_scheduled_fire_time() -> None:
    received: list[datetime] = []
    got_two = threading.Event()

    def job(slot_at: datetime) -> None:
        received.append(slot_at)
        if len(received) >= 2:
            got_two.set()

    scheduler = Scheduler(clock=SystemClock())
    scheduler.add_job("campaign:test", job, SlotSpec(demo_schedule(1), "UTC"))
    scheduler.start()
    try:
        assert got_two.wait(timeout=15)
    finally:
        scheduler.shutdown(wait=True)
    for slot in received:
        assert slot.tzinfo == UTC
        assert slot.microsecond == 0  # the grid time itself, not "now" when the job happened to run
    assert received[1] - received[0] >= timedelta(seconds=1)
    assert received == sorted(set(received))


def test_slot_job_started_in_the_past_runs_each_missed_slot_with_its_own_time() -> None:
    received: list[datetime] = []
    done = threading.Event()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=3)
    spec = SlotSpec(TimesSchedule(times=[start, start + timedelta(seconds=1)]), "UTC")

    def job(slot_at: datetime) -> None:
        received.append(slot_at)
        if len(received) == 2:
            done.set()

    scheduler = Scheduler()
    scheduler.replace_all([Job("campaign:past", job, spec, start_at=start)])
    scheduler.start()
    try:
        assert done.wait(timeout=15)
    finally:
        scheduler.shutdown(wait=True)
    assert received == [start, start + timedelta(seconds=1)]


def test_replace_all_manages_only_its_own_jobs() -> None:
    scheduler = Scheduler(clock=ManualClock(utc(2026, 1, 1)))
    scheduler.add_interval_job("watch", lambda: None, 60)
    hourly = SlotSpec(CronSchedule(cron="0 * * * *"), "UTC")
    scheduler.replace_all([Job("campaign:a", lambda _s: None, hourly), Job("campaign:b", lambda _s: None, hourly)])
    assert scheduler.job_ids() == ["campaign:a", "campaign:b", "watch"]
    scheduler.start()
    try:
        before = scheduler.next_run_time("campaign:a")
        scheduler.replace_all([Job("campaign:a", lambda _s: None, hourly)])
        assert scheduler.job_ids() == ["campaign:a", "watch"]
        assert scheduler.next_run_time("campaign:a") == before  # unchanged schedule keeps its next run
        scheduler.replace_all([])
        assert scheduler.job_ids() == ["watch"]
    finally:
        scheduler.shutdown(wait=False)


def test_a_slot_due_while_the_previous_one_still_runs_waits_instead_of_being_skipped() -> None:
    received: list[datetime] = []
    release = threading.Event()
    done = threading.Event()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    slots = [start, start + timedelta(seconds=1), start + timedelta(seconds=2)]

    def job(slot_at: datetime) -> None:
        received.append(slot_at)
        if len(received) == 1:
            release.wait(timeout=15)  # the first slot runs until the other two are due
        if len(received) == len(slots):
            done.set()

    scheduler = Scheduler()
    scheduler.replace_all([Job("campaign:slow", job, SlotSpec(TimesSchedule(times=slots), "UTC"), start_at=start)])
    scheduler.start()
    try:
        deadline = slots[-1] + timedelta(seconds=0.5)
        while datetime.now(UTC) < deadline:  # APScheduler submits the later slots while the first still runs
            threading.Event().wait(0.05)
        release.set()
        assert done.wait(timeout=15), received
    finally:
        scheduler.shutdown(wait=True)
    assert received == slots
