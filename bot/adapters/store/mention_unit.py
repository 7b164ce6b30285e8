"""One account's page of mentions or DMs in ONE transaction (MentionRepository.unit): read what the decisions
need (existing ids, opt-outs, caps, used texts, the cursor), then write users, mentions, interactions, outbox
rows, inbox rows, opt-outs and the cursor, all committed together or not at all."""

from __future__ import annotations

import zlib
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.adapters.store.base import Database
from bot.adapters.store.keys import text_hash, user_hash, username_hash
from bot.adapters.store.rows import outbox_values
from bot.adapters.store.tables import (
    cursor_t,
    inbox_t,
    interaction_t,
    mention_t,
    optout_t,
    outbox_t,
    social_user_t,
)
from bot.core.clock import ensure_utc
from bot.core.models import User, numeric_or_text_newer
from bot.core.records import (
    InboxRecord,
    InboxStatus,
    InteractionRecord,
    MentionRecord,
    OptOutRecord,
    OutboxState,
    ReplyRecord,
    UnitWrites,
    UserRecord,
)

_PG_ACCOUNT_LOCK = 0x50C1A1B10  # plus crc32(account): one mention unit per account at a time across daemons
_LIVE_STATES = (OutboxState.PENDING, OutboxState.SENDING, OutboxState.SENT)
WEBHOOK_PENDING = "pending"
WEBHOOK_SENDING = "sending"


def account_lock(account: str) -> int:
    """The PostgreSQL advisory lock of an account's mention units (and engagement collections: no deadlock)."""
    return _PG_ACCOUNT_LOCK + zlib.crc32(account.encode())


