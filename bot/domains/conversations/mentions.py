"""Mentions and DMs -> stored with their authors and interactions, classified, answered once, escalated.

One poll of an account reads every page of mentions newer than the stored cursor (pacing itself by the
platform's rate-limit headers), then stores the pages OLDEST FIRST, each page in one transaction with its
authors, interactions, decisions, outbox rows (key reply:<mention id>), inbox rows and opt-outs. The cursor
(the newest id of the first page) moves only in the transaction of the last page of a complete run, so a
crash or a rate limit mid-run re-reads from the old cursor next time: the unique keys make that a no-op for
what was already stored, and nothing newer than the cursor is ever skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import TYPE_CHECKING, Any, Protocol

from bot.adapters.escalation import Escalator
from bot.adapters.scheduling import Job
from bot.adapters.store.mentions import (
    InboxRecord,
    InteractionRecord,
    MentionRecord,
    MentionUnit,
    OptOutRecord,
    ReplyRecord,
    UserRecord,
    dm_reply_key,
    reply_key,
)
from bot.adapters.store.tables import MentionDecision
from bot.core.clock import Clock
from bot.core.errors import AuthError, BotError, PlatformError, RateLimited, StoreError, StoreRefused
from bot.core.logs import job_failures
from bot.core.models import DirectMessage, Page, Post, User
from bot.core.ports import Platform
from bot.core.text import safe_name
from bot.domains.conversations.replies import Composed, ReplyComposer, quiet_until, reply_context
from bot.settings.replies import IntentRule, format_duration

if TYPE_CHECKING:
    from bot.adapters.store import Store
    from bot.domains.conversations.replies import Renderer
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

MENTIONS = "mentions"
DMS = "dms"
# The rate-limit buckets (RateLimitStatus.endpoint) of the reads a poll makes, per platform (Platform.name): the
# poll stops before a read the platform said would be refused.
MENTIONS_ENDPOINTS = {"x": "GET /2/users/:id/mentions", "bluesky": "GET app.bsky.notification.listNotifications"}
DM_ENDPOINTS = {"x": "GET /2/dm_events", "bluesky": "GET chat.bsky.convo.listConvos"}
MENTIONS_ENDPOINT = MENTIONS_ENDPOINTS["x"]
DM_ENDPOINT = DM_ENDPOINTS["x"]
MENTION_WINDOW = 800  # X serves only the newest 800 mentions (the Bluesky adapter reads at most 800 at first)
OPT_OUT = "opt_out"
DAY = timedelta(hours=24)
POLL_LEASE_MIN_SECONDS = 5.0


def poll_lease(account: str) -> str:
    return f"mentions-poll:{account}"


class IntentLike(Protocol):
    name: str
    sentiment: float
    language: str
    matched: str | None
    escalate: bool
    rule: IntentRule | None


class IntentClassifier(Protocol):
    def classify(self, text: str, *, account_handle: str | None = None) -> Any: ...


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


@dataclass(frozen=True)
class Incoming:
    """A mention or a DM, as the decisions see it."""

    kind: str  # "mention" | "dm"
    id: str
    text: str
    author_id: str | None
    created_at: datetime | None = None
    conversation_id: str | None = None
    in_reply_to_user_id: str | None = None
    replied_to_id: str | None = None
    quoted_id: str | None = None
    mentions: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()

    @classmethod
    def from_post(cls, post: Post) -> Incoming:
        return cls(
            "mention",
            post.id,
            post.text,
            post.author_id,
            post.created_at,
            post.conversation_id,
            post.in_reply_to_user_id,
            post.replied_to_id,
            post.quoted_id,
            tuple(post.mentions),
            tuple(post.hashtags),
            tuple(post.urls),
        )

    @classmethod
    def from_dm(cls, dm: DirectMessage) -> Incoming:
        return cls("dm", dm.id, dm.text, dm.sender_id, dm.created_at, dm.conversation_id)


def _poisoned(exc: Exception) -> bool:
    """Whether a failure to store and answer items may be down to one of them: the database refused a value, or
    the code failed on an item's content; not an unavailable database or a broken schema."""
    return isinstance(exc, StoreRefused) or not isinstance(exc, StoreError)


