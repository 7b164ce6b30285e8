"""Post metrics collection: how every delivered post and reply did, read at the configured ages (+1 h, +24 h, +7 d).

One pass of an account (`MetricsCollector.collect(account, now)`):

1. the store lists the readings due (outbox rows sent, with a remote id, between `age + grace` and `age` ago and
   not read at that age; a reading whose window passed is skipped, never taken late);
2. in batches of up to 100 posts, the reads are paid for beforehand from the account's daily read budget, the same
   one engagement collection spends (graph.engagement.daily_read_budget; X bills every post read), then
   `Platform.post_metrics` reads them inside `spending(METRICS)` (the cost ledger's purpose), what was not billed
   (a post gone) is given back, and the readings are stored (idempotent per post and age);
3. a post whose reading at the last configured age was just stored and that is younger than 30 days also has its
   hourly analytics read (`Platform.post_analytics`, X's GET /2/tweets/analytics) over [posted_at, posted_at +
   that age], 100 posts a call, paid from the same read budget inside `spending(METRICS)`, and stored as
   engagement hours (when the audience really engaged: the best-time model's activity prior). A failure there
   is logged and ends only the analytics of the pass: the readings are stored already;
4. one summary line per pass. The budget running out stops the pass (the rest waits for the next pass, within
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
from bot.core.models import EngagementHour, MetricDue, PostMetrics
from bot.core.ports import AccountRows, EngagementRows, Platform, RateLimitRows, SpendingGate
from bot.core.records import utc_day

if TYPE_CHECKING:
    from bot.adapters.scheduling import Job
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

METRICS_BUCKET = "metrics"  # the store's rate-limit key for an account's metric reads
ANALYTICS_BUCKET = "analytics"  # ... and for its analytics reads (a window of its own at X)
BATCH = 100  # posts per read (X's GET /2/tweets takes 100 ids; the Bluesky adapter splits into 25s)
ANALYTICS_MAX_AGE = timedelta(days=30)  # X's analytics cover a post's first 30 days


class PostMetricRows(Protocol):
    def due(
        self, account: str, now: datetime, ages: Sequence[tuple[str, timedelta, timedelta]], *, limit: int = 1000
    ) -> list[MetricDue]: ...
    def record(
        self, platform: str, due: Sequence[MetricDue], metrics: dict[str, PostMetrics], read_at: datetime
    ) -> int: ...
    def record_hours(self, account: str, hours: Mapping[str, Sequence[EngagementHour]], read_at: datetime) -> int: ...


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
    reads: int = 0  # posts billed (metrics and analytics)
    hours: int = 0  # engagement hours stored
    finished: list[MetricDue] = field(default_factory=list, repr=False)  # readings stored at the last age
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
        last_label, last_age, _ = max(ages, key=lambda a: a[1])
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            if not self._read_batch(account, platform, batch, by_post, now, day, budget, report, last_label):
                break
        if report.finished:
            self._read_hours(account, platform, report.finished, last_age, now, day, budget, report)
        report.budget_left = max(0, budget - reads.reads_used(account, day))
        if report.due or report.stopped_by:
            ages_read = ", ".join(f"{label}: {n}" for label, n in sorted(report.by_age.items())) or "none"
            (logger.info if report.read else logger.debug)(
                "post metrics of %s: %d reading(s) stored of %d due (%s), %d hour(s) of engagement, "
                "%d post(s) read, %d reads left today%s",
                account,
                report.read,
                report.due,
                ages_read,
                report.hours,
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
        last_label: str,
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
        report.finished.extend(item for item in items if item.post_id in metrics and item.age == last_label)
        gone = len(batch) - billed
        if gone:
            logger.info("post metrics of %s: %d post(s) are deleted or not visible; not read", account, gone)
        return True

    def _read_hours(
        self,
        account: str,
        platform: Platform,
        finished: list[MetricDue],
        age: timedelta,
        now: datetime,
        day: str,
        budget: int,
        report: MetricsReport,
    ) -> None:
        """The hourly analytics of the posts that got their last reading (younger than ANALYTICS_MAX_AGE), over
        [posted_at, posted_at + age], BATCH posts a call, paid like the readings; a failure ends only this."""
        posts = [d for d in dict((d.post_id, d) for d in finished).values() if now - d.posted_at < ANALYTICS_MAX_AGE]
        blocked = self.store.rate_limits.blocked_until(account, ANALYTICS_BUCKET)
        if not posts or (blocked is not None and blocked > now):
            return
        reads = self.store.engagement
        for start in range(0, len(posts), BATCH):
            batch = posts[start : start + BATCH]
            if self.spending is not None and not self.spending.may_spend(account, METRICS):
                return
            granted = reads.reserve_reads(account, day, len(batch), budget)
            if granted < len(batch):
                reads.release_reads(account, day, granted)
                logger.info(
                    "post metrics of %s: the daily read budget cannot pay for the hourly engagement of %d post(s); "
                    "their readings are kept, their hours are not read",
                    account,
                    len(batch),
                )
                return
            begin = min(d.posted_at for d in batch)
            end = max(d.posted_at for d in batch) + age
            try:
                with spending(METRICS):
                    found = platform.post_analytics([d.post_id for d in batch], begin, end)
            except BaseException as exc:
                reads.release_reads(account, day, granted)
                if not isinstance(exc, PlatformError):
                    raise
                if isinstance(exc, RateLimited):
                    self.store.rate_limits.block(account, ANALYTICS_BUCKET, exc.retry_at)
                logger.warning(
                    "post metrics of %s: reading the hourly engagement of %d post(s) failed (their readings are "
                    "kept): %s",
                    account,
                    len(batch),
                    exc,
                )
                return
            billed = sum(1 for d in batch if d.post_id in found)
            reads.release_reads(account, day, granted - billed)
            report.reads += billed
            windows = {
                d.post_id: (d.posted_at.replace(minute=0, second=0, microsecond=0), d.posted_at + age) for d in batch
            }
            hours = {
                post_id: [h for h in found[post_id] if windows[post_id][0] <= h.hour < windows[post_id][1]]
                for post_id in windows
                if post_id in found
            }
            report.hours += self.store.post_metrics.record_hours(account, hours, now)
