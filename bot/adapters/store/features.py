"""Per-user features for the audience segments, aggregated in SQL: one GROUP BY per source (interactions
started, interactions received, messages), plus the users' handles and follower counts and their graph scores.

Each part streams through the driver's cursor; bot/domains/audience/features.py merges them into numpy columns.
(One statement with a UNION ALL and an outer GROUP BY costs SQLite a second sort of every row: 25 s instead
of ~13 s for a million users.)"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import suppress
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.adapters.store.base import Repository
from bot.adapters.store.engine import guarded
from bot.adapters.store.tables import graph_score_t, interaction_t, mention_t, social_user_t
from bot.adapters.store.types import epoch_seconds
from bot.core.clock import ensure_utc
from bot.core.errors import StoreError
from bot.core.records import FEATURE_KINDS, FeatureChunk

FEATURE_CHUNK = 100_000
# SQLite sorts GROUP BYs faster in many small runs than in one big one: a small page cache while reading
SQLITE_SORT_CACHE_KIB = 2000


def _sqlite_time(value: datetime) -> str:
    """How UTCDateTime stores a moment on SQLite (naive UTC text), for comparisons on the raw driver."""
    return ensure_utc(value).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


class FeatureRepository(Repository):
    """Per-user features for the segments, aggregated in SQL (store.features); FEATURE_PARTS names the columns."""

    def _epoch_of(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[float]:
        return epoch_seconds(expr, self.dialect)

    def statement(
        self,
        part: str,
        *,
        since: datetime | None = None,
        snapshot_id: int | None = None,
        exclude: Collection[tuple[str, str]] = (),
        user: tuple[str, str] | None = None,
        ids: tuple[int, int] | None = None,
    ) -> sa.Select[Any]:
        """The GROUP BY (or plain select) of one part of the features, see FEATURE_PARTS; `ids`: only the interactions
        with first <= id < last (a slice, so that slices can be aggregated side by side)."""
        i, m, u, g = interaction_t, mention_t, social_user_t, graph_score_t
        since_value: Any = None
        if since is not None:
            since_value = sa.literal(_sqlite_time(since) if self.dialect == "sqlite" else ensure_utc(since))

        def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
            return sa.func.sum(sa.case((condition, 1), else_=0))

        def scoped(stmt: sa.Select[Any], platform: Any, uid: Any, when: Any, group: bool = True) -> sa.Select[Any]:
            if since_value is not None and when is not None:
                stmt = stmt.where(when >= since_value)
            if user is not None:
                stmt = stmt.where(platform == user[0], uid == user[1])
            if ids is not None and part in ("started", "received"):
                stmt = stmt.where(i.c.id >= ids[0], i.c.id < ids[1])
            for p, u_ in sorted(set(exclude)):
                stmt = stmt.where(sa.not_(sa.and_(platform == p, uid == u_)))
            return stmt.group_by(platform, uid) if group else stmt

        def interactions_by(user_col: Any, *counts: sa.ColumnElement[Any]) -> sa.Select[Any]:
            last, first = (self._epoch_of(agg(i.c.created_at)) for agg in (sa.func.max, sa.func.min))
            stmt = sa.select(i.c.platform, user_col, *counts, last, first)
            return scoped(stmt, i.c.platform, user_col, i.c.created_at)

        if part == "started":
            return interactions_by(i.c.source_user_id, *[count(i.c.kind == kind) for kind in FEATURE_KINDS])
        if part == "received":
            return interactions_by(i.c.target_user_id, sa.func.count())
        if part == "messages":
            return scoped(
                sa.select(
                    m.c.platform,
                    m.c.author_id,
                    sa.func.count(),
                    sa.func.avg(m.c.sentiment),
                    count(m.c.intent == "complaint"),
                ).where(m.c.author_id.isnot(None)),
                m.c.platform,
                m.c.author_id,
                sa.func.coalesce(m.c.created_at, m.c.seen_at),
            )
        if part == "users":
            stmt = sa.select(u.c.platform, u.c.user_id, u.c.username, u.c.followers_count)
            return scoped(stmt, u.c.platform, u.c.user_id, None, group=False)
        if part == "scores":
            stmt = sa.select(g.c.platform, g.c.user_id, g.c.score, g.c.community).where(g.c.snapshot_id == snapshot_id)
            return scoped(stmt, g.c.platform, g.c.user_id, None, group=False)
        raise ValueError(f"unknown feature part {part!r}")

    def iter_part(
        self,
        part: str,
        *,
        since: datetime | None = None,
        snapshot_id: int | None = None,
        exclude: Collection[tuple[str, str]] = (),
        user: tuple[str, str] | None = None,
        ids: tuple[int, int] | None = None,
        chunk: int = FEATURE_CHUNK,
    ) -> Iterator[FeatureChunk]:
        """One part of the features (see FEATURE_PARTS) of every user (since `since`), but `exclude` (our own accounts),
        in chunks; read through the driver's cursor (a server-side one on PostgreSQL), no write lock."""
        if part == "scores" and snapshot_id is None:
            return
        stmt = self.statement(part, since=since, snapshot_id=snapshot_id, exclude=exclude, user=user, ids=ids)
        compiled = stmt.compile(dialect=self.db.engine.dialect, compile_kwargs={"render_postcompile": True})
        params: Any = compiled.params
        if compiled.positiontup is not None:
            params = tuple(compiled.params[name] for name in compiled.positiontup)
        with guarded(self.db.engine.url, f"reading user features ({part})"):
            driver = self.db.engine.raw_connection()
        driver_error = self.db.engine.dialect.loaded_dbapi.Error
        sqlite = self.dialect == "sqlite"
        cache: Any = None
        try:
            if sqlite:
                pragma = driver.cursor()
                cache = pragma.execute("PRAGMA cache_size").fetchone()[0]
                pragma.execute(f"PRAGMA cache_size=-{SQLITE_SORT_CACHE_KIB}")
                pragma.close()
            cursor = driver.cursor() if sqlite else driver.cursor(name=f"socialbot_{part}")  # type: ignore[call-arg]
            cursor.execute(str(compiled), params)
            while rows := cursor.fetchmany(chunk):
                yield FeatureChunk(part, [r[0] for r in rows], [r[1] for r in rows], [r[2:] for r in rows])
            cursor.close()
            driver.rollback()
        except driver_error as exc:
            raise StoreError(f"database {self.db.url}: reading user features ({part}) failed: {exc}") from exc
        finally:
            if cache is not None:
                with suppress(driver_error):
                    driver.cursor().execute(f"PRAGMA cache_size={int(cache)}")
            driver.close()
