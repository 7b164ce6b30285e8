"""Engagement collection state: our own posts to look at, and the daily read budget.

* `track_sent_posts` copies the account's delivered posts (outbox kind post, state sent) into engagement_post;
* `due_posts` lists the tracked posts whose likes, reposts and quotes should be read again, and `claim_post`
  takes one of them for this collection (a compare-and-set on last_collected_at, so two daemons never read
  the same post twice in one round);
* `reserve_reads` / `release_reads` spend the account's daily read budget atomically (PostgreSQL: the budget
  row is locked FOR UPDATE; SQLite: every transaction starts with BEGIN IMMEDIATE);
* `record` writes one collection (interactions, users, counts, last_collected_at) in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.adapters.store.base import Repository
from bot.adapters.store.mention_unit import account_lock, upsert_users
from bot.adapters.store.tables import engagement_post_t, interaction_t, outbox_t, read_budget_t
from bot.core.clock import ensure_utc
from bot.core.records import InteractionRecord, OutboxState, TrackedPost, UserRecord

logger = logging.getLogger(__name__)

_COUNT_COLUMNS = {"like": "likes", "retweet": "retweets", "quote": "quotes"}
_INTERACTION_KEY = ("platform", "kind", "post_id", "source_user_id", "target_user_id")


def _tracked(row: Any) -> TrackedPost:
    return TrackedPost(
        row.account,
        row.post_id,
        ensure_utc(row.posted_at),
        ensure_utc(row.last_collected_at) if row.last_collected_at is not None else None,
        int(row.likes),
        int(row.retweets),
        int(row.quotes),
    )


class EngagementRepository(Repository):
    """engagement_post and read_budget rows, and the interactions a collection found (store.engagement)."""

    # ---- our posts
    def track_sent_posts(self, account: str, *, since: datetime) -> int:
        """Track the account's posts delivered at or after `since` (outbox kind post, state sent, with a
        remote id) that are not tracked yet; returns how many were added."""
        o, e = outbox_t, engagement_post_t
        source = sa.select(
            o.c.account,
            o.c.remote_id,
            o.c.sent_at,
            sa.literal(0).label("likes"),
            sa.literal(0).label("retweets"),
            sa.literal(0).label("quotes"),
        ).where(
            o.c.account == account,
            o.c.kind == "post",
            o.c.state == OutboxState.SENT,
            o.c.remote_id.is_not(None),
            o.c.sent_at.is_not(None),
            o.c.sent_at >= ensure_utc(since),
        )
        stmt = (
            self._insert(e)
            .from_select(["account", "post_id", "posted_at", "likes", "retweets", "quotes"], source)
            .on_conflict_do_nothing(index_elements=["account", "post_id"])
        )
        with self._tx(f"tracking the posts of {account}") as conn:
            added = conn.execute(stmt).rowcount
        return max(int(added or 0), 0)

    def track_post(self, account: str, post_id: str, posted_at: datetime) -> bool:
        """Track one post by hand (e.g. published outside the outbox); False when already tracked."""
        stmt = (
            self._insert(engagement_post_t)
            .values(account=account, post_id=post_id, posted_at=ensure_utc(posted_at), likes=0, retweets=0, quotes=0)
            .on_conflict_do_nothing(index_elements=["account", "post_id"])
        )
        with self._tx("tracking a post") as conn:
            return bool(conn.execute(stmt).rowcount)

    def tracked_posts(self, account: str | None = None) -> list[TrackedPost]:
        """Tracked posts, newest first."""
        e = engagement_post_t
        stmt = sa.select(e).order_by(e.c.posted_at.desc(), e.c.post_id.desc())
        if account is not None:
            stmt = stmt.where(e.c.account == account)
        with self._tx("reading tracked posts") as conn:
            return [_tracked(r) for r in conn.execute(stmt)]

    def tracked_post(self, account: str, post_id: str) -> TrackedPost | None:
        e = engagement_post_t
        with self._tx("reading a tracked post") as conn:
            row = conn.execute(sa.select(e).where(e.c.account == account, e.c.post_id == post_id)).first()
        return _tracked(row) if row is not None else None

    def due_posts(
        self, account: str, *, now: datetime, lookback: timedelta, every: timedelta, limit: int = 100
    ) -> list[TrackedPost]:
        """Posts published within `lookback` of `now` that were never collected, or last collected at least
        `every` ago: never collected first (newest post first), then the longest-waiting collection."""
        e = engagement_post_t
        now = ensure_utc(now)
        stmt = (
            sa.select(e)
            .where(
                e.c.account == account,
                e.c.posted_at >= now - lookback,
                sa.or_(e.c.last_collected_at.is_(None), e.c.last_collected_at <= now - every),
            )
            .order_by(
                sa.case((e.c.last_collected_at.is_(None), 0), else_=1),
                e.c.last_collected_at,
                e.c.posted_at.desc(),
                e.c.post_id,
            )
            .limit(limit)
        )
        with self._tx(f"reading the due posts of {account}") as conn:
            return [_tracked(r) for r in conn.execute(stmt)]

    def claim_post(self, post: TrackedPost, now: datetime) -> bool:
        """Take `post` for a collection starting at `now` (last_collected_at: what due_posts saw -> now).
        False when another collector took it first."""
        e = engagement_post_t
        previous = post.last_collected_at
        stmt = (
            sa.update(e)
            .where(
                e.c.account == post.account,
                e.c.post_id == post.post_id,
                e.c.last_collected_at.is_(None) if previous is None else e.c.last_collected_at == ensure_utc(previous),
            )
            .values(last_collected_at=ensure_utc(now))
        )
        with self._tx("claiming a post for collection") as conn:
            return conn.execute(stmt).rowcount == 1

    # ---- the daily read budget
    def reserve_reads(self, account: str, day: str, wanted: int, budget: int) -> int:
        """Take up to `wanted` reads from the account's budget for `day` (UTC 'YYYY-MM-DD'); returns what was
        granted, min(wanted, budget - used) and never below 0, added to `used` in the same transaction."""
        if wanted <= 0 or budget <= 0:
            return 0
        b = read_budget_t
        key = (b.c.account == account, b.c.day == day)
        with self._tx(f"reserving reads of {account}") as conn:
            conn.execute(
                self._insert(b)
                .values(account=account, day=day, used=0)
                .on_conflict_do_nothing(index_elements=["account", "day"])
            )
            used = int(conn.execute(sa.select(b.c.used).where(*key).with_for_update()).scalar_one())
            granted = max(0, min(wanted, budget - used))
            if granted:
                conn.execute(sa.update(b).where(*key).values(used=b.c.used + granted))
        return granted

    def release_reads(self, account: str, day: str, unused: int) -> None:
        """Give back reads reserved for `day` that a call did not spend."""
        if unused <= 0:
            return
        b = read_budget_t
        with self._tx(f"releasing reads of {account}") as conn:
            conn.execute(
                sa.update(b)
                .where(b.c.account == account, b.c.day == day)
                .values(used=sa.case((b.c.used > unused, b.c.used - unused), else_=0))
            )

    def add_reads(self, account: str, day: str, spent: int) -> None:
        """Count reads a call spent beyond its reservation (whatever the budget says: they were billed)."""
        if spent <= 0:
            return
        b = read_budget_t
        with self._tx(f"counting reads of {account}") as conn:
            conn.execute(
                self._insert(b)
                .values(account=account, day=day, used=spent)
                .on_conflict_do_update(index_elements=["account", "day"], set_={"used": b.c.used + spent})
            )

    def reads_used(self, account: str, day: str) -> int:
        b = read_budget_t
        with self._tx("reading the read budget") as conn:
            value = conn.execute(sa.select(b.c.used).where(b.c.account == account, b.c.day == day)).scalar()
        return int(value or 0)

    # ---- one collection
    def record(
        self,
        account: str,
        post_id: str,
        *,
        interactions: Sequence[InteractionRecord] = (),
        users: Sequence[UserRecord] = (),
        counts: Mapping[str, int] | None = None,
        collected_at: datetime | None = None,
    ) -> int:
        """Store one collection of `post_id` in one transaction: interactions (an existing one, e.g. a quote the
        mentions poll stored, is kept as it was), users (handles, names, follower counts), the counts per kind
        ("like", "retweet", "quote"; a kind left out keeps its count) and last_collected_at = `collected_at`
        (a collection cut short passes the value from before its claim, so the post stays due). Returns how
        many interactions were new."""
        now = self._now()
        e = engagement_post_t
        new = 0
        with self._tx(f"storing the engagement of {account}") as conn:
            if self.dialect == "postgresql":  # the same lock as a mention unit: no deadlock with one
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(account_lock(account))))
            if users:
                upsert_users(conn, users, now)
            if interactions:
                rows = [dict(vars(i)) | {"created_at": ensure_utc(i.created_at)} for i in interactions]
                rows.sort(key=lambda r: tuple(r[c] for c in _INTERACTION_KEY))  # a fixed order: no deadlocks
                stmt = (
                    self._insert(interaction_t)
                    .on_conflict_do_nothing(index_elements=list(_INTERACTION_KEY))
                    .returning(interaction_t.c.id)
                )
                new = len(conn.execute(stmt, rows).all())  # executemany rowcount is -1 on psycopg
            values: dict[str, Any] = {"last_collected_at": ensure_utc(collected_at) if collected_at else None}
            for kind, count in (counts or {}).items():
                values[_COUNT_COLUMNS[kind]] = int(count)
            conn.execute(sa.update(e).where(e.c.account == account, e.c.post_id == post_id).values(**values))
        return new
