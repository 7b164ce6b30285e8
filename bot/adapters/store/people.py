"""The people the bot has met (social_user) and what they did to each other and to us (the interaction log):
profiles, handles, follower counts, and the log as the analysis reads it, in columns."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.adapters.store.base import Repository
from bot.adapters.store.engine import guarded
from bot.adapters.store.tables import interaction_t, social_user_t
from bot.adapters.store.types import epoch_seconds
from bot.core.clock import ensure_utc
from bot.core.errors import StoreError
from bot.core.records import EdgeChunk, InteractionRecord, SocialUser, UserInfo

EDGE_CHUNK = 100_000


class PeopleRepository(Repository):
    """social_user and interaction rows (store.people)."""

    def interactions(self, *, kind: str | None = None) -> list[InteractionRecord]:
        i = interaction_t
        stmt = sa.select(i).order_by(i.c.id)
        if kind is not None:
            stmt = stmt.where(i.c.kind == kind)
        with self._tx("reading interactions") as conn:
            return [
                InteractionRecord(
                    r.platform, r.source_user_id, r.target_user_id, r.kind, r.post_id, ensure_utc(r.created_at)
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
            ensure_utc(row.first_seen),
            ensure_utc(row.last_seen),
            row.followers_count,
        )

    def user_infos(self, platform: str | None = None, user_ids: Collection[str] | None = None) -> list[UserInfo]:
        """Handles and follower counts of known users (all of them, or these ids)."""
        u = social_user_t
        stmt = sa.select(u.c.platform, u.c.user_id, u.c.username, u.c.followers_count)
        if platform is not None:
            stmt = stmt.where(u.c.platform == platform)
        out: list[UserInfo] = []
        with self._tx("reading users") as conn:
            if user_ids is None:
                out.extend(UserInfo(*r) for r in conn.execute(stmt))
            else:
                ids = sorted(set(user_ids))
                for start in range(0, len(ids), 500):
                    part = stmt.where(u.c.user_id.in_(ids[start : start + 500]))
                    out.extend(UserInfo(*r) for r in conn.execute(part))
        return out

    def interaction_id_range(self) -> tuple[int, int]:
        """(smallest id, largest id + 1) of the interaction log; (0, 0) when empty."""
        i = interaction_t
        # two scalar subqueries: SQLite reads min and max of one SELECT with a full scan, each alone from the key
        ends = sa.select(
            sa.select(sa.func.min(i.c.id)).scalar_subquery(), sa.select(sa.func.max(i.c.id)).scalar_subquery()
        )
        with self._tx("reading the interaction ids") as conn:
            low, high = conn.execute(ends).one()
        return (0, 0) if low is None else (int(low), int(high) + 1)

    def users_by_handle(self, handles: Collection[str]) -> dict[str, list[tuple[str, str]]]:
        """lower(handle) -> [(platform, user_id)] of known users with these handles (case-insensitive)."""
        u = social_user_t
        wanted = sorted({h.lstrip("@").lower() for h in handles})
        out: dict[str, list[tuple[str, str]]] = {}
        with self._tx("reading users by handle") as conn:
            for start in range(0, len(wanted), 500):
                name = sa.func.lower(u.c.username)
                stmt = sa.select(name, u.c.platform, u.c.user_id).where(name.in_(wanted[start : start + 500]))
                for handle, platform, user_id in conn.execute(stmt):
                    out.setdefault(handle, []).append((platform, user_id))
        return out

    # ---- the edge log
    def _epoch(self) -> sa.ColumnElement[float]:
        return epoch_seconds(interaction_t.c.created_at, self.dialect)

    def interaction_count(self, *, since: datetime | None = None) -> int:
        i = interaction_t
        stmt = sa.select(sa.func.count()).select_from(i)
        if since is not None:
            stmt = stmt.where(i.c.created_at >= ensure_utc(since))
        with self._tx("counting interactions") as conn:
            return int(conn.execute(stmt).scalar_one())

    def iter_interaction_edges(self, *, since: datetime | None = None, chunk: int = EDGE_CHUNK) -> Iterator[EdgeChunk]:
        """Every interaction (since `since`) as column chunks, in id order; one read transaction, streamed.

        The rows go straight through the driver's cursor (a server-side one on PostgreSQL): SQLAlchemy's row
        objects cost 2.5x the time of the read itself at a million rows. The window is compared in epoch
        seconds, so no datetime crosses the driver unconverted."""
        i = interaction_t
        epoch = self._epoch()
        stmt = sa.select(i.c.platform, i.c.source_user_id, i.c.target_user_id, i.c.kind, epoch).order_by(i.c.id)
        if since is not None:
            stmt = stmt.where(epoch >= ensure_utc(since).timestamp())
        compiled = stmt.compile(dialect=self.db.engine.dialect)
        params: Any = compiled.params
        if compiled.positiontup is not None:
            params = tuple(compiled.params[name] for name in compiled.positiontup)
        # a plain read: no BEGIN IMMEDIATE (SQLite's write lock would hold up the daemon's writes meanwhile)
        with guarded(self.db.engine.url, "reading the interaction log"):
            driver = self.db.engine.raw_connection()
        driver_error = self.db.engine.dialect.loaded_dbapi.Error
        try:
            named = self.dialect == "postgresql"
            cursor = driver.cursor(name="socialbot_edges") if named else driver.cursor()  # type: ignore[call-arg]
            cursor.execute(str(compiled), params)
            while rows := cursor.fetchmany(chunk):
                platform, source, target, kind, seconds = zip(*rows, strict=True)
                yield EdgeChunk(list(platform), list(source), list(target), list(kind), [float(e) for e in seconds])
            cursor.close()
            driver.rollback()
        except driver_error as exc:
            raise StoreError(f"database {self.db.url}: reading the interaction log failed: {exc}") from exc
        finally:
            driver.close()

    def interactions_of(self, platform: str, user_id: str, *, since: datetime | None = None) -> EdgeChunk:
        """Interactions from or to one user (ego networks, tie strength)."""
        i = interaction_t
        stmt = (
            sa.select(i.c.platform, i.c.source_user_id, i.c.target_user_id, i.c.kind, self._epoch())
            .where(i.c.platform == platform, sa.or_(i.c.source_user_id == user_id, i.c.target_user_id == user_id))
            .order_by(i.c.id)
        )
        if since is not None:
            stmt = stmt.where(i.c.created_at >= ensure_utc(since))
        with self._tx("reading a user's interactions") as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return EdgeChunk([], [], [], [], [])
        platform_, source, target, kind, epoch = zip(*rows, strict=True)
        return EdgeChunk(list(platform_), list(source), list(target), list(kind), [float(e) for e in epoch])

    def interaction_kinds(self, *, since: datetime | None = None) -> dict[str, int]:
        i = interaction_t
        stmt = sa.select(i.c.kind, sa.func.count()).group_by(i.c.kind)
        if since is not None:
            stmt = stmt.where(i.c.created_at >= ensure_utc(since))
        with self._tx("counting interactions by kind") as conn:
            return {kind: int(n) for kind, n in conn.execute(stmt)}
