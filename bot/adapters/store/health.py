"""What the liveness endpoints read: outbox and slot counts, overdue rows, stored rate-limit blocks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.adapters.store.base import Repository
from bot.adapters.store.tables import inbox_t, outbox_t, rate_limit_t, slot_t
from bot.core.clock import ensure_utc
from bot.core.records import SET_ASIDE, InboxStatus, OutboxState


@dataclass(frozen=True)
class Flow:
    """One account's outbox over the last window: rows due now and not sent (pending or claimed), the oldest due
    time, rows created and sent in the window."""

    due: int
    oldest_due: datetime | None
    arrived: int
    sent: int


@dataclass
class StoreHealth:
    outbox: dict[tuple[str, str], int]
    overdue: dict[str, tuple[int, datetime]]
    slots: dict[tuple[str, str], int]
    rate_limits: dict[tuple[str, str], tuple[int | None, datetime | None]]
    flows: dict[str, Flow]
    set_aside: dict[str, int]  # account -> open inbox items for messages that could not be processed


class HealthRepository(Repository):
    """What /healthz and /metrics read (bot/app/metrics.py), in one transaction (store.health)."""

    def read(self, due_before: datetime, *, now: datetime, window_start: datetime) -> StoreHealth:
        """Outbox rows by account and state, overdue rows (pending and due before `due_before`, or attempts
        whose lease ran out before it), campaign slots by state, the stored rate-limit blocks, each account's
        flow (due at `now`; created and sent since `window_start`), the messages set aside."""
        with self._tx("reading the daemon's health") as conn:
            return _health(conn, due_before, now, window_start)


def _health(conn: Connection, due_before: datetime, now: datetime, window_start: datetime) -> StoreHealth:
    o = outbox_t
    outbox = {
        (account, state): int(count)
        for account, state, count in conn.execute(
            sa.select(o.c.account, o.c.state, sa.func.count()).group_by(o.c.account, o.c.state)
        )
    }
    # two index range scans: ix_outbox_claim (state, next_attempt_at) and ix_outbox_lease (state, lease_until)
    overdue = _counted(
        conn,
        (o.c.next_attempt_at, sa.and_(o.c.state == OutboxState.PENDING, o.c.next_attempt_at <= due_before)),
        (o.c.lease_until, sa.and_(o.c.state == OutboxState.SENDING, o.c.lease_until <= due_before)),
    )
    slots = {
        (campaign, state): int(count)
        for campaign, state, count in conn.execute(
            sa.select(slot_t.c.campaign, slot_t.c.state, sa.func.count()).group_by(slot_t.c.campaign, slot_t.c.state)
        )
    }
    limits = {
        (r.account, r.endpoint): (r.remaining, ensure_utc(r.reset_at) if r.reset_at is not None else None)
        for r in conn.execute(sa.select(rate_limit_t))
    }
    flows = _flows(conn, now, window_start)
    i = inbox_t
    set_aside = {
        account: int(count)
        for account, count in conn.execute(
            sa.select(i.c.account, sa.func.count())
            .where(i.c.status == InboxStatus.OPEN, i.c.intent == SET_ASIDE)
            .group_by(i.c.account)
        )
    }
    return StoreHealth(outbox, overdue, slots, limits, flows, set_aside)


def _counted(
    conn: Connection, *queries: tuple[sa.ColumnElement[Any], sa.ColumnElement[bool]]
) -> dict[str, tuple[int, datetime]]:
    """Per account: outbox rows matching any of the (time column, condition) queries and the earliest such time,
    summed over the queries (one GROUP BY each)."""
    o = outbox_t
    found: dict[str, tuple[int, datetime]] = {}
    for column, condition in queries:
        rows = conn.execute(
            sa.select(o.c.account, sa.func.count(), sa.func.min(column)).where(condition).group_by(o.c.account)
        )
        for account, count, oldest in rows:
            seen = found.get(account)
            oldest_utc = ensure_utc(_as_datetime(oldest))
            if seen is not None:
                count, oldest_utc = count + seen[0], min(oldest_utc, seen[1])
            found[account] = (int(count), oldest_utc)
    return found


def _flows(conn: Connection, now: datetime, window_start: datetime) -> dict[str, Flow]:
    """Index range scans only: ix_outbox_claim for what is due, ix_outbox_created and ix_outbox_sent for the
    window."""
    o = outbox_t
    # due: pending rows whose time has come, and rows claimed by a worker (sending) that are not sent yet
    due = _counted(
        conn,
        (o.c.next_attempt_at, sa.and_(o.c.state == OutboxState.PENDING, o.c.next_attempt_at <= now)),
        (o.c.next_attempt_at, o.c.state == OutboxState.SENDING),
    )
    arrived = dict(
        conn.execute(
            sa.select(o.c.account, sa.func.count()).where(o.c.created_at > window_start).group_by(o.c.account)
        ).all()
    )
    sent = dict(
        conn.execute(
            sa.select(o.c.account, sa.func.count())
            .where(o.c.state == OutboxState.SENT, o.c.sent_at > window_start)
            .group_by(o.c.account)
        ).all()
    )
    return {
        account: Flow(
            due=due.get(account, (0, None))[0],
            oldest_due=due.get(account, (0, None))[1],
            arrived=int(arrived.get(account, 0)),
            sent=int(sent.get(account, 0)),
        )
        for account in {*due, *arrived, *sent}
    }


def _as_datetime(value: Any) -> datetime:
    """min() over a UTCDateTime column comes back untyped on SQLite (a string)."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
