"""The statements of the outbox's delivery path (bot/adapters/store/outbox.py): whose lease a row is under,
the per-account post limits at claim time, the claim-time opt-out check, begin_attempt's UPDATE and the
executemany of mark_sent; built once where they can be."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.adapters.store.base import utc_or_none
from bot.adapters.store.keys import user_hash
from bot.adapters.store.tables import account_state_t, optout_t, outbox_t, rate_limit_t, slot_t
from bot.adapters.store.types import UTCDateTime
from bot.core.clock import ensure_utc
from bot.core.records import OutboxState, SlotState

logger = logging.getLogger(__name__)

_DAY = timedelta(hours=24)


def held_by(owner: str) -> sa.ColumnElement[bool]:
    """Rows `owner` still holds: a lease another worker took over is never written by the old holder."""
    return sa.and_(outbox_t.c.lease_owner == owner, outbox_t.c.state == OutboxState.SENDING)


OPTED_OUT = {  # a row cancelled because the person it reaches opted out
    "state": OutboxState.CANCELLED,
    "last_error": "the recipient opted out",
    "lease_owner": None,
    "lease_until": None,
}


def let_go(item: Any, owner: str, state: str, error: str, outcome_unknown: bool, **values: Any) -> sa.Update:
    """The UPDATE that ends `owner`'s attempt on `item` in `state` (pending again, or failed), with its attempts
    as counted, the error and whether its outcome is unknown; a row no longer held is left alone."""
    return (
        sa.update(outbox_t)
        .where(outbox_t.c.id == item.id, held_by(owner))
        .values(
            state=state,
            attempts=item.attempts,
            last_error=error,
            outcome_unknown=outcome_unknown,
            lease_owner=None,
            lease_until=None,
            **values,
        )
    )


MARK_SENT = (
    sa.update(outbox_t)
    .where(
        outbox_t.c.id == sa.bindparam("_id"),
        sa.or_(outbox_t.c.state == OutboxState.SENDING, outbox_t.c.state == OutboxState.PENDING),
    )
    .values(
        state=OutboxState.SENT,
        remote_id=sa.bindparam("_rid"),
        sent_at=sa.bindparam("_at", type_=outbox_t.c.sent_at.type),
        lease_owner=None,
        lease_until=None,
        outcome_unknown=False,
        last_error=None,
    )
)
SLOT_PUBLISHED = (
    sa.update(slot_t).where(slot_t.c.outbox_key == sa.bindparam("_key")).values(state=SlotState.PUBLISHED, reason=None)
)


@functools.cache
def begin_attempt_statement(with_target: bool) -> sa.Update:
    """begin_attempt's UPDATE, built once (it runs before every request the outbox sends)."""
    o = outbox_t
    now = sa.bindparam("_now", type_=UTCDateTime())
    paused = sa.exists().where(account_state_t.c.account == o.c.account, account_state_t.c.paused_reason.is_not(None))
    blocked = sa.exists().where(
        rate_limit_t.c.account == o.c.account,
        rate_limit_t.c.endpoint == sa.bindparam("_endpoint"),
        rate_limit_t.c.reset_at > now,
    )
    conditions = [
        o.c.id == sa.bindparam("_id"),
        o.c.lease_owner == sa.bindparam("_owner"),
        o.c.state == OutboxState.SENDING,
        ~paused,
        ~blocked,
    ]
    if with_target:
        conditions.append(~sa.exists().where(optout_t.c.user_hash == sa.bindparam("_hash")))
    return (
        sa.update(o)
        .where(*conditions)
        .values(attempts=o.c.attempts + 1, attempt_started_at=now, outcome_unknown=True)
        .returning(o.c.attempts)
    )


def cancel_opted_out(conn: Connection, rows: Sequence[Any]) -> set[int]:
    """Cancel claimed outbox rows whose target person opted out; returns their ids."""
    targeted = [r for r in rows if getattr(r, "target_user_id", None)]
    if not targeted:
        return set()
    by_hash: dict[str, list[Any]] = {}
    for r in targeted:
        by_hash.setdefault(user_hash(r.target_platform or "", r.target_user_id), []).append(r)
    found = conn.execute(sa.select(optout_t.c.user_hash).where(optout_t.c.user_hash.in_(list(by_hash)))).scalars()
    cancelled = [r for h in found for r in by_hash[h]]
    if not cancelled:
        return set()
    ids = [r.id for r in cancelled]
    conn.execute(sa.update(outbox_t).where(outbox_t.c.id.in_(ids)).values(**OPTED_OUT))
    for r in cancelled:
        logger.info("outbox %s: cancelled, the recipient %s opted out", r.key, r.target_user_id)
    return set(ids)


def apply_post_limits(
    conn: Connection, rows: Sequence[Any], now: datetime, per_day: int, spacing: float
) -> tuple[list[Any], list[tuple[Any, datetime]]]:
    """The claimed rows that may go now under the per-account post limits (per_day in a rolling 24 h, `spacing`
    seconds between posts), and (row, when it may go) for the others."""
    o = outbox_t
    keep: list[Any] = []
    deferrals: list[tuple[Any, datetime]] = []
    candidate_ids = [r.id for r in rows]
    by_account: dict[str, list[Any]] = {}
    for r in rows:
        if r.kind == "post":
            by_account.setdefault(r.account, []).append(r)
        else:
            keep.append(r)
    for account, posts in by_account.items():
        sent = conn.execute(
            sa.select(sa.func.count(), sa.func.min(o.c.sent_at)).where(
                o.c.account == account,
                o.c.kind == "post",
                o.c.state == OutboxState.SENT,
                o.c.sent_at > now - _DAY,
            )
        ).one()
        last_sent = conn.execute(
            sa.select(sa.func.max(o.c.sent_at)).where(
                o.c.account == account, o.c.kind == "post", o.c.state == OutboxState.SENT
            )
        ).scalar()
        in_flight = conn.execute(
            sa.select(sa.func.count(), sa.func.max(o.c.attempt_started_at)).where(
                o.c.account == account,
                o.c.kind == "post",
                o.c.state == OutboxState.SENDING,
                o.c.lease_until > now,
                o.c.id.not_in(candidate_ids),
            )
        ).one()
        sent_count, oldest = int(sent[0]), utc_or_none(sent[1])
        flight_count, flight_started = int(in_flight[0]), utc_or_none(in_flight[1])
        last = max((t for t in (utc_or_none(last_sent), flight_started) if t is not None), default=None)
        allowed_at = now
        quota = len(posts)
        later = now + timedelta(seconds=spacing) if spacing > 0 else (oldest or now) + _DAY
        if per_day > 0:
            quota = per_day - sent_count - flight_count
            if quota <= 0:
                allowed_at = max(allowed_at, (oldest or now) + _DAY)
        if spacing > 0:
            quota = min(quota, 1)
            if last is not None and last + timedelta(seconds=spacing) > now:
                allowed_at = max(allowed_at, last + timedelta(seconds=spacing))
        for index, r in enumerate(posts):
            if allowed_at > now:
                deferrals.append((r, allowed_at))
            elif index < quota:
                keep.append(r)
            else:
                deferrals.append((r, later))
    keep.sort(key=lambda r: (ensure_utc(r.next_attempt_at), r.id))
    return keep, deferrals
