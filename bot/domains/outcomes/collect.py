"""Post metrics collection: how every delivered post and reply did, read at the configured ages (+1 h, +24 h, +7 d).

One pass of an account (`MetricsCollector.collect(account, now)`):

1. the store lists the readings due (outbox rows sent, with a remote id, between `age + grace` and `age` ago and
   not read at that age; a reading whose window passed is skipped, never taken late);
2. in batches of up to 100 posts, the reads are paid for beforehand from the account's daily read budget, the same
   one engagement collection spends (graph.engagement.daily_read_budget; X bills every post read), then
   `Platform.post_metrics` reads them inside `spending(METRICS)` (the cost ledger's purpose), what was not billed
   (a post gone) is given back, and the readings are stored (idempotent per post and age);
3. one summary line per pass. The budget running out stops the pass (the rest waits for the next pass, within
   its grace window); a rate limit blocks the account's metric reads until the reset (stored, so every daemon
   waits); any other platform error stops the pass. The job never raises.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Protocol

from bot.core.clock import Clock
from bot.core.costs import METRICS, spending
from bot.core.errors import AuthError, PlatformError, RateLimited
from bot.core.logs import job_failures
from bot.core.models import MetricDue, PostMetrics
from bot.core.ports import AccountRows, EngagementRows, Platform, RateLimitRows, SpendingGate
from bot.core.records import utc_day

if TYPE_CHECKING:
    from bot.adapters.scheduling import Job
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

METRICS_BUCKET = "metrics"  # the store's rate-limit key for an account's metric reads
BATCH = 100  # posts per read (X's GET /2/tweets takes 100 ids; the Bluesky adapter splits into 25s)


class PostMetricRows(Protocol):
    def due(
        self, account: str, now: datetime, ages: Sequence[tuple[str, timedelta, timedelta]], *, limit: int = 1000
    ) -> list[MetricDue]: ...
    def record(
        self, platform: str, due: Sequence[MetricDue], metrics: dict[str, PostMetrics], read_at: datetime
    ) -> int: ...


class MetricsStore(Protocol):
    """What the collector needs of bot.adapters.store.Store."""

    @property
    def post_metrics(self) -> PostMetricRows: ...
    @property
    def engagement(self) -> EngagementRows: ...  # the daily read budget
    @property
    def accounts(self) -> AccountRows: ...
    @property
    def rate_limits(self) -> RateLimitRows: ...


@dataclass
class MetricsReport:
    account: str
    due: int = 0  # readings due this pass
    read: int = 0  # readings stored
    reads: int = 0  # posts billed
    by_age: Counter[str] = field(default_factory=Counter)
    budget_left: int = 0
    stopped_by: str | None = None  # None | "budget" | "spending cap" | "rate_limit" | "error" | "paused"
    errors: list[str] = field(default_factory=list)


class MetricsCollector:
    """Reads the metrics of the configured accounts' delivered posts and replies at the configured ages."""

    def __init__(
        self,
        settings: Settings,
        store: MetricsStore,
        platforms: Mapping[str, Platform],
        clock: Clock,
        *,
        spending: SpendingGate | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.platforms = platforms
        self.clock = clock
        self.spending = spending  # the monthly cap (bot.domains.costs): metric reads are the first to stop

    def accounts(self) -> list[str]:
        if not self.settings.metrics.enabled:
            return []
        return [name for name in self.settings.accounts if name in self.platforms]

    def jobs(self) -> list[Job]:
        """One job per account, id "metrics:<account>", every metrics.every, the first right away."""
        from bot.adapters.scheduling import Job

        every = self.settings.metrics.every.total_seconds()
        now = self.clock.now()
        return [
            Job(
                job_id=f"metrics:{account}",
                func=partial(self._turn, account),
                spec=every,
                name=f"post metrics of {account}",
                start_at=now,
            )
            for account in self.accounts()
        ]

    def _turn(self, account: str) -> None:
        with job_failures(logger, f"post metrics of {account}: the collection"):
            self.collect(account, self.clock.now())

    def collect_all(self, now: datetime | None = None) -> dict[str, MetricsReport]:
        at = now or self.clock.now()
        return {account: self.collect(account, at) for account in self.accounts()}

    # ------------------------------------------------------------------ one pass

    def collect(self, account: str, now: datetime) -> MetricsReport:
        """Read and store every reading of `account` due at `now`, within the daily read budget."""
        report = MetricsReport(account)
        if account not in self.accounts():
            return report
        conf = self.settings.metrics
        budget = self.settings.graph.engagement.daily_read_budget
        day = utc_day(now)
        reads = self.store.engagement
        report.budget_left = max(0, budget - reads.reads_used(account, day))
        if self.store.accounts.paused_reason(account):
            report.stopped_by = "paused"
            return report
        blocked = self.store.rate_limits.blocked_until(account, METRICS_BUCKET)
        if blocked is not None and blocked > now:
            report.stopped_by = "rate_limit"
            logger.debug("post metrics of %s: rate limited until %s", account, blocked.isoformat())
            return report
        ages = [(label, age, conf.grace(age)) for label, age in conf.durations()]
        due = self.store.post_metrics.due(account, now, ages)
        report.due = len(due)
        platform = self.platforms[account]
        by_post: dict[str, list[MetricDue]] = {}
        for item in due:
            by_post.setdefault(item.post_id, []).append(item)
        ids = list(by_post)
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            if not self._read_batch(account, platform, batch, by_post, now, day, budget, report):
                break
        report.budget_left = max(0, budget - reads.reads_used(account, day))
        if report.due or report.stopped_by:
            ages_read = ", ".join(f"{label}: {n}" for label, n in sorted(report.by_age.items())) or "none"
            (logger.info if report.read else logger.debug)(
                "post metrics of %s: %d reading(s) stored of %d due (%s), %d post(s) read, %d reads left today%s",
                account,
                report.read,
                report.due,
                ages_read,
                report.reads,
                report.budget_left,
                f" (stopped: {report.stopped_by})" if report.stopped_by else "",
            )
        return report

    def _read_batch(
        self,
        account: str,
        platform: Platform,
        batch: list[str],
        by_post: dict[str, list[MetricDue]],
        now: datetime,
        day: str,
        budget: int,
        report: MetricsReport,
    ) -> bool:
        """Pay for, read and store one batch; False ends the pass."""
        if self.spending is not None and not self.spending.may_spend(account, METRICS):
            report.stopped_by = "spending cap"
            return False
        reads = self.store.engagement
        granted = reads.reserve_reads(account, day, len(batch), budget)
        if granted < len(batch):
            reads.release_reads(account, day, granted)
            report.stopped_by = "budget"
            logger.info(
                "post metrics of %s: the daily read budget (graph.engagement.daily_read_budget: %d) cannot pay for "
                "%d more post(s) today; they wait for the next pass",
                account,
                budget,
                len(batch),
            )
            return False
        try:
            with spending(METRICS):
                metrics = platform.post_metrics(batch)
        except BaseException as exc:
            reads.release_reads(account, day, granted)  # nothing was read: nothing is paid from the budget
            if isinstance(exc, RateLimited):
                self.store.rate_limits.block(account, METRICS_BUCKET, exc.retry_at)
                report.stopped_by = "rate_limit"
                logger.info("post metrics of %s: rate limited; next read after %s", account, exc.retry_at.isoformat())
                return False
            if not isinstance(exc, PlatformError):
                raise
            report.stopped_by = "error"
            report.errors.append(str(exc))
            if isinstance(exc, AuthError):
                logger.error("post metrics of %s: authentication failed (%s); not reading", account, exc)
            else:
                logger.warning("post metrics of %s: reading %d post(s) failed: %s", account, len(batch), exc)
            return False
        billed = sum(1 for post_id in batch if post_id in metrics)
        reads.release_reads(account, day, granted - billed)
        report.reads += billed
        items = [item for post_id in batch for item in by_post[post_id]]
        stored = self.store.post_metrics.record(platform.name, items, metrics, now)
        report.read += stored
        report.by_age.update(item.age for item in items if item.post_id in metrics)
        gone = len(batch) - billed
        if gone:
            logger.info("post metrics of %s: %d post(s) are deleted or not visible; not read", account, gone)
        return True
