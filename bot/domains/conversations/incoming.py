"""A mention or a DM as the conversation code sees it, and whether it summons the account."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from bot.core.models import DirectMessage, Post, User


@dataclass(frozen=True)
class Incoming:
    """A mention or a DM, as the decisions see it."""

    kind: str  # "mention" | "dm"
    id: str
    text: str
    author_id: str | None
    created_at: datetime | None = None
    conversation_id: str | None = None
    in_reply_to_user_id: str | None = None
    replied_to_id: str | None = None
    quoted_id: str | None = None
    mentions: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    edit_of: tuple[str, ...] = ()  # an edited post: its earlier versions' ids (never answered twice)

    @classmethod
    def from_post(cls, post: Post) -> Incoming:
        return cls(
            "mention",
            post.id,
            post.text,
            post.author_id,
            post.created_at,
            post.conversation_id,
            post.in_reply_to_user_id,
            post.replied_to_id,
            post.quoted_id,
            tuple(post.mentions),
            tuple(post.hashtags),
            tuple(post.urls),
            tuple(post.edit_of),
        )

    @classmethod
    def from_dm(cls, dm: DirectMessage) -> Incoming:
        return cls("dm", dm.id, dm.text, dm.sender_id, dm.created_at, dm.conversation_id)


def seen(item: Incoming, ids: Collection[str]) -> bool:
    """Whether the item, or an earlier version of it (an edit), is among `ids` (stored ones: already handled)."""
    return item.id in ids or any(earlier in ids for earlier in item.edit_of)


def summons(item: Incoming, me: User, own_posts: Collection[str] = ()) -> bool:
    """Whether the author called on the account: a DM to it, an @mention of it, a reply to or a quote of
    one of its posts. X refuses (403) replies to anything else."""
    if item.kind == "dm":
        return True
    handle = me.username.lower()
    if any(name.lstrip("@").lower() == handle for name in item.mentions):
        return True
    if item.in_reply_to_user_id is not None and item.in_reply_to_user_id == me.id:
        return True
    return item.quoted_id is not None and item.quoted_id in own_posts
