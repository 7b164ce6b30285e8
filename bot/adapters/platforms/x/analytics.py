"""X's time-bucketed analytics (GET /2/tweets/analytics, getPostsAnalytics in ../shared/reference/x-openapi.json):
the request's parameters and its answer read into bot.core.models.EngagementHour. No network.

One call takes up to 100 ids of the account's own posts and one window [start_time, end_time); with
granularity=hourly each post's `timestamped_metrics` holds one entry per hour (`timestamp`: the hour's start,
`metrics`: the counts asked for). A post X will not show (not ours, deleted) is left out of `data` and told in
`errors`: it is simply absent from the result. X bills every post object returned as a post read (x/pricing.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.adapters.platforms.x.records import Malformed, at, count_of, need, obj, objects, time_of
from bot.core.clock import ensure_utc
from bot.core.models import EngagementHour

ANALYTICS = "GET /2/tweets/analytics"
ANALYTICS_ROUTE = "/2/tweets/analytics"
ANALYTICS_BATCH = 100  # ids per call
ANALYTICS_FIELDS = ["id", "timestamped_metrics", "engagements", "impressions", "url_clicks"]
PARAMETERS = ("ids", "start_time", "end_time", "granularity", "analytics.fields")


def hourly_params(ids: Sequence[str], start: datetime, end: datetime) -> dict[str, Any]:
    """tweepy's parameters (lists joined with commas, times as X's UTC format) of one hourly analytics read."""
    return {
        "ids": list(ids),
        "start_time": ensure_utc(start),
        "end_time": ensure_utc(end),
        "granularity": "hourly",
        "analytics_fields": ANALYTICS_FIELDS,
    }


def analytics_page(body: dict[str, Any]) -> dict[str, list[EngagementHour]]:
    """Post id -> its hours, oldest first, for every post in `data` (one with no buckets: an empty list)."""
    out: dict[str, list[EngagementHour]] = {}
    for i, item in enumerate(objects(body, "data", "")):
        where = f"data[{i}]"
        post_id = need(item, "id", where)
        hours: list[EngagementHour] = []
        for j, bucket in enumerate(objects(item, "timestamped_metrics", where)):
            place = f"{at(where, 'timestamped_metrics')}[{j}]"
            start = time_of(bucket, "timestamp", place)
            if start is None:
                raise Malformed(f"{at(place, 'timestamp')} is missing")
            metrics = obj(bucket, "metrics", place)
            inside = at(place, "metrics")
            hours.append(
                EngagementHour(
                    post_id=post_id,
                    hour=ensure_utc(start),
                    engagements=count_of(metrics, ("engagements",), inside, required=False) or 0,
                    impressions=count_of(metrics, ("impressions",), inside, required=False),
                    url_clicks=count_of(metrics, ("url_clicks",), inside, required=False),
                )
            )
        out[post_id] = sorted(hours, key=lambda h: h.hour)
    return out
