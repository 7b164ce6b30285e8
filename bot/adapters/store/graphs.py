"""Audience graph analyses: the interaction log and the people as the analysis reads them (keyed, in columns, at
the driver), snapshots of their results (figures, one score row per user, communities), the texts of mentions
their community topics come from, and how many interactions arrived after an analysis."""

from __future__ import annotations

import operator
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import repeat
from typing import Any

import sqlalchemy as sa

from bot.adapters.store.base import Repository, from_row
from bot.adapters.store.bulk import bind_processor, copy_in, processed_values
from bot.adapters.store.engine import guarded
from bot.adapters.store.tables import (
    graph_community_t,
    graph_score_t,
    graph_snapshot_t,
    interaction_t,
    mention_t,
    social_user_t,
)
from bot.core.clock import ensure_utc
from bot.core.errors import StoreError
from bot.core.memory import paused_gc
from bot.core.records import CommunityRow, ScoreRow, Snapshot

EDGE_CHUNK = 100_000
SCORE_COLUMNS = (
    "platform",
    "user_id",
    "pagerank",
    "in_strength",
    "hub",
    "authority",
    "betweenness",
    "followers",
    "score",
    "rank",
    "community",
    "reasons",
)
_WINDOW_MARGIN = timedelta(seconds=1)  # the text pre-filter reads this much more; the epoch decides exactly


def _snapshot(row: Any) -> Snapshot:
    params, stats = dict(row.params or {}), dict(row.stats or {})
    return from_row(Snapshot, row, created_at=ensure_utc(row.created_at), params=params, stats=stats)


def _score(row: Any) -> ScoreRow:
    return from_row(ScoreRow, row, reasons=tuple(row._mapping["reasons"] or ()))


