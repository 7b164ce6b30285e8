"""One account's page of mentions or DMs in ONE transaction (MentionRepository.unit): read what the decisions
need (existing ids, opt-outs, caps, used texts, the cursor), then write users, mentions, interactions, outbox
rows, inbox rows, opt-outs and the cursor, all committed together or not at all."""

from __future__ import annotations

import weakref
import zlib
from collections.abc import Collection, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from bot.adapters.store.base import Database
from bot.adapters.store.bulk import BulkStatement, insert_returning, select_in
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
        found = select_in(self.conn, optout_t, "user_hash", list(by_hash), ["user_hash"])
        return {by_hash[h] for (h,) in found}

    def users(self, platform: str, user_ids: Collection[str]) -> dict[str, User]:
        """Known users by id (e.g. DM senders, whose events carry no handle)."""
        if not user_ids:
            return {}
        rows = select_in(
            self.conn, social_user_t, "user_id", user_ids, ["user_id", "username", "name"], where={"platform": platform}
        )
        return {uid: User(uid, username or "", name or "") for uid, username, name in rows}

    def replies_to_users(self, user_ids: Collection[str], since: datetime) -> dict[str, int]:
        """Replies (and DM answers) this account decided for each user since `since`."""
        return self._replies_by("author_id", user_ids, since)

    def replies_in_conversations(self, conversation_ids: Collection[str]) -> dict[str, int]:
        return self._replies_by("conversation_id", conversation_ids)

    def _replies_by(self, column: str, values: Collection[str], since: datetime | None = None) -> dict[str, int]:
        """Replies this account decided (a reply key), counted by `column` (one of `values`), seen since `since`."""
        if not values:
            return {}
        counted = select_in(
            self.conn,
            mention_t,
            column,
            values,
            (),
            where={"account": self.account},
            since={"seen_at": since} if since is not None else None,
            not_null=["reply_key"],
            count=True,
        )
        return {str(key): n for key, n in counted}

    def own_posts(self, post_ids: Collection[str]) -> set[str]:
        """Which of these post ids this account published (through the outbox)."""
        if not post_ids:
            return set()
        rows = select_in(self.conn, outbox_t, "remote_id", post_ids, ["remote_id"], where={"account": self.account})
        return {r for (r,) in rows if r}

    def used_texts(self, texts: Collection[str]) -> set[str]:
        """Which of these texts this account already has live in its outbox (X refuses exact duplicates)."""
        if not texts:
            return set()
        hashes = {text_hash(t): t for t in texts}
        rows = select_in(
            self.conn, outbox_t, "text_hash", list(hashes), ["text_hash", "state"], where={"account": self.account}
        )
        return {hashes[h] for h, state in rows if state in _LIVE_STATES}

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
        """Each kind of row in one statement at the driver (an executemany, BulkStatement; the inbox one multi-row
        INSERT ... RETURNING, for the new ids), values through the columns' own bind processors as Core stores
        them; duplicates are skipped by the unique keys, and the counts are the rows the database inserted (the
        driver's rowcount)."""
        db, conn, now = self._db, self.conn, self.now
        writes = _writes(conn.dialect)
        out = UnitWrites()
        if users:
            upsert_users(conn, users, now)
        if mentions:
            columns = {name: [getattr(m, name) for m in mentions] for name in _MENTION_KEYS}
            columns["seen_at"] = [m.seen_at or now for m in mentions]
            out.mentions = writes.mentions.run(conn, columns)
        if interactions:
            writes.interactions.run(
                conn, {name: [getattr(i, name) for i in interactions] for name in _INTERACTION_KEYS}
            )
        if optouts:
            rows = [optout_values(record, now) for record in optouts]
            out.optouts = writes.optouts.run(conn, {name: [row[name] for row in rows] for name in _OPTOUT_KEYS})
        if replies:
            out.replies = writes.replies.run(conn, reply_columns(replies, db.clock.now()))
        if inbox:
            items = list({(i.account, i.kind, i.mention_id): i for i in inbox}.values())
            n = len(items)
            columns = {
                "account": [i.account for i in items],
                "platform": [i.platform for i in items],
                "kind": [i.kind for i in items],
                "mention_id": [i.mention_id for i in items],
                "user_id": [i.user_id for i in items],
                "username": [i.username for i in items],
                "intent": [i.intent for i in items],
                "text": [i.text for i in items],
                "created_at": [now] * n,
                "status": [InboxStatus.OPEN] * n,
                "note": [None] * n,
                "webhook_status": [WEBHOOK_PENDING if i.webhook else None for i in items],
                "reason": [i.reason for i in items],
            }
            ids = insert_returning(conn, inbox_t, columns, ["account", "kind", "mention_id"], "id")
            out.inbox_ids = sorted(int(i) for i in ids)
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


