"""Campaign slots: one row per fire time of a campaign (unique campaign + slot time), written with its outbox
posts in one transaction, or alone for a slot that produced none (missed, failed, skipped)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa

from bot.adapters.store.base import Repository, from_row, utc_or_none
from bot.adapters.store.keys import campaign_account_key, campaign_key
from bot.adapters.store.rows import insert_outbox, insert_slot, outbox_values
from bot.adapters.store.tables import slot_t
from bot.core.clock import ensure_utc
from bot.core.records import Slot, SlotState


class CampaignPost(NamedTuple):
    """One account's post of a campaign slot."""

    account: str
    text: str
    variant: str | None = None


class SlotRepository(Repository):
    """Campaign slot rows (store.slots)."""

    def enqueue_campaign_slot(
        self,
        campaign: str,
        slot_at: datetime,
        *,
        account: str,
        text: str,
        variant: str | None,
        not_before: datetime | None = None,
    ) -> bool:
        """In one transaction: the slot row (queued) and its outbox post. False if the slot exists."""
        slot_at = ensure_utc(slot_at)
        key = campaign_key(campaign, slot_at)
        post = outbox_values(self._now(), key, account, "post", text, None, None, not_before, campaign, slot_at)
        slot_values = {
            "campaign": campaign,
            "slot_at": slot_at,
            "state": SlotState.QUEUED,
            "outbox_key": key,
            "text_hash": post["text_hash"],
            "variant": variant,
            "created_at": post["created_at"],
        }
        with self._tx("enqueue_campaign_slot") as conn:
            if not insert_slot(self.db, conn, slot_values):
                return False
            insert_outbox(self.db, conn, post)
            return True

    def enqueue_campaign_posts(
        self,
        campaign: str,
        slot_at: datetime,
        posts: Sequence[tuple[str, str, str | None]],
        *,
        reason: str | None = None,
        not_before: datetime | None = None,
    ) -> bool:
        """A slot of a multi-account campaign, in one transaction: the slot row (queued; `reason` names the
        accounts that got no post) and one outbox post per (account, text, variant), each keyed
        campaign:<name>:<account>:<slot>. False (and nothing written) if the slot exists.

        The slot row has no outbox_key: its state follows its posts (published when all were sent, failed when
        one was dead-lettered, queued while any is on its way), see rows.refresh_multi_slots."""
        if not posts:
            raise ValueError("a campaign slot needs at least one post")
        slot_at = ensure_utc(slot_at)
        rows = [
            outbox_values(
                self._now(),
                campaign_account_key(campaign, post.account, slot_at),
                post.account,
                "post",
                post.text,
                None,
                None,
                not_before,
                campaign,
                slot_at,
            )
            for post in (CampaignPost(*p) for p in posts)
        ]
        variants = " ".join(f"{account}:{variant}" for account, _text, variant in posts)
        slot_values = {
            "campaign": campaign,
            "slot_at": slot_at,
            "state": SlotState.QUEUED,
            "reason": reason,
            "outbox_key": None,
            "text_hash": None,
            "variant": variants[:200],
            "created_at": rows[0]["created_at"],
        }
        with self._tx("enqueue_campaign_posts") as conn:
            if not insert_slot(self.db, conn, slot_values):
                return False
            for values in rows:
                insert_outbox(self.db, conn, values)
            return True

    def record(self, campaign: str, slot_at: datetime, state: str, reason: str | None = None) -> bool:
        """Record a slot that produced no post (missed / failed / skipped); False if the slot exists."""
        if state not in SlotState.ALL:
            raise ValueError(f"unknown slot state {state!r}")
        values = {
            "campaign": campaign,
            "slot_at": ensure_utc(slot_at),
            "state": state,
            "reason": reason,
            "created_at": self._now(),
        }
        with self._tx("record_slot") as conn:
            return insert_slot(self.db, conn, values)

    def last_at(self, campaign: str) -> datetime | None:
        """The latest slot time of `campaign` that has a row."""
        with self._tx("last_slot_at") as conn:
            value = conn.execute(sa.select(sa.func.max(slot_t.c.slot_at)).where(slot_t.c.campaign == campaign)).scalar()
        return utc_or_none(value)

    def recorded(self, campaign: str, since: datetime) -> set[datetime]:
        """The slot times of `campaign` at or after `since` that have a row (queued, missed, skipped, failed)."""
        with self._tx("slots_recorded") as conn:
            rows = conn.execute(
                sa.select(slot_t.c.slot_at).where(slot_t.c.campaign == campaign, slot_t.c.slot_at >= since)
            ).scalars()
            return {value for value in (utc_or_none(v) for v in rows) if value is not None}

    def find(self, campaign: str | None = None, since: datetime | None = None) -> list[Slot]:
        """Slots by time (of one campaign, at or after `since`)."""
        stmt = sa.select(slot_t).order_by(slot_t.c.slot_at, slot_t.c.campaign)
        if campaign is not None:
            stmt = stmt.where(slot_t.c.campaign == campaign)
        if since is not None:
            stmt = stmt.where(slot_t.c.slot_at >= ensure_utc(since))
        with self._tx("slots") as conn:
            return [from_row(Slot, row) for row in conn.execute(stmt)]

    def get(self, campaign: str, slot_at: datetime) -> Slot | None:
        stmt = sa.select(slot_t).where(slot_t.c.campaign == campaign, slot_t.c.slot_at == ensure_utc(slot_at))
        with self._tx("slot") as conn:
            row = conn.execute(stmt).first()
        return from_row(Slot, row) if row is not None else None
