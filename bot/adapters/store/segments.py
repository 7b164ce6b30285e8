"""Audience segments: runs, their segments (stable ids, labels, centroids) and who is in which."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.adapters.store.base import Repository, from_row
from bot.adapters.store.bulk import copy_in
from bot.adapters.store.tables import interaction_t, segment_member_t, segment_run_t, segment_t, social_user_t
from bot.core.clock import ensure_utc
from bot.core.records import SegmentInfo, SegmentRun

MEMBER_CHUNK = 50_000
MEMBER_WRITE_CHUNK = 250_000
MEMBER_KEYS = ("run_id", "platform", "user_id", "segment_id", "distance")


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
            self._insert_members(conn, run_id, members)
        return run_id

    @staticmethod
    def _insert_members(conn: Any, run_id: int, members: Sequence[tuple[str, str, int, float | None]]) -> None:
        """The members in batches of MEMBER_WRITE_CHUNK: COPY on PostgreSQL; on SQLite one executemany at the driver
        each, the run id a literal so that the members' own tuples are the parameters."""
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        insert = (
            f"INSERT INTO segment_member ({', '.join(MEMBER_KEYS)}) VALUES ({int(run_id)}, {', '.join([mark] * 4)})"
        )
        for start in range(0, len(members), MEMBER_WRITE_CHUNK):
            batch = members[start : start + MEMBER_WRITE_CHUNK]
            if conn.dialect.name == "postgresql":
                copy_in(conn, segment_member_t, MEMBER_KEYS, [(run_id, *member) for member in batch])
            else:
                conn.exec_driver_sql(insert, batch)

    def audience_size(
        self,
        *,
        since: datetime | None = None,
        exclude: Collection[tuple[str, str]] = (),
        min_interactions: int = 1,
    ) -> int:
        """How many people a segmentation would take in now: (platform, user id) with at least `min_interactions`
        interactions started or received since `since`, `exclude` (the shop's own accounts) left out."""
        i = interaction_t

        def side(user: sa.ColumnElement[str]) -> sa.Select[Any]:
            stmt = sa.select(i.c.platform.label("platform"), user.label("user_id"))
            return stmt.where(i.c.created_at >= ensure_utc(since)) if since is not None else stmt

        both = sa.union_all(side(i.c.source_user_id), side(i.c.target_user_id)).subquery()
        people = sa.select(both.c.platform, both.c.user_id).group_by(both.c.platform, both.c.user_id)
        for platform, user_id in sorted(set(exclude)):
            people = people.where(sa.not_(sa.and_(both.c.platform == platform, both.c.user_id == user_id)))
        if min_interactions > 1:
            people = people.having(sa.func.count() >= min_interactions)
        with self._tx("counting the people to segment") as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(people.subquery())).scalar_one())

    def people_high_water(self) -> int:
        """The first social_user id not stored yet (a segmentation records it: who came after it is new)."""
        u = social_user_t
        with self._tx("reading the people's high-water mark") as conn:
            last = conn.execute(sa.select(sa.func.max(u.c.id))).scalar_one()
        return 0 if last is None else int(last) + 1

    def people_from(self, first_id: int) -> int:
        """How many people the bot met (social_user rows) with an id of at least `first_id`: the new people since
        a segmentation that recorded `first_id` (a range of the primary key: older rows are not read)."""
        u = social_user_t
        with self._tx("counting new people") as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(u).where(u.c.id >= first_id)).scalar_one())

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

    def examples(self, run_id: int, segment_ids: Collection[int], n: int = 3) -> dict[int, list[str]]:
        """Up to `n` members of each segment closest to its centroid, by handle ('@handle', else the user id)."""
        m, u = segment_member_t, social_user_t
        found: dict[int, list[str]] = {}
        with self._tx("reading segment examples") as conn:
            for segment_id in segment_ids:
                stmt = (
                    sa.select(m.c.user_id, u.c.username)
                    .select_from(m.outerjoin(u, sa.and_(u.c.platform == m.c.platform, u.c.user_id == m.c.user_id)))
                    .where(m.c.run_id == run_id, m.c.segment_id == segment_id)
                    .order_by(m.c.distance, m.c.platform, m.c.user_id)
                    .limit(n)
                )
                found[segment_id] = [f"@{name}" if name else str(uid) for uid, name in conn.execute(stmt)]
        return found

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
