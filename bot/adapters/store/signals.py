"""Recommendation signals: the texts people wrote to the shop (mentions and DMs) with their authors' handles."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa

from bot.adapters.store.base import Repository
from bot.adapters.store.engine import guarded
from bot.adapters.store.tables import mention_t, social_user_t
from bot.core.clock import ensure_utc
from bot.core.records import MentionText

MENTION_TEXT_CHUNK = 20_000


class SignalRepository(Repository):
    """What bot/domains/audience/recommend.py builds its user x product matrix from (store.signals)."""

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
            stmt = stmt.where(m.c.seen_at >= ensure_utc(since))
        with guarded(self.db.engine.url, "reading mention texts"), self.db.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk).execute(stmt)
            for rows in result.partitions(chunk):
                batch = [
                    MentionText(
                        platform=row.platform,
                        author_id=row.author_id,
                        username=row.username,
                        text=row.text or "",
                        at=ensure_utc(row.created_at or row.seen_at),
                    )
                    for row in rows
                    if (row.platform, row.author_id) not in exclude_authors
                ]
                if batch:
                    yield batch
