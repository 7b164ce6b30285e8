"""Mentions, DMs, their authors, interactions, cursors, opt-outs and the human inbox.

`Store.mention_unit(account)` is the one transaction a page of mentions goes through: read what the decisions
need (existing ids, opt-outs, caps, used texts, the cursor), then write users, mentions, interactions,
outbox rows, inbox rows, opt-outs and the cursor, all committed together or not at all.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.adapters.store.records import text_hash
from bot.adapters.store.tables import (
    ID_LENGTH,
    SET_ASIDE,
    InboxStatus,
    MentionDecision,
    OutboxState,
    cursor_t,
    inbox_t,
    interaction_t,
    mention_t,
    optout_t,
    outbox_t,
    social_user_t,
)
from bot.adapters.store.types import as_utc
from bot.core.models import User

if TYPE_CHECKING:
    from bot.adapters.store.store import Store

logger = logging.getLogger(__name__)

_PG_ACCOUNT_LOCK = 0x50C1A1B10  # plus crc32(account): one mention unit per account at a time across daemons
_LIVE_STATES = (OutboxState.PENDING, OutboxState.SENDING, OutboxState.SENT)
REPLY_KEY_PREFIXES = ("reply:", "dm-reply:")
WEBHOOK_PENDING = "pending"
WEBHOOK_SENDING = "sending"


def user_hash(platform: str, user_id: str) -> str:
    """The opt-out key of a platform user id (kept after a 'forget' erases the id itself)."""
    return hashlib.sha256(f"{platform}:{user_id}".encode()).hexdigest()


def username_hash(platform: str, username: str) -> str:
    """The opt-out key of a handle, for opt-outs added by hand before the bot ever saw the user's id."""
    return user_hash(platform, "@" + username.lstrip("@").lower())


def reply_key(mention_id: str) -> str:
    return f"reply:{mention_id}"


def dm_reply_key(event_id: str) -> str:
    return f"dm-reply:{event_id}"


# ------------------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class UserRecord:
    platform: str
    user_id: str
    username: str | None = None
    name: str | None = None
    followers_count: int | None = None  # None: unknown (a stored count is kept)

    @classmethod
    def of(cls, platform: str, user: User) -> UserRecord:
        return cls(platform, user.id, user.username or None, user.name or None, user.followers)


@dataclass(frozen=True)
class MentionRecord:
    """A mention (kind mention) or DM (kind dm) with the decision taken about it."""

    account: str
    platform: str
    kind: str
    platform_id: str
    text: str
    decision: str
    author_id: str | None = None
    created_at: datetime | None = None
    conversation_id: str | None = None
    in_reply_to_user_id: str | None = None
    replied_to_id: str | None = None
    quoted_id: str | None = None
    mentions: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    intent: str | None = None
    sentiment: float | None = None
    language: str | None = None
    summoned: bool = False
    reason: str | None = None
    reply_key: str | None = None
    seen_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> MentionRecord:
        m = row._mapping
        values = {name: m[name] for name in cls.__dataclass_fields__}
        for name in ("mentions", "hashtags", "urls"):
            values[name] = list(values[name] or [])
        return cls(**values)


@dataclass(frozen=True)
class InteractionRecord:
    platform: str
    source_user_id: str
    target_user_id: str
    kind: str  # mention | reply | quote | dm | like | retweet
    post_id: str
    created_at: datetime


@dataclass(frozen=True)
class ReplyRecord:
    """An outbox row answering a mention (kind reply) or a DM (kind dm)."""

    key: str
    account: str
    kind: str
    text: str
    in_reply_to_id: str | None = None
    recipient_id: str | None = None
    not_before: datetime | None = None
    target_platform: str | None = None  # None: not cancelled when the person opted out (the confirmation)
    target_user_id: str | None = None


@dataclass(frozen=True)
class InboxRecord:
    account: str
    platform: str
    kind: str
    mention_id: str
    text: str
    user_id: str | None = None
    username: str | None = None
    intent: str | None = None
    webhook: bool = False  # a webhook POST is wanted (webhook_status starts 'pending')


