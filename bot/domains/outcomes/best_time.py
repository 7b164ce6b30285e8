"""The best time to post: per account, a weekday x hour model in the shop's time zone.

Each post of the window (default the last 16 weeks) counts with its log lift (rates.py: against the account's
own median post, clipped so one viral post weighs like a post that did 5x). A cell's estimate is its posts'
mean log lift shrunk toward a prior from the audience's activity at that weekday and hour (when its mentions,
DMs, likes and reposts arrive, and the hours X's analytics say its posts' engagement came in, by engagements):

    hour     = (posts around that hour on any day * their mean + PRIOR_POSTS * the hour's prior) / (... + PRIOR_POSTS)
    estimate = (n * mean + PRIOR_POSTS * (hour + the cell's prior - the hour's prior)) / (n + PRIOR_POSTS)

("around": the hour with half the weight, each neighbouring hour with a quarter), so a cell with few posts mostly
says how that time of day did on the other days and when the audience is active, and one with many says what its
own posts did.
Before that, each post's log lift is taken relative to its campaign variant's (content_effect), so the hours are
not blamed for the texts that went out in them. The prior: PRIOR_WEIGHT * log(activity of the cell / the mean
cell's), the activity smoothed and clipped to [1/4, 4]; without recorded activity it is 0 (your usual)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

import numpy as np

from bot.core.models import Activity
from bot.domains.outcomes.rates import WEEKDAYS, Posts, factorize, local_cells, plural, times

DEFAULT_WEEKS = 16
PRIOR_POSTS = 3.0  # how many posts the audience's activity is worth in a cell
PRIOR_WEIGHT = 0.5  # twice the activity -> about 1.4x the engagement, before posts say otherwise
CONTENT_PRIOR_POSTS = 3.0  # a campaign variant's effect counts fully only once it has several posts
ACTIVITY_CLIP = 4.0
CELLS = 7 * 24


@dataclass(frozen=True)
class BestHour:
    weekday: int  # 0 = Monday
    hour: int  # 0..23, the shop's time zone
    lift: float  # the expected engagement against the account's usual post (1.0 = usual)
    posts: int  # posts of the window in this cell
    why: str

    @property
    def when(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.hour:02d}:00"


@dataclass(frozen=True)
class BestTimeModel:
    """One account's weekday x hour model (arrays of 7 x 24, weekday 0 = Monday)."""

    account: str
    estimate: np.ndarray  # log lift, shrunk
    observed: np.ndarray  # mean log lift of the cell's posts (nan without posts)
    posts: np.ndarray  # int
    prior: np.ndarray  # log lift expected from the audience's activity
    activity: np.ndarray  # audience actions per cell in the window
    weeks: float
    n_posts: int
    hour_estimate: np.ndarray = field(default_factory=lambda: np.zeros(24))  # log lift of each hour, all days pooled

    @property
    def lift(self) -> np.ndarray:
        return np.exp(self.estimate)

    @property
    def has_activity(self) -> bool:
        return bool(self.activity.sum() > 0)

    def why(self, weekday: int, hour: int) -> str:
        n = int(self.posts[weekday, hour])
        at = f"on {WEEKDAYS[weekday]}s at {hour:02d}:00"
        active = float(self.activity[weekday, hour])
        mean = float(self.activity.mean()) if self.has_activity else 0.0
        if self.has_activity:
            level = "busier than" if active > mean * 1.25 else ("quieter than" if active < mean * 0.8 else "about")
            audience = (
                f"your audience is {level} usual then" if level != "about" else "your audience is as active as usual"
            )
        if n >= PRIOR_POSTS:
            seen = times(math.exp(float(self.observed[weekday, hour])))
            return f"{plural(n, 'post')} {at} got {seen} your usual engagement"
        lead = f"only {plural(n, 'post')} {at}" if n else f"no posts yet {at}"
        others = int(self.posts[:, hour].sum()) - n
        if others >= PRIOR_POSTS:
            seen = times(math.exp(float(self.hour_estimate[hour])))
            on_days = f"{plural(others, 'post')} around {hour:02d}:00 on other days: {seen} your usual engagement"
            return f"{lead}: mostly based on the {on_days}"
        if not self.has_activity:
            return f"{lead} and no audience activity recorded yet: counted as a usual hour"
        return f"{lead}: mostly based on when your audience is active ({audience})"

    def best_hours(self, n: int = 3) -> list[BestHour]:
        """The n best cells, best first (ties: more posts, then earlier in the week)."""
        flat = self.estimate.ravel()
        order = np.lexsort((np.arange(CELLS), -self.posts.ravel(), -np.round(flat, 9)))
        found = []
        for cell in order[: max(0, n)].tolist():
            weekday, hour = divmod(int(cell), 24)
            found.append(
                BestHour(
                    weekday, hour, float(math.exp(flat[cell])), int(self.posts[weekday, hour]), self.why(weekday, hour)
                )
            )
        return found

    def summary(self) -> str | None:
        """A plain statement when the whole window is thin, else None."""
        if self.n_posts >= CELLS // 4:
            return None
        lead = f"only {plural(self.n_posts, 'post')} with readings in the last {self.weeks:g} weeks"
        if self.has_activity:
            return f"{lead}: the best times are mostly based on when your audience is active"
        return f"{lead} and no audience activity recorded: too few to tell the hours apart yet"


