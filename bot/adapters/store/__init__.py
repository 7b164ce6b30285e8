"""Persistence: the only package that imports sqlmodel, sqlalchemy and alembic. `Store` composes one repository
per aggregate (bot/adapters/store/store.py); the records it hands out are bot.core.records'."""

from __future__ import annotations

from bot.adapters.store.engine import safe_url
from bot.adapters.store.keys import campaign_key, slot_key, text_hash
from bot.adapters.store.store import Store

__all__ = ["Store", "campaign_key", "safe_url", "slot_key", "text_hash"]
