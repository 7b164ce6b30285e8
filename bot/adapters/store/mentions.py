"""Mentions, DMs, cursors, opt-outs and the human inbox (store.mentions); one page of mentions goes through
MentionRepository.unit (bot/adapters/store/mention_unit.py)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.adapters.store.base import Repository, from_row
from bot.adapters.store.engine import guarded
from bot.adapters.store.keys import user_hash, username_hash
from bot.adapters.store.mention_unit import (
    WEBHOOK_PENDING,
    WEBHOOK_SENDING,
    MentionUnit,
    account_lock,
    existing_ids,
    insert_optout,
    read_cursor,
    resume_stream,
)
from bot.adapters.store.tables import ID_LENGTH, inbox_t, mention_t, optout_t, outbox_t
from bot.core.clock import ensure_utc
from bot.core.records import (
    FROM_DATA,
    SET_ASIDE,
    Exchange,
    InboxItem,
    InboxStatus,
    MentionRecord,
    OptOut,
    OptOutRecord,
    OutboxState,
    Outcome,
)

logger = logging.getLogger(__name__)

REPLY_KEY_PREFIXES = ("reply:", "dm-reply:")


def mention_from_row(row: Any) -> MentionRecord:
    lists = {name: list(row._mapping[name] or []) for name in ("mentions", "hashtags", "urls")}
    return from_row(MentionRecord, row, **lists)


class MentionRepository(Repository):
    """mention, cursor, optout and inbox rows (store.mentions)."""

    @contextmanager
    def unit(self, account: str) -> Iterator[MentionUnit]:
        """One transaction for one account's page of mentions (serialised per account across daemons)."""
        with self._tx(f"storing mentions of {account}") as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(account_lock(account))))
            yield MentionUnit(self.db, conn, account)

    def cursor(self, account: str, stream: str) -> str | None:
        with self._tx("reading a cursor") as conn:
            return read_cursor(conn, account, stream)

    def resume_point(self, account: str, stream: str) -> tuple[str, str] | None:
        """(newest, until) of an interrupted polling run, or None."""
        with self._tx("reading a cursor") as conn:
            value = read_cursor(conn, account, resume_stream(stream))
        if value and "\t" in value:
            newest, until = value.split("\t", 1)
            return newest, until
        if not value or ":" not in value:
            return None
        newest, until = value.split(":", 1)
        return newest, until

    def stored_ids(self, account: str, kind: str, ids: Collection[str]) -> set[str]:
        """Which of these platform ids are already stored (read outside a unit: a poll that re-reads a margin
        skips the known ones before classifying; the unit checks again)."""
        if not ids:
            return set()
        if self.dialect == "sqlite":  # one SELECT at the driver: no BEGIN IMMEDIATE, no wait for a writer
            with guarded(self.db.engine.url, "reading known mentions"), self.db.engine.connect() as conn:
                return existing_ids(conn, account, kind, ids, autocommit=True)
        with self._tx("reading known mentions") as conn:
            return existing_ids(conn, account, kind, ids)

    # ---- mentions
    def get(self, account: str, platform_id: str, kind: str = "mention") -> MentionRecord | None:
        m = mention_t
        with self._tx("reading a mention") as conn:
            row = conn.execute(
                sa.select(m).where(m.c.account == account, m.c.kind == kind, m.c.platform_id == platform_id)
            ).first()
        return mention_from_row(row) if row is not None else None

    def find(
        self, account: str | None = None, *, kind: str | None = None, limit: int | None = None
    ) -> list[MentionRecord]:
        """Stored mentions/DMs, oldest first."""
        m = mention_t
        stmt = sa.select(m).order_by(m.c.id)
        if account is not None:
            stmt = stmt.where(m.c.account == account)
        if kind is not None:
            stmt = stmt.where(m.c.kind == kind)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._tx("reading mentions") as conn:
            return [mention_from_row(r) for r in conn.execute(stmt)]

    def listing(
        self,
        *,
        outcome: str | None = None,
        since: datetime | None = None,
        account: str | None = None,
        limit: int | None = 100,
    ) -> list[MentionRecord]:
        """Stored mentions/DMs, newest first, of one outcome (None: all), seen since `since`."""
        m = mention_t
        stmt = sa.select(m).order_by(m.c.seen_at.desc(), m.c.id.desc())
        if outcome is not None:
            stmt = stmt.where(m.c.outcome == outcome)
        if since is not None:
            stmt = stmt.where(m.c.seen_at >= ensure_utc(since))
        if account is not None:
            stmt = stmt.where(m.c.account == account)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._tx("reading mentions") as conn:
            return [mention_from_row(r) for r in conn.execute(stmt)]

    def outcomes(self, *, since: datetime | None = None) -> dict[str, int]:
        """How many mentions and DMs ended in each outcome (every outcome listed, 0 when none). A message set aside
        because it could not be processed has no mention row: it counts as handed over (its inbox item)."""
        m, i = mention_t, inbox_t
        counts = dict.fromkeys(Outcome.ALL, 0)
        by_outcome = sa.select(m.c.outcome, sa.func.count()).group_by(m.c.outcome)
        aside = sa.select(sa.func.count()).select_from(i).where(i.c.intent == SET_ASIDE)
        if since is not None:
            by_outcome = by_outcome.where(m.c.seen_at >= ensure_utc(since))
            aside = aside.where(i.c.created_at >= ensure_utc(since))
        with self._tx("counting outcomes") as conn:
            for outcome, n in conn.execute(by_outcome):
                counts[str(outcome)] = counts.get(str(outcome), 0) + int(n)
            counts[Outcome.HANDED_OVER] += int(conn.execute(aside).scalar_one())
        return counts

    def message_counts(self, people: Collection[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """(account, author id) -> how many of their mentions and DMs to that account are stored."""
        m = mention_t
        counts: dict[tuple[str, str], int] = {}
        authors = sorted({author for _, author in people})
        with self._tx("counting a customer's messages") as conn:
            for start in range(0, len(authors), 500):
                rows = conn.execute(
                    sa.select(m.c.account, m.c.author_id, sa.func.count())
                    .where(m.c.author_id.in_(authors[start : start + 500]))
                    .group_by(m.c.account, m.c.author_id)
                )
                counts.update({(str(a), str(u)): int(n) for a, u, n in rows if (a, u) in people})
        return counts

    def history(self, account: str, user_id: str, *, limit: int = 20) -> list[Exchange]:
        """A customer's latest messages to one of our accounts, newest first, each with our reply (text and state)
        (ix_mention_author)."""
        m, o = mention_t, outbox_t
        stmt = (
            sa.select(m, o.c.text.label("reply_text"), o.c.state.label("reply_state"))
            .select_from(m.outerjoin(o, o.c.key == m.c.reply_key))
            .where(m.c.account == account, m.c.author_id == user_id)
            .order_by(m.c.seen_at.desc(), m.c.id.desc())
            .limit(limit)
        )
        with self._tx("reading a customer's history") as conn:
            rows = conn.execute(stmt).all()
        return [Exchange(mention_from_row(r), r.reply_text, r.reply_state) for r in rows]

    # ---- opt-outs
    def add_optout(
        self, platform: str, *, user_id: str | None = None, username: str | None = None, reason: str | None = None
    ) -> bool:
        """Record a permanent opt-out (by id, or by handle when the id is unknown); False if already there."""
        with self._tx("adding an opt-out") as conn:
            return insert_optout(self.db, conn, OptOutRecord(platform, user_id, username, reason), self._now()) == 1

    def remove_optout(self, platform: str, *, user_id: str | None = None, username: str | None = None) -> int:
        """Delete the opt-out of this id and/or handle (the only way back); returns how many were removed."""
        hashes = []
        if user_id:
            hashes.append(user_hash(platform, user_id))
        if username:
            hashes.append(username_hash(platform, username))
        o = optout_t
        conditions = [o.c.user_hash.in_(hashes)] if hashes else []
        if username:
            conditions.append(sa.func.lower(o.c.username) == username.lstrip("@").lower())
        if not conditions:
            raise ValueError("give user_id or username")
        with self._tx("removing an opt-out") as conn:
            return conn.execute(sa.delete(o).where(o.c.platform == platform, sa.or_(*conditions))).rowcount

    def is_opted_out(self, platform: str, user_id: str, username: str | None = None) -> bool:
        hashes = [user_hash(platform, user_id)]
        if username:
            hashes.append(username_hash(platform, username))
        with self._tx("checking an opt-out") as conn:
            row = conn.execute(sa.select(optout_t.c.id).where(optout_t.c.user_hash.in_(hashes)).limit(1)).first()
        return row is not None

    def optouts(self) -> list[OptOut]:
        o = optout_t
        with self._tx("listing opt-outs") as conn:
            rows = conn.execute(sa.select(o).order_by(o.c.created_at, o.c.id)).all()
        return [OptOut(r.id, r.platform, r.user_id, r.username, r.reason, ensure_utc(r.created_at)) for r in rows]

    # ---- inbox
    def inbox_items(self, *, status: str | None = InboxStatus.OPEN, limit: int | None = None) -> list[InboxItem]:
        """Inbox items oldest first (only open ones by default; status=None: all)."""
        i = inbox_t
        stmt = sa.select(i).order_by(i.c.id)
        if status is not None:
            stmt = stmt.where(i.c.status == status)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._tx("reading the inbox") as conn:
            return [from_row(InboxItem, r) for r in conn.execute(stmt)]

    def set_aside(
        self,
        account: str,
        platform: str,
        kind: str,
        item_id: str,
        author_id: str | None,
        text: str,
        error: BaseException,
    ) -> bool:
        """Record a mention or DM that could not be processed as an open inbox item (intent SET_ASIDE, the reason
        and the text), in a transaction of its own; counted by /healthz until a person resolves it."""
        reason = f"{type(error).__name__}: {error}"[:500]
        values = {
            "account": account,
            "platform": platform,
            "kind": kind,
            "mention_id": item_id[:ID_LENGTH],
            "user_id": author_id[:ID_LENGTH] if author_id else None,
            "intent": SET_ASIDE,
            "text": f"could not be processed ({reason}); it was not answered. Its text: {text[:2000]}",
            "reason": f"could not be processed: {reason}",
            "created_at": self._now(),
            "status": InboxStatus.OPEN,
        }
        stmt = (
            self._insert(inbox_t)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["account", "kind", "mention_id"])
        )
        with self._tx("setting a message aside") as conn:
            return conn.execute(stmt).rowcount == 1

    def inbox_item(self, item_id: int) -> InboxItem | None:
        with self._tx("reading an inbox item") as conn:
            row = conn.execute(sa.select(inbox_t).where(inbox_t.c.id == item_id)).first()
        return from_row(InboxItem, row) if row is not None else None

    def resolve_inbox(self, item_id: int, note: str | None = None) -> bool:
        """Mark an open item resolved (with an optional note); False if missing or already resolved."""
        i = inbox_t
        with self._tx("resolving an inbox item") as conn:
            result = conn.execute(
                sa.update(i)
                .where(i.c.id == item_id, i.c.status == InboxStatus.OPEN)
                .values(status=InboxStatus.RESOLVED, resolved_at=self._now(), note=note)
            )
        return result.rowcount == 1

    def claim_webhooks(self, ids: Collection[int] | None = None, limit: int = 50) -> list[InboxItem]:
        """Inbox items whose webhook POST is still owed, marked 'sending' so one daemon posts each."""
        i = inbox_t
        stmt = sa.select(i.c.id).where(i.c.webhook_status == WEBHOOK_PENDING).order_by(i.c.id).limit(limit)
        if ids is not None:
            stmt = stmt.where(i.c.id.in_(list(ids)))
        with self._tx("claiming webhooks") as conn:
            wanted = list(conn.execute(stmt).scalars())
            if not wanted:
                return []
            claimed = conn.execute(
                sa.update(i)
                .where(i.c.id.in_(wanted), i.c.webhook_status == WEBHOOK_PENDING)
                .values(webhook_status=WEBHOOK_SENDING)
                .returning(i.c.id)
            ).scalars()
            claimed_ids = sorted(claimed)
            rows = conn.execute(sa.select(i).where(i.c.id.in_(claimed_ids)).order_by(i.c.id)).all()
        return [from_row(InboxItem, r) for r in rows]

    def set_webhook_status(self, item_id: int, status: str) -> None:
        with self._tx("recording a webhook status") as conn:
            conn.execute(sa.update(inbox_t).where(inbox_t.c.id == item_id).values(webhook_status=status[:200]))

    # ---- summary
    def summary(self) -> dict[str, int]:
        """mentions_seen, replies_sent (replies and DM answers delivered), escalations, optouts, answered_from_data
        (questions the shop's data answered); the outcomes: outcomes()."""
        o = outbox_t
        with self._tx("mention summary") as conn:
            seen = conn.execute(sa.select(sa.func.count()).select_from(mention_t)).scalar_one()
            sent = conn.execute(
                sa.select(sa.func.count()).where(
                    o.c.state == OutboxState.SENT,
                    sa.or_(*(o.c.key.startswith(prefix) for prefix in REPLY_KEY_PREFIXES)),
                )
            ).scalar_one()
            inbox = conn.execute(sa.select(sa.func.count()).select_from(inbox_t)).scalar_one()
            optouts = conn.execute(sa.select(sa.func.count()).select_from(optout_t)).scalar_one()
            from_data = conn.execute(
                sa.select(sa.func.count()).where(
                    mention_t.c.outcome == Outcome.ANSWERED, mention_t.c.reason.startswith(FROM_DATA)
                )
            ).scalar_one()
        return {
            "mentions_seen": int(seen),
            "replies_sent": int(sent),
            "escalations": int(inbox),
            "optouts": int(optouts),
            "answered_from_data": int(from_data),
        }