def activity_prior(activity: np.ndarray) -> np.ndarray:
    """PRIOR_WEIGHT x log(the cell's activity / the mean cell's), smoothed and clipped; zeros without activity."""
    total = float(activity.sum())
    if total <= 0:
        return np.zeros((7, 24))
    mean = total / CELLS
    smooth = max(1.0, 0.25 * mean)
    ratio = np.clip((activity + smooth) / (mean + smooth), 1 / ACTIVITY_CLIP, ACTIVITY_CLIP)
    return PRIOR_WEIGHT * np.log(ratio)


def neighbours(per_hour: np.ndarray) -> np.ndarray:
    """Sums over the 24 hours with half the weight on the hour and a quarter on each neighbour (23:00 and 00:00
    are neighbours): an audience's day changes smoothly, so an hour borrows from the hours around it."""
    return 0.5 * per_hour + 0.25 * (np.roll(per_hour, 1) + np.roll(per_hour, -1))


def content_effect(posts: Posts, *, log_lift: np.ndarray) -> np.ndarray:
    """Per post, what its campaign and variant did on average (mean log lift of the group, shrunk toward 0 by
    CONTENT_PRIOR_POSTS), so an hour is not judged by which text happened to go out then: a bandit sends a weak
    variant rarely, and those posts would otherwise make their hours look bad."""
    effect = np.zeros(len(log_lift))
    if not len(log_lift):
        return effect
    campaigns, _ = factorize(posts.campaign)
    variants, names = factorize(posts.variant)
    codes, _ = factorize(campaigns * len(names) + variants)
    sums = np.bincount(codes, weights=log_lift)
    counts = np.bincount(codes).astype(np.float64)
    return (sums / (counts + CONTENT_PRIOR_POSTS))[codes]


def cell_counts(epochs: np.ndarray, zone: tzinfo, weights: np.ndarray | None = None) -> np.ndarray:
    """Counts (or sums of `weights`) per weekday x hour in `zone`, as a 7 x 24 array."""
    weekday, hour = local_cells(epochs, zone)
    cells = weekday * 24 + hour
    return np.bincount(cells, weights=weights, minlength=CELLS).reshape(7, 24).astype(np.float64)


def activity_cells(activity: Activity | Sequence[float] | np.ndarray, zone: tzinfo) -> np.ndarray:
    """The audience's activity per weekday x hour in `zone`: moments (epoch seconds) counted once each, or an
    Activity's moments by their weights (an analytics hour by its engagements)."""
    if isinstance(activity, Activity):
        weights = np.asarray(activity.weights, dtype=np.float64)
        return cell_counts(np.asarray(activity.times, dtype=np.float64), zone, weights=weights)
    return cell_counts(np.asarray(activity, dtype=np.float64), zone)


def build_model(
    account: str,
    posts: Posts,
    activity: Activity | Sequence[float] | np.ndarray,
    zone: tzinfo,
    *,
    weeks: float = DEFAULT_WEEKS,
) -> BestTimeModel:
    """The model of one account from its posts (already the window's, one reading each) and its audience's
    activity (store.outcomes.activity, or plain epoch seconds) in the same window."""
    mine = posts.take((posts.account == account) & np.isfinite(posts.lift))
    log_lift = mine.log_lift - content_effect(mine, log_lift=mine.log_lift)
    n = cell_counts(mine.posted_at, zone)
    total = cell_counts(mine.posted_at, zone, weights=log_lift)
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.where(n > 0, total / n, np.nan)
    act = activity_cells(activity, zone)
    prior = activity_prior(act)
    # two levels of pooling: an hour of the day over all weekdays (shrunk toward the audience's activity then),
    # and each weekday's cell toward its hour plus what the activity says of that weekday
    hour_prior = prior.mean(axis=0)
    hour = (neighbours(total.sum(axis=0)) + PRIOR_POSTS * hour_prior) / (neighbours(n.sum(axis=0)) + PRIOR_POSTS)
    target = hour[np.newaxis, :] + (prior - hour_prior[np.newaxis, :])
    estimate = (total + PRIOR_POSTS * target) / (n + PRIOR_POSTS)
    return BestTimeModel(
        account, estimate, observed, n.astype(np.int64), prior, act, float(weeks), len(mine), hour_estimate=hour
    )


def window(now: datetime, weeks: float = DEFAULT_WEEKS) -> datetime:
    return now - timedelta(weeks=weeks)