class GraphRepository(Repository):
    """graph_snapshot, graph_score and graph_community rows (store.graphs); the log and the people as the
    analysis reads them."""

    # ---- what the analysis reads
    def _driver_rows(self, sql: str, params: Sequence[Any], what: str, chunk: int) -> Iterator[list[Any]]:
        """Rows of one plain read at the driver (a server-side cursor on PostgreSQL), `chunk` at a time: no
        SQLAlchemy row objects, no BEGIN IMMEDIATE (SQLite's write lock would hold up the daemon's writes)."""
        with guarded(self.db.engine.url, what):
            driver = self.db.engine.raw_connection()
        driver_error = self.db.engine.dialect.loaded_dbapi.Error
        try:
            named = self.dialect == "postgresql"
            cursor = driver.cursor(name="socialbot_graph") if named else driver.cursor()  # type: ignore[call-arg]
            cursor.execute(sql, tuple(params))
            while rows := cursor.fetchmany(chunk):
                yield rows
            cursor.close()
            driver.rollback()
        except driver_error as exc:
            raise StoreError(f"database {self.db.url}: {what} failed: {exc}") from exc
        finally:
            driver.close()

    def interaction_edges(
        self, *, since: datetime | None = None, kinds: Sequence[str], chunk: int = EDGE_CHUNK
    ) -> Iterator[tuple[str | None, list[str | int], list[str | int], list[int], list[float]]]:
        """Every interaction (created at `since` or later), in id order, as column chunks (platform, source,
        target, kind, epoch): platform the one platform of every interaction stored, source and target their
        user ids (on SQLite an int when the id is the text of one: "123" -> 123, "0123" stays text); or, with
        several platforms, None and "platform:user_id" keys. kind: the index in `kinds` (-1: another); epoch:
        created_at in seconds since 1970 as `store.people.iter_interaction_edges` gives it (SQLite: rounded to
        the millisecond).

        One query: kind codes made by the database, the epoch read as integer milliseconds on SQLite (its
        round(x, 3) formats and parses a decimal per row), the window a text comparison that the epoch then
        settles exactly, so the rows are those `iter_interaction_edges` gives."""
        postgres = self.dialect == "postgresql"
        mark = "%s" if postgres else "?"
        platform = self._only_platform()
        if platform is None:
            ends = "platform || ':' || source_user_id, platform || ':' || target_user_id"
        elif postgres:
            ends = "source_user_id, target_user_id"
        else:  # an int is cheaper to read and to hash than its text, and says the same when it prints the same
            ends = ", ".join(
                f"CASE WHEN CAST(CAST({c} AS INTEGER) AS TEXT) = {c} THEN CAST({c} AS INTEGER) ELSE {c} END"
                for c in ("source_user_id", "target_user_id")
            )
        case = " ".join(f"WHEN {mark} THEN {code}" for code in range(len(kinds)))
        if postgres:
            epoch = "CAST(EXTRACT(EPOCH FROM created_at) AS DOUBLE PRECISION)"
        else:
            epoch = "CAST(round((julianday(created_at) - 2440587.5) * 86400000.0) AS INTEGER)"
        sql = f"SELECT {ends}, CASE kind {case} ELSE -1 END, {epoch} FROM interaction"
        params: list[Any] = list(kinds)
        edge = None
        if since is not None:
            edge = ensure_utc(since).timestamp()
            start = ensure_utc(since) - _WINDOW_MARGIN
            # SQLite: +created_at keeps the planner off ix_interaction_created (a range scan, then a sort by id)
            sql += f" WHERE {'created_at' if postgres else '+created_at'} >= {mark}"
            params.append(start if postgres else start.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"))
        sql += " ORDER BY id"
        for rows in self._driver_rows(sql, params, "reading the interaction log", chunk):
            source, target, kind, stamp = zip(*rows, strict=True)
            seconds = list(stamp) if postgres else list(map(operator.truediv, stamp, repeat(1000.0)))
            if edge is not None and min(seconds) < edge:  # only around the window's edge
                keep = [i for i, value in enumerate(seconds) if value >= edge]
                if not keep:
                    continue
                source, target, kind = ([column[i] for i in keep] for column in (source, target, kind))
                seconds = [seconds[i] for i in keep]
            yield platform, list(source), list(target), list(kind), seconds

    def _only_platform(self) -> str | None:
        """The platform of every stored interaction when there is one (two index lookups), else None."""
        sql = "SELECT (SELECT min(platform) FROM interaction), (SELECT max(platform) FROM interaction)"
        with self._tx("reading the interaction platforms") as conn:
            low, high = conn.exec_driver_sql(sql).one()
        return str(low) if low is not None and low == high else None

    def user_keys(self) -> tuple[dict[str, int], dict[str, str]]:
        """Follower counts and handles of every known user, keyed "platform:user_id" (those known only)."""
        sql = "SELECT platform || ':' || user_id, username, followers_count FROM social_user"
        followers: dict[str, int] = {}
        usernames: dict[str, str] = {}
        with paused_gc():
            for rows in self._driver_rows(sql, (), "reading users", EDGE_CHUNK):
                for key, username, count in rows:
                    if count is not None:
                        followers[key] = count
                    if username:
                        usernames[key] = username
        return followers, usernames

    def texts_by_author(
        self, *, since: datetime | None = None, limit: int = 200_000
    ) -> list[tuple[str, str, str, list[str]]]:
        """(platform, author id, text, hashtags) of the most recent mentions and DMs, for community topics."""
        m = mention_t
        stmt = (
            sa.select(m.c.platform, m.c.author_id, m.c.text, m.c.hashtags)
            .where(m.c.author_id.isnot(None))
            .order_by(m.c.id.desc())
            .limit(limit)
        )
        if since is not None:
            stmt = stmt.where(m.c.seen_at >= ensure_utc(since))
        with self._tx("reading mention texts") as conn:
            return [(r[0], r[1], r[2], list(r[3] or [])) for r in conn.execute(stmt)]

    def interactions_from(self, first_id: int) -> int:
        """How many interactions have an id of at least `first_id`: those stored after an analysis that recorded
        `first_id` as its high-water mark (a range of the primary key: older rows are not read)."""
        i = interaction_t
        with self._tx("counting new interactions") as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(i).where(i.c.id >= first_id)).scalar_one())

    # ---- snapshots
    def save_snapshot(
        self,
        *,
        created_at: datetime,
        figures: dict[str, Any],
        params: dict[str, Any],
        stats: dict[str, Any],
        scores: Sequence[dict[str, Any]] | Mapping[str, Sequence[Any]],
        communities: Sequence[dict[str, Any]],
    ) -> int:
        """Store one analysis run: its figures, one score row per user (`scores`: rows, or columns by name, all of
        one length) and one row per community, in one transaction."""
        if isinstance(scores, Mapping):
            columns = {name: scores[name] for name in SCORE_COLUMNS}
        else:
            columns = {name: [row.get(name) for row in scores] for name in SCORE_COLUMNS}
        with self._tx("storing a graph snapshot") as conn:
            snapshot_id = int(
                conn.execute(
                    sa.insert(graph_snapshot_t)
                    .values(created_at=ensure_utc(created_at), params=params, stats=stats, **figures)
                    .returning(graph_snapshot_t.c.id)
                ).scalar_one()
            )
            with paused_gc():
                self._insert_scores(conn, snapshot_id, columns)
            if communities:
                conn.execute(sa.insert(graph_community_t), [dict(row, snapshot_id=snapshot_id) for row in communities])
        return snapshot_id

    def _insert_scores(self, conn: Any, snapshot_id: int, columns: dict[str, Sequence[Any]]) -> None:
        """graph_score rows at the driver, in (platform, user_id) order (both indexes then grow at their end):
        COPY on PostgreSQL, one executemany on SQLite; values through the columns' own bind processors, as Core
        stores them (reasons: JSON, None as JSON null)."""
        n = len(columns["user_id"])
        if not n:
            return
        order = sorted(range(n), key=list(zip(columns["platform"], columns["user_id"], strict=True)).__getitem__)
        keys = ["snapshot_id", *SCORE_COLUMNS]
        ordered = {name: [values[i] for i in order] for name, values in columns.items()}
        ordered["snapshot_id"] = [snapshot_id] * n
        if self.dialect == "postgresql":
            copy_in(conn, graph_score_t, keys, list(zip(*(ordered[key] for key in keys), strict=True)))
            return
        dialect = conn.dialect
        for name in SCORE_COLUMNS:
            process = bind_processor(graph_score_t.c[name].type, dialect)
            if process is None:
                continue
            if name == "reasons":  # mostly None: JSON null once
                null = process(None)
                ordered[name] = [null if value is None else process(value) for value in ordered[name]]
            else:
                ordered[name] = processed_values(ordered[name], process)
        quote = dialect.identifier_preparer.quote
        sql = (
            f"INSERT INTO {quote(graph_score_t.name)} ({', '.join(map(quote, keys))}) "
            f"VALUES ({', '.join(['?'] * len(keys))})"
        )
        conn.exec_driver_sql(sql, list(zip(*(ordered[key] for key in keys), strict=True)))

    def latest_snapshot(self) -> Snapshot | None:
        s = graph_snapshot_t
        with self._tx("reading the latest graph snapshot") as conn:
            row = conn.execute(sa.select(s).order_by(s.c.id.desc()).limit(1)).first()
        return _snapshot(row) if row is not None else None

    def snapshot(self, snapshot_id: int) -> Snapshot | None:
        s = graph_snapshot_t
        with self._tx("reading a graph snapshot") as conn:
            row = conn.execute(sa.select(s).where(s.c.id == snapshot_id)).first()
        return _snapshot(row) if row is not None else None

    def snapshots(self, limit: int = 20) -> list[Snapshot]:
        s = graph_snapshot_t
        with self._tx("reading graph snapshots") as conn:
            return [_snapshot(r) for r in conn.execute(sa.select(s).order_by(s.c.id.desc()).limit(limit))]

    def _score_select(self) -> sa.Select[Any]:
        g, u = graph_score_t, social_user_t
        return sa.select(g, u.c.username).select_from(
            g.outerjoin(u, sa.and_(u.c.platform == g.c.platform, u.c.user_id == g.c.user_id))
        )

    def snapshot_scores(
        self, snapshot_id: int, *, limit: int | None = None, community: int | None = None
    ) -> list[ScoreRow]:
        """A snapshot's users by rank (best first)."""
        g = graph_score_t
        stmt = self._score_select().where(g.c.snapshot_id == snapshot_id).order_by(g.c.rank)
        if community is not None:
            stmt = stmt.where(g.c.community == community)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._tx("reading graph scores") as conn:
            return [_score(r) for r in conn.execute(stmt)]

    def user_score(self, snapshot_id: int, platform: str, user_id: str) -> ScoreRow | None:
        g = graph_score_t
        stmt = self._score_select().where(
            g.c.snapshot_id == snapshot_id, g.c.platform == platform, g.c.user_id == user_id
        )
        with self._tx("reading a graph score") as conn:
            row = conn.execute(stmt).first()
        return _score(row) if row is not None else None

    def user_score_history(self, platform: str, user_id: str, limit: int = 10) -> list[tuple[Snapshot, ScoreRow]]:
        """A user's score in the most recent snapshots that include them, newest first."""
        g, s = graph_score_t, graph_snapshot_t
        stmt = (
            self._score_select()
            .where(g.c.platform == platform, g.c.user_id == user_id)
            .order_by(g.c.snapshot_id.desc())
            .limit(limit)
        )
        with self._tx("reading a user's graph history") as conn:
            scores = [_score(r) for r in conn.execute(stmt)]
            ids = [row.snapshot_id for row in scores]
            snaps = {r.id: _snapshot(r) for r in conn.execute(sa.select(s).where(s.c.id.in_(ids)))} if ids else {}
        return [(snaps[row.snapshot_id], row) for row in scores if row.snapshot_id in snaps]

    def snapshot_communities(self, snapshot_id: int) -> list[CommunityRow]:
        c = graph_community_t
        stmt = sa.select(c).where(c.c.snapshot_id == snapshot_id).order_by(c.c.community)
        with self._tx("reading graph communities") as conn:
            return [
                CommunityRow(
                    r.snapshot_id,
                    r.community,
                    r.size,
                    r.internal_share,
                    tuple(r.top_members or ()),
                    tuple((str(t), int(n)) for t, n in (r.top_terms or ())),
                )
                for r in conn.execute(stmt)
            ]
