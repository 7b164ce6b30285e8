"""Audience graph: interaction edges for the analysis, snapshots of its results, job leases."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bot.adapters.store.engine import guarded
from bot.adapters.store.tables import (
    account_state_t,
    graph_community_t,
    graph_score_t,
    graph_snapshot_t,
    interaction_t,
    job_lease_t,
    mention_t,
    social_user_t,
)
from bot.adapters.store.types import as_utc, epoch_seconds
from bot.core.errors import StoreError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

EDGE_CHUNK = 100_000


@dataclass(frozen=True)
class EdgeChunk:
    """Parallel columns of up to EDGE_CHUNK interactions; `epoch` is created_at in seconds since 1970 (UTC)."""

    platform: list[str]
    source: list[str]
    target: list[str]
    kind: list[str]
    epoch: list[float]

    def __len__(self) -> int:
        return len(self.source)


@dataclass(frozen=True)
class UserInfo:
    platform: str
    user_id: str
    username: str | None
    followers: int | None


@dataclass(frozen=True)
class ScoreRow:
    snapshot_id: int
    platform: str
    user_id: str
    username: str | None
    pagerank: float
    in_strength: float
    hub: float
    authority: float
    betweenness: float
    followers: int | None
    score: float
    rank: int
    community: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Snapshot:
    id: int
    created_at: datetime
    n_users: int
    n_edges: int
    n_interactions: int
    n_communities: int
    modularity: float
    reciprocity: float
    params: dict[str, Any]
    stats: dict[str, Any]


@dataclass(frozen=True)
class CommunityRow:
    snapshot_id: int
    community: int
    size: int
    internal_share: float
    top_members: tuple[str, ...]
    top_terms: tuple[tuple[str, int], ...]


def _snapshot(row: Any) -> Snapshot:
    return Snapshot(
        id=row.id,
        created_at=as_utc(row.created_at),
        n_users=row.n_users,
        n_edges=row.n_edges,
        n_interactions=row.n_interactions,
        n_communities=row.n_communities,
        modularity=row.modularity,
        reciprocity=row.reciprocity,
        params=dict(row.params or {}),
        stats=dict(row.stats or {}),
    )


def _score(row: Any) -> ScoreRow:
    m = row._mapping
    return ScoreRow(
        snapshot_id=m["snapshot_id"],
        platform=m["platform"],
        user_id=m["user_id"],
        username=m["username"],
        pagerank=m["pagerank"],
        in_strength=m["in_strength"],
        hub=m["hub"],
        authority=m["authority"],
        betweenness=m["betweenness"],
        followers=m["followers"],
        score=m["score"],
        rank=m["rank"],
        community=m["community"],
        reasons=tuple(m["reasons"] or ()),
    )


class GraphQueries:
    """Mixed into bot.adapters.store.Store: the interaction log as the analysis reads it, snapshots, leases."""

    if TYPE_CHECKING:
        clock: Callable[[], datetime]
        dialect: str
        engine: Engine
        url: str

        def _tx(self, what: str) -> AbstractContextManager[Connection]: ...

        def _insert(self, table: sa.Table) -> Any: ...

    # ---- the edge log
    def _epoch(self) -> sa.ColumnElement[float]:
        return epoch_seconds(interaction_t.c.created_at, self.dialect)

    def interaction_count(self, *, since: datetime | None = None) -> int:
        i = interaction_t
        stmt = sa.select(sa.func.count()).select_from(i)
        if since is not None:
            stmt = stmt.where(i.c.created_at >= as_utc(since))
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
            stmt = stmt.where(epoch >= as_utc(since).timestamp())
        compiled = stmt.compile(dialect=self.engine.dialect)
        params: Any = compiled.params
        if compiled.positiontup is not None:
            params = tuple(compiled.params[name] for name in compiled.positiontup)
        # a plain read: no BEGIN IMMEDIATE (SQLite's write lock would hold up the daemon's writes meanwhile)
        with guarded(self.engine.url, "reading the interaction log"):
            driver = self.engine.raw_connection()
        driver_error = self.engine.dialect.loaded_dbapi.Error
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
            raise StoreError(f"database {self.url}: reading the interaction log failed: {exc}") from exc
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
            stmt = stmt.where(i.c.created_at >= as_utc(since))
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
            stmt = stmt.where(i.c.created_at >= as_utc(since))
        with self._tx("counting interactions by kind") as conn:
            return {kind: int(n) for kind, n in conn.execute(stmt)}

    def own_user_ids(self) -> dict[str, str]:
        """account -> platform user id of our own accounts (as far as the daemon has learnt them)."""
        a = account_state_t
        stmt = sa.select(a.c.account, a.c.platform_user_id).where(a.c.platform_user_id.isnot(None))
        with self._tx("reading account ids") as conn:
            return {r[0]: r[1] for r in conn.execute(stmt)}

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
            stmt = stmt.where(m.c.seen_at >= as_utc(since))
        with self._tx("reading mention texts") as conn:
            return [(r[0], r[1], r[2], list(r[3] or [])) for r in conn.execute(stmt)]

    # ---- snapshots
    def save_snapshot(
        self,
        *,
        created_at: datetime,
        figures: dict[str, Any],
        params: dict[str, Any],
        stats: dict[str, Any],
        scores: Sequence[dict[str, Any]],
        communities: Sequence[dict[str, Any]],
    ) -> int:
        """Store one analysis run: its figures, one score row per user and one row per community."""
        with self._tx("storing a graph snapshot") as conn:
            snapshot_id = int(
                conn.execute(
                    sa.insert(graph_snapshot_t)
                    .values(created_at=as_utc(created_at), params=params, stats=stats, **figures)
                    .returning(graph_snapshot_t.c.id)
                ).scalar_one()
            )
            for start in range(0, len(scores), 5000):
                conn.execute(
                    sa.insert(graph_score_t),
                    [dict(row, snapshot_id=snapshot_id) for row in scores[start : start + 5000]],
                )
            if communities:
                conn.execute(sa.insert(graph_community_t), [dict(row, snapshot_id=snapshot_id) for row in communities])
        return snapshot_id

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

    # ---- leases: a job that runs on one daemon at a time
    def acquire_lease(self, name: str, owner: str, *, ttl: timedelta, now: datetime | None = None) -> bool:
        """Take (or extend) the lease `name` for `owner` unless another owner holds an unexpired one."""
        now = as_utc(now or self.clock())
        until = now + ttl
        j = job_lease_t
        with self._tx(f"taking the lease {name}") as conn:
            taken = conn.execute(
                sa.update(j)
                .where(j.c.name == name, sa.or_(j.c.owner == owner, j.c.until < now))
                .values(owner=owner, until=until, acquired_at=now)
            ).rowcount
            if taken:
                return True
            inserted = conn.execute(
                self._insert(j)
                .values(name=name, owner=owner, until=until, acquired_at=now)
                .on_conflict_do_nothing(index_elements=[j.c.name])
                .returning(j.c.name)  # (rowcount of ON CONFLICT DO NOTHING is -1 on psycopg)
            ).first()
            return inserted is not None

    def release_lease(self, name: str, owner: str) -> bool:
        j = job_lease_t
        with self._tx(f"releasing the lease {name}") as conn:
            return bool(conn.execute(sa.delete(j).where(j.c.name == name, j.c.owner == owner)).rowcount)

    def lease_holder(self, name: str, *, now: datetime | None = None) -> str | None:
        now = as_utc(now or self.clock())
        j = job_lease_t
        with self._tx(f"reading the lease {name}") as conn:
            row = conn.execute(sa.select(j.c.owner, j.c.until).where(j.c.name == name)).first()
        return row.owner if row is not None and as_utc(row.until) >= now else None