def upsert_users(conn: Connection, users: Sequence[UserRecord], now: datetime) -> None:
    """Insert or refresh social_user rows; a None handle, name or follower count keeps the stored one (one
    executemany at the driver)."""
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
    ordered = [u for _, u in sorted(unique.items())]  # a fixed order: no deadlocks between two daemons
    _writes(conn.dialect).users.run(
        conn,
        {
            "platform": [u.platform for u in ordered],
            "user_id": [u.user_id for u in ordered],
            "username": [u.username for u in ordered],
            "name": [u.name for u in ordered],
            "followers_count": [u.followers_count for u in ordered],
            "first_seen": [now] * len(ordered),
            "last_seen": [now] * len(ordered),
        },
    )


def reply_columns(replies: Sequence[ReplyRecord], now: datetime) -> dict[str, list[Any]]:
    """New pending outbox rows (rows.outbox_values), created at `now`, with their targets, column by column."""
    rows = [
        outbox_values(now, r.key, r.account, r.kind, r.text, r.in_reply_to_id, r.recipient_id, r.not_before)
        for r in replies
    ]
    columns = {name: [row[name] for row in rows] for name in (rows[0] if rows else ())}
    columns["target_platform"] = [r.target_platform for r in replies]
    columns["target_user_id"] = [r.target_user_id for r in replies]
    return columns


class _Writes:
    """The unit's executemany statements, compiled once per dialect."""

    def __init__(self, dialect: Any) -> None:
        users = sqlite.insert(social_user_t) if dialect.name == "sqlite" else postgresql.insert(social_user_t)
        users = users.on_conflict_do_update(
            index_elements=["platform", "user_id"],
            set_={
                "username": sa.func.coalesce(users.excluded.username, social_user_t.c.username),
                "name": sa.func.coalesce(users.excluded.name, social_user_t.c.name),
                "followers_count": sa.func.coalesce(users.excluded.followers_count, social_user_t.c.followers_count),
                "last_seen": users.excluded.last_seen,
            },
        )
        self.users = BulkStatement(users, _USER_KEYS, dialect)
        self.mentions = _insert_new(mention_t, ["account", "kind", "platform_id"], _MENTION_KEYS, dialect)
        self.interactions = _insert_new(
            interaction_t,
            ["platform", "kind", "post_id", "source_user_id", "target_user_id"],
            _INTERACTION_KEYS,
            dialect,
        )
        self.optouts = _insert_new(optout_t, ["user_hash"], _OPTOUT_KEYS, dialect)
        self.replies = _insert_new(outbox_t, ["key"], _REPLY_KEYS, dialect)


def _insert_new(table: sa.Table, unique: list[str], keys: Sequence[str], dialect: Any) -> BulkStatement:
    """INSERT ... ON CONFLICT (unique) DO NOTHING."""
    insert = sqlite.insert(table) if dialect.name == "sqlite" else postgresql.insert(table)
    return BulkStatement(insert.on_conflict_do_nothing(index_elements=unique), keys, dialect)


_MENTION_KEYS = tuple(f.name for f in fields(MentionRecord))
_INTERACTION_KEYS = tuple(f.name for f in fields(InteractionRecord))
_USER_KEYS = ("platform", "user_id", "username", "name", "followers_count", "first_seen", "last_seen")
_OPTOUT_KEYS = ("platform", "user_id", "username", "user_hash", "reason", "created_at")
_REPLY_KEYS = tuple(reply_columns([ReplyRecord("k", "a", "reply", "t")], datetime.min))
_WRITES: weakref.WeakKeyDictionary[Any, _Writes] = weakref.WeakKeyDictionary()


def _writes(dialect: Any) -> _Writes:
    writes = _WRITES.get(dialect)
    if writes is None:
        writes = _WRITES[dialect] = _Writes(dialect)
    return writes


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


def existing_ids(
    conn: Connection, account: str, kind: str, ids: Collection[str], *, autocommit: bool = False
) -> set[str]:
    """Which of these platform ids of mentions (or DMs) of `account` are stored (`autocommit`: select_in's)."""
    if not ids:
        return set()
    rows = select_in(
        conn,
        mention_t,
        "platform_id",
        ids,
        ["platform_id"],
        where={"account": account, "kind": kind},
        autocommit=autocommit,
    )
    return {platform_id for (platform_id,) in rows}
