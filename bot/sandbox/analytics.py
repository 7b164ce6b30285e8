"""GET /2/tweets/analytics (getPostsAnalytics in ../shared/reference/x-openapi.json): time-bucketed metrics of the
acting account's own posts, counted from what the world recorded and when.

Parameters: `ids` (1 to 100 post ids, comma separated), `start_time` and `end_time` (ISO 8601 with a zone, start
before end) are required; `granularity` hourly | daily | weekly | total (default total); `analytics.fields` (the
Analytics fields; `id` is always given, and only the fields asked for besides). A bad parameter is X's 400
invalid-request answer. A post that is missing or deleted comes back in `errors` as a resource-not-found problem,
someone else's as not-authorized-for-resource (HTTP 200, as X answers for posts the caller may not see).

Each object of `data` has `id`; the metrics asked for, as totals over [start_time, end_time); with `timestamp`,
start_time; with `timestamped_metrics`, one entry per bucket: `timestamp` its start (ISO 8601: hourly on UTC hours,
daily on UTC days, weekly from Monday 00:00 UTC, total from start_time) and `metrics` the counts asked for that
arrived in it, from the bucket holding start_time (or the post's creation, when later) to the one holding end_time
(or now, when earlier). Each returned object is one post read (bot/sandbox/pricing.py).

When things happened: likes and reposts when they were given (the simulated audience dates them as it plays the
planted arrival, bot/sandbox/audience/outcomes.py), replies and quotes when they were written, and impressions,
bookmarks, URL clicks and profile clicks from the post's counter history (an increase counts just before the
moment its raise says the counts were reached; counts set with no history count at the post's creation). So the
buckets over [creation, now] add up to what GET /2/tweets?ids= serves at that moment.

engagements = likes + retweets + replies + quote_tweets + bookmarks + url_clicks: the same sum as the readings'
engagements (store.outcomes), profile clicks left out. Metrics the world does not simulate (app_opens, follows,
detail_expands, ...) are 0.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bot.sandbox.world import SbTweet, World, invalid_request, x_time

METRICS = (
    "app_install_attempts",
    "app_opens",
    "bookmarks",
    "detail_expands",
    "email_tweet",
    "engagements",
    "follows",
    "hashtag_clicks",
    "impressions",
    "likes",
    "media_views",
    "permalink_clicks",
    "quote_tweets",
    "replies",
    "retweets",
    "shares",
    "unfollows",
    "unlikes",
    "url_clicks",
    "user_profile_clicks",
)
FIELDS = frozenset({*METRICS, "id", "timestamp", "timestamped_metrics"})
ENGAGEMENT_PARTS = ("likes", "retweets", "replies", "quote_tweets", "bookmarks", "url_clicks")
GRANULARITIES = ("hourly", "daily", "weekly", "total")
_SECONDS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400}
_ORIGIN = {"hourly": 0, "daily": 0, "weekly": 4 * 86400}  # 1970-01-05, a Monday
_COUNTERS = {  # the world's counter -> the Analytics metric
    "impressions": "impressions",
    "bookmarks": "bookmarks",
    "link_clicks": "url_clicks",
    "profile_clicks": "user_profile_clicks",
}
MAX_IDS = 100
_PROBLEMS = "https://api.x.com/2/problems/"


def answer(world: World, user: str, query: dict[str, str]) -> dict[str, Any]:
    """The 200 answer of GET /2/tweets/analytics for `user` (raises the 400 of a bad parameter)."""
    ids = _ids(query.get("ids"))
    start = _time(query, "start_time")
    end = _time(query, "end_time")
    if end <= start:
        raise invalid_request(
            "end_time", query["end_time"], "The `end_time` query parameter must be after `start_time`."
        )
    granularity = query.get("granularity") or "total"
    if granularity not in GRANULARITIES:
        raise invalid_request(
            "granularity",
            granularity,
            f"The `granularity` query parameter value [{granularity}] is not one of [{','.join(GRANULARITIES)}]",
        )
    fields = _fields(query.get("analytics.fields"))
    data: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for tid in ids:
        tweet = world.visible(tid)
        if tweet is None:
            errors.append(
                _problem("resource-not-found", "Not Found Error", f"Could not find tweet with ids: [{tid}].", tid)
            )
        elif tweet.author_id != user:
            detail = f"Sorry, you are not authorized to see the analytics of the Post with ids: [{tid}]."
            errors.append(_problem("not-authorized-for-resource", "Authorization Error", detail, tid))
        else:
            data.append(_post(world, tweet, start, end, granularity, fields))
    out: dict[str, Any] = {"data": data} if data else {}
    if errors:
        out["errors"] = errors
    return out


def events(world: World, tweet: SbTweet) -> list[tuple[float, str, int]]:
    """Everything counted for `tweet`, as (when, metric, count), in no particular order."""
    tid = tweet.id
    found: list[tuple[float, str, int]] = []
    for metric, table, times in (
        ("likes", world.likes_of, world.liked_at),
        ("retweets", world.retweets_of, world.retweeted_at),
    ):
        when = times.get(tid, {})
        found.extend((when.get(u, tweet.created_at), metric, 1) for u in table.get(tid, ()))
    replies = world.reply_times.get(tid, [])
    found.extend((t, "replies", 1) for t in replies)
    missing = world.replies_count.get(tid, 0) - len(replies)
    if missing > 0:
        found.append((tweet.created_at, "replies", missing))
    found.extend((world.tweets[q].created_at, "quote_tweets", 1) for q in world.quotes_of.get(tid, ()))
    last: dict[str, int] = {}
    for when, counts in world.counter_history.get(tid, ()):
        at = max(tweet.created_at, math.nextafter(when, -math.inf))
        for name, metric in _COUNTERS.items():
            grown = counts.get(name, 0) - last.get(name, 0)
            if grown > 0:
                found.append((at, metric, grown))
        last = counts
    for name, metric in _COUNTERS.items():
        rest = world.post_counters.get(tid, {}).get(name, 0) - last.get(name, 0)
        if rest > 0:
            found.append((tweet.created_at, metric, rest))
    return found


def _post(world: World, tweet: SbTweet, start: float, end: float, granularity: str, fields: set[str]) -> dict[str, Any]:
    wanted = [m for m in METRICS if m in fields]
    size = _SECONDS.get(granularity)
    origin = _ORIGIN.get(granularity, 0)

    def bucket(t: float) -> float:
        return start if size is None else origin + math.floor((t - origin) / size) * size

    first = bucket(max(start, tweet.created_at))
    last = bucket(min(end, world.now() + 1e-3) - 1e-3)
    per_bucket: dict[float, Counter[str]] = {}
    total: Counter[str] = Counter()
    for when, metric, n in events(world, tweet):
        if start <= when < end:
            per_bucket.setdefault(bucket(when), Counter())[metric] += n
            total[metric] += n
    out: dict[str, Any] = {"id": tweet.id}
    out.update((m, _value(total, m)) for m in wanted)
    if "timestamp" in fields:
        out["timestamp"] = x_time(start)
    if "timestamped_metrics" in fields:
        starts = [first] if size is None else [first + i * size for i in range(int((last - first) // size) + 1)]
        out["timestamped_metrics"] = [
            {"timestamp": x_time(b), "metrics": {m: _value(per_bucket.get(b, Counter()), m) for m in wanted}}
            for b in starts
            if b <= last
        ]
    return out


def _value(counts: Counter[str], metric: str) -> int:
    if metric == "engagements":
        return sum(counts[p] for p in ENGAGEMENT_PARTS)
    return counts[metric]


def _ids(raw: str | None) -> list[str]:
    ids = [i.strip() for i in (raw or "").split(",") if i.strip()]
    if not ids or len(ids) > MAX_IDS or not all(i.isdigit() and len(i) <= 19 for i in ids):
        raise invalid_request(
            "ids", raw or "", f"The `ids` query parameter value must be 1 to {MAX_IDS} comma-separated post ids"
        )
    return list(dict.fromkeys(ids))


def _time(query: dict[str, str], name: str) -> float:
    value = query.get(name)
    if not value:
        raise invalid_request(name, "", f"The `{name}` query parameter is required.")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise invalid_request(name, value, f"Invalid date format for `{name}`: {value} (YYYY-MM-DDTHH:mm:ssZ)")
    return when.astimezone(UTC).timestamp()


def _fields(raw: str | None) -> set[str]:
    fields = {f.strip() for f in (raw or "").split(",") if f.strip()}
    unknown = sorted(fields - FIELDS)
    if unknown:
        raise invalid_request(
            "analytics.fields",
            raw or "",
            f"The `analytics.fields` query parameter value [{unknown[0]}] is not one of [{','.join(sorted(FIELDS))}]",
        )
    return fields


def _problem(kind: str, title: str, detail: str, tid: str) -> dict[str, Any]:
    return {
        "type": _PROBLEMS + kind,
        "title": title,
        "detail": detail,
        "resource_type": "tweet",
        "parameter": "ids",
        "resource_id": tid,
        "value": tid,
    }