def summons(item: Incoming, me: User, own_posts: Collection[str] = ()) -> bool:
    """Whether the author called on the account: a DM to it, an @mention of it, a reply to or a quote of
    one of its posts. X refuses (403) replies to anything else."""
    if item.kind == "dm":
        return True
    handle = me.username.lower()
    if any(name.lstrip("@").lower() == handle for name in item.mentions):
        return True
    if item.in_reply_to_user_id is not None and item.in_reply_to_user_id == me.id:
        return True
    return item.quoted_id is not None and item.quoted_id in own_posts


def _newer(a: str, b: str | None) -> bool:
    if b is None:
        return True
    if a.isdigit() and b.isdigit():
        return int(a) > int(b)
    return a > b


def _id_order(item_id: str) -> tuple[int, int, str]:
    return (0, int(item_id), "") if item_id.isdigit() else (1, 0, item_id)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _age_order(item: Incoming) -> tuple[int, int, datetime, str]:
    """Oldest first. X ids are numbers that grow with time; other ids (Bluesky's at-URIs, one repository per
    author) say nothing about time across authors: those go by creation time, then id."""
    if item.id.isdigit():
        return (0, int(item.id), _EPOCH, "")
    created = item.created_at if item.created_at is not None else _EPOCH
    return (1, 0, created if created.tzinfo is not None else created.replace(tzinfo=UTC), item.id)


@dataclass
class _Plan:
    users: list[UserRecord] = field(default_factory=list)
    mentions: list[MentionRecord] = field(default_factory=list)
    interactions: list[InteractionRecord] = field(default_factory=list)
    replies: list[ReplyRecord] = field(default_factory=list)
    inbox: list[InboxRecord] = field(default_factory=list)
    optouts: list[OptOutRecord] = field(default_factory=list)
    coupons: list[tuple[int, str]] = field(default_factory=list)  # (coupon id, outbox key of the reply carrying it)


class CouponOffers(Protocol):
    """Reply-channel coupons (bot.domains.coupons.issuing.CouponService): the code a person's reply may carry."""

    def coupon_for_reply(
        self, account: str, platform: str, user_id: str, *, language: str | None = None, name: str = ""
    ) -> Any: ...

    def mark_delivering(self, coupon_id: int, outbox_key: str) -> bool: ...


class _PollJob:
    """The scheduler's job body for one account: poll, never let an error kill the daemon."""

    def __init__(self, service: MentionService, account: str) -> None:
        self.service = service
        self.account = account

    def __call__(self) -> None:
        with job_failures(logger, f"mentions of {self.account}: the poll"):
            self.service.poll(self.account)


