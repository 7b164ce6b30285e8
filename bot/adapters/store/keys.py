"""The keys the store derives from values: text hashes, outbox keys of campaign slots, opt-out hashes."""

from __future__ import annotations

import hashlib
from datetime import datetime

from bot.adapters.store.types import storable
from bot.core.clock import ensure_utc
from bot.core.text import text_hash as core_text_hash


def text_hash(text: str) -> str:
    """bot.core.text.text_hash (the 'never twice' key) of the text as it is stored (storable: a lone surrogate,
    which UTF-8 cannot encode, is stored and hashed as U+FFFD)."""
    return core_text_hash(storable(text))


def slot_key(slot_at: datetime) -> str:
    return ensure_utc(slot_at).strftime("%Y-%m-%dT%H:%M:%SZ")


def campaign_key(campaign: str, slot_at: datetime) -> str:
    """The outbox idempotency key of one campaign slot, e.g. campaign:double11:2026-11-11T02:00:00Z."""
    return f"campaign:{campaign}:{slot_key(slot_at)}"


def campaign_account_key(campaign: str, account: str, slot_at: datetime) -> str:
    """The outbox key of one account's post in a slot of a multi-account campaign (`accounts:` in config.yaml),
    e.g. campaign:double11:shop_bsky:2026-11-11T02:00:00Z. Single-account campaigns keep campaign_key."""
    return f"campaign:{campaign}:{account}:{slot_key(slot_at)}"


def user_hash(platform: str, user_id: str) -> str:
    """The opt-out key of a platform user id (kept after a 'forget' erases the id itself)."""
    return hashlib.sha256(f"{platform}:{user_id}".encode()).hexdigest()


def username_hash(platform: str, username: str) -> str:
    """The opt-out key of a handle, for opt-outs added by hand before the bot ever saw the user's id."""
    return user_hash(platform, "@" + username.lstrip("@").lower())
