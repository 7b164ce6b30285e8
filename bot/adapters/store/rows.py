"""Writes several repositories make in their own transactions: outbox rows (campaign posts, replies, coupon
DMs), campaign slot rows and the state of multi-account slots, rate-limit blocks."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.adapters.store.base import Database
from bot.adapters.store.keys import campaign_key, text_hash
from bot.adapters.store.tables import outbox_t, rate_limit_t, slot_t
from bot.core.clock import ensure_utc
from bot.core.records import OutboxState, SlotState


def outbox_values(
    now: datetime,
    key: str,
    account: str,
    kind: str,
    text: str,
    in_reply_to_id: str | None = None,
    recipient_id: str | None = None,
    not_before: datetime | None = None,
    campaign: str | None = None,
    slot_at: datetime | None = None,
) -> dict[str, Any]:
    """A new (pending) outbox row, created at `now` and due at `not_before` (default: now)."""
    return {
        "key": key,
        "account": account,
        "kind": str(kind),
        "text": text,
        "text_hash": text_hash(text),
        "in_reply_to_id": in_reply_to_id,
        "recipient_id": recipient_id,
        "state": OutboxState.PENDING,
        "attempts": 0,
        "next_attempt_at": ensure_utc(not_before) if not_before is not None else now,
        "outcome_unknown": False,
        "created_at": now,
        "campaign": campaign,
        "slot_at": ensure_utc(slot_at) if slot_at is not None else None,
    }


def insert_outbox(db: Database, conn: Connection, values: dict[str, Any]) -> bool:
    """Insert one outbox row unless its key exists; True when inserted."""
    stmt = db.insert(outbox_t).values(**values).on_conflict_do_nothing(index_elements=["key"]).returning(outbox_t.c.id)
    return conn.execute(stmt).first() is not None


def insert_slot(db: Database, conn: Connection, values: dict[str, Any]) -> bool:
    """Insert one campaign slot row unless (campaign, slot_at) exists; True when inserted."""
    stmt = (
        db.insert(slot_t)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["campaign", "slot_at"])
        .returning(slot_t.c.id)
    )
    return conn.execute(stmt).first() is not None


def multi_slot(key: str, campaign: str | None, slot_at: datetime | None) -> tuple[str, datetime] | None:
    """(campaign, slot time) when `key` is one post of a multi-account slot, whose slot row tracks several rows."""
    if campaign is None or slot_at is None or key == campaign_key(campaign, slot_at):
        return None
    return campaign, ensure_utc(slot_at)


def refresh_multi_slots(db: Database, conn: Connection, slots: Iterable[tuple[str, datetime]]) -> None:
    """Set the state of multi-account slots from their posts: failed when one is dead (reason: which and
    why), queued while any is pending or sending, published when every one was sent, skipped when all were
    cancelled. The slot row is locked first (in a fixed order), so two daemons recording two posts of one
    slot at once both count the other's."""
    o = outbox_t
    for campaign, slot_at in sorted(set(slots)):
        lock = sa.select(slot_t.c.id, slot_t.c.state, slot_t.c.reason).where(
            slot_t.c.campaign == campaign, slot_t.c.slot_at == slot_at, slot_t.c.outbox_key.is_(None)
        )
        if db.dialect == "postgresql":
            lock = lock.with_for_update()
        slot = conn.execute(lock).first()
        if slot is None:
            continue
        posts = conn.execute(
            sa.select(o.c.account, o.c.state, o.c.last_error)
            .where(o.c.campaign == campaign, o.c.slot_at == slot_at, o.c.kind == "post")
            .order_by(o.c.account)
        ).all()
        states = {post.state for post in posts}
        reason = slot.reason if slot.state != SlotState.FAILED else None  # a dead post's reason goes with it
        if OutboxState.FAILED in states:
            state = SlotState.FAILED
            reason = "; ".join(
                f"{post.account}: {post.last_error or 'failed'}" for post in posts if post.state == OutboxState.FAILED
            )
        elif states & {OutboxState.PENDING, OutboxState.SENDING}:
            state = SlotState.QUEUED
        elif OutboxState.SENT in states:
            state = SlotState.PUBLISHED
        else:
            state, reason = SlotState.SKIPPED, reason or "cancelled"
        if (state, reason) != (slot.state, slot.reason):
            conn.execute(sa.update(slot_t).where(slot_t.c.id == slot.id).values(state=state, reason=reason))


def set_slot_of(db: Database, conn: Connection, row: Any, state: str, reason: str | None) -> None:
    """The slot of an outbox row (`row` has key, campaign, slot_at) follows it: its own slot row gets
    `state`/`reason`, a multi-account slot is refreshed from all its posts."""
    conn.execute(sa.update(slot_t).where(slot_t.c.outbox_key == row.key).values(state=state, reason=reason))
    multi = multi_slot(row.key, row.campaign, row.slot_at)
    if multi is not None:
        refresh_multi_slots(db, conn, [multi])


def block_endpoint(db: Database, conn: Connection, account: str, endpoint: str, reset_at: datetime) -> None:
    """Record that `endpoint` of `account` may not be called before `reset_at` (remaining 0)."""
    stmt = db.insert(rate_limit_t).values(account=account, endpoint=endpoint, remaining=0, reset_at=reset_at)
    stmt = stmt.on_conflict_do_update(
        index_elements=["account", "endpoint"], set_={"remaining": 0, "reset_at": reset_at}
    )
    conn.execute(stmt)
