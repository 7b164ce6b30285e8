"""Mentions, replies and quotes of the account, from app.bsky.notification.listNotifications.

Their cursor (Page.newest_id) is the newest indexedAt, a fixed-width ISO time that sorts as text. indexedAt is
min(createdAt, indexing time): a post indexed late (a slow AppView, a client clock behind) can sort below the
newest one already read, so each read goes MENTION_OVERLAP below the stored cursor and the mentions service drops
what it already has (it de-duplicates by post id).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from bot.adapters.platforms.bluesky.identity import Identities
from bot.adapters.platforms.bluesky.records import cursor_of, iso, mentioned_dids, parse_time, post_of
from bot.adapters.platforms.bluesky.session import Sessions
from bot.core.clock import Clock
from bot.core.errors import PlatformError
from bot.core.models import Page, User

logger = logging.getLogger(__name__)

MENTION_REASONS = ("mention", "reply", "quote")
MENTION_OVERLAP = timedelta(minutes=5)
FIRST_READ_MAX = 800  # without a cursor, read at most this many mentions (the newest)


class MentionReader:
    def __init__(self, sessions: Sessions, identity: Identities, *, clock: Clock, account: str) -> None:
        self._sessions = sessions
        self._identity = identity
        self._clock = clock
        self.account = account

    def read(self, since_id: str | None, page_size: int, until_id: str | None) -> Iterator[Page]:
        """Newest first. `since_id` is an earlier Page.newest_id (a time): items from MENTION_OVERLAP below it on
        are read again. `until_id` is a post's at-URI: reading resumes below it (looked for from the top; if it is
        gone, the items read on the way are delivered after all). Without since_id, the newest FIRST_READ_MAX."""
        me = self._sessions.ensure().user
        size = max(1, min(100, page_size))
        since_time = parse_time(since_id) if since_id else None
        floor = cursor_of(since_time - MENTION_OVERLAP) if since_time else None
        newest = since_id
        skipping = until_id is not None
        skipped: list[dict[str, Any]] = []
        seen: set[str] = set()
        token: str | None = None
        delivered = 0
        fresh = False
        open_page = True  # the last page yielded promised more (or none was yielded yet)
        done = False
        while not done:
            params: dict[str, Any] = {"limit": size, "reasons": list(MENTION_REASONS)}
            if token:
                params["cursor"] = token
            body = self._sessions.call("GET", "app.bsky.notification.listNotifications", params=params)
            notes = [n for n in body.get("notifications") or [] if isinstance(n, dict)]
            token = body.get("cursor") or None
            done = token is None or len(notes) < size
            batch: list[dict[str, Any]] = []
            for note in notes:
                key = cursor_of(str(note.get("indexedAt") or ""))
                if newest is None or key > newest:
                    newest = key
                if floor is not None and key < floor:
                    done = True
                    break
                uri = note.get("uri")
                if note.get("reason") not in MENTION_REASONS or not isinstance(uri, str) or uri in seen:
                    continue
                seen.add(uri)
                fresh = fresh or since_id is None or key > since_id
                if skipping:
                    if uri == until_id:
                        skipping = False
                        skipped.clear()
                    else:
                        skipped.append(note)
                    continue
                batch.append(note)
                if floor is None and delivered + len(batch) >= FIRST_READ_MAX:
                    done = True
                    break
            if done and skipping:
                logger.info(
                    "bluesky mentions: %s is gone; delivering the %d read above it (account=%s)",
                    until_id,
                    len(skipped),
                    self.account,
                )
                batch, skipping = skipped + batch, False
            if not batch and not (done and open_page):
                continue  # nothing to hand out yet (skipping down, or only repeats): next page
            page = self._page(batch, me, newest, None if done else token)
            delivered += len(batch)
            open_page = not done
            logger.info(
                "bluesky mentions page account=%s since=%s items=%d more=%s",
                self.account,
                since_id,
                len(batch),
                not done,
            )
            yield page
        if fresh and delivered:
            self._update_seen()

    def _page(self, notes: list[dict[str, Any]], me: User, newest: str | None, token: str | None) -> Page:
        for note in notes:
            author = note.get("author") or {}
            if isinstance(author.get("did"), str) and isinstance(author.get("handle"), str):
                self._identity.remember(author["did"], author["handle"])
        wanted: dict[str, None] = {}
        for note in notes:
            author = (note.get("author") or {}).get("did")
            if isinstance(author, str):
                wanted.setdefault(author, None)
            for did in mentioned_dids(note.get("record") or {}):
                wanted.setdefault(did, None)
        users = self._identity.profiles(list(wanted))
        users.setdefault(me.id, me)
        handles = {did: user.username for did, user in users.items() if user.username}
        for did in wanted:
            known = None if did in handles else self._identity.handle(did)
            if known is not None:
                handles[did] = known
        items = [post_of(str(note["uri"]), note.get("record") or {}, _author(note), handles) for note in notes]
        return Page(items=items, users=users, newest_id=newest, next_token=token)

    def _update_seen(self) -> None:
        try:
            seen = iso(self._clock.now())
            self._sessions.call("POST", "app.bsky.notification.updateSeen", body={"seenAt": seen}, write=True)
        except PlatformError as exc:
            logger.warning("bluesky updateSeen failed for %s (%s); the mentions were read anyway", self.account, exc)


def _author(note: dict[str, Any]) -> str:
    return str((note.get("author") or {}).get("did") or "")
