"""X API v2 objects -> bot.core.models, and the comparisons and page sizes the adapter needs. No network."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from bot.core.models import Post, User

_URL_RE = re.compile(r"https?://\S+")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def normalise(text: str) -> str:
    """X rewrites URLs to t.co and HTML-escapes &<>; compare texts modulo both."""
    return _URL_RE.sub("<url>", html.unescape(text)).strip()


def user_of(item: dict[str, Any]) -> User:
    followers = (item.get("public_metrics") or {}).get("followers_count")
    return User(
        id=str(item["id"]),
        username=item.get("username", ""),
        name=item.get("name", ""),
        followers=int(followers) if isinstance(followers, int | str) and str(followers).isdigit() else None,
    )


def post_of(item: dict[str, Any]) -> Post:
    refs = item.get("referenced_tweets") or []
    entities = item.get("entities") or {}
    return Post(
        id=str(item["id"]),
        text=item.get("text", ""),
        author_id=str(item["author_id"]) if item.get("author_id") else None,
        created_at=parse_time(item.get("created_at")),
        conversation_id=str(item["conversation_id"]) if item.get("conversation_id") else None,
        in_reply_to_user_id=str(item["in_reply_to_user_id"]) if item.get("in_reply_to_user_id") else None,
        replied_to_id=next((str(r["id"]) for r in refs if r.get("type") == "replied_to"), None),
        quoted_id=next((str(r["id"]) for r in refs if r.get("type") == "quoted"), None),
        mentions=tuple(m["username"] for m in entities.get("mentions") or [] if m.get("username")),
        hashtags=tuple(h["tag"] for h in entities.get("hashtags") or [] if h.get("tag")),
        urls=tuple(u.get("expanded_url") or u.get("url", "") for u in entities.get("urls") or []),
    )


def not_found(body: dict[str, Any]) -> bool:
    """A 200 whose only content is a resource-not-found error (a deleted or invisible post)."""
    errors = body.get("errors") or []
    return any(
        str(e.get("type", "")).endswith("/resource-not-found") or e.get("title") == "Not Found Error" for e in errors
    )


def page_size(remaining: int, smallest: int, largest: int) -> int:
    """max_results for the next page: never more than `remaining` (unless below the smallest page), and
    never leaving a rest that only a page larger than it could read."""
    size = min(largest, remaining)
    if 0 < remaining - size < smallest:
        size = remaining - smallest
    return max(smallest, size)
