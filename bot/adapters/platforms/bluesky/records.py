"""Bluesky records and views <-> bot.core.models: at-URIs, times and cursors, profiles, posts. No network.

Ids: a post is its at-URI, a person their DID (User.username is the handle).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.adapters.platforms import richtext
from bot.adapters.platforms.bluesky.xrpc import PLATFORM
from bot.core.clock import ensure_utc
from bot.core.errors import PlatformError
from bot.core.models import MessageKind, OutgoingMessage, Post, PostMetrics, User

POST = "app.bsky.feed.post"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class AtUri:
    repo: str
    collection: str
    rkey: str

    @classmethod
    def parse(cls, uri: str) -> AtUri | None:
        if not uri.startswith("at://"):
            return None
        parts = uri[len("at://") :].split("/")
        if len(parts) != 3 or not all(parts):
            return None
        return cls(*parts)

    def __str__(self) -> str:
        return f"at://{self.repo}/{self.collection}/{self.rkey}"


def cursor_of(moment: datetime | str) -> str:
    """The mentions cursor for a time: fixed-width ISO UTC with microseconds, so cursors sort as text."""
    if isinstance(moment, str):
        moment = parse_time(moment) or EPOCH
    return moment.astimezone(UTC).strftime(_CURSOR_FORMAT)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    """A record's datetime field (createdAt, seenAt): UTC with milliseconds, as Bluesky's clients write it."""
    moment = ensure_utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def did_of(uri: str | None) -> str | None:
    parsed = AtUri.parse(uri) if uri else None
    return parsed.repo if parsed else None


def ref_uri(ref: Any) -> str | None:
    return ref.get("uri") if isinstance(ref, dict) and isinstance(ref.get("uri"), str) else None


def parent_uri(record: dict[str, Any]) -> str | None:
    """The at-URI a post record replies to."""
    return ref_uri((record.get("reply") or {}).get("parent"))


def quoted_uri(record: dict[str, Any]) -> str | None:
    embed = record.get("embed")
    if not isinstance(embed, dict):
        return None
    kind = embed.get("$type")
    if kind == "app.bsky.embed.record":
        return ref_uri(embed.get("record"))
    if kind == "app.bsky.embed.recordWithMedia":
        inner = embed.get("record")
        return ref_uri(inner.get("record")) if isinstance(inner, dict) else None
    return None


def mentioned_dids(record: dict[str, Any]) -> list[str]:
    return richtext.facet_features(record)[0]


def is_message(record: dict[str, Any], message: OutgoingMessage) -> bool:
    """Whether a post record is `message` (its text, and for a reply its parent)."""
    if record.get("text") != message.text:
        return False
    if message.kind is MessageKind.REPLY:
        return parent_uri(record) == message.in_reply_to_id
    return True


def user_of(profile: Any) -> User | None:
    """A profile view (or any view with did/handle/displayName/followersCount) as a User."""
    if not isinstance(profile, dict) or not isinstance(profile.get("did"), str):
        return None
    followers = profile.get("followersCount")
    return User(
        id=profile["did"],
        username=str(profile.get("handle") or ""),
        name=str(profile.get("displayName") or ""),
        followers=followers if isinstance(followers, int) else None,
    )


def post_of(uri: str, record: dict[str, Any], author: str | None, handles: dict[str, str]) -> Post:
    """A post record as a Post; `handles` (DID -> handle) names the people its mention facets point at."""
    reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
    parent = ref_uri(reply.get("parent"))
    root = ref_uri(reply.get("root"))
    dids, tags, links = richtext.facet_features(record)
    text = record.get("text") if isinstance(record.get("text"), str) else ""
    return Post(
        id=uri,
        text=text,
        author_id=author or did_of(uri),
        created_at=parse_time(record.get("createdAt")),
        conversation_id=root or uri,
        in_reply_to_user_id=did_of(parent),
        replied_to_id=parent,
        quoted_id=quoted_uri(record),
        mentions=tuple(handles[d] for d in dids if d in handles),
        hashtags=tuple(tags),
        urls=tuple(links),
    )


_METRIC_COUNTS = (
    ("likes", "likeCount"),
    ("reposts", "repostCount"),
    ("replies", "replyCount"),
    ("quotes", "quoteCount"),
)


def metrics_of(view: Any, where: str, followers: int | None) -> PostMetrics:
    """One post view of app.bsky.feed.getPosts: its counts (Bluesky has no impressions, bookmarks or clicks);
    a missing uri or a count that is not a non-negative integer is a PlatformError naming the field."""
    if not isinstance(view, dict) or not isinstance(view.get("uri"), str) or not view["uri"]:
        raise PlatformError(PLATFORM, f"app.bsky.feed.getPosts: {where}.uri is missing")
    counts: dict[str, int] = {}
    for name, key in _METRIC_COUNTS:
        value = view.get(key, 0)  # the AppView leaves a zero count out
        if type(value) is not int or value < 0:
            raise PlatformError(PLATFORM, f"app.bsky.feed.getPosts: {where}.{key} is {value!r}, not a count")
        counts[name] = value
    return PostMetrics(post_id=view["uri"], followers=followers, **counts)
