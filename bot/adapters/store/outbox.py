"""The outbox rows: enqueue (unique keys), read, retry or cancel by hand, and the delivery path (claim with a
lease, begin an attempt, record sent / retry / dead, give back). Hot delivery paths use Core statements, never
ORM loading; the rate-limit buckets a row counts against are the caller's (its platform's RateLimitBuckets)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.adapters.store import delivery
from bot.adapters.store.base import Database, Repository, from_row
from bot.adapters.store.bulk import DriverStatement
from bot.adapters.store.engine import guarded
from bot.adapters.store.keys import user_hash
from bot.adapters.store.rows import (
    block_endpoint,
    insert_outbox,
    multi_slot,
    outbox_values,
    refresh_multi_slots,
    set_slot_of,
)
from bot.adapters.store.tables import account_state_t, optout_t, outbox_t, rate_limit_t, slot_t
from bot.core.clock import ensure_utc
from bot.core.models import RateLimitBuckets
from bot.core.records import Attempt, Claim, ClaimedItem, OutboxItem, OutboxState, Refusal, SlotState

logger = logging.getLogger(__name__)

_PG_CLAIM_LOCK = 0x50C1A1B08  # serialises claims across daemons only while per-account limits are on
_LIVE_STATES = (OutboxState.PENDING, OutboxState.SENDING, OutboxState.SENT)
_ROW_FIELDS = ("key", "account", "kind", "text", "in_reply_to_id", "recipient_id", "not_before", "campaign", "slot_at")


class OutboxRepository(Repository):
    """Outbox rows, on SQLite or PostgreSQL (store.outbox)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._fast: dict[bool, DriverStatement] = {}

    # ---------------------------------------------------------------- enqueue

    def enqueue(
        self,
        key: str,
        *,
        account: str,
        kind: str,
        text: str,
        in_reply_to_id: str | None = None,
        recipient_id: str | None = None,
        not_before: datetime | None = None,
        campaign: str | None = None,
        slot_at: datetime | None = None,
        target_platform: str | None = None,
        target_user_id: str | None = None,
    ) -> bool:
        """Insert an outbox row unless `key` exists; True when inserted. A row with a target person
        (target_platform + target_user_id: a reply, DM or coupon) is cancelled at claim time if they opted out."""
        values = outbox_values(
            self._now(), key, account, kind, text, in_reply_to_id, recipient_id, not_before, campaign, slot_at
        )
        if target_user_id is not None:
            values.update(target_platform=target_platform, target_user_id=target_user_id)
        with self._tx("enqueue") as conn:
            return insert_outbox(self.db, conn, values)

    def enqueue_many(self, rows: Sequence[dict[str, Any]]) -> int:
        """Bulk enqueue (dicts with enqueue()'s arguments); returns how many were new."""
        now = self._now()
        inserted = 0
        with self._tx("enqueue") as conn:
            for row in rows:
                args = {"not_before": now, **row}
                values = outbox_values(self._now(), **{name: args[name] for name in _ROW_FIELDS if name in args})
                if args.get("target_user_id") is not None:
                    values.update(target_platform=args.get("target_platform"), target_user_id=args["target_user_id"])
                inserted += insert_outbox(self.db, conn, values)
        return inserted

    def text_used(self, account: str, text_hash_: str) -> bool:
        """Whether `account` has a live (pending/sending/sent) outbox row with this text hash."""
        o = outbox_t
        stmt = sa.select(o.c.id).where(o.c.account == account, o.c.text_hash == text_hash_, o.c.state.in_(_LIVE_STATES))
        with self._tx("text_used") as conn:
            return conn.execute(stmt.limit(1)).first() is not None

    # ---------------------------------------------------------------- reading, and by hand

    def items(self, state: str | None = None, limit: int | None = 100) -> list[OutboxItem]:
        """Rows newest first (optionally one state)."""
        stmt = sa.select(outbox_t).order_by(outbox_t.c.id.desc())
        if state is not None:
            stmt = stmt.where(outbox_t.c.state == state)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._tx("outbox_items") as conn:
            return [from_row(OutboxItem, row) for row in conn.execute(stmt)]

    def item(self, item_id: int | None = None, *, key: str | None = None) -> OutboxItem | None:
        where = outbox_t.c.key == key if key is not None else outbox_t.c.id == item_id
        with self._tx("outbox_item") as conn:
            row = conn.execute(sa.select(outbox_t).where(where)).first()
        return from_row(OutboxItem, row) if row is not None else None

    def retry(self, item_id: int) -> bool:
        """Re-queue a dead (failed) or cancelled row now, attempts reset; its slot goes back to queued."""
        o = outbox_t
        stmt = (
            sa.update(o)
            .where(o.c.id == item_id, o.c.state.in_((OutboxState.FAILED, OutboxState.CANCELLED)))
            .values(
                state=OutboxState.PENDING, attempts=0, next_attempt_at=self._now(), lease_owner=None, lease_until=None
            )
            .returning(o.c.key, o.c.campaign, o.c.slot_at)
        )
        with self._tx("retry") as conn:
            row = conn.execute(stmt).first()
            if row is None:
                return False
            set_slot_of(self.db, conn, row, SlotState.QUEUED, None)
        logger.info("outbox item %s re-queued (key %s)", item_id, row.key)
        return True

    def cancel(self, item_id: int, reason: str = "cancelled") -> bool:
        """Cancel a row whose request has not left: pending, or claimed by a worker that has not begun its attempt
        (begin_attempt then finds it gone); never one whose request may be on its way. Its slot becomes skipped."""
        o = outbox_t
        not_left = sa.or_(
            o.c.state == OutboxState.PENDING, sa.and_(o.c.state == OutboxState.SENDING, o.c.outcome_unknown.is_(False))
        )
        stmt = (
            sa.update(o)
            .where(o.c.id == item_id, not_left)
            .values(state=OutboxState.CANCELLED, last_error=reason, lease_owner=None, lease_until=None)
            .returning(o.c.key, o.c.campaign, o.c.slot_at)
        )
        with self._tx("cancel") as conn:
            row = conn.execute(stmt).first()
            if row is None:
                return False
            set_slot_of(self.db, conn, row, SlotState.SKIPPED, reason)
        return True

    def summary(self) -> dict[str, Any]:
        """Counts for humans and the demo's JSON summary."""
        o = outbox_t
        with self._tx("summary") as conn:
            by_kind_state = conn.execute(
                sa.select(o.c.kind, o.c.state, sa.func.count()).group_by(o.c.kind, o.c.state)
            ).all()
            slots_by_state = dict(
                conn.execute(sa.select(slot_t.c.state, sa.func.count()).group_by(slot_t.c.state)).all()
            )
            slots_failed_unqueued = conn.execute(  # (a multi-account slot that queued posts has a variant)
                sa.select(sa.func.count()).where(
                    slot_t.c.state == SlotState.FAILED, slot_t.c.outbox_key.is_(None), slot_t.c.variant.is_(None)
                )
            ).scalar_one()
        outbox: dict[str, int] = {state: 0 for state in OutboxState.ALL}
        posts: dict[str, int] = {state: 0 for state in OutboxState.ALL}
        for kind, state, count in by_kind_state:
            outbox[state] = outbox.get(state, 0) + count
            if kind == "post":
                posts[state] = posts.get(state, 0) + count
        return {
            "posts_published": posts[OutboxState.SENT],
            # dead post rows + slots that failed before reaching the outbox (render/length errors)
            "posts_failed": posts[OutboxState.FAILED] + slots_failed_unqueued,
            "posts_pending": posts[OutboxState.PENDING] + posts[OutboxState.SENDING],
            "dead": outbox[OutboxState.FAILED],
            "outbox": outbox,
            "slots": {state: int(slots_by_state.get(state, 0)) for state in SlotState.ALL},
        }

    # ---------------------------------------------------------------- delivery (hot path)

    def claim(
        self,
        owner: str,
        *,
        now: datetime,
        limit: int,
        lease_seconds: float,
        buckets: RateLimitBuckets,
        per_account_per_day: int | None = None,
        min_spacing_seconds: float | None = None,
        account: str | None = None,
        other_than: Collection[str] = (),
    ) -> Claim:
        """Lease up to `limit` due rows to `owner` (attempt_started_at = now), in one transaction. The attempt
        itself is counted by begin_attempt, right before its request leaves.

        Due: pending with next_attempt_at <= now, or sending with an expired lease (a crashed worker: reconciled
        first when its request may have left); never for a paused account or an account whose bucket for the
        row (`buckets`: posts and replies, or DMs) is blocked by a rate limit. `account` claims only that
        account's rows (one delivery worker per account), `other_than` only the rows of accounts not in it. With
        per-account post limits, rows over the limit are pushed back to when they may go (Claim.deferred).
        """
        o = outbox_t
        spacing = float(min_spacing_seconds or 0)
        per_day = int(per_account_per_day or 0)
        limits_on = per_day > 0 or spacing > 0
        paused = sa.select(account_state_t.c.account).where(account_state_t.c.paused_reason.is_not(None))
        bucket = sa.case((o.c.kind == "dm", buckets.direct_messages), else_=buckets.posts)
        blocked = sa.exists().where(
            rate_limit_t.c.account == o.c.account, rate_limit_t.c.endpoint == bucket, rate_limit_t.c.reset_at > now
        )
        whose = [o.c.account.not_in(paused), ~blocked]
        if account is not None:
            whose.append(o.c.account == account)
        if other_than:
            whose.append(o.c.account.not_in(list(other_than)))
        # Two index range scans (no sort over the whole table): abandoned attempts first, then due rows.
        abandoned = (
            sa.select(o)
            .where(o.c.state == OutboxState.SENDING, o.c.lease_until <= now, *whose)
            .order_by(o.c.lease_until)
            .limit(limit)
            .with_for_update(skip_locked=True, of=o)
        )
        lease_until = now + timedelta(seconds=lease_seconds)
        deferred = 0
        with self._tx("claiming outbox rows") as conn:
            if limits_on and self.dialect == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_CLAIM_LOCK)))
            rows = list(conn.execute(abandoned).all())
            if len(rows) < limit:
                pending = (
                    sa.select(o)
                    .where(o.c.state == OutboxState.PENDING, o.c.next_attempt_at <= now, *whose)
                    .order_by(o.c.next_attempt_at, o.c.id)
                    .limit(limit - len(rows))
                    .with_for_update(skip_locked=True, of=o)
                )
                rows.extend(conn.execute(pending).all())
            if not rows:
                return Claim([])
            cancelled = delivery.cancel_opted_out(conn, rows)
            if cancelled:
                rows = [r for r in rows if r.id not in cancelled]
                if not rows:
                    return Claim([], cancelled=len(cancelled))
            if limits_on and any(r.kind == "post" for r in rows):
                rows, deferrals = delivery.apply_post_limits(conn, rows, now, per_day, spacing)
                for row, until in deferrals:
                    conn.execute(
                        sa.update(o)
                        .where(o.c.id == row.id)
                        .values(
                            state=OutboxState.PENDING,
                            next_attempt_at=until,
                            lease_owner=None,
                            lease_until=None,
                            outcome_unknown=bool(row.outcome_unknown),
                        )
                    )
                deferred = len(deferrals)
            if rows:
                conn.execute(
                    sa.update(o)
                    .where(o.c.id.in_([r.id for r in rows]))
                    .values(
                        state=OutboxState.SENDING, lease_owner=owner, lease_until=lease_until, attempt_started_at=now
                    )
                )
        held = {
            "state": OutboxState.SENDING,
            "lease_owner": owner,
            "lease_until": lease_until,
            "attempt_started_at": now,
        }
        items = [ClaimedItem(from_row(OutboxItem, r, **held), reconcile=bool(r.outcome_unknown)) for r in rows]
        return Claim(items, deferred, len(cancelled))

    def begin_attempt(self, item: OutboxItem, owner: str, *, now: datetime, buckets: RateLimitBuckets) -> Attempt:
        """The last check before a request leaves, in the transaction that counts it (attempts += 1; from now on
        its outcome is unknown until recorded): the row is still this owner's and not cancelled, its account
        not paused, its bucket (`buckets.for_message(item.kind)`) not rate-limited, and the person it reaches
        has not opted out (then the row is cancelled). One UPDATE on the way that lets it go; the reason is
        looked up only when it may not."""
        o = outbox_t
        endpoint = buckets.for_message(item.kind)
        target = user_hash(item.target_platform or "", item.target_user_id) if item.target_user_id else None
        params: dict[str, Any] = {"_id": item.id, "_owner": owner, "_endpoint": endpoint, "_now": now}
        if target is not None:
            params["_hash"] = target
        attempts = self._begin(params, target is not None)
        if attempts is not None:
            return Attempt(replace(item, attempts=int(attempts), attempt_started_at=now))
        with self._tx("starting a delivery attempt") as conn:
            held = conn.execute(sa.select(o.c.id).where(o.c.id == item.id, delivery.held_by(owner))).first()
            if held is None:
                return Attempt(None, Refusal.LOST)
            opted_out = (
                target is not None
                and conn.execute(sa.select(optout_t.c.id).where(optout_t.c.user_hash == target)).first()
            )
            if opted_out:
                conn.execute(sa.update(o).where(o.c.id == item.id).values(**delivery.OPTED_OUT))
                return Attempt(None, Refusal.OPTED_OUT)
            reset = conn.execute(
                sa.select(rate_limit_t.c.reset_at).where(
                    rate_limit_t.c.account == item.account,
                    rate_limit_t.c.endpoint == endpoint,
                    rate_limit_t.c.reset_at > now,
                )
            ).scalar()
            if reset is not None:
                return Attempt(None, Refusal.BLOCKED, until=ensure_utc(reset))
            return Attempt(None, Refusal.PAUSED)

    def _begin(self, params: dict[str, Any], with_target: bool) -> Any:
        """begin_attempt's UPDATE; the new attempt count, or None when the row may not go."""
        statement = delivery.begin_attempt_statement(with_target)
        if self.dialect != "sqlite":
            with self._tx("starting a delivery attempt") as conn:
                return conn.execute(statement, params).scalar()
        fast = self._fast.get(with_target)
        if fast is None:
            fast = self._fast[with_target] = DriverStatement(statement, self.db.engine.dialect)
        with guarded(self.db.engine.url, "starting a delivery attempt"), self.db.engine.connect() as conn:
            return fast.scalar(conn, params)

    def expire_leases(
        self, owner: str, *, now: datetime, account: str | None = None, other_than: Collection[str] = ()
    ) -> int:
        """End every lease `owner` holds at `now` (only `account`'s, or only those of accounts not in `other_than`,
        like claim), so those rows are reconciled at once rather than when the lease runs out (after a failure
        left this worker's claimed rows in an unknown state)."""
        o = outbox_t
        whose = [delivery.held_by(owner)]
        if account is not None:
            whose.append(o.c.account == account)
        if other_than:
            whose.append(o.c.account.not_in(list(other_than)))
        with self._tx("ending leases") as conn:
            return int(conn.execute(sa.update(o).where(*whose).values(lease_until=now)).rowcount or 0)

    def renew_leases(self, ids: Sequence[int], owner: str, *, now: datetime, lease_seconds: float) -> set[int]:
        """Extend this owner's leases; returns the ids still held (others were reclaimed by someone)."""
        if not ids:
            return set()
        o = outbox_t
        stmt = (
            sa.update(o)
            .where(o.c.id.in_(list(ids)), delivery.held_by(owner))
            .values(lease_until=now + timedelta(seconds=lease_seconds))
            .returning(o.c.id)
        )
        with self._tx("renewing leases") as conn:
            return set(conn.execute(stmt).scalars())

    def mark_sent(self, item: OutboxItem, remote_id: str | None, *, now: datetime) -> bool:
        """The row went out (or was found on the platform): sent, with its remote id; its slot published."""
        return self.mark_sent_many([(item, remote_id, now)]) == 1

    def mark_sent_many(self, sent: Sequence[tuple[OutboxItem, str | None, datetime]]) -> int:
        """mark_sent for several rows (item, remote id, sent_at) in one transaction (executemany)."""
        if not sent:
            return 0
        rows = [{"_id": item.id, "_rid": rid, "_at": at} for item, rid, at in sent]
        slots = [{"_key": item.key} for item, _rid, _at in sent if item.campaign is not None]
        multi = [m for item, _rid, _at in sent if (m := multi_slot(item.key, item.campaign, item.slot_at))]
        with self._tx("marking sent") as conn:
            result = conn.execute(delivery.MARK_SENT, rows)
            if slots:
                conn.execute(delivery.SLOT_PUBLISHED, slots)
            if multi:
                refresh_multi_slots(self.db, conn, multi)
        return result.rowcount

    def mark_retry(
        self, item: OutboxItem, owner: str, *, next_attempt_at: datetime, error: str, outcome_unknown: bool
    ) -> bool:
        """A failed attempt that counts (item.attempts, written as it is): back to pending at next_attempt_at."""
        stmt = delivery.let_go(
            item, owner, OutboxState.PENDING, error, outcome_unknown, next_attempt_at=next_attempt_at
        )
        with self._tx("scheduling a retry") as conn:
            return conn.execute(stmt).rowcount == 1

    def mark_dead(self, item: OutboxItem, owner: str, *, reason: str, outcome_unknown: bool = False) -> bool:
        """Dead letter (state failed) with its reason; its slot failed with the same reason."""
        stmt = delivery.let_go(item, owner, OutboxState.FAILED, reason, outcome_unknown)
        with self._tx("dead-lettering") as conn:
            dead = conn.execute(stmt).rowcount == 1
            if dead and item.campaign is not None:
                set_slot_of(self.db, conn, item, SlotState.FAILED, reason)
        return dead

    def release(
        self,
        items: Sequence[ClaimedItem],
        owner: str,
        *,
        next_attempt_at: datetime | None = None,
        error: str | None = None,
        block: tuple[str, str, datetime] | None = None,
        uncount: bool = False,
    ) -> int:
        """Give leased rows back (not sent: stop, pause, rate limit). `uncount`: their request left but was refused
        before it was processed (a 429, refused credentials): its attempt is taken back, it was no try.

        `block` = (account, endpoint, reset_at) also records a rate-limit block, in the same transaction.
        """
        o = outbox_t
        released = 0
        with self._tx("releasing leases") as conn:
            for claimed in items:
                values: dict[str, Any] = {
                    "state": OutboxState.PENDING,
                    "lease_owner": None,
                    "lease_until": None,
                    "outcome_unknown": bool(claimed.reconcile or claimed.item.outcome_unknown),
                }
                if uncount:
                    values["attempts"] = sa.case((o.c.attempts > 0, o.c.attempts - 1), else_=0)
                if next_attempt_at is not None:
                    values["next_attempt_at"] = next_attempt_at
                if error is not None:
                    values["last_error"] = error
                released += conn.execute(
                    sa.update(o).where(o.c.id == claimed.item.id, delivery.held_by(owner)).values(**values)
                ).rowcount
            if block is not None:
                block_endpoint(self.db, conn, *block)
        return released
