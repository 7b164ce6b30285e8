"""Plain, immutable views of stored rows handed to the rest of the bot (no ORM objects leak out)."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.adapters.store.types import as_utc


def text_hash(text: str) -> str:
    """Hash of a post text as X compares duplicates (NFC, surrounding whitespace ignored)."""
    normalised = unicodedata.normalize("NFC", text).strip()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def slot_key(slot_at: datetime) -> str:
    return as_utc(slot_at).strftime("%Y-%m-%dT%H:%M:%SZ")


def campaign_key(campaign: str, slot_at: datetime) -> str:
    """The outbox idempotency key of one campaign slot, e.g. campaign:double11:2026-11-11T02:00:00Z."""
    return f"campaign:{campaign}:{slot_key(slot_at)}"


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

    @classmethod
    def from_row(cls, row: Any, **overrides: Any) -> OutboxItem:
        m = row._mapping
        values = {name: m[name] for name in cls.__dataclass_fields__}
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class ClaimedItem:
    """An outbox row this owner now holds a lease on. `reconcile`: the last attempt may have landed."""

    item: OutboxItem
    reconcile: bool


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
class Claim:
    items: list[ClaimedItem]
    deferred: int = 0  # rows pushed back by per-account limits during this claim
    cancelled: int = 0  # rows cancelled because the person they reach opted out


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

    @classmethod
    def from_row(cls, row: Any) -> Slot:
        m = row._mapping
        return cls(**{name: m[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class AccountState:
    account: str
    platform_user_id: str | None
    paused_reason: str | None
    paused_at: datetime | None