class MentionUnit:
    """One transaction over one account's mentions/DMs. Obtain it from store.mentions.unit()."""

    def __init__(self, db: Database, conn: Connection, account: str) -> None:
        self._db = db
        self.conn = conn
        self.account = account
        self.now = db.clock.now()

    # ---- reads the decisions need
    def existing(self, kind: str, ids: Collection[str]) -> set[str]:
        """Which of these platform ids are already stored for this account (and so already handled)."""
        return existing_ids(self.conn, self.account, kind, ids)

    def opted_out(self, platform: str, users: Collection[tuple[str, str | None]]) -> set[str]:
        """User ids (of (user_id, username) pairs) that opted out, by id or by a handle added by hand."""
        if not users:
            return set()
        by_hash: dict[str, str] = {}
        for uid, username in users:
            by_hash[user_hash(platform, uid)] = uid
            if username:
                by_hash[username_hash(platform, username)] = uid
        found = self.conn.execute(
            sa.select(optout_t.c.user_hash).where(optout_t.c.user_hash.in_(list(by_hash)))
        ).scalars()
        return {by_hash[h] for h in found}

    def users(self, platform: str, user_ids: Collection[str]) -> dict[str, User]:
        """Known users by id (e.g. DM senders, whose events carry no handle)."""
        if not user_ids:
            return {}
        u = social_user_t
        rows = self.conn.execute(
            sa.select(u.c.user_id, u.c.username, u.c.name).where(
                u.c.platform == platform, u.c.user_id.in_(list(user_ids))
            )
        ).all()
        return {r.user_id: User(r.user_id, r.username or "", r.name or "") for r in rows}

    def replies_to_users(self, user_ids: Collection[str], since: datetime) -> dict[str, int]:
        """Replies (and DM answers) this account decided for each user since `since`."""
        return self._replies_by(mention_t.c.author_id, user_ids, mention_t.c.seen_at >= ensure_utc(since))

    def replies_in_conversations(self, conversation_ids: Collection[str]) -> dict[str, int]:
        return self._replies_by(mention_t.c.conversation_id, conversation_ids)

    def _replies_by(self, column: Any, values: Collection[str], *conditions: Any) -> dict[str, int]:
        """Replies this account decided, counted by `column` (one of `values`)."""
        if not values:
            return {}
        m = mention_t
        rows = self.conn.execute(
            sa.select(column, sa.func.count())
            .where(
                m.c.account == self.account,
                column.in_(list(values)),
                *conditions,
                m.c.reply_key.isnot(None),
            )
            .group_by(column)
        ).all()
        return {str(key): int(n) for key, n in rows}

    def own_posts(self, post_ids: Collection[str]) -> set[str]:
        """Which of these post ids this account published (through the outbox)."""
        if not post_ids:
            return set()
        o = outbox_t
        rows = self.conn.execute(
            sa.select(o.c.remote_id).where(o.c.account == self.account, o.c.remote_id.in_(list(post_ids)))
        ).scalars()
        return {r for r in rows if r}

    def used_texts(self, texts: Collection[str]) -> set[str]:
        """Which of these texts this account already has live in its outbox (X refuses exact duplicates)."""
        if not texts:
            return set()
        hashes = {text_hash(t): t for t in texts}
        o = outbox_t
        rows = self.conn.execute(
            sa.select(o.c.text_hash).where(
                o.c.account == self.account, o.c.text_hash.in_(list(hashes)), o.c.state.in_(_LIVE_STATES)
            )
        ).scalars()
        return {hashes[h] for h in rows}

    def cursor(self, stream: str) -> str | None:
        return read_cursor(self.conn, self.account, stream)

    # ---- writes
    def write(
        self,
        *,
        users: Sequence[UserRecord] = (),
        mentions: Sequence[MentionRecord] = (),
        interactions: Sequence[InteractionRecord] = (),
        replies: Sequence[ReplyRecord] = (),
        inbox: Sequence[InboxRecord] = (),
        optouts: Sequence[OptOutRecord] = (),
    ) -> UnitWrites:
        """Batch inserts (executemany); duplicates are skipped by the unique keys."""
        db, conn, now = self._db, self.conn, self.now
        out = UnitWrites()
        if users:
            upsert_users(db, conn, users, now)
        if mentions:
            rows = []
            for record in mentions:
                values = dict(vars(record))  # shallow: asdict's deep copy costs more than the insert
                values["seen_at"] = ensure_utc(record.seen_at) if record.seen_at else now
                values["created_at"] = ensure_utc(record.created_at) if record.created_at else None
                rows.append(values)
            stmt = (
                db.insert(mention_t)
                .on_conflict_do_nothing(index_elements=["account", "kind", "platform_id"])
                .returning(mention_t.c.id)
            )
            out.mentions = len(conn.execute(stmt, rows).all())  # executemany rowcount is -1 on psycopg
        if interactions:
            rows = [dict(vars(i)) for i in interactions]
            stmt = db.insert(interaction_t).on_conflict_do_nothing(
                index_elements=["platform", "kind", "post_id", "source_user_id", "target_user_id"]
            )
            conn.execute(stmt, rows)
        if optouts:
            rows = [optout_values(record, now) for record in optouts]
            stmt = db.insert(optout_t).on_conflict_do_nothing(index_elements=["user_hash"]).returning(optout_t.c.id)
            out.optouts = len(conn.execute(stmt, rows).all())
        if replies:
            rows = []
            for r in replies:
                values = outbox_values(
                    db.clock.now(), r.key, r.account, r.kind, r.text, r.in_reply_to_id, r.recipient_id, r.not_before
                )
                values["target_platform"] = r.target_platform
                values["target_user_id"] = r.target_user_id
                rows.append(values)
            stmt = db.insert(outbox_t).on_conflict_do_nothing(index_elements=["key"]).returning(outbox_t.c.id)
            out.replies = len(conn.execute(stmt, rows).all())
        if inbox:
            rows = [
                {
                    "account": item.account,
                    "platform": item.platform,
                    "kind": item.kind,
                    "mention_id": item.mention_id,
                    "user_id": item.user_id,
                    "username": item.username,
                    "intent": item.intent,
                    "text": item.text,
                    "created_at": now,
                    "status": InboxStatus.OPEN,
                    "note": None,
                    "webhook_status": WEBHOOK_PENDING if item.webhook else None,
                    "reason": item.reason,
                }
                for item in {(i.account, i.kind, i.mention_id): i for i in inbox}.values()
            ]
            stmt = (
                db.insert(inbox_t)
                .on_conflict_do_nothing(index_elements=["account", "kind", "mention_id"])
                .returning(inbox_t.c.id, sort_by_parameter_order=True)
            )
            out.inbox_ids = sorted(int(i) for i in conn.execute(stmt, rows).scalars())
        return out

    def set_resume(self, stream: str, newest: str, until: str) -> None:
        """An interrupted run stored everything from `until` up to `newest`: the next run reads below `until`
        only, then moves the cursor to `newest` (nothing is stored if the cursor is already there)."""
        current = self.cursor(stream)
        if current is not None and not numeric_or_text_newer(newest, current):
            self.clear_resume(stream)
            return
        value = resume_value(newest, until)
        stmt = self._db.insert(cursor_t).values(
            account=self.account, stream=resume_stream(stream), value=value, updated_at=self.now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["account", "stream"], set_={"value": value, "updated_at": self.now}
        )
        self.conn.execute(stmt)

    def clear_resume(self, stream: str) -> None:
        self.conn.execute(
            sa.delete(cursor_t).where(cursor_t.c.account == self.account, cursor_t.c.stream == resume_stream(stream))
        )

    def advance_cursor(self, stream: str, value: str | None) -> bool:
        """Move the cursor forward to `value` (never back: ids compare as numbers when they are)."""
        if not value:
            return False
        current = self.cursor(stream)
        if current is not None and not numeric_or_text_newer(value, current):
            return False
        stmt = self._db.insert(cursor_t).values(account=self.account, stream=stream, value=value, updated_at=self.now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["account", "stream"], set_={"value": value, "updated_at": self.now}
        )
        self.conn.execute(stmt)
        return True


