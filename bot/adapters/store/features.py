"""Per-user features for the audience segments, aggregated in SQL: one GROUP BY per source (interactions
started, interactions received, messages), plus the users' handles and follower counts and their graph scores.

Each part streams through the driver's cursor; bot/domains/audience/features.py merges them into numpy columns.
(One statement with a UNION ALL and an outer GROUP BY costs SQLite a second sort of every row: 25 s instead
of ~13 s for a million users.)"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bot.adapters.store.engine import guarded
from bot.adapters.store.tables import graph_score_t, interaction_t, mention_t, social_user_t
from bot.adapters.store.types import as_utc, epoch_seconds
from bot.core.errors import StoreError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

FEATURE_CHUNK = 100_000
KINDS = ("mention", "reply", "quote", "dm", "like", "retweet")
# the value columns of each part, after (platform, user_id)
PARTS: dict[str, tuple[str, ...]] = {
    "started": (*KINDS, "last_epoch", "first_epoch"),  # interactions the user started, by kind
    "received": ("received", "last_epoch", "first_epoch"),  # interactions towards the user
    "messages": ("messages", "sentiment", "complaints"),  # mentions/DMs to our accounts; mean sentiment (None: none)
    "users": ("username", "followers"),  # every known user (followers None: unknown)
    "scores": ("influence", "community"),  # the graph snapshot's combined score and community
}
# SQLite sorts GROUP BYs faster in many small runs than in one big one: a small page cache while reading
SQLITE_SORT_CACHE_KIB = 2000


@dataclass(frozen=True)
class FeatureChunk:
    """Up to FEATURE_CHUNK rows of one part: (platform, user id) and a tuple of the part's PARTS columns."""

    part: str
    platform: list[str]
    user_id: list[str]
    values: list[tuple[Any, ...]]

    def __len__(self) -> int:
        return len(self.user_id)


def _sqlite_time(value: datetime) -> str:
    """How UTCDateTime stores a moment on SQLite (naive UTC text), for comparisons on the raw driver."""
    return as_utc(value).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


class FeatureQueries:
    """Mixed into bot.adapters.store.Store."""

    if TYPE_CHECKING:
        clock: Callable[[], datetime]
        dialect: str
        engine: Engine
        url: str

        def _tx(self, what: str) -> AbstractContextManager[Connection]: ...

    def _epoch_of(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[float]:
        return epoch_seconds(expr, self.dialect)

    def feature_statement(
        self,
        part: str,
        *,
        since: datetime | None = None,
        snapshot_id: int | None = None,
        exclude: Collection[tuple[str, str]] = (),
        user: tuple[str, str] | None = None,
        ids: tuple[int, int] | None = None,
    ) -> sa.Select[Any]:
        """The GROUP BY (or plain select) of one part of the features, see PARTS; `ids`: only the interactions
        with first <= id < last (a slice, so that slices can be aggregated side by side)."""
        i, m, u, g = interaction_t, mention_t, social_user_t, graph_score_t
        since_value: Any = None
        if since is not None:
            since_value = sa.literal(_sqlite_time(since) if self.dialect == "sqlite" else as_utc(since))

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

        if part == "started":
            return scoped(
                sa.select(
                    i.c.platform,
                    i.c.source_user_id,
                    *[count(i.c.kind == kind) for kind in KINDS],
                    self._epoch_of(sa.func.max(i.c.created_at)),
                    self._epoch_of(sa.func.min(i.c.created_at)),
                ),
                i.c.platform,
                i.c.source_user_id,
                i.c.created_at,
            )
        if part == "received":
            return scoped(
                sa.select(
                    i.c.platform,
                    i.c.target_user_id,
                    sa.func.count(),
                    self._epoch_of(sa.func.max(i.c.created_at)),
                    self._epoch_of(sa.func.min(i.c.created_at)),
                ),
                i.c.platform,
                i.c.target_user_id,
                i.c.created_at,
            )
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

    def iter_feature_part(
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
        """One part of the features (see PARTS) of every user (since `since`), but `exclude` (our own accounts),
        in chunks; read through the driver's cursor (a server-side one on PostgreSQL), no write lock."""
        if part == "scores" and snapshot_id is None:
            return
        stmt = self.feature_statement(part, since=since, snapshot_id=snapshot_id, exclude=exclude, user=user, ids=ids)
        compiled = stmt.compile(dialect=self.engine.dialect, compile_kwargs={"render_postcompile": True})
        params: Any = compiled.params
        if compiled.positiontup is not None:
            params = tuple(compiled.params[name] for name in compiled.positiontup)
        with guarded(self.engine.url, f"reading user features ({part})"):
            driver = self.engine.raw_connection()
        driver_error = self.engine.dialect.loaded_dbapi.Error
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
            raise StoreError(f"database {self.url}: reading user features ({part}) failed: {exc}") from exc
        finally:
            if cache is not None:
                with suppress(driver_error):
                    driver.cursor().execute(f"PRAGMA cache_size={int(cache)}")
            driver.close()

    def interaction_id_range(self) -> tuple[int, int]:
        """(smallest id, largest id + 1) of the interaction log; (0, 0) when empty."""
        i = interaction_t
        with self._tx("reading the interaction ids") as conn:
            low, high = conn.execute(sa.select(sa.func.min(i.c.id), sa.func.max(i.c.id))).one()
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
