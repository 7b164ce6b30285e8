"""How fresh the audience analyses (graph snapshots, segmentations) are, and when the daemon analyses again.

Each snapshot and segmentation records in its stats the interaction log's high-water mark when it began
(`interaction_high_water`: the first interaction id it did not see), so "interactions arrived since" is one
count over a range of the primary key; a segmentation also records the people's (`people_high_water`, the first
social_user id: who the bot met after it). The daemon looks every `check_every(every)` (a minute, or `every`
when shorter) and analyses when
- nothing is stored yet and there is something to analyse: the first interactions are analysed at the next
  look, not after `every` (an empty store stores no empty snapshot that would hold the next run back);
- `every` has passed since the latest one;
- the data grew by `rerun_when_grown` since the latest one. The graph: the interactions in its window (the
  interactions that arrived since bound the growth, so that count runs only once enough of them arrived). The
  segments: the people it segmented plus the people met since (authors and engagers new to the store; a count
  over the primary key, where counting the people with features again would cost as much as the features).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.core.ports import FeatureStore, GraphStore, SegmentStore

CHECK_EVERY = timedelta(minutes=1)  # how often the daemon asks whether an analysis is due (cheap counts)
HIGH_WATER = "interaction_high_water"  # the stats key: the first interaction id the analysis did not see
PEOPLE_HIGH_WATER = "people_high_water"  # a segmentation's stats key: the first social_user id it did not see


@dataclass(frozen=True)
class Freshness:
    """How old the latest snapshot (or segmentation) is and what arrived since."""

    at: datetime | None  # when it was made; None: there is none yet
    arrived: int  # interactions stored since (all interactions stored, when there is none yet)

    def age(self, now: datetime) -> timedelta | None:
        return None if self.at is None else max(now - self.at, timedelta(0))


def check_every(every: timedelta) -> timedelta:
    """How often the daemon asks whether an analysis run every `every` is due."""
    return min(CHECK_EVERY, every)


def every_passed(age: timedelta, every: timedelta) -> bool:
    """Whether an analysis this old is due again by `every`: up to one look early (a look a few seconds before
    `every` would otherwise wait a whole minute), never more than a tenth of `every` (with `every` shorter than a
    minute the daemon looks every `every`, and another daemon's look right after a run must not count)."""
    return age >= every - min(check_every(every), every / 10)


def high_water(store: GraphStore | FeatureStore) -> int:
    """The first interaction id not stored yet (recorded by an analysis when it begins)."""
    return store.people.interaction_id_range()[1]


def _mark(stats: Mapping[str, Any], key: str) -> int | None:
    mark = stats.get(key)
    return mark if isinstance(mark, int) and not isinstance(mark, bool) else None


def arrived_since(store: GraphStore | FeatureStore, stats: Mapping[str, Any]) -> int | None:
    """Interactions stored after the analysis whose stats these are; None when it recorded no high-water mark
    (made before this was recorded)."""
    mark = _mark(stats, HIGH_WATER)
    return None if mark is None else store.graphs.interactions_from(mark)


def people_met_since(store: SegmentStore, stats: Mapping[str, Any]) -> int | None:
    """People the bot met after the segmentation whose stats these are; None when it recorded no mark."""
    mark = _mark(stats, PEOPLE_HIGH_WATER)
    return None if mark is None else store.segments.people_from(mark)


def freshness_of(store: GraphStore | FeatureStore, at: datetime | None, stats: Mapping[str, Any]) -> Freshness:
    if at is None:
        return Freshness(None, store.people.interaction_count())
    arrived = arrived_since(store, stats)
    if arrived is None:  # an older analysis: by the interactions' own times
        arrived = store.people.interaction_count(since=at)
    return Freshness(at, arrived)


def graph_freshness(store: GraphStore | FeatureStore) -> Freshness:
    """The latest graph snapshot's time and the interactions stored since."""
    snapshot = store.graphs.latest_snapshot()
    if snapshot is None:
        return freshness_of(store, None, {})
    return freshness_of(store, snapshot.created_at, snapshot.stats)


def segments_freshness(store: SegmentStore) -> Freshness:
    """The latest segmentation's time and the interactions stored since."""
    run = store.segments.latest_run()
    if run is None:
        return freshness_of(store, None, {})
    return freshness_of(store, run.created_at, run.stats)


def grown_to(base: int, factor: float | None, arrived: int | None, count: Callable[[], int]) -> int | None:
    """The size now when it reached `factor` times `base` (and more than `base`), else None. `arrived`: the
    interactions stored since `base` was measured; each adds at most one to the size, so `count()` (the full
    count) only runs when they could have made it (arrived None: unknown, always counted)."""
    if factor is None:
        return None
    target = max(factor * base, base + 1)
    if arrived is not None and base + arrived < target:
        return None
    size = count()
    return size if size >= target else None


def age_text(age: timedelta) -> str:
    """A duration for log lines: 45 s, 12 min, 5.5 h, 3.0 d."""
    seconds = age.total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
