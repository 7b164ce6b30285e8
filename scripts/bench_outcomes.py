#!/usr/bin/env python3
"""The outcome models at scale: N post metric readings in a SQLite file -> best-time and variant models.

Seeded readings are written straight into a migrated SQLite database (raw sqlite3 executemany, not timed): N / 3
posts over the last 16 weeks, each read at 1h, 24h and 7d, from two accounts (one on X with impressions, one on
Bluesky with followers only), 6 campaigns of 3 variants each, with a planted weekday x hour effect and a few
viral posts; plus 50,000 mentions as the audience's activity.

Timed (model_s): what `socialbot posts report` builds, from the store: every post's latest reading (one SELECT
with a window function), rates and lifts, the best-time model per account (with its activity prior) and the
variant estimates with their 90% intervals. Beside it in the same run (numpy_s): a plain numpy group-by of the
same readings already in memory (mean rate per weekday x hour in UTC, sums per variant), the floor any model
must pay after reading. Goal (issue 15): 1,000,000 readings, model_s <= 5 s.
Last line: RESULT readings=N model_s=X numpy_s=Y
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
AGES = (("1h", 3600.0, 0.4), ("24h", 86400.0, 0.85), ("7d", 7 * 86400.0, 1.0))
GOAL_S = 5.0
CHUNK = 200_000


def _times(epochs: np.ndarray) -> list[str]:
    """Epoch seconds -> how UTCDateTime stores them on SQLite ('YYYY-MM-DD HH:MM:SS.ffffff')."""
    text = np.datetime_as_string((epochs * 1e6).astype("datetime64[us]"), unit="us")
    return [t.replace("T", " ") for t in text.tolist()]


def generate(db: Path, readings: int, seed: int) -> dict[str, np.ndarray]:
    """Write the readings into a fresh, migrated SQLite file; returns the latest readings as arrays."""
    from bot.adapters.store import Store

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with Store.open(f"sqlite:///{db}", wal_checkpoints=False) as store:
        store.upgrade()
    rng = np.random.default_rng(seed)
    n_posts = max(1, readings // len(AGES))
    now_s = NOW.timestamp()
    posted = now_s - 8 * 86400 - rng.uniform(0, 16 * 7 * 86400 - 8 * 86400, n_posts)
    account = (rng.random(n_posts) < 0.3).astype(np.int64)  # 0: shop_x, 1: shop_bsky
    campaign = rng.integers(0, 6, n_posts)
    variant = rng.integers(0, 3, n_posts)
    cell = ((posted // 3600).astype(np.int64) + 3 * 24) % (7 * 24)  # 1970-01-01 was a Thursday
    appeal = np.where(np.isin(cell, (20, 44, 92)), 2.0, 1.0) * (1 + 0.15 * variant)
    impressions = np.maximum(1, rng.lognormal(7, 0.8, n_posts)).astype(np.int64)
    followers = 5000 + (posted - posted.min()).astype(np.int64) // 86400
    base = np.where(account == 0, impressions, followers) * 0.02 * appeal
    viral = rng.random(n_posts) < 0.001
    engagements = rng.poisson(base * np.where(viral, 30, 1))
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    names = np.array(["shop_x", "shop_bsky"], dtype=object)
    platforms = np.array(["x", "bluesky"], dtype=object)
    written = 0
    for age, seconds, share in AGES:
        for start in range(0, n_posts, CHUNK):
            end = min(start + CHUNK, n_posts)
            sl = slice(start, end)
            e = (engagements[sl] * share).astype(np.int64)
            likes, reposts = (e * 0.7).astype(np.int64), (e * 0.1).astype(np.int64)
            rest = e - likes - reposts
            x = account[sl] == 0
            rows = zip(
                names[account[sl]].tolist(),
                platforms[account[sl]].tolist(),
                [f"p{i}" for i in range(start, end)],
                [f"campaign:c{c}:{i}" for c, i in zip(campaign[sl].tolist(), range(start, end), strict=True)],
                [f"c{c}" for c in campaign[sl].tolist()],
                [str(v) for v in variant[sl].tolist()],
                _times(posted[sl]),
                _times(posted[sl] + seconds),
                likes.tolist(),
                reposts.tolist(),
                rest.tolist(),
                [int(i * share) if is_x else None for i, is_x in zip(impressions[sl].tolist(), x, strict=True)],
                followers[sl].tolist(),
                strict=True,
            )
            conn.executemany(
                "INSERT INTO post_metric (account, platform, post_id, outbox_key, kind, campaign, variant, slot_at, "
                "posted_at, age, read_at, likes, reposts, replies, quotes, impressions, followers) "
                f"VALUES (?, ?, ?, ?, 'post', ?, ?, NULL, ?, '{age}', ?, ?, ?, ?, 0, ?, ?)",
                rows,
            )
            written += end - start
            print(f"  generated {written:,} of {n_posts * len(AGES):,} readings", flush=True)
    activity = now_s - rng.uniform(0, 16 * 7 * 86400, 50_000)
    conn.executemany(
        "INSERT INTO mention (account, platform, kind, platform_id, author_id, text, created_at, summoned, "
        "outcome, seen_at) VALUES (?, 'x', 'mention', ?, 'u', 'hi', ?, 1, 'not_answered', ?)",
        [(names[i % 2], f"m{i}", t, t) for i, t in enumerate(_times(np.sort(activity)))],
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    latest = np.where(account == 0, impressions, followers).astype(np.float64)
    return {
        "posted": posted,
        "engagements": engagements.astype(np.float64),
        "denominator": latest,
        "group": campaign * 3 + variant,
    }


def model(db: Path) -> tuple[float, str]:
    """Build what the report builds, from the store; (seconds, what was found)."""
    from zoneinfo import ZoneInfo

    from bot.adapters.store import Store
    from bot.domains.outcomes.best_time import build_model
    from bot.domains.outcomes.rates import posts_from_columns
    from bot.domains.outcomes.variants import estimates

    zone = ZoneInfo("UTC")
    since = NOW - timedelta(weeks=16)
    with Store.open(f"sqlite:///{db}", wal_checkpoints=False) as store:
        started = time.perf_counter()
        columns = store.outcomes.readings(since=since, until=NOW, detail=False)
        read_s = time.perf_counter() - started
        posts = posts_from_columns(columns)
        models = {}
        for account in sorted(set(posts.account.tolist())):
            activity = store.outcomes.activity(account, since=since, until=NOW)
            models[account] = build_model(account, posts, activity, zone)
        found = estimates(posts)
        seconds = time.perf_counter() - started
    print(
        f"model {seconds:.2f} s (reading {len(posts):,} posts' latest readings {read_s:.2f} s), "
        f"{len(found)} variant estimates",
        flush=True,
    )
    best = "; ".join(f"{account}: " + ", ".join(b.when for b in m.best_hours(3)) for account, m in models.items())
    print(f"best hours (UTC): {best} (planted: Monday, Tuesday and Thursday 20:00)", flush=True)
    for v in found[:3]:
        print(f"  {v.campaign}, {v.sentence()}", flush=True)
    return seconds, best


def plain_numpy(data: dict[str, np.ndarray]) -> float:
    """The same readings' group-bys in numpy alone (already in memory): mean rate per UTC weekday x hour, rate per
    campaign x variant."""
    started = time.perf_counter()
    rate = data["engagements"] / data["denominator"]
    cell = ((data["posted"] // 3600).astype(np.int64) + 3 * 24) % (7 * 24)
    per_cell = np.bincount(cell, weights=rate, minlength=168) / np.maximum(np.bincount(cell, minlength=168), 1)
    per_group = np.bincount(data["group"], weights=data["engagements"]) / np.bincount(
        data["group"], weights=data["denominator"]
    )
    seconds = time.perf_counter() - started
    print(f"plain numpy group-by {seconds:.3f} s (best UTC cell {int(per_cell.argmax())}, {len(per_group)} groups)")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=ROOT / "var", help="where the database file is written")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    db = args.dir / f"bench_outcomes_{args.readings}_{args.seed}.db"
    t = time.perf_counter()
    print(f"writing {args.readings:,} readings into {db}", flush=True)
    data = generate(db, args.readings, args.seed)
    print(f"generation {time.perf_counter() - t:.1f} s (not counted)", flush=True)
    try:
        model_s, _best = model(db)
        numpy_s = plain_numpy(data)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    readings = len(data["posted"]) * len(AGES)
    if readings >= 1_000_000:
        print(f"goal (model <= {GOAL_S:.0f} s): {'met' if model_s <= GOAL_S else 'NOT met'} ({model_s:.2f} s)")
    print(f"RESULT readings={readings} model_s={model_s:.2f} numpy_s={numpy_s:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
