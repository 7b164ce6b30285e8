"""Schedules and the job runner: with bot.settings.cronspec (which validates what the team wrote), the only
APScheduler (3.x) user.

triggers: a campaign schedule as a trigger (cron, interval, times, best_times; timezone, window, DST); slots: the
pure slot computation `preview`, `schedule` and catch-up use; runner: `Scheduler`, whose slot jobs receive
their scheduled time. One set of triggers serves both, so what the daemon fires and what the commands compute never
disagree."""

from __future__ import annotations

from bot.adapters.scheduling.runner import Job, Scheduler, SlotFunc
from bot.adapters.scheduling.slots import next_slots, previous_slot, slot_sequence, slots_between
from bot.adapters.scheduling.triggers import (
    OPEN_WINDOW,
    PlannedSlot,
    Planner,
    Schedule,
    ScheduleError,
    SlotSpec,
    Window,
    build_trigger,
    demo_schedule,
    even_reason,
    even_slots,
    localize,
    parse_interval,
    period_cells,
    period_start,
    plan_period,
    validate_schedule,
    wall_to_utc,
    zone,
)

__all__ = [
    "OPEN_WINDOW",
    "Job",
    "PlannedSlot",
    "Planner",
    "Schedule",
    "ScheduleError",
    "Scheduler",
    "SlotFunc",
    "SlotSpec",
    "Window",
    "build_trigger",
    "demo_schedule",
    "even_reason",
    "even_slots",
    "localize",
    "next_slots",
    "parse_interval",
    "period_cells",
    "period_start",
    "plan_period",
    "previous_slot",
    "slot_sequence",
    "slots_between",
    "validate_schedule",
    "wall_to_utc",
    "zone",
]
