"""Job leases: a job that runs on one daemon at a time (graph analysis, segments, coupons); a dead holder's lease
runs out and another daemon takes over."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from bot.adapters.store.base import Repository
from bot.adapters.store.tables import job_lease_t
from bot.core.clock import ensure_utc


class LeaseRepository(Repository):
    """job_lease rows (store.leases)."""

    def acquire(self, name: str, owner: str, *, ttl: timedelta, now: datetime | None = None) -> bool:
        """Take (or extend) the lease `name` for `owner` unless another owner holds an unexpired one."""
        now = ensure_utc(now or self._now())
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

    def release(self, name: str, owner: str) -> bool:
        j = job_lease_t
        with self._tx(f"releasing the lease {name}") as conn:
            return bool(conn.execute(sa.delete(j).where(j.c.name == name, j.c.owner == owner)).rowcount)

    def holder(self, name: str, *, now: datetime | None = None) -> str | None:
        now = ensure_utc(now or self._now())
        j = job_lease_t
        with self._tx(f"reading the lease {name}") as conn:
            row = conn.execute(sa.select(j.c.owner, j.c.until).where(j.c.name == name)).first()
        return row.owner if row is not None and ensure_utc(row.until) >= now else None
