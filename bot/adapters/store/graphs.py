"""Audience graph analyses: snapshots of their results (figures, one score row per user, communities), the
texts of mentions their community topics come from, and how many interactions arrived after an analysis."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.adapters.store.base import Repository, from_row
from bot.adapters.store.tables import (
    graph_community_t,
    graph_score_t,
    graph_snapshot_t,
    interaction_t,
    mention_t,
    social_user_t,
)
from bot.core.clock import ensure_utc
from bot.core.records import CommunityRow, ScoreRow, Snapshot


def _snapshot(row: Any) -> Snapshot:
    params, stats = dict(row.params or {}), dict(row.stats or {})
    return from_row(Snapshot, row, created_at=ensure_utc(row.created_at), params=params, stats=stats)


def _score(row: Any) -> ScoreRow:
    return from_row(ScoreRow, row, reasons=tuple(row._mapping["reasons"] or ()))


class GraphRepository(Repository):
    """graph_snapshot, graph_score and graph_community rows (store.graphs)."""

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
        scores: Sequence[dict[str, Any]],
        communities: Sequence[dict[str, Any]],
    ) -> int:
        """Store one analysis run: its figures, one score row per user and one row per community."""
        with self._tx("storing a graph snapshot") as conn:
            snapshot_id = int(
                conn.execute(
                    sa.insert(graph_snapshot_t)
                    .values(created_at=ensure_utc(created_at), params=params, stats=stats, **figures)
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
