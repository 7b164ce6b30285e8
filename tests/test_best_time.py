"""The best-time model from stored readings (SQLite files and PostgreSQL): planted weekday x hour effects are found,
one viral post does not move the best hour, thin data falls back to the audience's activity and says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from bot.adapters.store import Store
from bot.adapters.store.tables import mention_t, post_metric_t
from bot.core.clock import ManualClock
from bot.domains.outcomes.best_time import build_model
from bot.domains.outcomes.rates import posts_from_columns

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Shanghai")  # UTC+8: a model in UTC would put every planted cell 8 hours off
PLANTED = {(1, 20), (3, 12), (5, 9)}  # Tuesday 20:00, Thursday 12:00, Saturday 09:00, shop time


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


def insert_readings(store: Store, rows: list[dict[str, Any]]) -> None:
    """Readings straight into post_metric (the collector is another module's)."""
    defaults = {"platform": "x", "kind": "post", "likes": 0, "reposts": 0, "replies": 0, "quotes": 0}
    with store.db.tx("test readings") as conn:
        conn.execute(post_metric_t.insert(), [defaults | row for row in rows])


def planted_readings(seed: int, *, posts: int = 1500, weeks: int = 16) -> list[dict[str, Any]]:
    """`posts` posts spread over the shop's weekdays and hours in the last `weeks` weeks; planted cells get 2.5x the
    engagement; each post read at 1h (a third of its final counts) and 24h."""
    rng = np.random.default_rng(seed)
    rows = []
    start = (NOW - timedelta(weeks=weeks)).astimezone(ZONE).replace(minute=0, second=0, microsecond=0)
    for i in range(posts):
        day, hour = int(rng.integers(0, weeks * 7)), int(rng.integers(0, 24))
        local = (start + timedelta(days=day)).replace(hour=hour, minute=int(rng.integers(0, 50)))
        if local.astimezone(UTC) >= NOW - timedelta(days=1):
            continue
        appeal = 2.5 if (local.weekday(), local.hour) in PLANTED else 1.0
        impressions = int(rng.integers(800, 1500))
        engaged = int(rng.poisson(impressions * 0.02 * appeal * rng.lognormal(0, 0.3)))
        for age, share in (("1h", 0.3), ("24h", 1.0)):
            rows.append(
                {
                    "account": "shop",
                    "post_id": f"p{i}",
                    "outbox_key": f"campaign:sale:{i}",
                    "campaign": "sale",
                    "variant": str(i % 2),
                    "posted_at": local.astimezone(UTC),
                    "age": age,
                    "read_at": local.astimezone(UTC) + timedelta(hours=1 if age == "1h" else 24),
                    "likes": int(engaged * share),
                    "impressions": int(impressions * share),
                }
            )
    return rows


def model_from(store: Store, weeks: int = 16) -> Any:
    since = NOW - timedelta(weeks=weeks)
    posts = posts_from_columns(store.outcomes.readings(since=since, until=NOW))
    activity = store.outcomes.activity("shop", since=since, until=NOW)
    return build_model("shop", posts, activity, ZONE)


def test_planted_cells_are_the_top_three_in_the_shops_zone(store: Store) -> None:
    insert_readings(store, planted_readings(seed=1))
    model = model_from(store)
    best = model.best_hours(3)
    assert {(b.weekday, b.hour) for b in best} == PLANTED
    assert all(b.lift > 1.5 for b in best)
    assert "your usual engagement" in best[0].why
    assert model.summary() is None


def test_latest_reading_per_post_or_a_chosen_age(store: Store) -> None:
    insert_readings(store, planted_readings(seed=2, posts=40))
    latest = store.outcomes.readings(since=NOW - timedelta(weeks=16))
    early = store.outcomes.readings(since=NOW - timedelta(weeks=16), age="1h")
    assert set(latest["age"]) == {"24h"}
    assert set(early["age"]) == {"1h"}
    assert len(latest["post_id"]) == len(set(latest["post_id"])) == len(early["post_id"])
    assert sorted(store.outcomes.readings(age="24h")["engagements"]) == sorted(latest["engagements"])
    narrow = store.outcomes.readings(account="shop", campaign="nope", detail=False)
    assert narrow == {
        k: [] for k in ("account", "campaign", "variant", "posted_at", "engagements", "impressions", "followers")
    }


def test_one_viral_post_does_not_move_the_best_hour(store: Store) -> None:
    rows = planted_readings(seed=3)
    insert_readings(store, rows)
    before = model_from(store).best_hours(1)[0]
    viral_at = datetime(2026, 11, 16, 3, 30, tzinfo=ZONE).astimezone(UTC)  # Monday 03:00, a quiet cell
    insert_readings(
        store,
        [
            {
                "account": "shop",
                "post_id": "viral",
                "campaign": "sale",
                "variant": "0",
                "posted_at": viral_at,
                "age": "24h",
                "read_at": viral_at + timedelta(hours=24),
                "likes": 40_000,
                "impressions": 200_000,
            }
        ],
    )
    model = model_from(store)
    after = model.best_hours(1)[0]
    assert (after.weekday, after.hour) == (before.weekday, before.hour)
    assert (after.weekday, after.hour) in PLANTED
    assert model.lift[0, 3] < 1.5  # the viral post's own cell does not jump to the top


def test_thin_data_falls_back_to_the_audiences_activity_and_says_so(store: Store) -> None:
    insert_readings(store, planted_readings(seed=4, posts=6))
    busy = datetime(2026, 11, 17, 21, 10, tzinfo=ZONE)  # a Tuesday, 21:00 shop time
    mentions = []
    for week in range(12):
        for k in range(5):
            at = (busy - timedelta(weeks=week, minutes=k)).astimezone(UTC)
            mentions.append(
                {
                    "account": "shop",
                    "platform": "x",
                    "kind": "mention",
                    "platform_id": f"m{week}-{k}",
                    "author_id": "u1",
                    "text": "hi",
                    "created_at": at,
                    "outcome": "not_answered",
                    "seen_at": at,
                }
            )
    with store.db.tx("test mentions") as conn:
        conn.execute(mention_t.insert(), mentions)
    model = model_from(store)
    best = model.best_hours(1)[0]
    assert (best.weekday, best.hour) == (1, 21)
    assert best.posts == 0
    assert "based on when your audience is active" in best.why
    assert "no posts yet on Tuesdays at 21:00" in best.why
    summary = model.summary()
    assert summary is not None and "mostly based on when your audience is active" in summary
    assert summary.startswith("only ")


def test_no_activity_and_no_posts_is_said_plainly() -> None:
    posts = posts_from_columns(
        {
            "account": [],
            "campaign": [],
            "variant": [],
            "posted_at": [],
            "engagements": [],
            "impressions": [],
            "followers": [],
        }
    )
    model = build_model("shop", posts, [], ZONE)
    best = model.best_hours(1)[0]
    assert best.lift == pytest.approx(1.0)
    assert "no audience activity recorded yet" in best.why
