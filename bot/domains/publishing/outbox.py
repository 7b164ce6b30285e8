"""The delivery engine: claim due outbox rows, send them, retry, reconcile, dead-letter.

The database is the truth. Rows are claimed in batches with a lease; right before each request leaves,
store.outbox.begin_attempt checks once more that the row is still ours, its account not paused, its endpoint not
rate-limited and its recipient not opted out, and counts the attempt (attempts += 1, outcome unknown) in the
same committed transaction. A row whose last attempt may have landed (timeout after sending, or a lease that
expired after begin_attempt = a crash mid-send) is reconciled against the platform before it is sent again.
Which rate-limit bucket a row counts against is its platform's (Platform.buckets).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.clock import Clock, SystemClock
from bot.core.costs import PROMOTION, REPLY, STOP_ORDER, spending
from bot.core.errors import (
    AuthError,
    DuplicateContent,
    PlatformError,
    RateLimited,
    Rejected,
    TransientError,
)
from bot.core.models import MessageKind, OutgoingMessage, RateLimitBuckets
from bot.core.ports import DeliveryStore, Platform, SpendingGate
from bot.core.records import ClaimedItem, OutboxItem, Refusal

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 50
FLUSH_SECONDS = 0.5  # sent rows are recorded at least this often (and at the end of every batch)
# the buckets of rows whose account has no platform here (accounts no longer configured): the send windows' names
UNCONFIGURED = RateLimitBuckets(mentions="", dms="", engagers={})
CAP_RECHECK = timedelta(minutes=10)  # a row the spending cap holds back is looked at again this much later


class DeliverySettings(Protocol):
    """What the outbox reads from bot.settings.config.DeliveryConfig."""

    max_attempts: int
    backoff_base_seconds: float
    backoff_max_seconds: float
    lease_seconds: float
    per_account_per_day: int | None
    min_spacing_seconds: float


@dataclass
class DeliveryReport:
    sent: int = 0  # rows that ended sent (including reconciled and duplicate-content)
    failed: int = 0  # dead-lettered
    retried: int = 0  # failed attempts scheduled again
    reconciled: int = 0  # found on the platform after an unknown outcome
    deferred: int = 0  # pushed back by rate limits, per-account limits, paused accounts or stop
    cancelled: int = 0  # never sent: the person they were for opted out

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.retried += other.retried
        self.reconciled += other.reconciled
        self.deferred += other.deferred
        self.cancelled += other.cancelled

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.retried + self.deferred


class Outbox:
    """Drains due outbox rows through the platforms (one per account name): all accounts' rows, or with
    `account` only that account's, or with `other_than` only the rows of accounts not named there (the daemon
    runs one Outbox per account in a thread of its own, so a slow platform or account delays no other)."""

    def __init__(
        self,
        store: DeliveryStore,
        platforms: Mapping[str, Platform],
        *,
        delivery: DeliverySettings,
        owner: str,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        batch_size: int = DEFAULT_BATCH,
        account: str | None = None,
        other_than: Collection[str] = (),
        spending: SpendingGate | None = None,
    ) -> None:
        self.account = account
        self.spending = spending  # the monthly cap (bot.domains.costs): a row it stops stays pending
        self.other_than = tuple(other_than)
        self.store = store
        self.platforms = platforms
        self.delivery = delivery
        self.owner = owner
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.batch_size = batch_size
        # Sent rows waiting to be recorded in one transaction. A crash before the flush leaves them
        # 'sending' with a lease: they are reconciled (found on the platform), never sent twice.
        self._unrecorded: list[tuple[OutboxItem, str | None, datetime]] = []
        self._unrecorded_since = 0.0

    def buckets(self, account: str | None) -> RateLimitBuckets:
        """The rate-limit bucket names of `account`'s platform (None, or no platform: UNCONFIGURED's)."""
        platform = self.platforms.get(account) if account is not None else None
        return platform.buckets if platform is not None else UNCONFIGURED

    # ------------------------------------------------------------------ loop

    def deliver_due(self, *, limit: int | None = None, stop: threading.Event | None = None) -> DeliveryReport:
        """Send everything due now (at most `limit` rows claimed); returns what happened."""
        report = DeliveryReport()
        claimed_total = 0
        while limit is None or claimed_total < limit:
            if stop is not None and stop.is_set():
                break
            size = self.batch_size if limit is None else min(self.batch_size, limit - claimed_total)
            claim = self.store.outbox.claim(
                self.owner,
                now=self.clock.now(),
                limit=size,
                lease_seconds=self.delivery.lease_seconds,
                buckets=self.buckets(self.account),
                per_account_per_day=self.delivery.per_account_per_day,
                min_spacing_seconds=self.delivery.min_spacing_seconds,
                account=self.account,
                other_than=self.other_than,
            )
            report.deferred += claim.deferred
            report.cancelled += claim.cancelled
            if not claim.items:
                if claim.cancelled:
                    continue  # the whole batch was for people who opted out: look again
                break
            claimed_total += len(claim.items)
            try:
                self._process_batch(claim.items, report, stop)
            finally:
                self.flush()
        return report

    def flush(self) -> None:
        """Record the sent rows buffered so far (one short transaction)."""
        if self._unrecorded:
            pending, self._unrecorded = self._unrecorded, []
            self.store.outbox.mark_sent_many(pending)

    def _process_batch(self, batch: list[ClaimedItem], report: DeliveryReport, stop: threading.Event | None) -> None:
        lease = timedelta(seconds=self.delivery.lease_seconds)
        renewed_at = self.clock.now()
        blocked: dict[str, datetime] = {}  # account/endpoint -> retry_at, learnt in this batch
        paused: set[str] = set()
        purposes = self._purposes(batch)
        remaining = list(batch)
        checked = self._reconcile_together(batch, purposes)
        while remaining:
            claimed = remaining.pop(0)
            item = claimed.item
            if self._unrecorded and time.monotonic() - self._unrecorded_since > FLUSH_SECONDS:
                self.flush()
            if stop is not None and stop.is_set():
                report.deferred += self.store.outbox.release([claimed, *remaining], self.owner)
                return
            now = self.clock.now()
            if now - renewed_at > lease / 3:
                held = self.store.outbox.renew_leases(
                    [c.item.id for c in [claimed, *remaining]],
                    self.owner,
                    now=now,
                    lease_seconds=self.delivery.lease_seconds,
                )
                renewed_at = now
                if item.id not in held:
                    logger.warning("outbox %s: lease lost to another worker; skipping", item.key)
                    remaining = [c for c in remaining if c.item.id in held]
                    continue
                remaining = [c for c in remaining if c.item.id in held]
            block_key = f"{item.account}/{self.buckets(item.account).for_message(item.kind)}"
            if item.account in paused:
                report.deferred += self.store.outbox.release([claimed], self.owner)
                continue
            if block_key in blocked and blocked[block_key] > now:
                report.deferred += self.store.outbox.release([claimed], self.owner, next_attempt_at=blocked[block_key])
                continue
            purpose = purposes[item.key]
            if self.spending is not None and not self.spending.may_spend(item.account, purpose):
                reason = f"spending cap: {purpose} stopped for this month (socialbot costs)"
                self._release(claimed, now + CAP_RECHECK, reason, report)
                continue
            with spending(purpose):
                outcome = self._deliver_one(claimed, report, checked)
            if isinstance(outcome, RateLimited):
                blocked[block_key] = outcome.retry_at
            elif isinstance(outcome, AuthError):
                paused.add(item.account)

    # ------------------------------------------------------------------ one row

    def _purposes(self, batch: list[ClaimedItem]) -> dict[str, str]:
        """Outbox key -> what sending it is for (the spending cap's, else promotion for posts, reply for the rest)."""
        out = {c.item.key: PROMOTION if c.item.kind == MessageKind.POST.value else REPLY for c in batch}
        if self.spending is not None:
            by_account: dict[str, list[OutboxItem]] = {}
            for claimed in batch:
                by_account.setdefault(claimed.item.account, []).append(claimed.item)
            for account, items in by_account.items():
                out.update(self.spending.purposes(account, items))
        return out

    def _reconcile_together(self, batch: list[ClaimedItem], purposes: Mapping[str, str]) -> dict[str, str | None]:
        """Look up every row of the batch whose outcome is unknown in one read per account (a crash leaves
        a whole claimed batch unknown; X charges per read). Returns key -> remote id or None (not sent);
        keys missing from the answer are looked up one by one later."""
        by_account: dict[str, list[OutgoingMessage]] = {}
        for claimed in batch:
            item = claimed.item
            allowed = self.spending is None or self.spending.may_spend(item.account, purposes[item.key])
            if claimed.reconcile and item.account in self.platforms and allowed:
                by_account.setdefault(item.account, []).append(_message(item))
        answers: dict[str, str | None] = {}
        for account, messages in by_account.items():
            if len(messages) < 2:
                continue
            # the lookup is for the most needed of the rows it serves
            purpose = max((purposes[m.key] for m in messages), key=_rank)
            try:
                with spending(purpose):
                    answers.update(self.platforms[account].find_sent_many(messages))
            except PlatformError as exc:
                logger.warning("outbox: looking up %d unknown sends of %s failed (%s)", len(messages), account, exc)
        return answers

    def _deliver_one(
        self, claimed: ClaimedItem, report: DeliveryReport, checked: Mapping[str, str | None] | None = None
    ) -> PlatformError | None:
        item = claimed.item
        platform = self.platforms.get(item.account)
        if platform is None:
            self._dead(item, f"no platform configured for account {item.account!r}", report)
            return None
        message = _message(item)
        if claimed.reconcile:
            try:
                if checked is not None and item.key in checked:
                    remote_id = checked[item.key]
                else:
                    remote_id = platform.find_sent(message, since=item.created_at)
            except RateLimited as exc:
                # A read window, not the send window: push this row back only.
                self._release(claimed, exc.retry_at, f"reconcile: {exc}", report)
                return None
            except Exception as exc:
                # the lookup left and failed: a try like a send's, and the outcome is still unknown
                looked = replace(claimed, item=replace(item, attempts=item.attempts + 1))
                return self._failed(looked, platform, message, exc, report, outcome_unknown=True, counted=False)
            if remote_id is not None:
                self._sent(item, remote_id, report, how="reconciled")
                report.reconciled += 1
                return None
            # it never landed: a fresh send is safe
        attempt = self.store.outbox.begin_attempt(
            item, self.owner, now=self.clock.now(), buckets=self.buckets(item.account)
        )
        if attempt.item is None:
            return self._refused(claimed, attempt.refused, attempt.until, report)
        claimed = replace(claimed, item=attempt.item)
        try:
            remote_id = platform.send(message)
        except Exception as exc:
            return self._failed(claimed, platform, message, exc, report, outcome_unknown=False, counted=True)
        self._sent(claimed.item, remote_id, report, how="sent")
        return None

    def _failed(
        self,
        claimed: ClaimedItem,
        platform: Platform,
        message: OutgoingMessage,
        exc: Exception,
        report: DeliveryReport,
        *,
        outcome_unknown: bool,
        counted: bool,
    ) -> PlatformError | None:
        """What a failed request means for its row. `counted`: begin_attempt counted it (a 429 or refused
        credentials take that back: no try); `outcome_unknown`: the row's outcome was unknown before."""
        item = claimed.item
        if isinstance(exc, DuplicateContent):
            self._duplicate(platform, message, item, exc, report)
        elif isinstance(exc, RateLimited):
            self._rate_limited(claimed, exc, report, uncount=counted)
            return exc
        elif isinstance(exc, AuthError):
            self._paused(claimed, exc, report, uncount=counted)
            return exc
        elif isinstance(exc, Rejected):
            self._dead(item, exc.reason, report, outcome_unknown=False)
        elif isinstance(exc, TransientError):
            self._retry_or_dead(claimed, str(exc), report, outcome_unknown=outcome_unknown or exc.maybe_sent)
        elif isinstance(exc, PlatformError):
            self._retry_or_dead(claimed, str(exc), report, outcome_unknown=outcome_unknown)
        else:  # a bug in an adapter must not kill the daemon or lose the row
            logger.error("outbox %s: unexpected error from %s", item.key, type(platform).__name__, exc_info=exc)
            self._retry_or_dead(claimed, f"unexpected {type(exc).__name__}: {exc}", report, outcome_unknown=True)
        return None

    def _refused(
        self, claimed: ClaimedItem, refused: str | None, until: datetime | None, report: DeliveryReport
    ) -> PlatformError | None:
        """begin_attempt let no request leave: the recipient opted out (cancelled), the row is no longer ours, or
        the account was paused / rate-limited meanwhile (given back, nothing counted)."""
        item = claimed.item
        if refused == Refusal.OPTED_OUT:
            report.cancelled += 1
            logger.info("outbox %s: cancelled at the last moment, the recipient opted out", item.key)
            return None
        if refused == Refusal.LOST:
            logger.info("outbox %s: cancelled or taken over meanwhile; not sent", item.key)
            return None
        if refused == Refusal.BLOCKED and until is not None:
            self._release(claimed, until, "rate limited (recorded by another worker)", report)
            return RateLimited(item.account, "rate limited", until, self.buckets(item.account).for_message(item.kind))
        report.deferred += self.store.outbox.release([claimed], self.owner)
        return AuthError(item.account, "paused")

    def _sent(self, item: OutboxItem, remote_id: str | None, report: DeliveryReport, *, how: str) -> None:
        if not self._unrecorded:
            self._unrecorded_since = time.monotonic()
        self._unrecorded.append((item, remote_id, self.clock.now()))
        limits_on = bool(self.delivery.per_account_per_day) or bool(self.delivery.min_spacing_seconds)
        if limits_on or len(self._unrecorded) >= self.batch_size:
            self.flush()  # per-account limits read sent_at: record at once
        report.sent += 1
        logger.info(
            "outbox %s: %s %s for account %s, remote id %s (attempt %d)",
            item.key,
            how,
            item.kind,
            item.account,
            remote_id,
            item.attempts,
        )

    def _duplicate(
        self,
        platform: Platform,
        message: OutgoingMessage,
        item: OutboxItem,
        exc: DuplicateContent,
        report: DeliveryReport,
    ) -> None:
        try:
            remote_id = platform.find_sent(message, since=item.created_at)
        except PlatformError as lookup_exc:
            logger.warning("outbox %s: duplicate content, and the lookup failed: %s", item.key, lookup_exc)
            remote_id = None
        self._sent(item, remote_id, report, how="duplicate content: counted as sent,")

    def _dead(self, item: OutboxItem, reason: str, report: DeliveryReport, *, outcome_unknown: bool = False) -> None:
        self.store.outbox.mark_dead(item, self.owner, reason=reason, outcome_unknown=outcome_unknown)
        report.failed += 1
        logger.error(
            "outbox %s: dead-lettered %s for account %s after %d attempt(s): %s",
            item.key,
            item.kind,
            item.account,
            item.attempts,
            reason,
        )

    def _retry_or_dead(
        self, claimed: ClaimedItem, error: str, report: DeliveryReport, *, outcome_unknown: bool
    ) -> None:
        item = claimed.item
        if item.attempts >= self.delivery.max_attempts:
            self._dead(
                item,
                f"gave up after {item.attempts} attempts: {error}",
                report,
                outcome_unknown=outcome_unknown,
            )
            return
        delay = self.backoff(item.attempts)
        next_at = self.clock.now() + timedelta(seconds=delay)
        self.store.outbox.mark_retry(
            item, self.owner, next_attempt_at=next_at, error=error, outcome_unknown=outcome_unknown
        )
        report.retried += 1
        logger.warning(
            "outbox %s: attempt %d failed (%s); retry in %.1fs%s",
            item.key,
            item.attempts,
            error,
            delay,
            ", reconciling first" if outcome_unknown else "",
        )

    def backoff(self, attempts: int) -> float:
        """Capped exponential backoff with jitter: uniform in [cap/2, cap] of base * 2^(attempts-1)."""
        base = float(self.delivery.backoff_base_seconds)
        cap = min(float(self.delivery.backoff_max_seconds), base * (2 ** max(attempts - 1, 0)))
        return cap / 2 + self.rng.random() * cap / 2

    def _release(self, claimed: ClaimedItem, until: datetime, error: str, report: DeliveryReport) -> None:
        report.deferred += self.store.outbox.release([claimed], self.owner, next_attempt_at=until, error=error)

    def _rate_limited(self, claimed: ClaimedItem, exc: RateLimited, report: DeliveryReport, *, uncount: bool) -> None:
        item = claimed.item
        endpoint = self.buckets(item.account).for_message(item.kind)
        report.deferred += self.store.outbox.release(
            [claimed],
            self.owner,
            next_attempt_at=exc.retry_at,
            error=str(exc),
            block=(item.account, endpoint, exc.retry_at),
            uncount=uncount,
        )
        logger.warning(
            "outbox %s: rate limited on %s for account %s; nothing more before %s",
            item.key,
            exc.endpoint or endpoint,
            item.account,
            exc.retry_at.isoformat(),
        )

    def _paused(self, claimed: ClaimedItem, exc: AuthError, report: DeliveryReport, *, uncount: bool) -> None:
        item = claimed.item
        reason = f"authentication failed: {exc}"
        self.store.accounts.pause(item.account, reason)
        report.deferred += self.store.outbox.release([claimed], self.owner, error=reason, uncount=uncount)
        logger.error(
            "ACCOUNT %s PAUSED: %s. Its messages stay queued; fix the credentials, then resume the account.",
            item.account,
            exc,
        )


def _rank(purpose: str) -> int:
    return STOP_ORDER.index(purpose) if purpose in STOP_ORDER else -1


def _message(item: OutboxItem) -> OutgoingMessage:
    return OutgoingMessage(
        key=item.key,
        kind=MessageKind(item.kind),
        text=item.text,
        in_reply_to_id=item.in_reply_to_id,
        recipient_id=item.recipient_id,
        created_at=item.created_at,
    )
