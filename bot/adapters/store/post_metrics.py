"""Post metric readings (table post_metric): which delivered posts and replies are due a reading, and the readings.

* `due` lists, per configured age, the account's outbox rows (kind post or reply, state sent, with a remote id)
  sent between `age + grace` and `age` ago that have no reading at that age yet: campaign and slot from the outbox
  row, the variant from its campaign_slot row. A post whose window passed unread (the daemon was down, the budget
  was spent) is never read late as if it were that age: that reading is skipped, and the next age still comes.
* `record` stores readings, idempotent on (account, post_id, age): a second daemon's reading of the same post at
  the same age is ignored.
* `record_hours` stores the hours of a post's engagement from the platform's analytics (table post_metric_hour),
  upserted on (account, post_id, hour): a later read of the same hour replaces the counts. Hours with nothing in
  them are not stored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.adapters.store.base import Repository, utc_or_none
from bot.adapters.store.tables import outbox_t, post_metric_hour_t, post_metric_t, slot_t
from bot.core.clock import ensure_utc
from bot.core.models import EngagementHour, MetricDue, PostMetrics
from bot.core.records import OutboxState

logger = logging.getLogger(__name__)

READ_KINDS = ("post", "reply")


class PostMetricRepository(Repository):
    """post_metric rows (store.post_metrics)."""

    def due(
        self,
        account: str,
        now: datetime,
        ages: Sequence[tuple[str, timedelta, timedelta]],
        *,
        limit: int = 1000,
    ) -> list[MetricDue]:
        """Readings due now: for each (label, age, grace), the posts sent in (now - age - grace, now - age] not
        read at that age; oldest post first, at most `limit` in all."""
        now = ensure_utc(now)
        o, m, s = outbox_t, post_metric_t, slot_t
        out: list[MetricDue] = []
        with self._tx(f"reading the posts of {account} due a metrics reading") as conn:
            for label, age, grace in ages:
                if len(out) >= limit:
                    break
                read = sa.exists().where(m.c.account == o.c.account, m.c.post_id == o.c.remote_id, m.c.age == label)
                stmt = (
                    sa.select(o.c.key, o.c.kind, o.c.remote_id, o.c.sent_at, o.c.campaign, o.c.slot_at, s.c.variant)
                    .select_from(o.outerjoin(s, sa.and_(s.c.campaign == o.c.campaign, s.c.slot_at == o.c.slot_at)))
                    .where(
                        o.c.account == account,
                        o.c.kind.in_(READ_KINDS),
                        o.c.state == OutboxState.SENT,
                        o.c.remote_id.is_not(None),
                        o.c.sent_at > now - age - grace,
                        o.c.sent_at <= now - age,
                        ~read,
                    )
                    .order_by(o.c.sent_at, o.c.id)
                    .limit(limit - len(out))
                )
                out.extend(_due(account, label, row) for row in conn.execute(stmt))
        return out

    def record(
        self, platform: str, due: Sequence[MetricDue], metrics: dict[str, PostMetrics], read_at: datetime
    ) -> int:
        """Store the readings of `due` found in `metrics` (by post id); returns how many were new."""
        rows = [_row(platform, d, metrics[d.post_id], ensure_utc(read_at)) for d in due if d.post_id in metrics]
        if not rows:
            return 0
        stmt = self._insert(post_metric_t).on_conflict_do_nothing(index_elements=["account", "post_id", "age"])
        added = 0
        with self._tx("recording post metrics") as conn:
            for row in rows:  # RETURNING tells an inserted row on both databases (psycopg's rowcount may not)
                added += conn.execute(stmt.values(**row).returning(post_metric_t.c.id)).first() is not None
        return added

    def record_hours(self, account: str, hours: Mapping[str, Sequence[EngagementHour]], read_at: datetime) -> int:
        """Store each post's hours (post id -> its hours) that hold any engagement, views or clicks; returns the
        rows written (new or updated)."""
        read_at = ensure_utc(read_at)
        rows = [
            {
                "account": account,
                "post_id": h.post_id,
                "hour": ensure_utc(h.hour),
                "engagements": h.engagements,
                "impressions": h.impressions,
                "url_clicks": h.url_clicks,
                "read_at": read_at,
            }
            for post_hours in hours.values()
            for h in post_hours
            if h.engagements or h.impressions or h.url_clicks
        ]
        if not rows:
            return 0
        insert = self._insert(post_metric_hour_t)
        stmt = insert.on_conflict_do_update(
            index_elements=["account", "post_id", "hour"],
            set_={name: insert.excluded[name] for name in ("engagements", "impressions", "url_clicks", "read_at")},
        )
        with self._tx(f"recording the engagement hours of {account}'s posts") as conn:
            for start in range(0, len(rows), 500):
                conn.execute(stmt, rows[start : start + 500])
        return len(rows)

    def hours(self, account: str, *, post_id: str | None = None) -> list[EngagementHour]:
        """Stored engagement hours of `account` (of one post), by post then hour."""
        h = post_metric_hour_t
        stmt = sa.select(h).where(h.c.account == account).order_by(h.c.post_id, h.c.hour)
        if post_id is not None:
            stmt = stmt.where(h.c.post_id == post_id)
        with self._tx("reading engagement hours") as conn:
            return [
                EngagementHour(str(r.post_id), ensure_utc(r.hour), int(r.engagements), r.impressions, r.url_clicks)
                for r in conn.execute(stmt)
            ]

    def readings(self, account: str | None = None, *, post_id: str | None = None) -> list[dict[str, Any]]:
        """Stored readings (oldest post first, then by age read), as dicts of the post_metric columns."""
        m = post_metric_t
        stmt = sa.select(m).order_by(m.c.posted_at, m.c.post_id, m.c.read_at)
        if account is not None:
            stmt = stmt.where(m.c.account == account)
        if post_id is not None:
            stmt = stmt.where(m.c.post_id == post_id)
        with self._tx("reading post metrics") as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def count(self, account: str | None = None) -> int:
        m = post_metric_t
        stmt = sa.select(sa.func.count()).select_from(m)
        if account is not None:
            stmt = stmt.where(m.c.account == account)
        with self._tx("counting post metrics") as conn:
            return int(conn.execute(stmt).scalar_one())


def _due(account: str, label: str, row: Any) -> MetricDue:
    return MetricDue(
        account=account,
        post_id=str(row.remote_id),
        age=label,
        kind=str(row.kind),
        posted_at=ensure_utc(row.sent_at),
        outbox_key=row.key,
        campaign=row.campaign,
        variant=row.variant,
        slot_at=utc_or_none(row.slot_at),
    )


def _row(platform: str, due: MetricDue, metrics: PostMetrics, read_at: datetime) -> dict[str, Any]:
    return {
        "account": due.account,
        "platform": platform,
        "post_id": due.post_id,
        "outbox_key": due.outbox_key,
        "kind": due.kind,
        "campaign": due.campaign,
        "variant": due.variant,
        "slot_at": due.slot_at,
        "posted_at": due.posted_at,
        "age": due.age,
        "read_at": read_at,
        "likes": metrics.likes,
        "reposts": metrics.reposts,
        "replies": metrics.replies,
        "quotes": metrics.quotes,
        "bookmarks": metrics.bookmarks,
        "impressions": metrics.impressions,
        "link_clicks": metrics.link_clicks,
        "profile_clicks": metrics.profile_clicks,
        "followers": metrics.followers,
    }
