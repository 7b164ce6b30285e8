"""Mentions and DMs -> stored with their authors and interactions, classified, answered once, escalated.

One poll of an account reads every page of mentions newer than the stored cursor (pacing itself by the
platform's rate-limit headers), then stores the pages OLDEST FIRST, each page in one transaction with its
authors, interactions, decisions, outbox rows (key reply:<mention id>), inbox rows and opt-outs
(bot.domains.conversations.batch; what to do with each item: bot.domains.conversations.decide). The cursor
(the newest id of the first page) moves only in the transaction of the last page of a complete run, so a
crash or a rate limit mid-run re-reads from the old cursor next time: the unique keys make that a no-op for
what was already stored, and nothing newer than the cursor is ever skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.adapters.escalation import Escalator
from bot.adapters.scheduling import Job
from bot.core import costs
from bot.core.clock import Clock
from bot.core.errors import AuthError, PlatformError, RateLimited, StoreError
from bot.core.logs import job_failures
from bot.core.models import Page, User
from bot.core.ports import Platform, SpendingGate
from bot.domains.conversations.batch import (
    DMS,
    MENTIONS,
    Answers,
    Batches,
    CouponOffers,
    IntentClassifier,
    Source,
    Tally,
)
from bot.domains.conversations.incoming import Incoming

if TYPE_CHECKING:
    from bot.core.ports import MentionStore
    from bot.domains.conversations.replies import Renderer
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

MENTION_WINDOW = 800  # X serves only the newest 800 mentions (the Bluesky adapter reads at most 800 at first)
POLL_LEASE_MIN_SECONDS = 5.0


def poll_lease(account: str) -> str:
    return f"mentions-poll:{account}"


@dataclass
class PollReport:
    account: str
    mentions: int = 0  # mentions fetched (including ones already stored)
    new: int = 0  # mentions and DMs stored for the first time
    replies: int = 0  # outbox rows enqueued (replies and DM answers)
    escalations: int = 0  # inbox rows
    optouts: int = 0
    skipped: int = 0  # new mentions/DMs not answered (see each one's reason)
    set_aside: int = 0  # mentions/DMs that could not be processed: in the inbox for a person, never retried
    dms: int = 0  # DMs from others fetched
    pages: int = 0
    complete: bool = True  # False: stopped early (rate limit, error); the cursor stayed where it was
    waiting_until: datetime | None = None  # a rate limit: no poll of this account before then
    errors: list[str] = field(default_factory=list)

    def add(self, tally: Tally) -> None:
        self.new += tally.new
        self.replies += tally.replies
        self.escalations += tally.escalations
        self.optouts += tally.optouts
        self.skipped += tally.skipped
        self.set_aside += tally.set_aside

    def stop(self, error: str | None = None) -> None:
        """The poll ends early: the cursor stays where it was."""
        self.complete = False
        if error is not None:
            self.errors.append(error)

    def wait(self, until: datetime) -> None:
        self.waiting_until = max(until, self.waiting_until or until)
        self.complete = False


class _PollJob:
    """The scheduler's job body for one account: poll, never let an error kill the daemon."""

    def __init__(self, service: MentionService, account: str) -> None:
        self.service = service
        self.account = account

    def __call__(self) -> None:
        with job_failures(logger, f"mentions of {self.account}: the poll"):
            self.service.poll(self.account)


def shop_answers(settings: Settings) -> Answers | None:
    """What answers questions from the shop's own data, when an intent rule has an `answer` template."""
    if not any(rule.answer for rule in settings.replies.intents):
        return None
    from bot.domains.conversations.answers import Answerer, Knowledge

    return Answerer(Knowledge.from_settings(settings))


def _newest(platform: Platform, ids: Iterable[str]) -> str | None:
    newest = None
    for item_id in ids:
        if platform.newer(item_id, newest):
            newest = item_id
    return newest


