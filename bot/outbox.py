"""The delivery engine: claim due outbox rows, send them, retry, reconcile, dead-letter.

The database is the truth. An attempt is recorded (attempts += 1, lease) and committed before the request
leaves; a row whose last attempt may have landed (timeout after sending, or a lease that expired while
'sending' = a crash mid-send) is reconciled against the platform before it is sent again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.errors import (
    AuthError,
    DuplicateContent,
    PlatformError,
    RateLimited,
    Rejected,
    TransientError,
)
from bot.models import MessageKind, OutgoingMessage
from bot.platforms.base import Platform
from bot.store import ClaimedItem, OutboxItem, Store, endpoint_for

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 50
FLUSH_SECONDS = 0.5  # sent rows are recorded at least this often (and at the end of every batch)


class DeliverySettings(Protocol):
    """What the outbox reads from bot.config.DeliveryConfig."""

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


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Outbox:
    """Drains due outbox rows through the platforms (one per account name)."""

    def __init__(
        self,
        store: Store,
        platforms: Mapping[str, Platform],
        *,
        delivery: DeliverySettings,
        owner: str,
        clock: Callable[[], datetime] = _utc_now,
        rng: random.Random | None = None,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        self.store = store
        self.platforms = platforms
        self.delivery = delivery
        self.owner = owner
        self.clock = clock
        self.rng = rng or random.Random()
        self.batch_size = batch_size
        # Sent rows waiting to be recorded in one transaction. A crash before the flush leaves them
        # 'sending' with a lease: they are reconciled (found on the platform), never sent twice.
        self._unrecorded: list[tuple[OutboxItem, str | None, datetime]] = []
        self._unrecorded_since = 0.0

    # ------------------------------------------------------------------ loop

    def deliver_due(self, *, limit: int | None = None, stop: threading.Event | None = None) -> DeliveryReport:
        """Send everything due now (at most `limit` rows claimed); returns what happened."""
        report = DeliveryReport()
        claimed_total = 0
        while limit is None or claimed_total < limit:
            if stop is not None and stop.is_set():
                break
            size = self.batch_size if limit is None else min(self.batch_size, limit - claimed_total)
            claim = self.store.claim(
                self.owner,
                now=self.clock(),
                limit=size,
                lease_seconds=self.delivery.lease_seconds,
                per_account_per_day=self.delivery.per_account_per_day,
                min_spacing_seconds=self.delivery.min_spacing_seconds,
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
            self.store.mark_sent_many(pending)

    def _process_batch(self, batch: list[ClaimedItem], report: DeliveryReport, stop: threading.Event | None) -> None:
        lease = timedelta(seconds=self.delivery.lease_seconds)
        renewed_at = self.clock()
        blocked: dict[str, datetime] = {}  # account/endpoint -> retry_at, learnt in this batch
        paused: set[str] = set()
        remaining = list(batch)
        checked = self._reconcile_together(batch)
        while remaining:
            claimed = remaining.pop(0)
            item = claimed.item
            if self._unrecorded and time.monotonic() - self._unrecorded_since > FLUSH_SECONDS:
                self.flush()
            if stop is not None and stop.is_set():
                report.deferred += self.store.release([claimed, *remaining], self.owner)
                return
            now = self.clock()
            if now - renewed_at > lease / 3:
                held = self.store.renew_leases(
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
            block_key = f"{item.account}/{endpoint_for(item.kind)}"
            if item.account in paused:
                report.deferred += self.store.release([claimed], self.owner)
                continue
            if block_key in blocked and blocked[block_key] > now:
                report.deferred += self.store.release([claimed], self.owner, next_attempt_at=blocked[block_key])
                continue
            outcome = self._deliver_one(claimed, report, checked)
            if isinstance(outcome, RateLimited):
                blocked[block_key] = outcome.retry_at
            elif isinstance(outcome, AuthError):
                paused.add(item.account)

    # ------------------------------------------------------------------ one row

    def _reconcile_together(self, batch: list[ClaimedItem]) -> dict[str, str | None]:
        """Look up every row of the batch whose outcome is unknown in one read per account (a crash leaves
        a whole claimed batch unknown; X charges per read). Returns key -> remote id or None (not sent);
        keys missing from the answer are looked up one by one later."""
        by_account: dict[str, list[OutgoingMessage]] = {}
        for claimed in batch:
            if claimed.reconcile and claimed.item.account in self.platforms:
                by_account.setdefault(claimed.item.account, []).append(_message(claimed.item))
        answers: dict[str, str | None] = {}
        for account, messages in by_account.items():
            if len(messages) < 2:
                continue
            try:
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
        unknown = claimed.reconcile
        try:
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
                if remote_id is not None:
                    self._sent(item, remote_id, report, how="reconciled")
                    report.reconciled += 1
                    return None
                unknown = False  # it never landed: a fresh send is safe
            remote_id = platform.send(message)
        except DuplicateContent as exc:
            self._duplicate(platform, message, item, exc, report)
        except RateLimited as exc:
            self._rate_limited(claimed, exc, report)
            return exc
        except AuthError as exc:
            self._paused(claimed, exc, report)
            return exc
        except Rejected as exc:
            self._dead(item, exc.reason, report, outcome_unknown=False)
        except TransientError as exc:
            self._retry_or_dead(claimed, str(exc), report, outcome_unknown=unknown or exc.maybe_sent)
        except PlatformError as exc:
            self._retry_or_dead(claimed, str(exc), report, outcome_unknown=unknown)
        except Exception as exc:  # a bug in an adapter must not kill the daemon or lose the row
            logger.exception("outbox %s: unexpected error from %s", item.key, type(platform).__name__)
            self._retry_or_dead(claimed, f"unexpected {type(exc).__name__}: {exc}", report, outcome_unknown=True)
        else:
            self._sent(item, remote_id, report, how="sent")
        return None

    def _sent(self, item: OutboxItem, remote_id: str | None, report: DeliveryReport, *, how: str) -> None:
        if not self._unrecorded:
            self._unrecorded_since = time.monotonic()
        self._unrecorded.append((item, remote_id, self.clock()))
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
        self.store.mark_dead(item, self.owner, reason=reason, outcome_unknown=outcome_unknown)
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
        next_at = self.clock() + timedelta(seconds=delay)
        self.store.mark_retry(item, self.owner, next_attempt_at=next_at, error=error, outcome_unknown=outcome_unknown)
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
        report.deferred += self.store.release([claimed], self.owner, next_attempt_at=until, error=error)

    def _rate_limited(self, claimed: ClaimedItem, exc: RateLimited, report: DeliveryReport) -> None:
        item = claimed.item
        endpoint = endpoint_for(item.kind)
        report.deferred += self.store.release(
            [claimed],
            self.owner,
            next_attempt_at=exc.retry_at,
            error=str(exc),
            block=(item.account, endpoint, exc.retry_at),
        )
        logger.warning(
            "outbox %s: rate limited on %s for account %s; nothing more before %s",
            item.key,
            exc.endpoint or endpoint,
            item.account,
            exc.retry_at.isoformat(),
        )

    def _paused(self, claimed: ClaimedItem, exc: AuthError, report: DeliveryReport) -> None:
        item = claimed.item
        reason = f"authentication failed: {exc}"
        self.store.pause_account(item.account, reason)
        report.deferred += self.store.release([claimed], self.owner, error=reason)
        logger.error(
            "ACCOUNT %s PAUSED: %s. Its messages stay queued; fix the credentials, then resume the account.",
            item.account,
            exc,
        )


def _message(item: OutboxItem) -> OutgoingMessage:
    return OutgoingMessage(
        key=item.key,
        kind=MessageKind(item.kind),
        text=item.text,
        in_reply_to_id=item.in_reply_to_id,
        recipient_id=item.recipient_id,
        created_at=item.created_at,
    )
