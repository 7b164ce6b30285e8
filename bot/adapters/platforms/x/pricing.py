"""What X bills for one answered request (pay-per-use, ../shared/reference/PLATFORMS.md "Pricing"), with the prices
of config.yaml's `costs.prices.x`:

- a read is billed per object it returns, in `data` and in `includes` (users, posts): a post at post_read, a user
  at user_read, a DM event at dm_event_read; on the account's own timeline and mentions, and users/me, every
  object is an owned read (owned_read); GET /2/tweets/analytics bills each post object in `data` as a post read;
- a write is one item: a post at post_create, a reply to a post that summoned the account at summoned_reply, a
  post or reply whose text holds a URL at post_with_url, a DM at dm_create; deleting costs nothing;
- a request that failed (an error answer, a 429) or returned nothing is not billed.

The sandbox prices the same requests with its own table (bot/sandbox/pricing.py); the two must agree call for call.
"""

from __future__ import annotations

from typing import Any

from bot.core.text import has_url
from bot.settings.costs import XPrices

OWNED_READS = frozenset({"GET /2/users/me", "GET /2/users/:id/mentions", "GET /2/users/:id/tweets"})
DM_READS = frozenset(
    {"GET /2/dm_events", "GET /2/dm_conversations/with/:id/dm_events", "GET /2/dm_conversations/:id/dm_events"}
)
USER_READS = frozenset(
    {
        "GET /2/users/me",
        "GET /2/tweets/:id/liking_users",
        "GET /2/tweets/:id/retweeted_by",
        "GET /2/users/:id/followers",
        "GET /2/users/:id/following",
        "GET /2/users",
        "GET /2/users/:id",
        "GET /2/users/by",
    }
)
POST_CREATE = "POST /2/tweets"
DM_CREATE = "POST /2/dm_conversations/with/:id/messages"


def _objects(value: Any) -> int:
    if isinstance(value, list):
        return sum(1 for item in value if isinstance(item, dict))
    return 1 if isinstance(value, dict) and value else 0


def read_bill(endpoint: str, body: Any, prices: XPrices) -> tuple[int, float]:
    """(objects billed, USD) for the answer `body` of the read `endpoint`."""
    if not isinstance(body, dict):
        return 0, 0.0
    data = _objects(body.get("data"))
    includes = body.get("includes") if isinstance(body.get("includes"), dict) else {}
    users = _objects(includes.get("users"))
    posts = _objects(includes.get("tweets"))
    if endpoint in DM_READS:
        data_price = prices.dm_event_read
    elif endpoint in USER_READS:
        data_price = prices.user_read
    else:
        data_price = prices.post_read
    items = data + users + posts
    if endpoint in OWNED_READS:
        return items, items * prices.owned_read
    return items, data * data_price + users * prices.user_read + posts * prices.post_read


def post_price(text: str, *, summoned_reply: bool, prices: XPrices) -> float:
    """The price of creating one post: a URL in it costs most, a reply to a post that summoned us least."""
    if has_url(text):
        return prices.post_with_url
    return prices.summoned_reply if summoned_reply else prices.post_create
