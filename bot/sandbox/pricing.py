"""What X would bill for each request the sandbox answers (pay-per-use, ../shared/reference/PLATFORMS.md "Pricing"),
counted by the sandbox itself with its own price table, so a test can hold the bot's cost ledger against it call
for call (GET /_sandbox/priced lists the calls; /_sandbox/stats has the totals).

X's rules as the sandbox applies them: an answered read is billed for every object it returns (in `data` and in
`includes`): a post $0.005, a user $0.01, a DM event $0.01, and $0.001 each when the account reads its own
timeline, its own mentions or itself (owned reads); GET /2/tweets/analytics bills each post object in `data` as a
post read. A post costs $0.015, a reply to a post that summoned the
author $0.01, any post whose text holds a URL $0.20; a DM $0.015. Deleting, errors and 429s cost nothing, and a
read that returned nothing is not billed. A request processed but never answered (a timeout fault) is counted
apart, as `unanswered`: X would bill it, the client never learns of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.sandbox.world import World

PRICES = {
    "post_read": 0.005,
    "user_read": 0.01,
    "dm_event_read": 0.01,
    "owned_read": 0.001,
    "post": 0.015,
    "post_with_url": 0.20,
    "summoned_reply": 0.01,
    "dm": 0.015,
}

# what the `data` of a read holds, by route
_DATA_USERS = {"GET /2/users/me", "GET /2/tweets/:id/liking_users", "GET /2/tweets/:id/retweeted_by"}
_DATA_EVENTS = {
    "GET /2/dm_events",
    "GET /2/dm_conversations/with/:id/dm_events",
    "GET /2/dm_conversations/:id/dm_events",
}
_OWN = {"GET /2/users/:id/tweets", "GET /2/users/:id/mentions"}  # owned when :id is the reader


@dataclass(frozen=True)
class PricedCall:
    user_id: str
    username: str
    endpoint: str
    items: int
    usd: float

    def as_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "username": self.username,
            "endpoint": self.endpoint,
            "items": self.items,
            "usd": self.usd,
        }


def _count(value: Any) -> int:
    if isinstance(value, list):
        return len([v for v in value if isinstance(v, dict)])
    return 1 if isinstance(value, dict) and value else 0


def price(
    world: World, user: str, endpoint: str, args: tuple[str, ...], payload: Any, body: Any
) -> tuple[int, float] | None:
    """(items, USD) X bills for one answered 2xx request, or None when it bills nothing."""
    if endpoint == "POST /2/tweets":
        data = payload.get("data") if isinstance(payload, dict) else None
        tweet = world.tweets.get(str(data.get("id"))) if isinstance(data, dict) else None
        if tweet is None:
            return None
        if tweet.urls:
            return 1, PRICES["post_with_url"]
        parent = world.tweets.get(tweet.in_reply_to_tweet_id) if tweet.in_reply_to_tweet_id else None
        if parent is not None and world.summons(parent, user):
            return 1, PRICES["summoned_reply"]
        return 1, PRICES["post"]
    if endpoint == "POST /2/dm_conversations/with/:id/messages":
        return 1, PRICES["dm"]
    if not endpoint.startswith("GET ") or not isinstance(payload, dict):
        return None
    includes = payload.get("includes") if isinstance(payload.get("includes"), dict) else {}
    data = _count(payload.get("data"))
    users = _count(includes.get("users"))
    posts = _count(includes.get("tweets"))
    items = data + users + posts
    if not items:
        return None
    if endpoint == "GET /2/users/me" or (endpoint in _OWN and args and args[0] == user):
        return items, items * PRICES["owned_read"]
    if endpoint in _DATA_EVENTS:
        first = PRICES["dm_event_read"]
    elif endpoint in _DATA_USERS:
        first = PRICES["user_read"]
    else:
        first = PRICES["post_read"]
    return items, data * first + users * PRICES["user_read"] + posts * PRICES["post_read"]


def count(
    calls: list[PricedCall],
    unanswered: list[PricedCall],
    world: World,
    user: str,
    endpoint: str,
    args: tuple[str, ...],
    payload: Any,
    body: Any,
    *,
    answered: bool,
) -> None:
    """Count one processed 2xx request in `calls` (or `unanswered`, when its answer was dropped)."""
    billed = price(world, user, endpoint, args, payload, body)
    if billed is None:
        return
    who = world.users.get(user)
    call = PricedCall(user, who.username if who is not None else "", endpoint, billed[0], billed[1])
    (calls if answered else unanswered).append(call)


def summary(calls: list[PricedCall], unanswered: list[PricedCall]) -> dict[str, Any]:
    by_endpoint: dict[str, int] = {}
    for call in calls:
        by_endpoint[call.endpoint] = by_endpoint.get(call.endpoint, 0) + 1
    return {
        "calls": len(calls),
        "usd": round(sum(c.usd for c in calls), 6),
        "by_endpoint": dict(sorted(by_endpoint.items())),
        "unanswered": len(unanswered),
        "unanswered_usd": round(sum(c.usd for c in unanswered), 6),
    }
