"""What the outcome analyses read (store.outcomes): post metric readings as columns, and when the audience is
active. Read-only; the readings and the engagement hours are written by bot/adapters/store/post_metrics.py.

Columns, not ORM objects: a million readings are one SELECT of the few columns an analysis needs, with the
engagement sum and the epoch of `posted_at` computed in the database, and (by default) only each post's latest
reading kept there too (ROW_NUMBER over the post's ages ranked by their length: 1h < 24h < 7d)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on

from bot.adapters.store.base import Repository
from bot.adapters.store.tables import (
    account_state_t,
    interaction_t,
    mention_t,
    outbox_t,
    post_metric_hour_t,
    post_metric_t,
)
from bot.adapters.store.types import epoch_seconds
from bot.core.durations import parse_duration
from bot.core.models import Activity

# the columns `readings` returns, in order (each a list of the same length)
READING_COLUMNS = (
    "account",
    "platform",
    "post_id",
    "kind",
    "campaign",
    "variant",
    "outbox_key",
    "posted_at",  # epoch seconds (UTC)
    "age",
    "engagements",  # likes + reposts + replies + quotes + bookmarks + link clicks
    "impressions",  # None where the platform has no view counts (Bluesky)
    "followers",  # the account's, when read
)
# what the models need (a third less to read than READING_COLUMNS)
MODEL_COLUMNS = ("account", "campaign", "variant", "posted_at", "engagements", "impressions", "followers")
# the audience's own actions towards an account that say when it is active (mentions and DMs come from `mention`)
ACTIVITY_KINDS = ("like", "retweet", "repost")
HALF_HOUR = 1800.0  # an analytics hour counts at its middle

Columns = dict[str, list[Any]]


def _age_seconds(age: str) -> float:
    try:
        return parse_duration(age).total_seconds()
    except ValueError:
        return 0.0


class OutcomeRepository(Repository):
    """Readings of how posts did and when the audience is active, for the outcome models (store.outcomes)."""

    def ages(self) -> list[str]:
        """The reading ages stored, shortest first ('1h', '24h', '7d')."""
        with self._tx("reading metric ages") as conn:
            ages = [str(a) for a in conn.execute(sa.select(post_metric_t.c.age).distinct()).scalars()]
        return sorted(ages, key=lambda a: (_age_seconds(a), a))

    def accounts(self) -> list[str]:
        """The accounts with at least one reading."""
        with self._tx("reading metric accounts") as conn:
            return sorted(str(a) for a in conn.execute(sa.select(post_metric_t.c.account).distinct()).scalars())

    def readings(
        self,
        *,
        account: str | Collection[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        campaign: str | None = None,
        age: str | None = None,
        detail: bool = True,
    ) -> Columns:
        """One reading per post posted in [since, until) (of `account`, of `campaign`): the one at `age`, or
        each post's latest when `age` is None; a dict of READING_COLUMNS (MODEL_COLUMNS without `detail`), each a
        list."""
        p = post_metric_t
        engagements = (
            p.c.likes
            + p.c.reposts
            + p.c.replies
            + p.c.quotes
            + sa.func.coalesce(p.c.bookmarks, 0)
            + sa.func.coalesce(p.c.link_clicks, 0)
        )
        everything: dict[str, sa.ColumnElement[Any]] = {
            "account": p.c.account,
            "platform": p.c.platform,
            "post_id": p.c.post_id,
            "kind": p.c.kind,
            "campaign": p.c.campaign,
            "variant": p.c.variant,
            "outbox_key": p.c.outbox_key,
            "posted_at": epoch_seconds(p.c.posted_at, self.dialect).label("posted_at"),
            "age": p.c.age,
            "engagements": engagements.label("engagements"),
            "impressions": p.c.impressions,
            "followers": p.c.followers,
        }
        names = READING_COLUMNS if detail else MODEL_COLUMNS
        columns = [everything[name] for name in names]
        conditions: list[sa.ColumnElement[bool]] = []
        if isinstance(account, str):
            conditions.append(p.c.account == account)
        elif account is not None:
            conditions.append(p.c.account.in_(sorted(account)))
        if since is not None:
            conditions.append(p.c.posted_at >= since)
        if until is not None:
            conditions.append(p.c.posted_at < until)
        if campaign is not None:
            conditions.append(p.c.campaign == campaign)
        stmt = sa.select(*columns).where(*conditions)
        if age is not None:
            stmt = stmt.where(p.c.age == age)
        elif len(ages := self.ages()) > 1:
            # each post's latest reading: SQLite takes the other columns of a GROUP BY from the row of its max()
            # (walking the unique index account, post_id, age); PostgreSQL has DISTINCT ON
            rank = sa.case({a: i for i, a in enumerate(ages)}, value=p.c.age, else_=-1)
            if self.dialect == "sqlite":
                stmt = sa.select(*columns, sa.func.max(rank)).where(*conditions).group_by(p.c.account, p.c.post_id)
            else:
                stmt = stmt.order_by(p.c.account, p.c.post_id, rank.desc()).ext(distinct_on(p.c.account, p.c.post_id))
        with self._tx("reading post metrics") as conn:
            rows = conn.execute(stmt).fetchall()
        if not rows:
            return {name: [] for name in names}
        return {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=False)}

    def post_texts(self, keys: Collection[str]) -> dict[str, str]:
        """The text of each outbox row by key (the posts the readings name)."""
        wanted = sorted({k for k in keys if k})
        texts: dict[str, str] = {}
        with self._tx("reading post texts") as conn:
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                stmt = sa.select(outbox_t.c.key, outbox_t.c.text).where(outbox_t.c.key.in_(part))
                texts.update({str(k): str(t) for k, t in conn.execute(stmt)})
        return texts

    def activity(self, account: str, *, since: datetime | None = None, until: datetime | None = None) -> Activity:
        """When the account's audience acted towards it (epoch seconds, UTC, each with its weight): its mentions
        and DMs (when written, else when seen: 1 each), the hours of its posts' analytics (the middle of the
        hour, weighted by the engagements in it), and the likes and reposts of its posts that have no analytics
        hours (interactions aimed at its user id: 1 each, at the time they were seen, as X tells no time)."""
        m, i, h = mention_t, interaction_t, post_metric_hour_t
        when = sa.func.coalesce(m.c.created_at, m.c.seen_at)
        mentions = sa.select(epoch_seconds(when, self.dialect)).where(m.c.account == account)
        if since is not None:
            mentions = mentions.where(when >= since)
        if until is not None:
            mentions = mentions.where(when < until)
        user_id = sa.select(account_state_t.c.platform_user_id).where(account_state_t.c.account == account)
        timed = sa.exists().where(h.c.account == account, h.c.post_id == i.c.post_id)
        reactions = sa.select(epoch_seconds(i.c.created_at, self.dialect)).where(
            i.c.target_user_id == user_id.scalar_subquery(), i.c.kind.in_(ACTIVITY_KINDS), ~timed
        )
        if since is not None:
            reactions = reactions.where(i.c.created_at >= since)
        if until is not None:
            reactions = reactions.where(i.c.created_at < until)
        hours = (  # summed per hour in the database: a few thousand rows, however many posts
            sa.select(epoch_seconds(h.c.hour, self.dialect), sa.func.sum(h.c.engagements))
            .where(h.c.account == account, h.c.engagements > 0)
            .group_by(h.c.hour)
        )
        if since is not None:
            hours = hours.where(h.c.hour >= since)
        if until is not None:
            hours = hours.where(h.c.hour < until)
        with self._tx("reading audience activity") as conn:
            times = [float(v) for v in conn.execute(mentions).scalars() if v is not None]
            times += [float(v) for v in conn.execute(reactions).scalars() if v is not None]
            weights = [1.0] * len(times)
            for start, engagements in conn.execute(hours):
                times.append(float(start) + HALF_HOUR)
                weights.append(float(engagements))
        return Activity(times, weights)
