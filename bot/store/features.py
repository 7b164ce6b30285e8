"""Per-user features for the audience segments, aggregated in SQL (one GROUP BY over interactions and messages)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bot.errors import StoreError
from bot.store.engine import guarded
from bot.store.tables import graph_score_t, interaction_t, mention_t, social_user_t
from bot.store.types import as_utc

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

FEATURE_CHUNK = 100_000
KINDS = ("mention", "reply", "quote", "dm", "like", "retweet")
# the numeric columns of a FeatureChunk, in order (None where unknown: no messages, no snapshot score ...)
NUMERIC = (
    *KINDS,  # interactions of each kind the user started
    "received",  # interactions towards the user
    "last_epoch",  # the user's last interaction (either way), epoch seconds
    "first_epoch",  # the first one in the window
    "active_days",  # distinct UTC days on which the user started an interaction
    "messages",  # mentions and DMs to our accounts written by the user
    "sentiment",  # their mean sentiment (None: no scored message)
    "complaints",  # of them with intent "complaint"
    "followers",  # follower count as last seen (None: unknown)
    "influence",  # combined influencer score in the graph snapshot (None: not in it)
    "community",  # community in the graph snapshot (None: not in it)
)


@dataclass(frozen=True)
class FeatureChunk:
    """Up to FEATURE_CHUNK users: identity columns and one tuple per user of the NUMERIC columns."""

    platform: list[str]
    user_id: list[str]
    username: list[str | None]
    values: list[tuple[Any, ...]]

    def __len__(self) -> int:
        return len(self.user_id)


def _sqlite_time(value: datetime) -> str:
    """How UTCDateTime stores a moment on SQLite (naive UTC text), for comparisons on the raw driver."""
    return as_utc(value).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


class FeatureQueries:
    """Mixed into bot.store.Store."""

    if TYPE_CHECKING:
        clock: Callable[[], datetime]
        dialect: str
        engine: Engine
        url: str

        def _tx(self, what: str) -> AbstractContextManager[Connection]: ...

    def _since_param(self, since: datetime) -> Any:
        return _sqlite_time(since) if self.dialect == "sqlite" else as_utc(since)

    def _epoch_of(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[float]:
        if self.dialect == "postgresql":
            return sa.func.extract("epoch", expr)
        return (sa.func.julianday(expr) - 2440587.5) * 86400.0

    def _day_of(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        if self.dialect == "postgresql":
            return sa.cast(sa.func.timezone("UTC", expr), sa.Date)
        return sa.func.substr(expr, 1, 10)

    def feature_statement(
        self,
        *,
        since: datetime | None,
        snapshot_id: int | None,
        exclude: Collection[tuple[str, str]] = (),
        user: tuple[str, str] | None = None,
    ) -> sa.Select[Any]:
        """The one query behind user_features: interactions started (by kind) and received, activity times and
        days, messages with sentiment and complaints, then the user's handle, followers and graph score."""
        i, m, u, g = interaction_t, mention_t, social_user_t, graph_score_t
        since_value = sa.literal(self._since_param(since)) if since is not None else None
        at = sa.func.coalesce(m.c.created_at, m.c.seen_at)

        def branch(uid: sa.ColumnElement[Any], side: int) -> sa.Select[Any]:
            stmt = sa.select(
                i.c.platform.label("platform"),
                uid.label("uid"),
                sa.literal(side).label("side"),
                i.c.kind.label("kind"),
                i.c.created_at.label("at"),
                sa.cast(sa.null(), sa.Float).label("sentiment"),
                sa.cast(sa.null(), sa.String).label("intent"),
            )
            if since_value is not None:
                stmt = stmt.where(i.c.created_at >= since_value)
            if user is not None:
                stmt = stmt.where(i.c.platform == user[0], uid == user[1])
            return stmt

        messages = sa.select(m.c.platform, m.c.author_id, sa.literal(2), m.c.kind, at, m.c.sentiment, m.c.intent).where(
            m.c.author_id.isnot(None)
        )
        if since_value is not None:
            messages = messages.where(at >= since_value)
        if user is not None:
            messages = messages.where(m.c.platform == user[0], m.c.author_id == user[1])
        e = sa.union_all(branch(i.c.source_user_id, 1), branch(i.c.target_user_id, 0), messages).subquery("e")

        def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
            return sa.func.sum(sa.case((condition, 1), else_=0))

        started = e.c.side == 1
        agg = (
            sa.select(
                e.c.platform,
                e.c.uid,
                *[count(sa.and_(started, e.c.kind == kind)).label(kind) for kind in KINDS],
                count(e.c.side == 0).label("received"),
                sa.func.max(sa.case((e.c.side < 2, e.c.at))).label("last_at"),
                sa.func.min(sa.case((e.c.side < 2, e.c.at))).label("first_at"),
                sa.func.count(sa.distinct(sa.case((started, self._day_of(e.c.at))))).label("active_days"),
                count(e.c.side == 2).label("messages"),
                sa.func.avg(sa.case((e.c.side == 2, e.c.sentiment))).label("sentiment"),
                count(sa.and_(e.c.side == 2, e.c.intent == "complaint")).label("complaints"),
            )
            .group_by(e.c.platform, e.c.uid)
            .subquery("agg")
        )
        on_user = sa.and_(u.c.platform == agg.c.platform, u.c.user_id == agg.c.uid)
        joined = agg.outerjoin(u, on_user)
        score: sa.ColumnElement[Any] = sa.cast(sa.null(), sa.Float)
        community: sa.ColumnElement[Any] = sa.cast(sa.null(), sa.Integer)
        if snapshot_id is not None:
            on_score = sa.and_(g.c.snapshot_id == snapshot_id, g.c.platform == agg.c.platform, g.c.user_id == agg.c.uid)
            joined = joined.outerjoin(g, on_score)
            score, community = g.c.score, g.c.community
        stmt = sa.select(
            agg.c.platform,
            agg.c.uid,
            u.c.username,
            *[agg.c[kind] for kind in KINDS],
            agg.c.received,
            self._epoch_of(agg.c.last_at),
            self._epoch_of(agg.c.first_at),
            agg.c.active_days,
            agg.c.messages,
            agg.c.sentiment,
            agg.c.complaints,
            u.c.followers_count,
            score,
            community,
        ).select_from(joined)
        for platform, user_id in sorted(set(exclude)):
            stmt = stmt.where(sa.not_(sa.and_(agg.c.platform == platform, agg.c.uid == user_id)))
        return stmt

    def iter_user_features(
        self,
        *,
        since: datetime | None = None,
        snapshot_id: int | None = None,
        exclude: Collection[tuple[str, str]] = (),
        user: tuple[str, str] | None = None,
        chunk: int = FEATURE_CHUNK,
    ) -> Iterator[FeatureChunk]:
        """Every user who interacted (since `since`), but `exclude` (our own accounts), with the NUMERIC
        columns, in chunks; read through the driver's cursor (a server-side one on PostgreSQL), no write lock."""
        stmt = self.feature_statement(since=since, snapshot_id=snapshot_id, exclude=exclude, user=user)
        compiled = stmt.compile(dialect=self.engine.dialect, compile_kwargs={"render_postcompile": True})
        params: Any = compiled.params
        if compiled.positiontup is not None:
            params = tuple(compiled.params[name] for name in compiled.positiontup)
        with guarded(self.engine.url, "reading user features"):
            driver = self.engine.raw_connection()
        driver_error = self.engine.dialect.loaded_dbapi.Error
        try:
            named = self.dialect == "postgresql"
            cursor = driver.cursor(name="socialbot_features") if named else driver.cursor()  # type: ignore[call-arg]
            cursor.execute(str(compiled), params)
            while rows := cursor.fetchmany(chunk):
                platform = [r[0] for r in rows]
                user_id = [r[1] for r in rows]
                username = [r[2] for r in rows]
                yield FeatureChunk(platform, user_id, username, [r[3:] for r in rows])
            cursor.close()
            driver.rollback()
        except driver_error as exc:
            raise StoreError(f"database {self.url}: reading user features failed: {exc}") from exc
        finally:
            driver.close()

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