def upsert_users(db: Database, conn: Connection, users: Sequence[UserRecord], now: datetime) -> None:
    """Insert or refresh social_user rows; a None handle, name or follower count keeps the stored one."""
    unique: dict[tuple[str, str], UserRecord] = {}
    for u in users:  # one row per user, keeping the handle, name and follower count any record had
        seen = unique.get((u.platform, u.user_id))
        unique[(u.platform, u.user_id)] = (
            u
            if seen is None
            else UserRecord(
                u.platform,
                u.user_id,
                u.username or seen.username,
                u.name or seen.name,
                u.followers_count if u.followers_count is not None else seen.followers_count,
            )
        )
    stmt = db.insert(social_user_t)
    stmt = stmt.on_conflict_do_update(
        index_elements=["platform", "user_id"],
        set_={
            "username": sa.func.coalesce(stmt.excluded.username, social_user_t.c.username),
            "name": sa.func.coalesce(stmt.excluded.name, social_user_t.c.name),
            "followers_count": sa.func.coalesce(stmt.excluded.followers_count, social_user_t.c.followers_count),
            "last_seen": stmt.excluded.last_seen,
        },
    )
    rows = [
        {
            "platform": u.platform,
            "user_id": u.user_id,
            "username": u.username,
            "name": u.name,
            "followers_count": u.followers_count,
            "first_seen": now,
            "last_seen": now,
        }
        for _, u in sorted(unique.items())  # a fixed order: no deadlocks between two daemons
    ]
    conn.execute(stmt, rows)


def resume_stream(stream: str) -> str:
    return f"{stream}.resume"


def resume_value(newest: str, until: str) -> str:
    """'newest:until' for X's numeric ids (as stored so far); a tab between ids that hold ':' themselves (a
    Bluesky cursor is an ISO time, its posts are at-URIs)."""
    return f"{newest}\t{until}" if ":" in newest or ":" in until else f"{newest}:{until}"


def read_cursor(conn: Connection, account: str, stream: str) -> str | None:
    return conn.execute(
        sa.select(cursor_t.c.value).where(cursor_t.c.account == account, cursor_t.c.stream == stream)
    ).scalar()


def optout_values(record: OptOutRecord, now: datetime) -> dict[str, Any]:
    if record.user_id:
        key = user_hash(record.platform, record.user_id)
    elif record.username:
        key = username_hash(record.platform, record.username)
    else:
        raise ValueError("an opt-out needs a user id or a username")
    return {
        "platform": record.platform,
        "user_id": record.user_id,
        "username": record.username.lstrip("@") if record.username else None,
        "user_hash": key,
        "reason": record.reason,
        "created_at": now,
    }


def insert_optout(db: Database, conn: Connection, record: OptOutRecord, now: datetime) -> int:
    stmt = (
        db.insert(optout_t)
        .values(**optout_values(record, now))
        .on_conflict_do_nothing(index_elements=["user_hash"])
        .returning(optout_t.c.id)
    )
    return 1 if conn.execute(stmt).first() is not None else 0


def existing_ids(conn: Connection, account: str, kind: str, ids: Collection[str]) -> set[str]:
    """Which of these platform ids of mentions (or DMs) of `account` are stored."""
    if not ids:
        return set()
    m = mention_t
    rows = conn.execute(
        sa.select(m.c.platform_id).where(m.c.account == account, m.c.kind == kind, m.c.platform_id.in_(list(ids)))
    ).scalars()
    return set(rows)
