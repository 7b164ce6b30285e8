"""Audience segments: runs, their segments (stable ids, labels, centroids) and who is in which."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.adapters.store.base import Repository, from_row
from bot.adapters.store.tables import segment_member_t, segment_run_t, segment_t, social_user_t
from bot.core.clock import ensure_utc
from bot.core.records import SegmentInfo, SegmentRun

MEMBER_CHUNK = 50_000


def _run(row: Any) -> SegmentRun:
    params, stats = dict(row.params or {}), dict(row.stats or {})
    return from_row(SegmentRun, row, created_at=ensure_utc(row.created_at), params=params, stats=stats)


class SegmentRepository(Repository):
    """segment_run, segment and segment_member rows (store.segments)."""

    def save_run(
        self,
        *,
        created_at: datetime,
        k: int,
        silhouette: float | None,
        graph_snapshot_id: int | None,
        params: dict[str, Any],
        stats: dict[str, Any],
        segments: Sequence[tuple[int, str, int, dict[str, float]]],
        members: Sequence[tuple[str, str, int, float | None]],
    ) -> int:
        """Store one segmentation: segments as (segment_id, label, size, centroid), members as (platform,
        user_id, segment_id, distance to the centroid). One transaction; returns the run id."""
        with self._tx("storing a segmentation") as conn:
            run_id = int(
                conn.execute(
                    sa.insert(segment_run_t)
                    .values(
                        created_at=ensure_utc(created_at),
                        k=k,
                        n_users=len(members),
                        silhouette=silhouette,
                        graph_snapshot_id=graph_snapshot_id,
                        params=params,
                        stats=stats,
                    )
                    .returning(segment_run_t.c.id)
                ).scalar_one()
            )
            if segments:
                conn.execute(
                    sa.insert(segment_t),
                    [
                        {"run_id": run_id, "segment_id": s, "label": label, "size": size, "centroid": centroid}
                        for s, label, size, centroid in segments
                    ],
                )
            # plain executemany on the driver: a million members in ~2 s instead of ~5 s through Core dicts
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            insert = (
                "INSERT INTO segment_member (run_id, platform, user_id, segment_id, distance) "
                f"VALUES ({', '.join([mark] * 5)})"
            )
            for start in range(0, len(members), MEMBER_CHUNK):
                conn.exec_driver_sql(
                    insert, [(run_id, p, u, s, d) for p, u, s, d in members[start : start + MEMBER_CHUNK]]
                )
        return run_id

    def latest_run(self) -> SegmentRun | None:
        r = segment_run_t
        with self._tx("reading the latest segmentation") as conn:
            row = conn.execute(sa.select(r).order_by(r.c.id.desc()).limit(1)).first()
        return _run(row) if row is not None else None

    def run(self, run_id: int) -> SegmentRun | None:
        r = segment_run_t
        with self._tx("reading a segmentation") as conn:
            row = conn.execute(sa.select(r).where(r.c.id == run_id)).first()
        return _run(row) if row is not None else None

    def runs(self, limit: int = 20) -> list[SegmentRun]:
        r = segment_run_t
        with self._tx("reading segmentations") as conn:
            return [_run(row) for row in conn.execute(sa.select(r).order_by(r.c.id.desc()).limit(limit))]

    def of_run(self, run_id: int) -> list[SegmentInfo]:
        s = segment_t
        with self._tx("reading segments") as conn:
            rows = conn.execute(sa.select(s).where(s.c.run_id == run_id).order_by(s.c.segment_id))
            return [SegmentInfo(r.run_id, r.segment_id, r.label, r.size, dict(r.centroid or {})) for r in rows]

    def members(
        self, run_id: int, segment_ids: Collection[int] | None = None, *, chunk: int = MEMBER_CHUNK
    ) -> Iterator[list[tuple[str, str, int]]]:
        """(platform, user_id, segment_id) of a run's members (of these segments), in chunks."""
        m = segment_member_t
        stmt = (
            sa.select(m.c.platform, m.c.user_id, m.c.segment_id)
            .where(m.c.run_id == run_id)
            .order_by(m.c.platform, m.c.user_id)
        )
        if segment_ids is not None:
            stmt = stmt.where(m.c.segment_id.in_(sorted(set(segment_ids))))
        with self._tx("reading segment members") as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk).execute(stmt)
            for rows in result.partitions(chunk):
                yield [(r[0], r[1], r[2]) for r in rows]

    def of_user(self, platform: str, user_id: str, run_id: int | None = None) -> tuple[int, str] | None:
        """(segment id, label) of a user in a run (default: the latest run), or None."""
        m, s = segment_member_t, segment_t
        if run_id is None:
            latest = self.latest_run()
            if latest is None:
                return None
            run_id = latest.id
        stmt = (
            sa.select(m.c.segment_id, s.c.label)
            .select_from(m.join(s, sa.and_(s.c.run_id == m.c.run_id, s.c.segment_id == m.c.segment_id)))
            .where(m.c.run_id == run_id, m.c.platform == platform, m.c.user_id == user_id)
        )
        with self._tx("reading a user's segment") as conn:
            row = conn.execute(stmt).first()
        return (int(row[0]), str(row[1])) if row is not None else None

    def member_rows(
        self, run_id: int, *, chunk: int = MEMBER_CHUNK
    ) -> Iterator[list[tuple[str, str, str | None, int, float | None]]]:
        """(platform, user_id, username, segment_id, distance) of a run's members, in chunks (exports)."""
        m, u = segment_member_t, social_user_t
        stmt = (
            sa.select(m.c.platform, m.c.user_id, u.c.username, m.c.segment_id, m.c.distance)
            .select_from(m.outerjoin(u, sa.and_(u.c.platform == m.c.platform, u.c.user_id == m.c.user_id)))
            .where(m.c.run_id == run_id)
            .order_by(m.c.segment_id, m.c.distance, m.c.platform, m.c.user_id)
        )
        with self._tx("reading segment members") as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk).execute(stmt)
            for rows in result.partitions(chunk):
                yield [(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows]
