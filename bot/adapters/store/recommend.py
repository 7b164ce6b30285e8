"""Recommendation signals: the texts people wrote to the shop (mentions and DMs) with their authors' handles."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from bot.adapters.store.engine import guarded
from bot.adapters.store.tables import mention_t, social_user_t
from bot.adapters.store.types import as_utc

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

MENTION_TEXT_CHUNK = 20_000


@dataclass(frozen=True)
class MentionText:
    """One mention or DM as the recommender reads it: who wrote what, when."""

    platform: str
    author_id: str
    username: str | None  # the author's handle when social_user knows it
    text: str
    at: datetime  # created_at, or seen_at when the platform gave no time (aware, UTC)


class RecommendQueries:
    """Mixed into bot.adapters.store.Store: the signals
    bot/domains/audience/recommend.py builds its user x product matrix from."""

    if TYPE_CHECKING:
        engine: Engine

    def iter_mention_texts(
        self,
        *,
        since: datetime | None = None,
        exclude_authors: frozenset[tuple[str, str]] = frozenset(),
        chunk: int = MENTION_TEXT_CHUNK,
    ) -> Iterator[list[MentionText]]:
        """Every stored mention/DM with an author (seen since `since`), in id order, in lists of up to `chunk`;
        `exclude_authors` ((platform, user_id), e.g. our own accounts) are left out. A plain streamed read: no
        write lock is taken."""
        m, u = mention_t, social_user_t
        stmt = (
            sa.select(m.c.platform, m.c.author_id, u.c.username, m.c.text, m.c.created_at, m.c.seen_at)
            .select_from(m.outerjoin(u, sa.and_(u.c.platform == m.c.platform, u.c.user_id == m.c.author_id)))
            .where(m.c.author_id.is_not(None))
            .order_by(m.c.id)
        )
        if since is not None:
            stmt = stmt.where(m.c.seen_at >= as_utc(since))
        with guarded(self.engine.url, "reading mention texts"), self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk).execute(stmt)
            for rows in result.partitions(chunk):
                batch = [
                    MentionText(
                        platform=row.platform,
                        author_id=row.author_id,
                        username=row.username,
                        text=row.text or "",
                        at=as_utc(row.created_at or row.seen_at),
                    )
                    for row in rows
                    if (row.platform, row.author_id) not in exclude_authors
                ]
                if batch:
                    yield batch
