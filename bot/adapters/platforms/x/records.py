"""X API v2 answers -> bot.core.models, read field by field, and the comparisons and page sizes the adapter needs.
No network.

Text: X serves post and DM text with `&`, `<` and `>` HTML-escaped (`&amp;`, `&lt;`, `&gt;`; nothing else);
`x_text` undoes exactly that, exactly once, so what a person typed reaches the bot as typed ("&amp;lt;" stays
"&lt;"). User names and handles are served as written. What the bot sends is never escaped (X escapes on output).

Shape: a field the adapter needs that is missing or of the wrong type raises `Malformed` naming it; the
platform's error boundary turns that into a PlatformError (bot.adapters.platforms.x.errors), never a bare
KeyError or TypeError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.core.models import DirectMessage, Post, PostMetrics, User

_URL_RE = re.compile(r"https?://\S+")
# the name of an edit's earlier versions: tweepy's and the recorded answers' (the newest OpenAPI's)
EDIT_HISTORY_FIELDS = ("edit_history_tweet_ids", "edit_history_post_ids")


class Malformed(Exception):
    """An answer without a field the adapter needs (or with one of the wrong type); the message names it."""


# ---- reading fields ------------------------------------------------------------------------------------------
def at(where: str, key: str) -> str:
    """The path of a field for messages: 'data[3]' + 'id' -> 'data[3].id'."""
    return f"{where}.{key}" if where else key


def answer(body: Any) -> dict[str, Any]:
    """A whole answer: a JSON object."""
    if not isinstance(body, dict):
        raise Malformed(_wrong("the answer", body, "an object"))
    return body


def obj(parent: Any, key: str, where: str, *, required: bool = False) -> dict[str, Any]:
    """`parent[key]` as a JSON object ({} when absent and not required)."""
    value = parent.get(key) if isinstance(parent, dict) else None
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise Malformed(_wrong(at(where, key), value, "an object"))
    return value


def objects(parent: Any, key: str, where: str) -> list[dict[str, Any]]:
    """`parent[key]` as a list of JSON objects ([] when absent)."""
    value = parent.get(key) if isinstance(parent, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(_wrong(at(where, key), value, "a list"))
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise Malformed(_wrong(f"{at(where, key)}[{index}]", item, "an object"))
    return value


def need(parent: Any, key: str, where: str) -> str:
    """A required id or name: a non-empty string (X's ids are strings; a number is taken as its digits)."""
    value = parent.get(key) if isinstance(parent, dict) else None
    if type(value) is str and value:
        return value
    if type(value) is not int:  # (not bool either)
        raise Malformed(_wrong(at(where, key), value, "an id"))
    return str(value)


def optional(parent: Mapping[str, Any], key: str, where: str) -> str | None:
    """An optional id or name: absent (or null) is None, anything but a string or number is malformed."""
    value = parent.get(key)
    if value is None or value == "":
        return None
    return value if type(value) is str else need(parent, key, where)


def text_of(parent: Mapping[str, Any], key: str, where: str, *, required: bool) -> str:
    value = parent.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise Malformed(_wrong(at(where, key), value, "text"))
    return x_text(value)


def time_of(parent: Mapping[str, Any], key: str, where: str) -> datetime | None:
    value = parent.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Malformed(_wrong(at(where, key), value, "a time"))
    try:
        return parse_time(value)
    except ValueError:
        raise Malformed(f"{at(where, key)} is not a time: {value[:40]!r}") from None


def _wrong(path: str, value: Any, wanted: str) -> str:
    """'data.id is missing', 'data.id is empty', 'data.id is a list ["1"], not an id' (in JSON's words)."""
    if value is None:
        return f"{path} is missing"
    if value == "":
        return f"{path} is empty"
    kind = {bool: "true/false", dict: "an object", list: "a list", str: "a string"}.get(type(value), "a number")
    return f"{path} is {kind} {json.dumps(value, ensure_ascii=False)[:40]}, not {wanted}"


# ---- text ------------------------------------------------------------------------------------------------------
def x_text(text: str) -> str:
    """X's escaped text as the person wrote it: &amp; &lt; &gt; undone in one pass (so "&amp;lt;" is "&lt;")."""
    if "&" not in text:
        return text
    # (&amp; last: no replacement can make another entity, so this is one pass, as if left to right)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def normalise(text: str) -> str:
    """X rewrites URLs to t.co: compare texts (as written: X's already passed through x_text) modulo that."""
    return _URL_RE.sub("<url>", text).strip()


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ---- models ----------------------------------------------------------------------------------------------------
def user_of(item: dict[str, Any], where: str = "data") -> User:
    followers = obj(item, "public_metrics", where).get("followers_count")
    name = item.get("name")
    return User(
        id=need(item, "id", where),
        username=need(item, "username", where),
        name=name if isinstance(name, str) else "",
        followers=int(followers) if isinstance(followers, int | str) and str(followers).isdigit() else None,
    )


def included_users(body: dict[str, Any], where: str = "") -> list[User]:
    """The users an answer brought along (`includes.users`)."""
    users = objects(obj(body, "includes", where), "users", at(where, "includes"))
    return [user_of(u, at(where, f"includes.users[{i}]")) for i, u in enumerate(users)]


def data_users(body: dict[str, Any], where: str = "") -> list[User]:
    """The users of an answer's `data` (likers, reposters)."""
    return [user_of(u, at(where, f"data[{i}]")) for i, u in enumerate(objects(body, "data", where))]


def posts_of(body: dict[str, Any], where: str = "") -> list[Post]:
    """The posts of an answer's `data`."""
    return [post_of(item, at(where, f"data[{i}]")) for i, item in enumerate(objects(body, "data", where))]


def post_of(item: dict[str, Any], where: str = "data") -> Post:
    post_id = need(item, "id", where)
    refs: dict[str, str] = {}  # the first replied_to and quoted post
    for i, ref in enumerate(objects(item, "referenced_tweets", where) or objects(item, "referenced_posts", where)):
        path = at(where, f"referenced_tweets[{i}]")
        refs.setdefault(need(ref, "type", path), need(ref, "id", path))
    entities = obj(item, "entities", where)
    found = at(where, "entities")
    return Post(
        id=post_id,
        text=text_of(item, "text", where, required=True),
        author_id=optional(item, "author_id", where),
        created_at=time_of(item, "created_at", where),
        conversation_id=optional(item, "conversation_id", where),
        in_reply_to_user_id=optional(item, "in_reply_to_user_id", where),
        replied_to_id=refs.get("replied_to"),
        quoted_id=refs.get("quoted"),
        mentions=tuple(str(m["username"]) for m in objects(entities, "mentions", found) if m.get("username")),
        hashtags=tuple(str(h["tag"]) for h in objects(entities, "hashtags", found) if h.get("tag")),
        urls=tuple(str(u.get("expanded_url") or u.get("url", "")) for u in objects(entities, "urls", found)),
        edit_of=edit_of(item, post_id, where),
    )


def edit_of(item: Mapping[str, Any], post_id: str, where: str) -> tuple[str, ...]:
    """An edit's earlier versions, oldest first (empty for a post never edited, and for the first version of
    one). X lists every version of the chain, oldest first, on each of them; the ones before this post's own id
    are its earlier versions (X's ids grow with time, so without its own id in the list: the smaller ones)."""
    for name in EDIT_HISTORY_FIELDS:
        history = item.get(name)
        if history is None:
            continue
        if type(history) is list and len(history) == 1 and history[0] == post_id:
            return ()  # never edited (most posts): nothing to check
        if not isinstance(history, list) or not all(isinstance(i, (str, int)) for i in history):
            raise Malformed(_wrong(at(where, name), history, "a list of ids"))
        ids = [str(i) for i in history]
        if post_id in ids:
            return tuple(ids[: ids.index(post_id)])
        if post_id.isdigit():
            return tuple(i for i in ids if i.isdigit() and int(i) < int(post_id))
        return ()
    return ()


def dm_of(event: dict[str, Any], where: str = "data") -> DirectMessage:
    event_id = need(event, "id", where)
    if not event_id.isdigit():
        raise Malformed(f"{at(where, 'id')} is not a number: {event_id[:40]!r}")
    return DirectMessage(
        id=event_id,
        text=text_of(event, "text", where, required=False),
        sender_id=optional(event, "sender_id", where),
        conversation_id=optional(event, "dm_conversation_id", where),
        created_at=time_of(event, "created_at", where),
    )


def messages_of(body: dict[str, Any], where: str = "") -> list[DirectMessage]:
    """The messages (MessageCreate events) of an answer's `data`; other events (joins, leaves) are left out."""
    events = objects(body, "data", where)
    return [
        dm_of(event, at(where, f"data[{i}]"))
        for i, event in enumerate(events)
        if event.get("event_type", "MessageCreate") == "MessageCreate"
    ]


def mention_page(body: dict[str, Any]) -> tuple[list[Post], dict[str, User], str | None]:
    """A page of mentions: the posts, their authors and mentioned users by id, and meta.newest_id if it says one."""
    users = {u.id: u for u in included_users(body)}
    return posts_of(body), users, optional(obj(body, "meta", ""), "newest_id", "meta")


def next_token(body: dict[str, Any], where: str = "") -> str | None:
    return optional(obj(body, "meta", where), "next_token", at(where, "meta"))


def not_found(body: dict[str, Any]) -> bool:
    """A 200 whose only content is a resource-not-found error (a deleted or invisible post)."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return False
    return any(
        isinstance(e, dict)
        and (str(e.get("type", "")).endswith("/resource-not-found") or e.get("title") == "Not Found Error")
        for e in errors
    )


def page_size(remaining: int, smallest: int, largest: int) -> int:
    """max_results for the next page: never more than `remaining` (unless below the smallest page), and
    never leaving a rest that only a page larger than it could read."""
    size = min(largest, remaining)
    if 0 < remaining - size < smallest:
        size = remaining - smallest
    return max(smallest, size)


# ---- post metrics ------------------------------------------------------------------------------------------
_PUBLIC_COUNTS = (  # PostMetrics field, the names X has used for it (OpenAPI's first, tweepy-era second)
    ("likes", ("like_count",)),
    ("reposts", ("repost_count", "retweet_count")),
    ("replies", ("reply_count",)),
    ("quotes", ("quote_count",)),
)
_OPTIONAL_COUNTS = (("bookmarks", "bookmark_count"), ("impressions", "impression_count"))
_PRIVATE_COUNTS = (("impressions", "impression_count"), ("link_clicks", "url_link_clicks"))


def count_of(parent: Mapping[str, Any], keys: tuple[str, ...], where: str, *, required: bool) -> int | None:
    """A count: a non-negative integer (X's int64, possibly as digits); the first of `keys` present."""
    for key in keys:
        value = parent.get(key)
        if value is None:
            continue
        if type(value) is int and value >= 0:
            return value
        if type(value) is str and value.isdigit():
            return int(value)
        raise Malformed(_wrong(at(where, key), value, "a count"))
    if required:
        raise Malformed(f"{at(where, keys[0])} is missing")
    return None


def metrics_of(item: dict[str, Any], where: str = "data") -> PostMetrics:
    """One post's `public_metrics` (required) and, when served, `non_public_metrics` / `organic_metrics`."""
    public = obj(item, "public_metrics", where, required=True)
    found = at(where, "public_metrics")
    counts: dict[str, int | None] = {
        name: count_of(public, keys, found, required=True) for name, keys in _PUBLIC_COUNTS
    }
    for name, key in _OPTIONAL_COUNTS:
        counts[name] = count_of(public, (key,), found, required=False)
    for field in ("non_public_metrics", "organic_metrics"):
        private = obj(item, field, where)
        path = at(where, field)
        for name, key in _PRIVATE_COUNTS:
            value = count_of(private, (key,), path, required=False)
            if value is not None:
                counts[name] = max(value, counts.get(name) or 0)
        clicks = count_of(private, ("user_profile_clicks",), path, required=False)
        if clicks is not None:
            counts["profile_clicks"] = clicks
    return PostMetrics(post_id=need(item, "id", where), **counts)  # type: ignore[arg-type]


def metrics_page(body: dict[str, Any]) -> tuple[list[PostMetrics], set[str]]:
    """GET /2/tweets with metrics: the posts read, and the ids X refused private metrics for (a Field
    Authorization Error: not ours, or older than 30 days; X leaves such a post out of `data`)."""
    posts = [metrics_of(item, f"data[{i}]") for i, item in enumerate(objects(body, "data", ""))]
    refused: set[str] = set()
    for error in objects(body, "errors", ""):
        if str(error.get("type", "")).endswith("/not-authorized-for-field"):
            rid = error.get("resource_id") or error.get("value")
            if isinstance(rid, str | int):
                refused.add(str(rid))
    return posts, refused