class MentionService:
    """Polls mentions and DMs of the configured accounts and answers them through the outbox."""

    def __init__(
        self,
        settings: Settings,
        store: MentionStore,
        platforms: Mapping[str, Platform],
        classifier: IntentClassifier,
        renderer: Renderer,
        clock: Clock,
        on_enqueue: Callable[[], None] | None = None,
        *,
        escalator: Escalator | None = None,
        page_size: int = 100,
        coupons: CouponOffers | None = None,
        owner: str | None = None,
        spending: SpendingGate | None = None,
    ) -> None:
        self.settings = settings
        self.spending = spending  # the monthly cap (bot.domains.costs): polling stops with replies near it
        self.replies = settings.replies
        self.store = store
        self.platforms = platforms
        self.clock = clock
        self.on_enqueue = on_enqueue
        self.escalator = escalator if escalator is not None else Escalator(self.replies.escalation)
        self.page_size = page_size
        self.owner = owner  # with several daemons: one polls each account at a time (a lease in the store)
        self.batches = Batches(
            settings, store, classifier, renderer, clock, self.escalator, coupons, answers=shop_answers(settings)
        )
        self._waits: dict[tuple[str, str], datetime] = {}

    # ------------------------------------------------------------------ polling

    @property
    def poll_lease_ttl(self) -> timedelta:
        """How long a daemon that stopped polling (killed) keeps the others from taking over."""
        return timedelta(seconds=max(POLL_LEASE_MIN_SECONDS, 3 * float(self.replies.poll_seconds)))

    def release_poll_leases(self) -> None:
        """At a clean stop: let another daemon poll at once."""
        if self.owner is None:
            return
        for account in self.accounts():
            try:
                self.store.leases.release(poll_lease(account), self.owner)
            except StoreError as exc:
                logger.warning("mentions of %s: cannot release the polling lease: %s", account, exc)

    def accounts(self) -> list[str]:
        """The accounts whose mentions are answered (replies.accounts, default all), that have a platform."""
        if not self.replies.enabled:
            return []
        names = self.replies.accounts if self.replies.accounts is not None else list(self.settings.accounts)
        return [name for name in names if name in self.platforms]

    def jobs(self) -> list[Job]:
        """One scheduler job per answered account, id "mentions:<account>", every replies.poll_seconds and
        first right away (catching up after downtime); for Scheduler.replace_all with the campaign jobs.
        The job logs any error with its traceback and never raises."""
        now = self.clock.now()
        return [
            Job(
                job_id=f"mentions:{account}",
                func=_PollJob(self, account),
                spec=float(self.replies.poll_seconds),
                name=f"mentions of {account}",
                start_at=now,
            )
            for account in self.accounts()
        ]

    def poll_all(self) -> dict[str, PollReport]:
        return {account: self.poll(account) for account in self.accounts()}

    def poll(self, account: str) -> PollReport:
        """Read new mentions (and DMs) of `account`, store and answer them; see the module docstring. The reads
        are paid for replies (bot.core.costs.REPLY): once the spending cap stops replies, nothing is read."""
        with costs.spending(costs.REPLY):
            return self._poll(account)

    def _poll(self, account: str) -> PollReport:
        report = PollReport(account)
        if account not in self.accounts():
            return report
        platform = self.platforms[account]
        paused = self.store.accounts.paused_reason(account)
        if paused:
            logger.debug("mentions of %s: account paused (%s); not polling", account, paused)
            report.stop()
            return report
        if self.spending is not None and not self.spending.may_spend(account, costs.REPLY):
            report.stop("spending cap: replies stopped for this month")
            return report
        if self.owner is not None and not self.store.leases.acquire(
            poll_lease(account), self.owner, ttl=self.poll_lease_ttl, now=self.clock.now()
        ):
            logger.debug("mentions of %s: another daemon polls them", account)
            return report
        try:
            me = platform.me()
        except RateLimited as exc:
            self._wait(account, MENTIONS, exc.retry_at, report)
            return report
        except AuthError as exc:
            reason = f"authentication failed: {exc}"
            self.store.accounts.pause(account, reason)
            logger.error("ACCOUNT %s PAUSED: %s. Fix the credentials, then restart the daemon.", account, exc)
            report.stop(reason)
            return report
        except PlatformError as exc:
            logger.warning("mentions of %s: cannot read the account (%s)", account, exc)
            report.stop(str(exc))
            return report
        self._poll_mentions(account, platform, me, report)
        if self.replies.direct_messages:
            self._poll_dms(account, platform, me, report)
        self._after(report)
        quiet = report.new == 0 and not report.set_aside and (report.complete or report.waiting_until is not None)
        (logger.debug if quiet else logger.info)(
            "mentions of %s: fetched=%d dms=%d new=%d replies=%d escalations=%d optouts=%d skipped=%d set_aside=%d%s",
            account,
            report.mentions,
            report.dms,
            report.new,
            report.replies,
            report.escalations,
            report.optouts,
            report.skipped,
            report.set_aside,
            "" if report.complete else " (incomplete: resumes from the stored cursor)",
        )
        return report

    def ingest_page(self, account: str, page: Page, *, cursor: str | None = None) -> PollReport:
        """Store, classify and answer one page of mentions (as Platform.mentions yields it) in one
        transaction, like poll does with each page; `cursor` also moves the mentions cursor there."""
        report = PollReport(account)
        platform = self.platforms[account]
        items = [Incoming.from_post(p) for p in page.items]
        report.mentions = len(items)
        source = Source(account, platform, platform.me(), page.users, MENTIONS)
        report.add(self.batches.handle(source, items, cursor))
        self._after(report)
        return report

    def _after(self, report: PollReport) -> None:
        self.send_webhooks()
        if report.replies and self.on_enqueue is not None:
            self.on_enqueue()

    def _poll_mentions(self, account: str, platform: Platform, me: User, report: PollReport) -> None:
        now = self.clock.now()
        if self._waiting(account, MENTIONS, now, report):
            return
        since = self.store.mentions.cursor(account, MENTIONS)
        resume = self.store.mentions.resume_point(account, MENTIONS)  # an interrupted run: read below its oldest only
        until = resume[1] if resume else None
        pages = []
        complete = False
        iterator = platform.mentions(since_id=since, page_size=self.page_size, until_id=until)
        try:
            while True:
                reset = self._exhausted(platform, platform.buckets.mentions, now)
                if reset is not None:
                    logger.info("mentions of %s: rate-limit window used up; paging resumes after %s", account, reset)
                    self._wait(account, MENTIONS, reset, report)
                    break
                try:
                    page = next(iterator)
                except StopIteration:
                    complete = True
                    break
                pages.append(page)
        except RateLimited as exc:
            self._wait(account, MENTIONS, exc.retry_at, report)
        except PlatformError as exc:
            logger.warning("mentions of %s: reading stopped after %d page(s): %s", account, len(pages), exc)
            report.errors.append(str(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        report.pages += len(pages)
        report.complete = report.complete and complete
        fetched = sum(len(page.items) for page in pages)
        report.mentions += fetched
        if complete and fetched >= MENTION_WINDOW:
            if since is not None:
                logger.warning(
                    "mentions of %s: %d new mentions since the last poll reach %s's %d-mention window: "
                    "older ones after %s may be unreachable",
                    account,
                    fetched,
                    platform.name,
                    MENTION_WINDOW,
                    since,
                )
            else:
                logger.warning(
                    "mentions of %s: first poll read %d mentions; only the newest %d are read from %s",
                    account,
                    fetched,
                    MENTION_WINDOW,
                    platform.name,
                )
        # The newest position of this whole run (or, resuming, the interrupted run's): the newest any page carries
        # (Page.newest_id only grows along a read; an adapter fills it from the items where the answer had none).
        newest = resume[0] if resume else _newest(platform, (p.newest_id for p in pages if p.newest_id))
        oldest = next((p.items[-1].id for p in reversed(pages) if p.items), None)
        progress: tuple[str, str | None] | None
        if complete:
            progress = (newest, None) if newest and platform.newer(newest, since) else None
        else:
            progress = (newest, oldest) if newest and oldest else None
        users: dict[str, User] = {}
        for page in pages:
            users.update(page.users)
        batches = [[Incoming.from_post(p) for p in page.items] for page in reversed(pages)]  # oldest page first
        if not batches and complete and resume:
            batches = [[]]
        source = Source(account, platform, me, users, MENTIONS)
        for index, items in enumerate(batches):
            last = index == len(batches) - 1
            if items or (last and (progress or resume)):
                report.add(self.batches.handle(source, items, progress if last else None))

    def _poll_dms(self, account: str, platform: Platform, me: User, report: PollReport) -> None:
        now = self.clock.now()
        if self._waiting(account, DMS, now, report):
            return
        reset = self._exhausted(platform, platform.buckets.dms, now)
        if reset is not None:
            self._wait(account, DMS, reset, report)
            return
        since = self.store.mentions.cursor(account, DMS)
        try:
            events = platform.direct_messages(since_id=since)
        except RateLimited as exc:
            self._wait(account, DMS, exc.retry_at, report)
            return
        except PlatformError as exc:
            logger.warning("DMs of %s: reading failed: %s", account, exc)
            report.stop(str(exc))
            return
        events = [e for e in events if platform.newer(e.id, since)]
        newest = _newest(platform, (e.id for e in events))
        incoming = [Incoming.from_dm(e) for e in events if e.sender_id and e.sender_id != me.id]
        report.dms += len(incoming)
        if incoming or newest:
            report.add(self.batches.handle(Source(account, platform, me, {}, DMS), incoming, newest))

    # ------------------------------------------------------------------ rate limits

    def _exhausted(self, platform: Platform, endpoint: str, now: datetime) -> datetime | None:
        """The reset time when the platform said this endpoint's window is used up (the next call would 429)."""
        for status in platform.rate_limits():
            if status.endpoint == endpoint and status.remaining <= 0 and status.reset_at > now:
                return status.reset_at
        return None

    def _waiting(self, account: str, stream: str, now: datetime, report: PollReport) -> bool:
        until = self._waits.get((account, stream))
        stored = self.store.rate_limits.blocked_until(account, stream)
        if stored is not None and (until is None or stored > until):
            until = stored
        if until is not None and until > now:
            report.wait(until)
            return True
        return False

    def _wait(self, account: str, stream: str, until: datetime, report: PollReport) -> None:
        self._waits[(account, stream)] = until
        self.store.rate_limits.block(account, stream, until)
        report.wait(until)
        logger.info("%s of %s: rate limited; next read after %s", stream, account, until.isoformat())

    # ------------------------------------------------------------------ escalation webhooks

    def send_webhooks(self, ids: Iterable[int] | None = None) -> int:
        """POST the inbox items whose webhook is still owed (also ones a crash left behind); never raises."""
        if not self.escalator.enabled:
            return 0
        sent = 0
        try:
            items = self.store.mentions.claim_webhooks(list(ids) if ids is not None else None)
        except Exception:
            logger.exception("escalation webhooks: cannot read the inbox")
            return 0
        for item in items:
            try:
                status = self.escalator.post(item)
            except Exception as exc:  # never let a webhook break the poll
                logger.exception("escalation webhook for inbox item %s failed", item.id)
                status = f"error: {type(exc).__name__}"
            try:
                self.store.mentions.set_webhook_status(item.id, status)
            except Exception:
                logger.exception("escalation webhook: cannot record the status of inbox item %s", item.id)
            sent += status.startswith("sent")
        return sent
