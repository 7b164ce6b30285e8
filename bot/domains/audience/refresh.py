"""The daemon's audience analyses as one job: every check (a minute, or the shortest `every` when shorter) the
graph is analysed when due, then the segments are made when due (they read the graph's latest scores and
communities, so the first day's segmentation comes after the first day's snapshot), then `on_segments` hears of
a new segmentation (the app starts a coupon turn with it). When each is due: bot.domains.audience.freshness;
one daemon at a time: each service's lease."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.core.logs import job_failures

if TYPE_CHECKING:
    from bot.adapters.scheduling import Job
    from bot.core.clock import Clock
    from bot.domains.audience.segments import SegmentResult, SegmentService
    from bot.domains.audience.service import AnalysisService

logger = logging.getLogger(__name__)

JOB_ID = "audience:analyses"


class AudienceAnalyses:
    """Graph (when enabled), then segments (when enabled), each when due; `turn()` is the job."""

    def __init__(
        self,
        graph: AnalysisService | None,
        segments: SegmentService | None,
        clock: Clock,
        *,
        on_segments: Callable[[SegmentResult], None] | None = None,
    ) -> None:
        self.graph = graph
        self.segments = segments
        self.clock = clock
        self.on_segments = on_segments

    @property
    def check_every(self) -> timedelta | None:
        """How often the job looks (None: nothing to analyse)."""
        checks = [s.check_every for s in (self.graph, self.segments) if s is not None and s.config.enabled]
        return min(checks) if checks else None

    def turn(self) -> None:
        """One look: each analysis that is due runs (a failure is logged and the next one still runs)."""
        if self.graph is not None and self.graph.config.enabled:
            with job_failures(logger, "graph: the analysis"):
                self.graph.run()
        if self.segments is None or not self.segments.config.enabled:
            return
        result: SegmentResult | None = None
        with job_failures(logger, "segments: the run"):
            result = self.segments.run()
        if result is not None and self.on_segments is not None:
            with job_failures(logger, "segments: what follows a new segmentation"):
                self.on_segments(result)

    def jobs(self) -> list[Job]:
        """One interval job, id "audience:analyses", every `check_every`, the first look right away."""
        from bot.adapters.scheduling import Job  # APScheduler stays out of the CLI's reports

        every = self.check_every
        if every is None:
            return []
        return [
            Job(
                job_id=JOB_ID,
                func=self.turn,
                spec=every.total_seconds(),
                name="audience analyses (graph, segments)",
                start_at=self.clock.now(),
            )
        ]
