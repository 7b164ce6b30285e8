"""Planted truth about how the shop's posts do: when each community is online, and how much each variant appeals.

Hidden from the bot (it sees only what the X endpoints serve): every community lives in its own time zone and is
active at its own hours (a lunch and an evening peak, a quiet night), so the hour a post goes out decides how many
people see it; every template variant has an appeal (0.4-1.6) that multiplies its views and engagement. A variant
is told by the opening words of its text (the first two words after any leading @handles: variants of a template
open differently, while the product, price or date they name changes from slot to slot).

A post's expected final impressions are base x hour weight (its UTC hour, averaged over the communities weighted
by size; the day's mean is 1) x appeal x a per-post lognormal draw. They arrive over the hours after it went out
as exp(-age / 6 h) x the hour weight of each hour then (`arrival`: people see and engage with a post when they
are online), so by age t it has reached the share of that which arrived by t (readings at +1 h, +24 h, +7 d grow,
and the hours a post's engagement came in follow the audience's active hours: GET /2/tweets/analytics).
Likes, reposts, bookmarks, link clicks (posts with a URL) and profile clicks are shares of the impressions, the
engagement shares again scaled by appeal, and all of them by the hour (the people online when a post goes out are
the ones who engage: hour weight ** ENGAGEMENT_HOUR_POWER, so a good hour raises the engagement rate per view too,
not only the views) and by a per-post lognormal draw of its own (ENGAGEMENT_SPREAD: posts alike in hour and
variant still differ). `play(now)` raises every shop post to its value at `now`, hour by hour since it was last
played: likes and reposts as real likes and reposts by audience members dated in the hour they arrived, the rest
as the sandbox's counters with their history (POST /_sandbox/metrics). Counts only grow; playing twice at one
time is a no-op.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.sandbox.audience.population import Community, SimUser

TIME_ZONES = (-8, -5, -3, 0, 1, 2, 5, 8, 9, 10)  # hours from UTC a community may live at
GROWTH_SECONDS = 6 * 3600  # engagement arrives as exp(-age / this) x the audience online (`arrival`)
BASE_IMPRESSIONS_PER_USER = 3.0
REPLY_SHARE = 0.1  # a reply is seen by a tenth of the audience a post reaches
ENGAGEMENT_HOUR_POWER = 0.5  # engagement per view x hour weight ** this (2x the audience online: 1.41x the rate)
ENGAGEMENT_SPREAD = 0.2  # sigma of the per-post lognormal draw on the engagement shares
RATES = {  # per impression (likes, reposts and bookmarks also x appeal)
    "likes": 0.04,
    "reposts": 0.01,
    "bookmarks": 0.006,
    "link_clicks": 0.02,
    "profile_clicks": 0.008,
}
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_HANDLE = re.compile(r"^(?:[@＠]\w+\s+)+")
_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class CommunityClock:
    community: int
    utc_offset: int  # hours
    peaks: tuple[float, float]  # local hours of its two busiest moments
    share: float  # of the audience


def variant_key(text: str) -> str:
    """What tells a variant: its first two words after any leading @handles, lower case."""
    words = _WORD.findall(_HANDLE.sub("", _URL.sub("", text)).lower())
    return " ".join(words[:2])


class PlantedOutcomes:
    """The hidden activity hours and variant appeal; pure arithmetic, seeded (see the module docstring)."""

    def __init__(self, seed: int, communities: list[Community], users: list[SimUser]) -> None:
        self.seed = seed
        rng = random.Random(f"{seed}:outcomes")
        sizes = {c.index: 0 for c in communities}
        for u in users:
            sizes[u.community] = sizes.get(u.community, 0) + 1
        total = max(1, sum(sizes.values()))
        self.clocks = [
            CommunityClock(
                c.index,
                rng.choice(TIME_ZONES),
                (rng.uniform(11.0, 13.5), rng.uniform(18.5, 22.0)),
                sizes.get(c.index, 0) / total,
            )
            for c in communities
        ]
        self.audience = len(users)
        weights = [self._raw_weight(h) for h in range(24)]
        mean = sum(weights) / 24 or 1.0
        self._hour_weights = [w / mean for w in weights]
        self._first_day: dict[float, float] = {}  # a post's start -> its first day's arrival integral

    # ---- the planted structure ---------------------------------------------------------------------
    @staticmethod
    def activity(local_hour: float, peaks: tuple[float, float]) -> float:
        """How many of a community are online at a local hour: a floor, a lunch and a (higher) evening peak."""

        def bump(centre: float, width: float) -> float:
            d = min(abs(local_hour - centre), 24 - abs(local_hour - centre))
            return math.exp(-0.5 * (d / width) ** 2)

        return 0.08 + 0.7 * bump(peaks[0], 1.3) + 1.0 * bump(peaks[1], 1.6)

    def _raw_weight(self, utc_hour: int) -> float:
        return sum(c.share * self.activity((utc_hour + 0.5 + c.utc_offset) % 24, c.peaks) for c in self.clocks)

    def hour_weight(self, utc_hour: int) -> float:
        """How well a post at this UTC hour does against the day's average (1.0)."""
        return self._hour_weights[utc_hour % 24]

    def top_hours(self, n: int = 3) -> list[int]:
        """The planted best UTC hours to post, best first."""
        return sorted(range(24), key=lambda h: -self._hour_weights[h])[:n]

    def engagement_factor(self, utc_hour: int) -> float:
        """How much more (or less) of a post's views turn into engagement at this UTC hour than at an average one."""
        return self.hour_weight(utc_hour) ** ENGAGEMENT_HOUR_POWER

    def arrival(self, posted_at: datetime, age_seconds: float) -> float:
        """The share of a post's final counts that arrived by `age_seconds` after `posted_at`: the integral of
        exp(-s / GROWTH_SECONDS) x the hour weight at posted_at + s, over the integral to infinity (the weights
        repeat daily, so each later day adds the first day's integral times exp(-day / GROWTH_SECONDS))."""
        if age_seconds <= 0:
            return 0.0
        start = posted_at.timestamp()
        day = 86400.0
        first = self._first_day.get(start)
        if first is None:
            first = self._first_day[start] = self._arrived(start, day)
        decay = math.exp(-day / GROWTH_SECONDS)
        days, rest = divmod(age_seconds, day)
        reached = first * (1.0 - decay**days) / (1.0 - decay) + decay**days * self._arrived(start, rest)
        return min(1.0, reached * (1.0 - decay) / first)

    def _arrived(self, start: float, span: float) -> float:
        """The integral of exp(-s / GROWTH_SECONDS) x hour weight(start + s) over s in [0, span] (span <= 1 day)."""
        total, s = 0.0, 0.0
        while s < span:
            at = start + s
            step = min(span - s, 3600.0 - at % 3600.0)
            weight = self._hour_weights[int(at // 3600) % 24]
            total += weight * (math.exp(-s / GROWTH_SECONDS) - math.exp(-(s + step) / GROWTH_SECONDS))
            s += step
        return total * GROWTH_SECONDS

    def appeal(self, text: str) -> float:
        """The hidden appeal of the variant `text` was written from (0.4-1.6)."""
        return random.Random(f"{self.seed}:appeal:{variant_key(text)}").uniform(0.4, 1.6)

    # ---- a post's counts ----------------------------------------------------------------------------
    def expected(
        self, tweet_id: str, text: str, posted_at: datetime, age_seconds: float, reply: bool
    ) -> dict[str, int]:
        """A post's counts at `age_seconds` after it went out (deterministic for the post)."""
        if age_seconds <= 0:
            return {name: 0 for name in ("impressions", *RATES)}
        draw = random.Random(f"{self.seed}:post:{tweet_id}").lognormvariate(0.0, 0.25)
        appeal = self.appeal(text)
        hour = posted_at.astimezone(UTC).hour
        final = BASE_IMPRESSIONS_PER_USER * self.audience * self.hour_weight(hour)
        mood = self.engagement_factor(hour) * random.Random(f"{self.seed}:engage:{tweet_id}").lognormvariate(
            0.0, ENGAGEMENT_SPREAD
        )
        final *= appeal * draw * (REPLY_SHARE if reply else 1.0)
        reached = final * self.arrival(posted_at, age_seconds)
        out = {"impressions": int(reached)}
        for name, rate in RATES.items():
            if name == "link_clicks" and not _URL.search(text):
                out[name] = 0
                continue
            scale = (appeal if name in ("likes", "reposts", "bookmarks") else 1.0) * mood
            out[name] = int(reached * rate * scale)
        return out

    def ground_truth(self) -> dict[str, Any]:
        """What the evaluation compares against: each community's clock and the best UTC hours."""
        return {
            "communities": [
                {"community": c.community, "utc_offset": c.utc_offset, "peaks": c.peaks, "share": round(c.share, 3)}
                for c in self.clocks
            ],
            "hour_weights": [round(w, 4) for w in self._hour_weights],
            "top_hours_utc": self.top_hours(3),
        }
