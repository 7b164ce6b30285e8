"""Engagement collection: who liked, reposted and quoted the account's own recent posts -> interactions.

One pass of an account:

1. track the posts the outbox delivered within `graph.engagement.lookback` (engagement_post rows);
2. for each post due (never collected, or last collected `every` ago; oldest collection first), claim it (so
   two daemons never read the same post in one round), then read its likers, reposters and quotes. Every call
   is paid for beforehand from the account's daily read budget (X bills each user and post returned): reserve
   the most the call can bill, give back what it did not use. When the budget cannot pay for the next call
   the pass stops, and this service collects nothing more for the account until 00:00 UTC;
3. store the collection in one transaction: interactions (like/retweet: liker -> us on our post, timed at the
   collection that first saw them, as X gives no time; quote: quoter -> us with the quote's own id and time,
   the key the mentions poll uses for a quote that mentions us, so the two never count one quote twice),
   the users with their follower counts, the counts seen and the collection time.

Replies to our posts are not read here: they reach the account as mentions (bot/domains/conversations/mentions.py).
A rate limit stops the pass and blocks the account's collection until the window resets (stored, so every
daemon waits); any other platform error stops the pass. A job never raises.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from bot.core import costs
from bot.core.clock import Clock
from bot.core.errors import AuthError, PlatformError, RateLimited
from bot.core.models import ENGAGEMENT_KINDS, Engagers, User
from bot.core.ports import Platform, SpendingGate
from bot.core.records import InteractionRecord, TrackedPost, UserRecord, utc_day
from bot.domains.audience.jobs import interval_job

if TYPE_CHECKING:
    from bot.adapters.scheduling import Job
    from bot.core.ports import EngagementStore
    from bot.settings.config import Settings
    from bot.settings.graph import EngagementConfig

logger = logging.getLogger(__name__)

ENGAGEMENT = "engagement"  # the store's rate-limit key for an account's collection
MAX_SLACK = timedelta(seconds=5)  # scheduler jitter: a post collected `every` minus this ago is due


@dataclass
class EngagementReport:
    account: str
    posts: int = 0  # posts whose engagement was read (fully or in part)
    interactions: int = 0  # interactions stored for the first time
    reads: int = 0  # billable reads spent by this pass
    budget_left: int = 0  # reads left today (UTC) after this pass
    stopped_by: str | None = None  # None: all collected | "budget" | "rate_limit" | "error" | "spending cap"
    waiting_until: datetime | None = None  # a rate limit: no collection of this account before then
    errors: list[str] = field(default_factory=list)


class _Stop(Exception):
    """Ends a pass: why ('budget', 'rate_limit', 'error')."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class EngagementService:
    """Collects likes, reposts and quotes of the configured accounts' recent posts into interactions."""

    def __init__(
        self,
        settings: Settings,
        store: EngagementStore,
        platforms: Mapping[str, Platform],
        clock: Clock,
        *,
        max_posts: int = 500,
        spending: SpendingGate | None = None,
    ) -> None:
        self.settings = settings
        self.spending = spending  # the monthly cap (bot.domains.costs): engagement reads stop early near it
        self.store = store
        self.platforms = platforms
        self.clock = clock
        self.max_posts = max_posts
        self._waits: dict[str, datetime] = {}
        self._used_up_on: dict[str, str] = {}  # account -> the UTC day its budget ran out (logged once)

    @property
    def config(self) -> EngagementConfig:
        return self.settings.graph.engagement

    def accounts(self) -> list[str]:
        """Every configured account with a platform, when graph and engagement collection are enabled."""
        if not (self.settings.graph.enabled and self.config.enabled):
            return []
        return [name for name in self.settings.accounts if name in self.platforms]

    def jobs(self) -> list[Job]:
        """One interval job per account, id "engagement:<account>", every graph.engagement.every, the first
        right away. The job logs any error with its traceback and never raises."""
        now = self.clock.now()
        return [
            interval_job(
                f"engagement:{account}",
                f"engagement of {account}",
                self.config.every,
                now,
                partial(self.collect, account),
                log=logger,
                what=f"engagement of {account}: the collection",
            )
            for account in self.accounts()
        ]

    def collect_all(self) -> dict[str, EngagementReport]:
        return {account: self.collect(account) for account in self.accounts()}

    # ------------------------------------------------------------------ one pass

    def collect(self, account: str) -> EngagementReport:
        """Read the engagement of `account`'s due posts within its daily read budget; see the module docstring."""
        with costs.spending(costs.ENGAGEMENT):
            return self._collect(account)

    def _collect(self, account: str) -> EngagementReport:
        report = EngagementReport(account)
        if account not in self.accounts():
            return report
        conf = self.config
        platform = self.platforms[account]
        now = self.clock.now()
        day = utc_day(now)
        budget = conf.daily_read_budget
        report.budget_left = max(0, budget - self.store.engagement.reads_used(account, day))
        paused = self.store.accounts.paused_reason(account)
        if paused:
            logger.debug("engagement of %s: account paused (%s); not collecting", account, paused)
            return report
        if self.spending is not None and not self.spending.may_spend(account, costs.ENGAGEMENT):
            report.stopped_by = "spending cap"
            return report
        if self._waiting(account, now, report):
            return report
        if report.budget_left <= 0 or self._used_up_on.get(account) == day:
            self._used_up(account, day, budget, report)
            return report
        try:
            me = platform.me()
            self.store.engagement.track_sent_posts(account, since=now - conf.lookback)
            slack = min(MAX_SLACK, conf.every / 10)
            due = self.store.engagement.due_posts(
                account, now=now, lookback=conf.lookback, every=conf.every - slack, limit=self.max_posts
            )
            for post in due:
                if not self.store.engagement.claim_post(post, now):
                    continue  # another daemon is collecting it
                report.posts += 1
                self._collect_post(account, platform, me, post, now, day, report)
        except _Stop as stop:
            report.stopped_by = stop.reason
        except RateLimited as exc:
            self._wait(account, exc.retry_at, report)
        except AuthError as exc:
            logger.error("engagement of %s: authentication failed (%s); not collecting", account, exc)
            report.stopped_by = "error"
            report.errors.append(str(exc))
        except PlatformError as exc:
            logger.warning("engagement of %s: cannot read the account (%s)", account, exc)
            report.stopped_by = "error"
            report.errors.append(str(exc))
        report.budget_left = max(0, budget - self.store.engagement.reads_used(account, day))
        quiet = report.interactions == 0 and report.stopped_by in (None, "budget")
        (logger.debug if quiet else logger.info)(
            "engagement of %s: posts=%d new_interactions=%d reads=%d budget_left=%d%s",
            account,
            report.posts,
            report.interactions,
            report.reads,
            report.budget_left,
            f" (stopped: {report.stopped_by})" if report.stopped_by else "",
        )
        return report

    def _collect_post(
        self,
        account: str,
        platform: Platform,
        me: User,
        post: TrackedPost,
        now: datetime,
        day: str,
        report: EngagementReport,
    ) -> None:
        """Read every kind of one claimed post and store what was read; raises _Stop to end the pass (after
        storing what was read)."""
        net = platform.name
        interactions: list[InteractionRecord] = []
        users: list[UserRecord] = []
        counts: dict[str, int] = {}
        stop: _Stop | None = None
        missing = False
        for kind in ENGAGEMENT_KINDS:
            try:
                result = self._read(account, platform, post.post_id, kind, now, day, report)
            except _Stop as exc:
                stop = exc
                break
            if result.missing:
                missing = True
                logger.info("engagement of %s: post %s is deleted or not visible", account, post.post_id)
                break
            counts[kind] = len(result.posts) if kind == "quote" else len(result.users)
            self._edges(net, me, post.post_id, result, now, interactions, users)
        # done for this round: every kind read, the post is gone, or the budget ran out after some kind was read
        # (its next turn comes `every` later, after the posts still waiting); a rate limit or an error before
        # the end leaves it due
        done = stop is None or missing or (stop.reason == "budget" and bool(counts))
        new = self.store.engagement.record(
            account,
            post.post_id,
            interactions=interactions,
            users=users,
            counts=counts,
            collected_at=now if done else post.last_collected_at,
        )
        report.interactions += new
        if stop is not None:
            raise stop

    def _read(
        self,
        account: str,
        platform: Platform,
        post_id: str,
        kind: str,
        now: datetime,
        day: str,
        report: EngagementReport,
    ) -> Engagers:
        """One engagers call, paid for from the budget first; raises _Stop (budget, rate limit, error)."""
        reset = self._exhausted(platform, kind, now)
        if reset is not None:
            self._wait(account, reset, report)
            raise _Stop("rate_limit")
        budget = self.config.daily_read_budget
        wanted = self.config.max_per_post
        cost = platform.engagers_cost(kind, wanted)
        granted = self.store.engagement.reserve_reads(account, day, cost, budget)
        limit = wanted if granted >= cost else self._affordable(platform, kind, wanted, granted)
        if limit <= 0:
            self.store.engagement.release_reads(account, day, granted)
            self._used_up(account, day, budget, report)
            raise _Stop("budget")
        try:
            result = platform.engagers(post_id, kind, limit=limit)
        except RateLimited as exc:
            self.store.engagement.release_reads(account, day, granted)
            self._wait(account, exc.retry_at, report)
            raise _Stop("rate_limit") from exc
        except AuthError as exc:
            self.store.engagement.release_reads(account, day, granted)
            logger.error("engagement of %s: authentication failed (%s); collection stopped", account, exc)
            report.errors.append(str(exc))
            raise _Stop("error") from exc
        except PlatformError as exc:
            self.store.engagement.release_reads(account, day, granted)
            logger.warning("engagement of %s: reading the %ss of post %s failed: %s", account, kind, post_id, exc)
            report.errors.append(str(exc))
            raise _Stop("error") from exc
        except BaseException:
            self.store.engagement.release_reads(account, day, granted)
            raise
        if result.reads > granted:  # the platform billed more than it said a call could: count it
            logger.warning(
                "engagement of %s: %ss of post %s cost %d reads, %d were reserved",
                account,
                kind,
                post_id,
                result.reads,
                granted,
            )
            self.store.engagement.add_reads(account, day, result.reads - granted)
        else:
            self.store.engagement.release_reads(account, day, granted - result.reads)
        report.reads += result.reads
        return result

    @staticmethod
    def _affordable(platform: Platform, kind: str, wanted: int, granted: int) -> int:
        """The largest limit <= wanted whose cost fits in `granted` reads (0: none)."""
        low, high = 0, wanted
        while low < high:
            mid = (low + high + 1) // 2
            if platform.engagers_cost(kind, mid) <= granted:
                low = mid
            else:
                high = mid - 1
        return low

    @staticmethod
    def _edges(
        net: str,
        me: User,
        post_id: str,
        result: Engagers,
        now: datetime,
        interactions: list[InteractionRecord],
        users: list[UserRecord],
    ) -> None:
        known = {u.id: u for u in result.users}
        if result.kind == "quote":
            for quote in result.posts:
                author = quote.author_id
                if not author or author == me.id:
                    continue
                at = quote.created_at or now
                interactions.append(InteractionRecord(net, author, me.id, "quote", quote.id, at))
                user = known.get(author)
                users.append(UserRecord.of(net, user) if user is not None else UserRecord(net, author))
            return
        for user in result.users:
            if user.id == me.id:
                continue
            interactions.append(InteractionRecord(net, user.id, me.id, result.kind, post_id, now))
            users.append(UserRecord.of(net, user))

    # ------------------------------------------------------------------ budget and rate limits

    def _used_up(self, account: str, day: str, budget: int, report: EngagementReport) -> None:
        """The budget cannot pay for the next call: no more collection of `account` until 00:00 UTC."""
        report.stopped_by = "budget"
        if self._used_up_on.get(account) == day:
            return
        self._used_up_on[account] = day
        if budget <= 0:
            logger.info("engagement of %s: graph.engagement.daily_read_budget is 0; not collecting", account)
            return
        used = self.store.engagement.reads_used(account, day)
        logger.info(
            "engagement reads for %s used up today (%d of %d); next collection after 00:00 UTC", account, used, budget
        )

    def _exhausted(self, platform: Platform, kind: str, now: datetime) -> datetime | None:
        """The reset time when the platform said this kind's window is used up (the next call would 429)."""
        endpoint = platform.buckets.engagers[kind]
        for status in platform.rate_limits():
            if status.endpoint == endpoint and status.remaining <= 0 and status.reset_at > now:
                return status.reset_at
        return None

    def _waiting(self, account: str, now: datetime, report: EngagementReport) -> bool:
        until = self._waits.get(account)
        stored = self.store.rate_limits.blocked_until(account, ENGAGEMENT)
        if stored is not None and (until is None or stored > until):
            until = stored
        if until is not None and until > now:
            report.waiting_until = until
            report.stopped_by = "rate_limit"
            logger.debug("engagement of %s: rate limited until %s; not collecting", account, until.isoformat())
            return True
        return False

    def _wait(self, account: str, until: datetime, report: EngagementReport) -> None:
        self._waits[account] = until
        self.store.rate_limits.block(account, ENGAGEMENT, until)
        report.waiting_until = max(until, report.waiting_until or until)
        report.stopped_by = "rate_limit"
        logger.info("engagement of %s: rate limited; next collection after %s", account, until.isoformat())
