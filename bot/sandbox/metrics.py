"""Post metrics as X serves them: `public_metrics` for any post, `non_public_metrics` / `organic_metrics` for the
acting account's own posts younger than 30 days.

Likes, reposts, replies and quotes are counted from what the world holds; impressions, bookmarks, link clicks and
profile clicks are counters the simulated audience raises through `POST /_sandbox/metrics` (see
bot/sandbox/audience/outcomes.py), never lowered; each raise is kept with its time (`at`: when the counts were
reached, so the audience can play an hour-by-hour history) for GET /2/tweets/analytics.

As X does, a post whose private metrics the caller may not see (someone else's, or older than 30 days) is left
out of `data`, and each refused field is one "Field Authorization Error" in `errors` (HTTP 200).
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.world import SbTweet, World

PRIVATE_FIELDS = ("non_public_metrics", "organic_metrics")
PRIVATE_WINDOW_SECONDS = 30 * 86400
COUNTERS = ("impressions", "bookmarks", "link_clicks", "profile_clicks")


def counters(world: World, tweet_id: str) -> dict[str, int]:
    return world.post_counters.get(tweet_id, {})


def raise_counters(world: World, tweet_id: str, values: dict[str, Any], at: float | None = None) -> dict[str, int]:
    """Set each named counter to at least the value given (counts only grow), as the counts of the moment `at`
    (epoch seconds; default now; kept between the post's creation and now, and never before an earlier raise);
    returns the post's counters. Each raise that changes them is kept in the post's counter history, which the
    analytics endpoint buckets (bot/sandbox/analytics.py)."""
    tweet = world.tweets.get(tweet_id)
    if tweet is None:
        raise KeyError(f"no tweet {tweet_id}")
    current = world.post_counters.setdefault(tweet_id, {})
    before = dict(current)
    for name in COUNTERS:
        if values.get(name) is not None:
            value = int(values[name])
            if value < 0:
                raise ValueError(f"{name} must be 0 or more")
            current[name] = max(current.get(name, 0), value)
    if current != before:
        history = world.counter_history.setdefault(tweet_id, [])
        now = world.now()
        when = min(now, max(tweet.created_at, now if at is None else at, history[-1][0] if history else 0.0))
        if history and history[-1][0] == when:
            history[-1] = (when, dict(current))
        else:
            history.append((when, dict(current)))
    return dict(current)


def public_metrics(world: World, tweet: SbTweet) -> dict[str, int]:
    extra = counters(world, tweet.id)
    return {
        "retweet_count": len(world.retweets_of.get(tweet.id, ())),
        "reply_count": world.replies_count.get(tweet.id, 0),
        "like_count": len(world.likes_of.get(tweet.id, ())),
        "quote_count": len(world.quotes_of.get(tweet.id, ())),
        "bookmark_count": extra.get("bookmarks", 0),
        "impression_count": extra.get("impressions", 0),
    }


def private_metrics(world: World, tweet: SbTweet, field: str) -> dict[str, int]:
    extra = counters(world, tweet.id)
    out = {
        "impression_count": extra.get("impressions", 0),
        "url_link_clicks": extra.get("link_clicks", 0),
        "user_profile_clicks": extra.get("profile_clicks", 0),
    }
    if field == "organic_metrics":
        public = public_metrics(world, tweet)
        out.update(
            like_count=public["like_count"],
            reply_count=public["reply_count"],
            retweet_count=public["retweet_count"],
        )
    return out


def refused(world: World, tweet: SbTweet, user: str, fields: set[str], parameter: str) -> list[dict[str, Any]]:
    """The Field Authorization Errors X gives for the private metrics asked of `tweet` ([] when allowed)."""
    wanted = [f for f in PRIVATE_FIELDS if f in fields]
    if not wanted:
        return []
    if tweet.author_id == user and world.now() - tweet.created_at <= PRIVATE_WINDOW_SECONDS:
        return []
    why = "not authored by you" if tweet.author_id != user else "older than 30 days"
    return [
        {
            "resource_type": "tweet",
            "field": field,
            "parameter": parameter,
            "resource_id": tweet.id,
            "title": "Field Authorization Error",
            "section": "data",
            "detail": f"Sorry, you are not authorized to access '{field}' on the Tweet with {parameter}: "
            f"[{tweet.id}] ({why}).",
            "value": tweet.id,
            "type": "https://api.twitter.com/2/problems/not-authorized-for-field",
        }
        for field in wanted
    ]


def add_private(world: World, tweet: SbTweet, fields: set[str], data: dict[str, Any]) -> dict[str, Any]:
    for field in PRIVATE_FIELDS:
        if field in fields:
            data[field] = private_metrics(world, tweet, field)
    return data
