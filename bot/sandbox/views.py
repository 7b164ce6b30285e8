"""JSON shapes of the X API v2 (tweepy dialect): tweets, users, DM events, timelines with pagination.

As X does, post and DM text is served HTML-escaped (`&`, `<`, `>` only: `&amp;`, `&lt;`, `&gt;`; quotes and
apostrophes stay as written, see the recorded responses) and every post carries `edit_history_tweet_ids`. The
world keeps what people typed; the admin API shows that.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from bot.sandbox.metrics import public_metrics
from bot.sandbox.world import SbDM, SbTweet, SbUser, World, invalid_request, x_time

DEFAULT_USER_FIELDS = ("id", "name", "username")


def csv_param(query: dict[str, str], *names: str) -> set[str]:
    out: set[str] = set()
    for name in names:
        value = query.get(name)
        if value:
            out.update(v.strip() for v in value.split(",") if v.strip())
    return out


def tweet_fields(query: dict[str, str]) -> set[str]:
    fields = csv_param(query, "tweet.fields", "post.fields")
    if "referenced_posts" in fields:
        fields.add("referenced_tweets")
    return fields


def x_escaped(text: str) -> str:
    """Text as X serves it: & < > as HTML entities, nothing else."""
    return html.escape(text, quote=False)


def tweet_data(world: World, tweet: SbTweet) -> dict[str, Any]:
    """The fields every post has, in the order X writes them."""
    return {"edit_history_tweet_ids": world.edit_history(tweet), "id": tweet.id, "text": x_escaped(tweet.text)}


def render_user(user: SbUser, fields: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
    if "created_at" in fields:
        out["created_at"] = x_time(user.created_at)
    if "description" in fields:
        out["description"] = ""
    if "protected" in fields:
        out["protected"] = False
    if "verified" in fields:
        out["verified"] = False
    if "public_metrics" in fields:
        out["public_metrics"] = {
            "followers_count": user.followers,
            "following_count": 0,
            "tweet_count": 0,
            "listed_count": 0,
        }
    return out


def referenced(tweet: SbTweet) -> list[dict[str, str]]:
    refs: list[dict[str, str]] = []
    if tweet.in_reply_to_tweet_id is not None:
        refs.append({"type": "replied_to", "id": tweet.in_reply_to_tweet_id})
    if tweet.quote_tweet_id is not None:
        refs.append({"type": "quoted", "id": tweet.quote_tweet_id})
    return refs


def render_tweet(world: World, tweet: SbTweet, fields: set[str]) -> dict[str, Any]:
    out = tweet_data(world, tweet)
    if not fields:
        return out
    if "author_id" in fields:
        out["author_id"] = tweet.author_id
    if "created_at" in fields:
        out["created_at"] = x_time(tweet.created_at)
    if "conversation_id" in fields:
        out["conversation_id"] = tweet.conversation_id
    if "in_reply_to_user_id" in fields and tweet.in_reply_to_user_id is not None:
        out["in_reply_to_user_id"] = tweet.in_reply_to_user_id
    if "referenced_tweets" in fields:
        refs = referenced(tweet)
        if refs:
            out["referenced_tweets"] = refs
    if "entities" in fields:
        entities: dict[str, Any] = {}
        if tweet.mentions:
            entities["mentions"] = [dict(e) for e in tweet.mentions]
        if tweet.hashtags:
            entities["hashtags"] = [dict(e) for e in tweet.hashtags]
        if tweet.urls:
            entities["urls"] = [dict(e) for e in tweet.urls]
        if entities:
            out["entities"] = entities
    if "public_metrics" in fields:
        out["public_metrics"] = public_metrics(world, tweet)
    if "lang" in fields:
        out["lang"] = "en"
    return out


def render_dm(dm: SbDM, fields: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"event_type": "MessageCreate", "id": dm.id, "text": x_escaped(dm.text)}
    if "sender_id" in fields:
        out["sender_id"] = dm.sender_id
    if "created_at" in fields:
        out["created_at"] = x_time(dm.created_at)
    if "dm_conversation_id" in fields:
        out["dm_conversation_id"] = dm.conversation_id
    if "participant_ids" in fields:
        out["participant_ids"] = [dm.sender_id, dm.recipient_id]
    return out


def tweet_includes(world: World, tweets: list[SbTweet], query: dict[str, str]) -> dict[str, Any]:
    expansions = csv_param(query, "expansions")
    if not expansions:
        return {}
    user_fields = csv_param(query, "user.fields")
    user_ids: list[str] = []
    ref_tweets: list[SbTweet] = []
    seen_t: set[str] = set()
    for t in tweets:
        if "author_id" in expansions:
            user_ids.append(t.author_id)
        if "in_reply_to_user_id" in expansions and t.in_reply_to_user_id:
            user_ids.append(t.in_reply_to_user_id)
        if "entities.mentions.username" in expansions:
            user_ids.extend(e["id"] for e in t.mentions if "id" in e)
        if "referenced_tweets.id" in expansions or "referenced_posts.id" in expansions:
            for ref in referenced(t):
                rt = world.visible(ref["id"])
                if rt is not None and rt.id not in seen_t:
                    seen_t.add(rt.id)
                    ref_tweets.append(rt)
        if "referenced_tweets.id.author_id" in expansions:
            for ref in referenced(t):
                rt = world.visible(ref["id"])
                if rt is not None:
                    user_ids.append(rt.author_id)
    includes: dict[str, Any] = {}
    seen_u: set[str] = set()
    users = []
    for uid in user_ids:
        if uid not in seen_u and uid in world.users:
            seen_u.add(uid)
            users.append(render_user(world.users[uid], user_fields))
    if users:
        includes["users"] = users
    if ref_tweets:
        fields = tweet_fields(query)
        includes["tweets"] = [render_tweet(world, t, fields) for t in ref_tweets]
    return includes


def parse_time(name: str, value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise invalid_request(name, value, f"Invalid date format for `{name}`: {value}") from None


def max_results(query: dict[str, str], low: int, high: int, default: int) -> int:
    raw = query.get("max_results")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise invalid_request(
            "max_results", raw, f"The `max_results` query parameter value [{raw}] is not between {low} and {high}"
        )
    return value


def encode_token(item_id: str) -> str:
    return "7140d" + format(int(item_id), "x")


def decode_token(token: str) -> int:
    try:
        if not token.startswith("7140d"):
            raise ValueError(token)
        return int(token[5:], 16)
    except ValueError:
        message = "The `pagination_token` query parameter value is invalid"
        raise invalid_request("pagination_token", token, message) from None


def id_param(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise invalid_request(name, raw, f"The `{name}` query parameter value [{raw}] is not valid")
    return int(raw)


def page_ids(
    ids_oldest_first: list[str],
    query: dict[str, str],
    *,
    keep: Callable[[str], bool],
    created_at: Callable[[str], float],
    size: int,
    reach: int | None = None,
) -> tuple[list[str], str | None]:
    """Select one page (newest first) of ids honouring since_id/until_id/start_time/end_time/pagination_token."""
    since_id = id_param(query, "since_id")
    until_id = id_param(query, "until_id")
    start = parse_time("start_time", query.get("start_time"))
    end = parse_time("end_time", query.get("end_time"))
    token = query.get("pagination_token")
    below = decode_token(token) if token else None
    out: list[str] = []
    scanned = 0
    for item_id in reversed(ids_oldest_first):
        if not keep(item_id):
            continue
        scanned += 1
        if reach is not None and scanned > reach:
            break
        num = int(item_id)
        if since_id is not None and num <= since_id:
            break
        if until_id is not None and num >= until_id:
            continue
        if below is not None and num >= below:
            continue
        ts = created_at(item_id)
        if end is not None and ts > end:
            continue
        if start is not None and ts < start:
            break
        if len(out) == size:
            return out, encode_token(out[-1])
        out.append(item_id)
    return out, None


def page_body(
    data: list[dict[str, Any]],
    next_token: str | None,
    includes: dict[str, Any] | None = None,
    *,
    newest_oldest: bool = True,
) -> dict[str, Any]:
    if not data:
        return {"meta": {"result_count": 0}}
    body: dict[str, Any] = {"data": data}
    if includes:
        body["includes"] = includes
    meta: dict[str, Any] = {"result_count": len(data)}
    if newest_oldest:
        meta["newest_id"] = data[0]["id"]
        meta["oldest_id"] = data[-1]["id"]
    if next_token is not None:
        meta["next_token"] = next_token
    body["meta"] = meta
    return body


def simple_page(
    items: Iterable[Any], query: dict[str, str], low: int, high: int, default: int, item_id: Callable[[Any], str]
) -> tuple[list[Any], str | None]:
    """Offset-free pagination over a newest-first list for users/quotes/DM events (token = last id seen)."""
    size = max_results(query, low, high, default)
    token = query.get("pagination_token")
    after = decode_token(token) if token else None
    out: list[Any] = []
    passed = after is None
    for item in items:
        if not passed:
            if int(item_id(item)) == after:
                passed = True
            continue
        if len(out) == size:
            return out, encode_token(item_id(out[-1]))
        out.append(item)
    return out, None