@dataclass(frozen=True)
class OptOutRecord:
    platform: str
    user_id: str | None
    username: str | None
    reason: str | None = None


@dataclass(frozen=True)
class OptOut:
    id: int
    platform: str
    user_id: str | None
    username: str | None
    reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class InboxItem:
    id: int
    account: str
    platform: str
    kind: str
    mention_id: str
    user_id: str | None
    username: str | None
    intent: str | None
    text: str
    created_at: datetime
    status: str
    resolved_at: datetime | None
    note: str | None
    webhook_status: str | None

    @classmethod
    def from_row(cls, row: Any) -> InboxItem:
        m = row._mapping
        return cls(**{name: m[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class SocialUser:
    platform: str
    user_id: str
    username: str | None
    name: str | None
    first_seen: datetime
    last_seen: datetime
    followers_count: int | None = None


@dataclass
class UnitWrites:
    """What one mention unit wrote (the new rows only)."""

    mentions: int = 0
    replies: int = 0
    inbox_ids: list[int] = field(default_factory=list)
    optouts: int = 0


# ------------------------------------------------------------------------------------------ the unit


class MentionUnit:
    """One transaction over one account's mentions/DMs. Obtain it from Store.mention_unit()."""

    def __init__(self, store: Store, conn: Connection, account: str) -> None:
        self._store = store
        self.conn = conn
        self.account = account
        self.now = store.clock()

    # ---- reads the decisions need
    def existing(self, kind: str, ids: Collection[str]) -> set[str]:
        """Which of these platform ids are already stored for this account (and so already handled)."""
        return _existing(self.conn, self.account, kind, ids)

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
        if not user_ids:
            return {}
        m = mention_t
        rows = self.conn.execute(
            sa.select(m.c.author_id, sa.func.count())
            .where(
                m.c.account == self.account,
                m.c.author_id.in_(list(user_ids)),
                m.c.seen_at >= as_utc(since),
                m.c.decision == MentionDecision.REPLIED,
            )
            .group_by(m.c.author_id)
        ).all()
        return {str(a): int(n) for a, n in rows}

    def replies_in_conversations(self, conversation_ids: Collection[str]) -> dict[str, int]:
        if not conversation_ids:
            return {}
        m = mention_t
        rows = self.conn.execute(
            sa.select(m.c.conversation_id, sa.func.count())
            .where(
                m.c.account == self.account,
                m.c.conversation_id.in_(list(conversation_ids)),
                m.c.decision == MentionDecision.REPLIED,
            )
            .group_by(m.c.conversation_id)
        ).all()
        return {str(c): int(n) for c, n in rows}

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
        return _cursor(self.conn, self.account, stream)

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
        store, conn, now = self._store, self.conn, self.now
        out = UnitWrites()
        if users:
            upsert_users(store, conn, users, now)
        if mentions:
            rows = []
            for record in mentions:
                values = dict(vars(record))  # shallow: asdict's deep copy costs more than the insert
                values["seen_at"] = as_utc(record.seen_at) if record.seen_at else now
                values["created_at"] = as_utc(record.created_at) if record.created_at else None
                rows.append(values)
            stmt = (
                store._insert(mention_t)
                .on_conflict_do_nothing(index_elements=["account", "kind", "platform_id"])
                .returning(mention_t.c.id)
            )
            out.mentions = len(conn.execute(stmt, rows).all())  # executemany rowcount is -1 on psycopg
        if interactions:
            rows = [dict(vars(i)) for i in interactions]
            stmt = store._insert(interaction_t).on_conflict_do_nothing(
                index_elements=["platform", "kind", "post_id", "source_user_id", "target_user_id"]
            )
            conn.execute(stmt, rows)
        if optouts:
            rows = [_optout_values(record, now) for record in optouts]
            stmt = store._insert(optout_t).on_conflict_do_nothing(index_elements=["user_hash"]).returning(optout_t.c.id)
            out.optouts = len(conn.execute(stmt, rows).all())
        if replies:
            rows = []
            for r in replies:
                values = store._outbox_values(
                    r.key, r.account, r.kind, r.text, r.in_reply_to_id, r.recipient_id, r.not_before, None, None
                )
                values["target_platform"] = r.target_platform
                values["target_user_id"] = r.target_user_id
                rows.append(values)
            stmt = store._insert(outbox_t).on_conflict_do_nothing(index_elements=["key"]).returning(outbox_t.c.id)
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
                }
                for item in {(i.account, i.kind, i.mention_id): i for i in inbox}.values()
            ]
            stmt = (
                store._insert(inbox_t)
                .on_conflict_do_nothing(index_elements=["account", "kind", "mention_id"])
                .returning(inbox_t.c.id, sort_by_parameter_order=True)
            )
            out.inbox_ids = sorted(int(i) for i in conn.execute(stmt, rows).scalars())
        return out

    def set_resume(self, stream: str, newest: str, until: str) -> None:
        """An interrupted run stored everything from `until` up to `newest`: the next run reads below `until`
        only, then moves the cursor to `newest` (nothing is stored if the cursor is already there)."""
        current = self.cursor(stream)
        if current is not None and not _newer(newest, current):
            self.clear_resume(stream)
            return
        value = _resume_value(newest, until)
        stmt = self._store._insert(cursor_t).values(
            account=self.account, stream=_resume_stream(stream), value=value, updated_at=self.now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["account", "stream"], set_={"value": value, "updated_at": self.now}
        )
        self.conn.execute(stmt)

    def clear_resume(self, stream: str) -> None:
        self.conn.execute(
            sa.delete(cursor_t).where(cursor_t.c.account == self.account, cursor_t.c.stream == _resume_stream(stream))
        )

    def advance_cursor(self, stream: str, value: str | None) -> bool:
        """Move the cursor forward to `value` (never back: ids compare as numbers when they are)."""
        if not value:
            return False
        current = self.cursor(stream)
        if current is not None and not _newer(value, current):
            return False
        stmt = self._store._insert(cursor_t).values(
            account=self.account, stream=stream, value=value, updated_at=self.now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["account", "stream"], set_={"value": value, "updated_at": self.now}
        )
        self.conn.execute(stmt)
        return True


def upsert_users(store: Store, conn: Connection, users: Sequence[UserRecord], now: datetime) -> None:
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
    stmt = store._insert(social_user_t)
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


def _resume_stream(stream: str) -> str:
    return f"{stream}.resume"


def _resume_value(newest: str, until: str) -> str:
    """'newest:until' for X's numeric ids (as stored so far); a tab between ids that hold ':' themselves (a
    Bluesky cursor is an ISO time, its posts are at-URIs)."""
    return f"{newest}\t{until}" if ":" in newest or ":" in until else f"{newest}:{until}"


def _newer(a: str, b: str) -> bool:
    if a.isdigit() and b.isdigit():
        return int(a) > int(b)
    return a > b


def _cursor(conn: Connection, account: str, stream: str) -> str | None:
    return conn.execute(
        sa.select(cursor_t.c.value).where(cursor_t.c.account == account, cursor_t.c.stream == stream)
    ).scalar()


def _optout_values(record: OptOutRecord, now: datetime) -> dict[str, Any]:
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


def _insert_optout(store: Store, conn: Connection, record: OptOutRecord, now: datetime) -> int:
    stmt = (
        store._insert(optout_t)
        .values(**_optout_values(record, now))
        .on_conflict_do_nothing(index_elements=["user_hash"])
        .returning(optout_t.c.id)
    )
    return 1 if conn.execute(stmt).first() is not None else 0


# ------------------------------------------------------------------------------------------ queries


class MentionQueries:
    """Mixed into bot.adapters.store.Store: everything about mentions, opt-outs and the inbox."""

    if TYPE_CHECKING:
        clock: Callable[[], datetime]
        dialect: str

        def _tx(self, what: str) -> AbstractContextManager[Connection]: ...

        def _insert(self, table: sa.Table) -> Any: ...

        def _block(self, conn: Connection, account: str, endpoint: str, reset_at: datetime) -> None: ...

    @contextmanager
    def mention_unit(self, account: str) -> Iterator[MentionUnit]:
        """One transaction for one account's page of mentions (serialised per account across daemons)."""
        with self._tx(f"storing mentions of {account}") as conn:
            if self.dialect == "postgresql":
                key = _PG_ACCOUNT_LOCK + zlib.crc32(account.encode())
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
            yield MentionUnit(self, conn, account)  # type: ignore[arg-type]

    def cursor(self, account: str, stream: str) -> str | None:
        with self._tx("reading a cursor") as conn:
            return _cursor(conn, account, stream)

    def resume_point(self, account: str, stream: str) -> tuple[str, str] | None:
        """(newest, until) of an interrupted polling run, or None."""
        with self._tx("reading a cursor") as conn:
            value = _cursor(conn, account, _resume_stream(stream))
        if value and "\t" in value:
            newest, until = value.split("\t", 1)
            return newest, until
        if not value or ":" not in value:
            return None
        newest, until = value.split(":", 1)
        return newest, until

    def stored_mention_ids(self, account: str, kind: str, ids: Collection[str]) -> set[str]:
        """Which of these platform ids are already stored (read outside a unit: a poll that re-reads a margin
        skips the known ones before classifying; the unit checks again)."""
        if not ids:
            return set()
        with self._tx("reading known mentions") as conn:
            return _existing(conn, account, kind, ids)

    def block_endpoint(self, account: str, endpoint: str, until: datetime) -> None:
        """Record that `endpoint` of `account` may not be called before `until` (seen by every daemon);
        read it back with Store.rate_limited_until."""
        with self._tx("recording a rate limit") as conn:
            self._block(conn, account, endpoint, as_utc(until))

    # ---- mentions
    def mention(self, account: str, platform_id: str, kind: str = "mention") -> MentionRecord | None:
        m = mention_t
        with self._tx("reading a mention") as conn:
            row = conn.execute(
                sa.select(m).where(m.c.account == account, m.c.kind == kind, m.c.platform_id == platform_id)
            ).first()
        return MentionRecord.from_row(row) if row is not None else None

    def mentions(
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
            return [MentionRecord.from_row(r) for r in conn.execute(stmt)]

    def interactions(self, *, kind: str | None = None) -> list[InteractionRecord]:
        i = interaction_t
        stmt = sa.select(i).order_by(i.c.id)
        if kind is not None:
            stmt = stmt.where(i.c.kind == kind)
        with self._tx("reading interactions") as conn:
            return [
                InteractionRecord(
                    r.platform, r.source_user_id, r.target_user_id, r.kind, r.post_id, as_utc(r.created_at)
                )
                for r in conn.execute(stmt)
            ]

    def social_user(
        self, platform: str, *, user_id: str | None = None, username: str | None = None
    ) -> SocialUser | None:
        """A known platform user by id, or by handle (case-insensitive; the most recently seen)."""
        u = social_user_t
        stmt = sa.select(u).where(u.c.platform == platform)
        if user_id is not None:
            stmt = stmt.where(u.c.user_id == user_id)
        elif username is not None:
            stmt = stmt.where(sa.func.lower(u.c.username) == username.lstrip("@").lower())
        else:
            raise ValueError("give user_id or username")
        with self._tx("reading a user") as conn:
            row = conn.execute(stmt.order_by(u.c.last_seen.desc()).limit(1)).first()
        if row is None:
            return None
        return SocialUser(
            row.platform,
            row.user_id,
            row.username,
            row.name,
            as_utc(row.first_seen),
            as_utc(row.last_seen),
            row.followers_count,
        )

    # ---- opt-outs
    def add_optout(
        self, platform: str, *, user_id: str | None = None, username: str | None = None, reason: str | None = None
    ) -> bool:
        """Record a permanent opt-out (by id, or by handle when the id is unknown); False if already there."""
        with self._tx("adding an opt-out") as conn:
            return _insert_optout(self, conn, OptOutRecord(platform, user_id, username, reason), self.clock()) == 1

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
        return [OptOut(r.id, r.platform, r.user_id, r.username, r.reason, as_utc(r.created_at)) for r in rows]

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
            return [InboxItem.from_row(r) for r in conn.execute(stmt)]

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
            "created_at": self.clock(),
            "status": InboxStatus.OPEN,
        }
        stmt = self._insert(inbox_t).values(**values).on_conflict_do_nothing(
            index_elements=["account", "kind", "mention_id"]
        )
        with self._tx("setting a message aside") as conn:
            return conn.execute(stmt).rowcount == 1

    def inbox_item(self, item_id: int) -> InboxItem | None:
        with self._tx("reading an inbox item") as conn:
            row = conn.execute(sa.select(inbox_t).where(inbox_t.c.id == item_id)).first()
        return InboxItem.from_row(row) if row is not None else None

    def resolve_inbox(self, item_id: int, note: str | None = None) -> bool:
        """Mark an open item resolved (with an optional note); False if missing or already resolved."""
        i = inbox_t
        with self._tx("resolving an inbox item") as conn:
            result = conn.execute(
                sa.update(i)
                .where(i.c.id == item_id, i.c.status == InboxStatus.OPEN)
                .values(status=InboxStatus.RESOLVED, resolved_at=self.clock(), note=note)
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
        return [InboxItem.from_row(r) for r in rows]

    def set_webhook_status(self, item_id: int, status: str) -> None:
        with self._tx("recording a webhook status") as conn:
            conn.execute(sa.update(inbox_t).where(inbox_t.c.id == item_id).values(webhook_status=status[:200]))

    # ---- summary
    def mention_summary(self) -> dict[str, int]:
        """mentions_seen, replies_sent (replies and DM answers delivered), escalations, optouts."""
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
        return {
            "mentions_seen": int(seen),
            "replies_sent": int(sent),
            "escalations": int(inbox),
            "optouts": int(optouts),
        }

    # ---- the delivery-time check (used by Store.claim)
    def _cancel_opted_out(self, conn: Connection, rows: Sequence[Any]) -> set[int]:
        """Cancel claimed outbox rows whose target person opted out; returns their ids."""
        targeted = [r for r in rows if getattr(r, "target_user_id", None)]
        if not targeted:
            return set()
        by_hash: dict[str, list[Any]] = {}
        for r in targeted:
            by_hash.setdefault(user_hash(r.target_platform or "", r.target_user_id), []).append(r)
        found = conn.execute(sa.select(optout_t.c.user_hash).where(optout_t.c.user_hash.in_(list(by_hash)))).scalars()
        cancelled = [r for h in found for r in by_hash[h]]
        if not cancelled:
            return set()
        ids = [r.id for r in cancelled]
        conn.execute(
            sa.update(outbox_t)
            .where(outbox_t.c.id.in_(ids))
            .values(
                state=OutboxState.CANCELLED, last_error="the recipient opted out", lease_owner=None, lease_until=None
            )
        )
        for r in cancelled:
            logger.info("outbox %s: cancelled, the recipient %s opted out", r.key, r.target_user_id)
        return set(ids)


def _existing(conn: Connection, account: str, kind: str, ids: Collection[str]) -> set[str]:
    if not ids:
        return set()
    m = mention_t
    rows = conn.execute(
        sa.select(m.c.platform_id).where(m.c.account == account, m.c.kind == kind, m.c.platform_id.in_(list(ids)))
    ).scalars()
    return set(rows)
