"""Persistence: the only package that imports sqlmodel, sqlalchemy and alembic."""

from __future__ import annotations

from bot.adapters.store.engine import safe_url
from bot.adapters.store.records import (
    AccountState,
    Claim,
    ClaimedItem,
    OutboxItem,
    Slot,
    campaign_key,
    slot_key,
    text_hash,
)
from bot.adapters.store.store import Store, endpoint_for, utc_now
from bot.adapters.store.tables import OutboxState, SlotState

__all__ = [
    "AccountState",
    "Claim",
    "ClaimedItem",
    "OutboxItem",
    "OutboxState",
    "Slot",
    "SlotState",
    "Store",
    "campaign_key",
    "endpoint_for",
    "safe_url",
    "slot_key",
    "text_hash",
    "utc_now",
]
