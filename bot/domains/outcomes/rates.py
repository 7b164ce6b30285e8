"""Engagement rates and lift: how one post did against the account's own typical post.

rate = (likes + reposts + replies + quotes + bookmarks + link clicks) / impressions where the platform counts
views, else / the account's followers (Bluesky). lift = rate / the median rate of the account's posts in the
window (on the same basis), so 1.0 is a usual post and 2.0 twice the usual engagement. The models average
log lift, each post clipped to [1/LIFT_CLIP, LIFT_CLIP]: one viral post counts like a post that did 5x."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

import numpy as np

LIFT_CLIP = 5.0
BASIS_IMPRESSIONS, BASIS_FOLLOWERS, BASIS_NONE = 0, 1, 2
BASIS_WORDS = {BASIS_IMPRESSIONS: "per impression", BASIS_FOLLOWERS: "per follower", BASIS_NONE: "no basis"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass
class Posts:
    """One reading per post, as numpy columns (from store.outcomes.readings), with rate and lift computed."""

    account: np.ndarray  # object (str)
    platform: np.ndarray
    post_id: np.ndarray
    kind: np.ndarray
    campaign: np.ndarray  # object (str | None)
    variant: np.ndarray
    outbox_key: np.ndarray
    posted_at: np.ndarray  # float64 epoch seconds
    age: np.ndarray
    engagements: np.ndarray  # float64
    denominator: np.ndarray  # float64 (nan when neither impressions nor followers are known)
    basis: np.ndarray  # int8: BASIS_*
    rate: np.ndarray  # float64 (nan without a basis)
    lift: np.ndarray  # float64 (nan without a basis)

    def __len__(self) -> int:
        return len(self.posted_at)

    def take(self, mask: np.ndarray) -> Posts:
        return Posts(**{name: getattr(self, name)[mask] for name in self.__dataclass_fields__})

    @property
    def log_lift(self) -> np.ndarray:
        """log(lift) clipped to ±log(LIFT_CLIP) (nan without a basis)."""
        bound = math.log(LIFT_CLIP)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.clip(np.log(self.lift), -bound, bound)


def _objects(values: Sequence[Any]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _numbers(values: Sequence[Any]) -> np.ndarray:
    """Integers with None -> float64 with nan."""
    try:
        return np.array(values, dtype=np.float64)
    except TypeError:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def posts_from_columns(columns: Mapping[str, Sequence[Any]]) -> Posts:
    """Posts (with rates and lifts) from the columns of store.outcomes.readings."""
    engagements = _numbers(columns["engagements"])
    impressions = _numbers(columns["impressions"])
    followers = _numbers(columns["followers"])
    by_impressions = impressions > 0
    by_followers = ~by_impressions & (followers > 0)
    basis = np.full(len(engagements), BASIS_NONE, dtype=np.int8)
    basis[by_impressions] = BASIS_IMPRESSIONS
    basis[by_followers] = BASIS_FOLLOWERS
    denominator = np.where(by_impressions, impressions, np.where(by_followers, followers, np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = engagements / denominator
    n = len(engagements)

    def text(name: str) -> np.ndarray:
        """A text column, or None everywhere when the reading left it out (store.outcomes.readings(detail=False))."""
        return _objects(columns[name]) if name in columns else np.full(n, None, dtype=object)

    account = text("account")
    return Posts(
        account=account,
        platform=text("platform"),
        post_id=text("post_id"),
        kind=text("kind"),
        campaign=text("campaign"),
        variant=text("variant"),
        outbox_key=text("outbox_key"),
        posted_at=_numbers(columns["posted_at"]),
        age=text("age"),
        engagements=engagements,
        denominator=denominator,
        basis=basis,
        rate=rate,
        lift=lifts(account, basis, rate),
    )


def lifts(account: np.ndarray, basis: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Each rate / the median rate of its account's posts on the same basis. A small floor (a tenth of the
    median, or of the mean when most posts got nothing) keeps a post with no engagement finite."""
    lift = np.full(len(rate), np.nan)
    if not len(rate):
        return lift
    codes, _ = factorize(account)
    key = codes * 3 + basis.astype(np.int64)
    for group in np.unique(key):
        mask = (key == group) & np.isfinite(rate)
        if group % 3 == BASIS_NONE or not mask.any():
            continue
        values = rate[mask]
        typical = float(np.median(values))
        floor = 0.1 * (typical if typical > 0 else float(values.mean()))
        if floor <= 0:  # nothing ever engaged: every post is usual
            lift[mask] = 1.0
            continue
        lift[mask] = (values + floor) / (typical + floor)
    return lift


def factorize(values: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """Integer codes in order of first appearance, and the distinct values (None kept as a value)."""
    index: dict[Any, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values.tolist()), dtype=np.int64, count=len(values))
    return codes, list(index)


def local_cells(epochs: np.ndarray, zone: tzinfo) -> tuple[np.ndarray, np.ndarray]:
    """(weekday 0 = Monday, hour) of each epoch second in `zone`, DST and half-hour zones included: each distinct
    quarter hour is converted once."""
    from datetime import datetime

    if not len(epochs):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    quarters = np.floor(np.asarray(epochs, dtype=np.float64) / 900.0).astype(np.int64)
    unique, inverse = np.unique(quarters, return_inverse=True)
    weekday = np.empty(len(unique), dtype=np.int64)
    hour = np.empty(len(unique), dtype=np.int64)
    for i, q in enumerate(unique.tolist()):
        moment = datetime.fromtimestamp(q * 900, zone)
        weekday[i], hour[i] = moment.weekday(), moment.hour
    return weekday[inverse], hour[inverse]


def times(value: float) -> str:
    """A lift as people read it: '2.3×', '0.8×'."""
    if not math.isfinite(value):
        return "—"
    return f"{value:.1f}×" if value < 10 else f"{value:.0f}×"


def percent(value: float) -> str:
    """A rate as a percentage with enough digits to tell small rates apart: '4.1%', '0.35%'."""
    if not math.isfinite(value):
        return "—"
    share = value * 100
    if share == 0:
        return "0%"
    if share >= 10:
        return f"{share:.0f}%"
    if share >= 1:
        return f"{share:.1f}%"
    if share >= 0.01:
        return f"{share:.2f}%"
    return "under 0.01%"


def percent_range(low: float, high: float) -> str:
    """An interval of rates, with as many digits as tell its ends apart: '3.2–5.0%', '2.31–2.36%'."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "—"
    for digits in (1, 2, 3):
        a, b = f"{low * 100:.{digits}f}", f"{high * 100:.{digits}f}"
        if a != b or digits == 3:
            return f"{a}–{b}%"
    return ""


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"
