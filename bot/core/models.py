"""Plain data shared by every layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


def platform_name(kind: str) -> str:
    """The platform people and interactions are stored under for an account of this kind (the sandbox speaks X)."""
    return "x" if kind in ("x", "sandbox") else kind


class MessageKind(StrEnum):
    POST = "post"
    REPLY = "reply"
    DM = "dm"


@dataclass(frozen=True)
class User:
    id: str
    username: str
    name: str = ""
    followers: int | None = None  # when the platform said (X: public_metrics.followers_count)


@dataclass(frozen=True)
class Post:
    """A post as a platform reports it (own timeline, mentions, quotes...)."""

    id: str
    text: str
    author_id: str | None = None
    created_at: datetime | None = None
    conversation_id: str | None = None
    in_reply_to_user_id: str | None = None
    replied_to_id: str | None = None
    quoted_id: str | None = None
    mentions: tuple[str, ...] = ()  # usernames mentioned, without '@'
    hashtags: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    # an edited post is a new post (X): its earlier versions' ids, oldest first; empty for a post never edited
    edit_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class DirectMessage:
    id: str
    text: str
    sender_id: str | None = None
    conversation_id: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Page:
    """One page of a timeline read: items newest first, plus the cursor to resume from. `newest_id` is the newest
    position the read has reached so far (never lower on a later page of the same read), set whenever the read
    delivered items, even when the platform's answer did not say it."""

    items: list[Post] = field(default_factory=list)
    users: dict[str, User] = field(default_factory=dict)
    newest_id: str | None = None
    next_token: str | None = None


ENGAGEMENT_KINDS = ("like", "retweet", "quote")


@dataclass(frozen=True)
class Engagers:
    """Who engaged with one post, newest first: likers or reposters (`users`), or quotes (`posts`, with their
    authors in `users` as far as the platform included them). `reads` is what the platform bills for the
    call (every user and post returned, including any beyond `limit` a minimum page size forced);
    `truncated`: there were more than `limit`; `missing`: the post is deleted or not visible."""

    kind: str
    users: list[User] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    reads: int = 0
    truncated: bool = False
    missing: bool = False


@dataclass(frozen=True)
class PostMetrics:
    """How one post did when it was read: the platform's counts, None where it has no such count (Bluesky has no
    impressions or bookmarks; X gives link and profile clicks only for the account's own posts younger than 30
    days). `followers`: the account's follower count when the platform gives it with the read (to normalise)."""

    post_id: str
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    bookmarks: int | None = None
    impressions: int | None = None
    link_clicks: int | None = None
    profile_clicks: int | None = None
    followers: int | None = None


@dataclass(frozen=True)
class EngagementHour:
    """One hour of a post's life as the platform's analytics tell it (X: GET /2/tweets/analytics, hourly): the
    engagement that arrived in [hour, hour + 1 h), the views and link clicks (None where not told)."""

    post_id: str
    hour: datetime  # the bucket's start, aware UTC
    engagements: int = 0
    impressions: int | None = None
    url_clicks: int | None = None


@dataclass(frozen=True)
class Activity:
    """When an account's audience acted towards it: moments as epoch seconds (UTC), each with its weight (a
    mention, DM, like or repost counts 1; an hour of a post's analytics counts its engagements)."""

    times: Sequence[float] = ()
    weights: Sequence[float] = ()

    def __len__(self) -> int:
        return len(self.times)


@dataclass(frozen=True)
class MetricDue:
    """A delivered post or reply due a metrics reading at `age` (its label, e.g. "24h"): what the outbox knew."""

    account: str
    post_id: str
    age: str
    kind: str  # post | reply
    posted_at: datetime
    outbox_key: str | None = None
    campaign: str | None = None
    variant: str | None = None
    slot_at: datetime | None = None


@dataclass(frozen=True)
class OutgoingMessage:
    """What the outbox asks a platform to send. `key` is the outbox idempotency key."""

    key: str
    kind: MessageKind
    text: str
    in_reply_to_id: str | None = None
    recipient_id: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class RateLimitStatus:
    endpoint: str
    limit: int
    remaining: int
    reset_at: datetime


# The bucket of sending posts and replies, on every platform: the name stored since the first release.
POSTS_BUCKET = "tweets"


@dataclass(frozen=True)
class RateLimitBuckets:
    """The names a platform gives its rate-limit windows (RateLimitStatus.endpoint, and the keys 429 resets are
    stored under), so a caller can stop before a request the platform said it would refuse."""

    mentions: str  # a read of the account's mentions
    dms: str  # a read of its direct messages
    engagers: Mapping[str, str]  # like / retweet / quote -> the read of who did it
    posts: str = POSTS_BUCKET  # sending a post or a reply
    direct_messages: str = "dm"  # sending a DM

    def for_message(self, kind: str) -> str:
        """The bucket a send of an outbox row of `kind` (post, reply, dm) counts against."""
        return self.direct_messages if kind == MessageKind.DM else self.posts


def numeric_or_text_newer(a: str, b: str | None) -> bool:
    """Whether id (or cursor) `a` comes after `b`: numbers as numbers (X's ids grow with time), else as text
    (Bluesky's cursors are fixed-width timestamps)."""
    if b is None:
        return True
    if a.isdigit() and b.isdigit():
        return int(a) > int(b)
    return a > b
