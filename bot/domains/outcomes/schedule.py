"""Best times as a schedule: the slots of a `schedule: {best_times: N, per: day|week, within: ...}` campaign.

Each period (a local day from midnight, or a week from Monday 00:00) gets its N slots from the best-time model
(best_time.py) of the campaign's accounts, built from the readings and the audience activity dated before the
period's *cutoff*: its start minus the longest reading age (metrics.ages, 7 days by default) minus one period. By
the time the period before it starts, every reading of a post before the cutoff has been taken, so the period's
slots no longer change: computed then (the daemon plans the next period during the current one), at the slot, by
a second daemon or by `socialbot schedule`, they are the same. The outbox keys (campaign:<name>:<slot>) and the
missed-slot policy work as for any other schedule. (A reading taken later than its age, after the daemon was down
for days, could still move a later period's slots: the slots already recorded stay as they were.)

Choosing: the candidate hours of the period (each whole hour inside `within`) ranked by the model's estimate (the
campaign's accounts averaged), best first, ties to the earlier hour; a week takes at most ceil(N / 7) slots a day
before any day takes more, so three slots a week are not all on Tuesday. Without any reading or activity before the
cutoff the slots are spread evenly inside `within`, and the reason says so.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

import numpy as np

from bot.adapters.scheduling import PlannedSlot, even_reason, even_slots, period_cells, wall_to_utc
from bot.domains.outcomes.best_time import DEFAULT_WEEKS, PRIOR_POSTS, BestTimeModel, build_model
from bot.domains.outcomes.rates import plural, posts_from_columns, times
from bot.domains.outcomes.reading import OutcomeReader
from bot.settings.campaigns import BestTimesSchedule

logger = logging.getLogger(__name__)

LONGEST_AGE = timedelta(days=7)  # metrics.ages' default longest


@dataclass
class BestTimesPlanner:
    """The bot.adapters.scheduling Planner of one campaign: (schedule, zone, period's local midnight) -> its slots.
    Models are kept per cutoff; `outcomes` None (no database) spreads the slots evenly and says so."""

    outcomes: OutcomeReader | None
    accounts: tuple[str, ...]
    longest_age: timedelta = LONGEST_AGE
    weeks: float = DEFAULT_WEEKS
    _models: dict[tuple[datetime, str], BestTimeModel] = field(default_factory=dict, repr=False)

    def cutoff(self, schedule: BestTimesSchedule, tz: tzinfo, period_local: datetime) -> datetime:
        """The period's data cutoff (aware UTC): readings and activity dated before it decide its slots."""
        return wall_to_utc(period_local, tz) - self.longest_age - timedelta(days=schedule.days)

    def settled(self, schedule: BestTimesSchedule, tz: tzinfo, period_local: datetime, now: datetime) -> bool:
        """Whether the period's slots are final at `now`: from the start of the period before it."""
        return now >= wall_to_utc(period_local - timedelta(days=schedule.days), tz)

    def models(self, tz: tzinfo, cutoff: datetime) -> list[BestTimeModel]:
        assert self.outcomes is not None
        since = cutoff - timedelta(weeks=self.weeks)
        found = []
        for account in self.accounts:
            key = (cutoff, account)
            if key not in self._models:
                columns = self.outcomes.readings(account=account, since=since, until=cutoff, detail=False)
                activity = self.outcomes.activity(account, since=since, until=cutoff)
                model = build_model(account, posts_from_columns(columns), activity, tz, weeks=self.weeks)
                self._models[key] = model
            found.append(self._models[key])
        return found

    def __call__(self, schedule: BestTimesSchedule, tz: tzinfo, period_local: datetime) -> list[PlannedSlot]:
        if self.outcomes is None:
            return even_slots(schedule, tz, period_local, f"{even_reason(schedule)}: no database to learn from")
        cutoff = self.cutoff(schedule, tz, period_local)
        models = self.models(tz, cutoff)
        if not any(m.n_posts or m.has_activity for m in models):
            when = cutoff.astimezone(tz).strftime("%Y-%m-%d")
            why = f"{even_reason(schedule)}: no post readings or audience activity before {when} yet"
            return even_slots(schedule, tz, period_local, why)
        return choose(schedule, tz, period_local, models)


def choose(
    schedule: BestTimesSchedule, tz: tzinfo, period_local: datetime, models: Sequence[BestTimeModel]
) -> list[PlannedSlot]:
    """The period's N best candidate hours by the models' mean estimate (see the module docstring)."""
    estimate = np.mean([m.estimate for m in models], axis=0)
    posts = np.sum([m.posts for m in models], axis=0)
    total = np.sum([np.where(m.posts > 0, np.nan_to_num(m.observed) * m.posts, 0.0) for m in models], axis=0)
    activity = np.sum([m.activity for m in models], axis=0)
    cells = period_cells(schedule, period_local)
    scores = np.array([round(float(estimate[c.weekday(), c.hour]), 9) for c in cells])
    order = np.lexsort((np.arange(len(cells)), -scores)).tolist()
    cap = math.ceil(schedule.best_times / 7) if schedule.per == "week" else schedule.best_times
    per_day: dict[int, int] = {}
    picked: list[int] = []
    for limit in (cap, schedule.best_times):
        for i in order:
            if len(picked) >= schedule.best_times:
                break
            day = cells[i].toordinal()
            if i in picked or per_day.get(day, 0) >= limit:
                continue
            picked.append(i)
            per_day[day] = per_day.get(day, 0) + 1
    found = []
    for i in sorted(picked):
        cell = cells[i]
        w, h = cell.weekday(), cell.hour
        found.append(PlannedSlot(wall_to_utc(cell, tz), _why(int(posts[w, h]), float(total[w, h]), activity, w, h)))
    return found


def _why(n: int, total: float, activity: np.ndarray, weekday: int, hour: int) -> str:
    """Why a slot was chosen, in words: what the posts at that weekday and hour did, or when the audience is active."""
    if n >= PRIOR_POSTS:
        return f"{times(math.exp(total / n))} your usual engagement over {plural(n, 'post')}"
    so_far = f" ({plural(n, 'post')} there so far)" if n else " (no posts there yet)"
    if activity.sum() > 0:
        ratio = float(activity[weekday, hour]) / float(activity.mean())
        if ratio >= 1.25:
            return f"mostly when your audience is active: {times(ratio)} its usual activity{so_far}"
        return f"mostly when your audience is active: about as busy as usual{so_far}"
    return f"a usual hour: too few posts to tell the hours apart yet{so_far}"
