"""What the outbox, its campaign slots and the accounts' state look like outside the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class OutboxState:
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # dead letter
    CANCELLED = "cancelled"

    ALL = (PENDING, SENDING, SENT, FAILED, CANCELLED)


class SlotState:
    QUEUED = "queued"
    PUBLISHED = "published"
    FAILED = "failed"
    MISSED = "missed"
    SKIPPED = "skipped"

    ALL = (QUEUED, PUBLISHED, FAILED, MISSED, SKIPPED)


@dataclass(frozen=True)
class OutboxItem:
    id: int
    key: str
    account: str
    kind: str
    text: str
    text_hash: str
    in_reply_to_id: str | None
    recipient_id: str | None
    state: str
    attempts: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    attempt_started_at: datetime | None
    outcome_unknown: bool
    remote_id: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    campaign: str | None
    slot_at: datetime | None
    target_platform: str | None = None  # the person a reply or DM reaches: never sent once they opted out
    target_user_id: str | None = None


@dataclass(frozen=True)
class ClaimedItem:
    """An outbox row this owner now holds a lease on. `reconcile`: the last attempt may have landed."""

    item: OutboxItem
    reconcile: bool


@dataclass(frozen=True)
class Claim:
    items: list[ClaimedItem]
    deferred: int = 0  # rows pushed back by per-account limits during this claim
    cancelled: int = 0  # rows cancelled because the person they reach opted out


class Refusal:
    """Why begin_attempt let no request leave."""

    OPTED_OUT = "opted out"  # the row is cancelled
    PAUSED = "account paused"
    BLOCKED = "rate limited"
    LOST = "no longer held"  # cancelled, sent or taken over by another worker meanwhile


@dataclass(frozen=True)
class Attempt:
    """begin_attempt's answer: the item with this attempt counted when its request may leave now, else why not."""

    item: OutboxItem | None
    refused: str | None = None  # a Refusal
    until: datetime | None = None  # BLOCKED: the rate limit's reset


@dataclass(frozen=True)
class Slot:
    campaign: str
    slot_at: datetime
    state: str
    reason: str | None
    outbox_key: str | None
    text_hash: str | None
    variant: str | None
    created_at: datetime


@dataclass(frozen=True)
class AccountState:
    account: str
    platform_user_id: str | None
    paused_reason: str | None
    paused_at: datetime | None
