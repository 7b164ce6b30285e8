"""The segmentation: one daemon at a time (a lease in the database) loads the features, segments them and stores
the run (segments and members in one transaction); when it is due, see bot.domains.audience.freshness;
`segments_by_label` reads a run back."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from bot.domains.audience.features import FeatureTable, load_features, own_pairs
from bot.domains.audience.freshness import (
    HIGH_WATER,
    PEOPLE_HIGH_WATER,
    age_text,
    check_every,
    every_passed,
    high_water,
    people_met_since,
)
from bot.domains.audience.jobs import Progress
from bot.domains.audience.segments.clustering import Segmentation, segment_table

if TYPE_CHECKING:
    from bot.core.clock import Clock
    from bot.core.ports import SegmentStore
    from bot.core.records import SegmentInfo
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

LEASE = "segments-run"
LEASE_TTL = timedelta(minutes=30)
MAX_PROBLEMS_KEPT = 50


class MemberRows(Sequence[tuple[str, str, int, float | None]]):
    """(platform, user_id, segment_id, distance) built on demand from arrays (no million tuples at once)."""

    def __init__(self, platform: np.ndarray, user_id: np.ndarray, segment: np.ndarray, distance: np.ndarray) -> None:
        self.platform, self.user_id, self.segment, self.distance = platform, user_id, segment, distance

    def __len__(self) -> int:
        return len(self.user_id)

    @overload
    def __getitem__(self, index: int) -> tuple[str, str, int, float | None]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[str, str, int, float | None]]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return list(
                zip(
                    self.platform[index].tolist(),
                    self.user_id[index].tolist(),
                    self.segment[index].tolist(),
                    self.distance[index].tolist(),
                    strict=True,
                )
            )
        return (
            str(self.platform[index]),
            str(self.user_id[index]),
            int(self.segment[index]),
            float(self.distance[index]),
        )


def _import_models() -> None:
    import scipy.optimize  # noqa: F401
    import sklearn.cluster
    import sklearn.decomposition
    import sklearn.metrics
    import sklearn.preprocessing  # noqa: F401


def warm_up() -> threading.Thread:
    """Import scikit-learn (~1.5 s) in a thread while the database aggregates the features (it sorts without
    the GIL); the import lock makes the clustering wait for it if needed. Join the thread when done."""
    thread = threading.Thread(target=_import_models, name="segments-imports", daemon=True)
    thread.start()
    return thread


@dataclass
class SegmentResult:
    run_id: int
    created_at: datetime
    segmentation: Segmentation
    n_users: int
    problems: list[str]
    timings: dict[str, float]


class SegmentService:
    """Builds and stores segmentations; `jobs()` for the daemon, `run()` for the CLI."""

    def __init__(self, settings: Settings, store: SegmentStore, clock: Clock, *, owner: str) -> None:
        self.settings = settings
        self.config = settings.segments
        self.store = store
        self.clock = clock
        self.owner = owner

    @property
    def check_every(self) -> timedelta:
        """How often the daemon asks `due_reason` (a minute, or segments.every when shorter)."""
        return check_every(self.config.every)

    def audience_size(self, now: datetime) -> int:
        """How many people a run would segment now (interactions in the window, own accounts out)."""
        return self.store.segments.audience_size(
            since=now - self.config.window if self.config.window else None,
            exclude=own_pairs(self.settings, self.store),
            min_interactions=self.config.min_interactions,
        )

    def due_reason(self, now: datetime) -> str | None:
        """Why a run is due now, or None: no run yet and people to segment, segments.every passed, the graph's
        first snapshot came after the latest run, or the people segmented plus the people met since reached
        segments.rerun_when_grown times those segmented (bot.domains.audience.freshness)."""
        latest = self.store.segments.latest_run()
        if latest is None:
            n = self.audience_size(now)
            return f"no segments yet and {n:,} people to segment" if n else None
        age = now - latest.created_at
        if every_passed(age, self.config.every):
            return f"the latest run is {age_text(age)} old"
        if (
            self.settings.graph.enabled
            and latest.graph_snapshot_id is None
            and self.store.graphs.latest_snapshot() is not None
        ):
            return "the latest run had no graph snapshot and there is one now"
        factor = self.config.rerun_when_grown
        if factor is None:
            return None
        met = people_met_since(self.store, latest.stats)
        if met is None:  # a run stored before runs recorded their marks: only an empty one is looked past
            n = self.audience_size(now) if latest.n_users == 0 else 0
            return f"the latest run segmented nobody and {n:,} people are there to segment now" if n else None
        if met and latest.n_users + met >= max(factor * latest.n_users, latest.n_users + 1):
            return f"{met:,} people met since the latest run, which segmented {latest.n_users:,}"
        return None

    def due(self, now: datetime) -> bool:
        return self.due_reason(now) is not None

    def high_water_marks(self) -> dict[str, int]:
        """The first interaction id and the first person id not stored yet (recorded in a run's stats)."""
        return {HIGH_WATER: high_water(self.store), PEOPLE_HIGH_WATER: self.store.segments.people_high_water()}

    def run(self, *, force: bool = False, progress: Progress | None = None) -> SegmentResult | None:
        """Segment the audience and store the run; None when another daemon holds the lease or (unless force)
        no run is due (`due_reason`)."""
        now = self.clock.now()
        if not force and self.due_reason(now) is None:
            logger.debug("segments: no run due")
            return None
        if not self.store.leases.acquire(LEASE, self.owner, ttl=LEASE_TTL, now=now):
            holder = self.store.leases.holder(LEASE, now=now)
            logger.info("segments: already running on %s; skipping this turn", holder)
            return None
        try:
            reason = "asked for" if force else self.due_reason(now)
            if reason is None:  # another daemon finished one while we waited for the lease
                return None
            logger.info("segments: segmenting (%s)", reason)
            imports = warm_up()
            try:
                return self._run(now, progress)
            finally:
                imports.join()  # (no thread outlives the run, also when it fails)
        finally:
            self.store.leases.release(LEASE, self.owner)

    def _run(self, now: datetime, progress: Progress | None) -> SegmentResult:
        t = time.perf_counter()
        marks = self.high_water_marks()  # before reading: what arrives meanwhile counts as arrived since
        table = self.features(now, progress=progress)
        features_s = time.perf_counter() - t
        seg = self.segment(table, progress=progress)
        result = self.save(now, table, seg, progress=progress, timings={"features_s": features_s}, marks=marks)
        logger.info(
            "segments run %d: %d people in %d segments (%s); silhouette %s",
            result.run_id,
            len(table),
            seg.k,
            ", ".join(f"{s} {label} {size}" for s, label, size, _ in seg.info()),
            "-" if seg.silhouette is None else f"{seg.silhouette:.3f}",
        )
        return result

    def features(self, now: datetime, *, progress: Progress | None = None) -> FeatureTable:
        """The features of the people to segment (at least segments.min_interactions interactions)."""
        table = load_features(self.settings, self.store, now, progress=progress)
        for problem in table.order_problems[:MAX_PROBLEMS_KEPT]:
            logger.warning("segments: orders CSV: %s", problem)
        total = np.zeros(len(table))
        for kind in ("mention", "reply", "quote", "dm", "like", "retweet", "received"):
            total += table.columns[kind]
        return table.select(total >= self.config.min_interactions)

    def segment(self, table: FeatureTable, *, progress: Progress | None = None) -> Segmentation:
        return segment_table(table, self.config, previous=self.store.segments.latest_run(), progress=progress)

    def save(
        self,
        now: datetime,
        table: FeatureTable,
        seg: Segmentation,
        *,
        progress: Progress | None = None,
        timings: dict[str, float] | None = None,
        marks: dict[str, int] | None = None,
    ) -> SegmentResult:
        """Store a segmentation as a run (segments and members in one transaction); `marks`: the interactions' and
        people's high-water marks when its features were read (default: as they are now)."""
        if progress:
            progress(f"storing {len(table):,} members of {seg.k} segments")
        t = time.perf_counter()
        timings = {**(timings or {}), **seg.timings}
        problems = [str(p) for p in table.order_problems]
        params = {
            "k_fixed": self.config.k,
            "k_range": list(self.config.k_range),
            "seed": self.config.seed,
            "window_days": self.config.window.total_seconds() / 86400 if self.config.window else None,
            "min_interactions": self.config.min_interactions,
            "space": seg.space.to_json() if seg.space else None,
            "centers": {str(s): c for s, c in zip(seg.segment_ids, seg.centers_log, strict=True)},
            "z": {str(s): z for s, z in zip(seg.segment_ids, seg.z, strict=True)},
            "next_id": seg.next_id,
            "k_scores": {str(k): round(v, 4) for k, v in seg.k_scores.items()},
            "orders_csv": str(self.config.orders_csv) if self.config.orders_csv else None,
        }
        stats: dict[str, Any] = {
            "projection": seg.projection,
            "orders_matched": table.orders_matched,
            "order_problems": problems[:MAX_PROBLEMS_KEPT],
            "order_problem_count": len(problems),
            "timings": {k: round(v, 3) for k, v in timings.items()},
            **(self.high_water_marks() if marks is None else marks),
        }
        run_id = self.store.segments.save_run(
            created_at=now,
            k=seg.k,
            silhouette=seg.silhouette,
            graph_snapshot_id=table.snapshot_id,
            params=params,
            stats=stats,
            segments=seg.info(),
            members=MemberRows(table.platform, table.user_id, seg.assignment, seg.distance),
        )
        timings["store_s"] = time.perf_counter() - t
        seg.run_id = run_id
        return SegmentResult(run_id, now, seg, len(table), problems, timings)


def segments_by_label(store: SegmentStore, labels: Sequence[str | int], run_id: int | None = None) -> list[SegmentInfo]:
    """The segments of a run (default: the latest) whose label or id is in `labels` (labels case-insensitive;
    'regulars' also matches its look-alikes 'regulars, more orders': SegmentInfo.matches)."""
    run = store.segments.run(run_id) if run_id is not None else store.segments.latest_run()
    if run is None:
        return []
    return [info for info in store.segments.of_run(run.id) if any(info.matches(x) for x in labels)]