class MentionService:
    """Polls mentions and DMs of the configured accounts and answers them through the outbox."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
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
    ) -> None:
        self.settings = settings
        self.replies = settings.replies
        self.store = store
        self.platforms = platforms
        self.classifier = classifier
        self.renderer = renderer
        self.clock = clock
        self.on_enqueue = on_enqueue
        self.escalator = escalator if escalator is not None else Escalator(self.replies.escalation)
        self.page_size = page_size
        self.coupons = coupons
        self.owner = owner  # with several daemons: one polls each account at a time (a lease in the store)
        self._waits: dict[tuple[str, str], datetime] = {}
        self._composers: dict[str, ReplyComposer] = {}

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
                self.store.release_lease(poll_lease(account), self.owner)
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
        """Read new mentions (and DMs) of `account`, store and answer them; see the module docstring."""
        report = PollReport(account)
        if account not in self.accounts():
            return report
        platform = self.platforms[account]
        paused = self.store.paused_reason(account)
        if paused:
            logger.debug("mentions of %s: account paused (%s); not polling", account, paused)
            report.complete = False
            return report
        if self.owner is not None and not self.store.acquire_lease(
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
            self.store.pause_account(account, reason)
            logger.error("ACCOUNT %s PAUSED: %s. Fix the credentials, then restart the daemon.", account, exc)
            report.complete = False
            report.errors.append(reason)
            return report
        except PlatformError as exc:
            logger.warning("mentions of %s: cannot read the account (%s)", account, exc)
            report.complete = False
            report.errors.append(str(exc))
            return report
        self._poll_mentions(account, platform, me, report)
        if self.replies.direct_messages:
            self._poll_dms(account, platform, me, report)
        self.send_webhooks()
        if report.replies and self.on_enqueue is not None:
            self.on_enqueue()
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
        self._handle(account, platform, platform.me(), items, page.users, MENTIONS, cursor, report)
        self.send_webhooks()
        if report.replies and self.on_enqueue is not None:
            self.on_enqueue()
        return report

    def _poll_mentions(self, account: str, platform: Platform, me: User, report: PollReport) -> None:
        now = self.clock.now()
        if self._waiting(account, MENTIONS, now, report):
            return
        since = self.store.cursor(account, MENTIONS)
        resume = self.store.resume_point(account, MENTIONS)  # an interrupted run: read below its oldest only
        until = resume[1] if resume else None
        pages = []
        complete = False
        iterator = platform.mentions(since_id=since, page_size=self.page_size, until_id=until)
        try:
            endpoint = MENTIONS_ENDPOINTS.get(platform.name, MENTIONS_ENDPOINT)
            while True:
                reset = self._exhausted(platform, endpoint, now)
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
        # The newest id of this whole run: the first page's (or, resuming, the interrupted run's).
        newest = resume[0] if resume else (pages[0].newest_id if pages else None)
        oldest = next((p.items[-1].id for p in reversed(pages) if p.items), None)
        if complete:
            progress: tuple[str, str | None] | None = (newest or "", None) if newest and _newer(newest, since) else None
        else:
            progress = (newest, oldest) if newest and oldest else None
        users: dict[str, User] = {}
        for page in pages:
            users.update(page.users)
        batches = [[Incoming.from_post(p) for p in page.items] for page in reversed(pages)]  # oldest page first
        if not batches and complete and resume:
            batches = [[]]
        for index, items in enumerate(batches):
            last = index == len(batches) - 1
            if items or (last and (progress or resume)):
                self._handle(account, platform, me, items, users, MENTIONS, progress if last else None, report)

    def _poll_dms(self, account: str, platform: Platform, me: User, report: PollReport) -> None:
        now = self.clock.now()
        if self._waiting(account, DMS, now, report):
            return
        reset = self._exhausted(platform, DM_ENDPOINTS.get(platform.name, DM_ENDPOINT), now)
        if reset is not None:
            self._wait(account, DMS, reset, report)
            return
        since = self.store.cursor(account, DMS)
        try:
            events = platform.direct_messages(since_id=since)
        except RateLimited as exc:
            self._wait(account, DMS, exc.retry_at, report)
            return
        except PlatformError as exc:
            logger.warning("DMs of %s: reading failed: %s", account, exc)
            report.complete = False
            report.errors.append(str(exc))
            return
        events = [e for e in events if _newer(e.id, since)]
        newest = max((e.id for e in events), key=_id_order, default=None)
        incoming = [Incoming.from_dm(e) for e in events if e.sender_id and e.sender_id != me.id]
        report.dms += len(incoming)
        if incoming or newest:
            self._handle(account, platform, me, incoming, {}, DMS, newest, report)

    # ------------------------------------------------------------------ rate limits

    def _exhausted(self, platform: Platform, endpoint: str, now: datetime) -> datetime | None:
        """The reset time when the platform said this endpoint's window is used up (the next call would 429)."""
        for status in platform.rate_limits():
            if status.endpoint == endpoint and status.remaining <= 0 and status.reset_at > now:
                return status.reset_at
        return None

    def _waiting(self, account: str, stream: str, now: datetime, report: PollReport) -> bool:
        until = self._waits.get((account, stream))
        stored = self.store.rate_limited_until(account, stream)
        if stored is not None and (until is None or stored > until):
            until = stored
        if until is not None and until > now:
            report.waiting_until = max(until, report.waiting_until or until)
            report.complete = False
            return True
        return False

    def _wait(self, account: str, stream: str, until: datetime, report: PollReport) -> None:
        self._waits[(account, stream)] = until
        self.store.block_endpoint(account, stream, until)
        report.waiting_until = max(until, report.waiting_until or until)
        report.complete = False
        logger.info("%s of %s: rate limited; next read after %s", stream, account, until.isoformat())

    # ------------------------------------------------------------------ one batch, one transaction

    def _composer(self, platform: Platform) -> ReplyComposer:
        composer = self._composers.get(platform.name)
        if composer is None:
            composer = ReplyComposer(
                self.renderer,
                max_length=platform.max_length,
                length=platform.length,
                dm_max_length=platform.dm_max_length,
            )
            self._composers[platform.name] = composer
        return composer

    def _handle(
        self,
        account: str,
        platform: Platform,
        me: User,
        items: Sequence[Incoming],
        users: Mapping[str, User],
        stream: str,
        cursor: str | tuple[str, str | None] | None,
        report: PollReport,
    ) -> None:
        """One transaction: store and answer `items`; then move the cursor. `cursor` is the new cursor value,
        or (newest, None) for a complete run, or (newest, oldest stored) for an interrupted one.

        When that fails because of what was written (the database refused a value, or the code failed on an
        item), each item is tried in a transaction of its own; one that still fails is set aside (an open inbox
        item with the reason, counted by /healthz) and the cursor moves on, so one poison message never blocks the
        messages after it. Any other database failure (unavailable, a broken schema) fails the poll as before:
        the cursor stays and nothing is set aside."""
        try:
            self._handle_unit(account, platform, me, items, users, stream, cursor, report)
            return
        except Exception as exc:
            if not items or not _poisoned(exc):
                raise
            logger.warning(
                "%s of %s: a batch of %d could not be stored (%s); trying them one by one",
                stream,
                account,
                len(items),
                exc,
            )
        for item in items:
            try:
                self._handle_unit(account, platform, me, [item], users, stream, None, report)
            except Exception as exc:
                if not _poisoned(exc):
                    raise
                logger.exception("%s of %s: %s %s cannot be processed; set aside", stream, account, item.kind, item.id)
                self.store.set_aside(account, platform.name, item.kind, item.id, item.author_id, item.text, exc)
                report.set_aside += 1
        self._handle_unit(account, platform, me, [], users, stream, cursor, report)

    def _handle_unit(
        self,
        account: str,
        platform: Platform,
        me: User,
        items: Sequence[Incoming],
        users: Mapping[str, User],
        stream: str,
        cursor: str | tuple[str, str | None] | None,
        report: PollReport,
    ) -> None:
        unique = {item.id: item for item in items}
        kind = "dm" if stream == DMS else "mention"
        known = self.store.stored_mention_ids(account, kind, list(unique)) if unique else set()
        ordered = sorted((i for i in unique.values() if i.id not in known), key=_age_order)  # oldest first
        handle = self.settings.accounts[account].handle
        intents = {i.id: self.classifier.classify(i.text, account_handle=handle) for i in ordered}
        now = self.clock.now()
        offers = self._offers(account, platform.name, me, ordered, users, intents)  # (reads outside the unit)
        plan = None
        with self.store.mention_unit(account) as unit:
            existing = unit.existing(kind, [i.id for i in ordered])
            fresh = [i for i in ordered if i.id not in existing]
            if fresh:
                plan = self._plan(unit, account, platform, me, fresh, users, intents, now, offers)
                writes = unit.write(
                    users=plan.users,
                    mentions=plan.mentions,
                    interactions=plan.interactions,
                    replies=plan.replies,
                    inbox=plan.inbox,
                    optouts=plan.optouts,
                )
                report.new += writes.mentions
                report.replies += writes.replies
                report.escalations += len(writes.inbox_ids)
                report.optouts += writes.optouts
                report.skipped += sum(1 for m in plan.mentions if m.decision == MentionDecision.SKIPPED)
            if isinstance(cursor, tuple):
                newest, oldest = cursor
                if oldest is None:
                    unit.advance_cursor(stream, newest)
                    unit.clear_resume(stream)
                else:
                    unit.set_resume(stream, newest, oldest)
            elif cursor:
                unit.advance_cursor(stream, cursor)
        if plan is not None and plan.coupons and self.coupons is not None:
            for coupon_id, key in plan.coupons:  # the reply row exists now: the coupon is on its way with it
                self.coupons.mark_delivering(coupon_id, key)

    def _offers(
        self,
        account: str,
        net: str,
        me: User,
        items: Sequence[Incoming],
        users: Mapping[str, User],
        intents: Mapping[str, Any],
    ) -> dict[str, Any]:
        """author -> the reply-channel coupon waiting for them (bot.domains.coupons.issuing),
        for the templates' `coupon`."""
        offers: dict[str, Any] = {}
        if self.coupons is None:
            return offers
        for item in items:
            author = item.author_id
            if not author or author == me.id or author in offers:
                continue
            user = users.get(author)
            try:
                offers[author] = self.coupons.coupon_for_reply(
                    account,
                    net,
                    author,
                    language=intents[item.id].language,
                    name=safe_name(user.name or user.username) if user else "",
                )
            except BotError:
                logger.exception("mentions of %s: cannot look up a coupon for %s; answering without", account, author)
                offers[author] = None
        return offers

    def _plan(
        self,
        unit: MentionUnit,
        account: str,
        platform: Platform,
        me: User,
        items: Sequence[Incoming],
        users: Mapping[str, User],
        intents: Mapping[str, Any],
        now: datetime,
        offers: Mapping[str, Any] | None = None,
    ) -> _Plan:
        plan = _Plan()
        offers = offers or {}
        net = platform.name
        replies = self.replies
        caps = replies.caps
        handle = self.settings.accounts[account].handle
        authors = {i.author_id for i in items if i.author_id}
        known = dict(users)
        missing = [a for a in authors if a not in known]
        if missing:
            known.update(unit.users(net, missing))
        opted = unit.opted_out(net, [(a, known[a].username if a in known else None) for a in authors])
        per_user = unit.replies_to_users(authors, now - DAY) if caps.per_user_per_day else {}
        conversations = {i.conversation_id for i in items if i.conversation_id}
        per_conv = unit.replies_in_conversations(conversations) if caps.per_conversation else {}
        own = unit.own_posts({i.quoted_id for i in items if i.quoted_id})
        by_name = {u.username.lower(): uid for uid, u in known.items() if u.username}
        by_name[me.username.lower()] = me.id
        not_before = quiet_until(now, replies.quiet_hours, self.settings.timezone)
        composer = self._composer(platform)
        mentioned_ids: set[str] = set()
        pending: list[tuple[int, Incoming, str, dict[str, Any], str | None]] = []  # index, item, template, ctx, target
        decisions: list[dict[str, Any]] = []
        summoned_flags: list[bool] = []
        oldest = now - replies.max_age if replies.max_age is not None else None
        too_old_reason = f"older than replies.max_age ({format_duration(replies.max_age)})" if replies.max_age else ""

        def too_old(item: Incoming) -> bool:
            return oldest is not None and item.created_at is not None and item.created_at < oldest

        for item in items:
            intent = intents[item.id]
            rule = intent.rule if isinstance(intent.rule, IntentRule) else replies.rule(intent.name)
            author = item.author_id
            user = known.get(author) if author else None
            summoned = summons(item, me, own)
            decision: dict[str, Any] = {"decision": MentionDecision.SKIPPED, "reason": None, "reply_key": None}
            dm = item.kind == "dm"
            if author is None:
                decision["reason"] = "no author"
            elif author == me.id:
                decision["reason"] = "our own post"
            else:
                self._interactions(plan, net, item, me, by_name, own, now, mentioned_ids)
                if intent.escalate and intent.name != OPT_OUT:
                    plan.inbox.append(
                        InboxRecord(
                            account=account,
                            platform=net,
                            kind=item.kind,
                            mention_id=item.id,
                            text=item.text,
                            user_id=author,
                            username=user.username if user else None,
                            intent=intent.name,
                            webhook=self.escalator.enabled,
                        )
                    )
                template = (rule.dm_reply or rule.reply) if (rule and dm) else (rule.reply if rule else None)
                if not summoned:
                    decision["reason"] = "does not summon the account"
                elif author in opted:
                    decision["reason"] = "opted out"
                elif intent.name == OPT_OUT:
                    plan.optouts.append(
                        OptOutRecord(net, author, user.username if user else None, f"{item.kind} {item.id}")
                    )
                    opted.add(author)
                    if too_old(item):
                        decision["reason"] = too_old_reason
                    elif template:
                        # the one confirmation: no target, so the opt-out it records does not cancel it
                        ctx = self._context(item, user, intent, handle)
                        pending.append((len(decisions), item, template, ctx, None))
                    else:
                        decision["reason"] = "opted out (no confirmation template)"
                elif not template:
                    decision["reason"] = f"no reply for intent {intent.name}"
                elif too_old(item):
                    decision["reason"] = too_old_reason
                elif caps.per_user_per_day and per_user.get(author, 0) >= caps.per_user_per_day:
                    decision["reason"] = f"cap: {caps.per_user_per_day} replies to this user in 24 h"
                elif (
                    caps.per_conversation
                    and item.conversation_id
                    and per_conv.get(item.conversation_id, 0) >= caps.per_conversation
                ):
                    decision["reason"] = f"cap: {caps.per_conversation} replies in this conversation"
                else:
                    ctx = self._context(item, user, intent, handle, offers.get(author))
                    pending.append((len(decisions), item, template, ctx, author))
                    per_user[author] = per_user.get(author, 0) + 1
                    if item.conversation_id:
                        per_conv[item.conversation_id] = per_conv.get(item.conversation_id, 0) + 1
            decisions.append(decision)
            summoned_flags.append(summoned)
            if author and author != me.id:
                plan.users.append(UserRecord.of(net, user) if user else UserRecord(net, author))

        for uid in mentioned_ids:
            user = known.get(uid)
            if user is not None:
                plan.users.append(UserRecord.of(net, user))

        # texts: the preferred variant of each, one duplicate check for all, alternatives only on a clash
        firsts = [composer.first(template, ctx, dm=item.kind == "dm") for _, item, template, ctx, _ in pending]
        used = unit.used_texts([c.text for c in firsts if c.text])
        checked = {c.text for c in firsts if c.text}  # texts whose duplicate check is done
        # a clash (with a text already sent, or an earlier reply of this page): the next variant of each, one
        # more query for all; any later variant is rendered (and checked) only when that one is taken too
        others: dict[int, tuple[list[str], Iterator[str]]] = {}
        seen: set[str] = set()
        for n, ((_, item, template, ctx, _), composed) in enumerate(zip(pending, firsts, strict=True)):
            if composed.text is not None and (composed.text in used or composed.text in seen):
                dm = item.kind == "dm"
                rest = chain(
                    composer.alternatives(template, ctx, composed, dm=dm),
                    composer.with_reference(composed, ctx, dm=dm),
                )
                others[n] = ([text] if (text := next(rest, None)) is not None else [], rest)
            if composed.text is not None:
                seen.add(composed.text)
        more = {t for head, _ in others.values() for t in head} - checked
        if more:
            used |= unit.used_texts(more)
            checked |= more
        # a next variant that clashes too (sent before, or another text of this page): all the rest, one query
        claimed = set(seen)
        for head, rest in others.values():
            if head and (head[0] in used or head[0] in claimed):
                head.extend(rest)
            claimed.update(head[:1])
        more = {t for head, _ in others.values() for t in head} - checked
        if more:
            used |= unit.used_texts(more)
            checked |= more
        batch: set[str] = set()

        def taken(texts: Collection[str]) -> set[str]:
            return (set(texts) & batch) | unit.used_texts(texts)

        def free(head: list[str], rest: Iterator[str]) -> str | None:
            for text in chain(head, rest):
                if text in batch:
                    continue
                if text not in checked:
                    used.update(unit.used_texts([text]))
                    checked.add(text)
                if text not in used:
                    return text
            return None

        for n, ((index, item, template, ctx, target), composed) in enumerate(zip(pending, firsts, strict=True)):
            dm = item.kind == "dm"
            if n in others:
                text = free(*others[n])
                composed = (
                    Composed(text)
                    if text is not None
                    else Composed(None, "every variant was already sent (X refuses duplicates)")
                )
            elif composed.text is not None and composed.text in batch:
                composed = composer.choose(template, ctx, taken, dm=dm)
            decision = decisions[index]
            if composed.text is None:
                decision["reason"] = composed.reason
                continue
            batch.add(composed.text)
            key = dm_reply_key(item.id) if dm else reply_key(item.id)
            offer = offers.get(target) if target else None
            if offer is not None and offer.code in composed.text:
                plan.coupons.append((offer.coupon_id, key))
            decision.update(decision=MentionDecision.REPLIED, reason=None, reply_key=key)
            plan.replies.append(
                ReplyRecord(
                    key=key,
                    account=account,
                    kind="dm" if dm else "reply",
                    text=composed.text,
                    in_reply_to_id=None if dm else item.id,
                    recipient_id=item.author_id if dm else None,
                    not_before=not_before,
                    target_platform=net if target else None,
                    target_user_id=target,
                )
            )
        plan.mentions = [
            self._record(account, net, item, intents[item.id], summoned, now, decision)
            for item, summoned, decision in zip(items, summoned_flags, decisions, strict=True)
        ]
        if logger.isEnabledFor(logging.DEBUG):
            for record in plan.mentions:
                logger.debug(
                    "%s %s by %s: intent=%s %s%s",
                    record.kind,
                    record.platform_id,
                    record.author_id,
                    record.intent,
                    record.decision,
                    f" ({record.reason})" if record.reason else "",
                )
        return plan

    def _context(
        self, item: Incoming, user: User | None, intent: Any, handle: str, offer: Any = None
    ) -> dict[str, Any]:
        return reply_context(
            item_id=item.id,
            user=user.username if user else "",
            name=(user.name if user else "") or "",
            text=item.text,
            intent=intent.name,
            language=intent.language,
            shop=handle,
            channel="dm" if item.kind == "dm" else "reply",
            coupon=offer.text if offer is not None else None,
        )

    def _record(
        self,
        account: str,
        net: str,
        item: Incoming,
        intent: Any,
        summoned: bool,
        now: datetime,
        decision: Mapping[str, Any],
    ) -> MentionRecord:
        return MentionRecord(
            account=account,
            platform=net,
            kind=item.kind,
            platform_id=item.id,
            text=item.text,
            decision=decision["decision"],
            reason=decision["reason"],
            reply_key=decision["reply_key"],
            author_id=item.author_id,
            created_at=item.created_at,
            conversation_id=item.conversation_id,
            in_reply_to_user_id=item.in_reply_to_user_id,
            replied_to_id=item.replied_to_id,
            quoted_id=item.quoted_id,
            mentions=list(item.mentions),
            hashtags=list(item.hashtags),
            urls=list(item.urls),
            intent=intent.name,
            sentiment=float(intent.sentiment),
            language=intent.language,
            summoned=summoned,
            seen_at=now,
        )

    @staticmethod
    def _interactions(
        plan: _Plan,
        net: str,
        item: Incoming,
        me: User,
        by_name: Mapping[str, str],
        own: Collection[str],
        now: datetime,
        mentioned_ids: set[str],
    ) -> None:
        author = item.author_id
        assert author is not None
        at = item.created_at or now
        edges: list[tuple[str, str]] = []
        if item.kind == "dm":
            edges.append(("dm", me.id))
        else:
            edges.append(("mention", me.id))
            for name in item.mentions:
                uid = by_name.get(name.lstrip("@").lower())
                if uid is not None and uid not in (author, me.id):
                    edges.append(("mention", uid))
                    mentioned_ids.add(uid)
            if item.in_reply_to_user_id and item.in_reply_to_user_id != author:
                edges.append(("reply", item.in_reply_to_user_id))
            if item.quoted_id and item.quoted_id in own:
                edges.append(("quote", me.id))
        seen: set[tuple[str, str]] = set()
        for kind, target in edges:
            if (kind, target) not in seen:
                seen.add((kind, target))
                plan.interactions.append(InteractionRecord(net, author, target, kind, item.id, at))

    # ------------------------------------------------------------------ escalation webhooks

    def send_webhooks(self, ids: Iterable[int] | None = None) -> int:
        """POST the inbox items whose webhook is still owed (also ones a crash left behind); never raises."""
        if not self.escalator.enabled:
            return 0
        sent = 0
        try:
            items = self.store.claim_webhooks(list(ids) if ids is not None else None)
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
                self.store.set_webhook_status(item.id, status)
            except Exception:
                logger.exception("escalation webhook: cannot record the status of inbox item %s", item.id)
            sent += status.startswith("sent")
        return sent
