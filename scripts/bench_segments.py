#!/usr/bin/env python3
"""Audience segments at scale: N users with interactions in a SQLite file -> features -> segments stored.

A seeded audience is written straight into a migrated SQLite database (raw sqlite3 executemany; the file is
cached under var/ and reused while --users and --seed stay the same): N users with follower counts, about 2.5
interactions each (Zipf-like activity; 60% towards the shop, the rest towards popular people; kinds mention,
reply, quote, dm, like, retweet over 180 days), a mention/DM row with intent and sentiment for the messages to
the shop, a graph snapshot with a score and community per user, and an orders CSV for a tenth of the users.
The generation runs in a child process, so the peak RSS is that of the measured steps only.

Steps, timed (the bot's own code, as the daemon runs it): features (one SQL GROUP BY + orders), segments
(log1p, standardise, k chosen by silhouette on a sample, K-means on everyone, stable ids, labels), store (the
run, its segments and N member rows). Baselines in the same run, on the same standardised matrix: scikit-learn
KMeans alone (k-means++, n_init=1) and MiniBatchKMeans, with their inertia against ours.
Goals: issue 5, 1,000,000 users in <= 30 s total and <= 1.5 GB peak RSS; issue 16, <= 10 s and <= 1 GB.
Last line: RESULT users=N total_s=X kmeans_s=Y peak_mb=M
"""

from __future__ import annotations

import argparse
import csv
import resource
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SHOP = "1"
KINDS = np.array(["mention", "reply", "quote", "dm", "like", "retweet"])
KIND_P = [0.3, 0.15, 0.05, 0.1, 0.3, 0.1]
GOAL_S, GOAL_MB = 30.0, 1536.0
CHUNK = 200_000


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _times(epochs: np.ndarray) -> list[str]:
    """Epoch seconds -> how UTCDateTime stores them on SQLite ('YYYY-MM-DD HH:MM:SS.ffffff')."""
    text = np.datetime_as_string((epochs * 1e6).astype("datetime64[us]"), unit="us")
    return [t.replace("T", " ") for t in text.tolist()]


def generate(db: Path, users: int, seed: int, orders_csv: Path) -> None:
    """Write the seeded audience into a fresh, migrated SQLite file."""
    from bot.adapters.store import Store

    if db.exists():
        db.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with Store.open(f"sqlite:///{db}") as store:
        store.upgrade()
    rng = np.random.default_rng(seed)
    ids = np.arange(users, dtype=np.int64) + 10_000
    now_s = NOW.timestamp()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    stamp = _times(np.array([now_s]))[0]
    conn.execute("INSERT INTO account_state (account, platform_user_id) VALUES ('shop', ?)", (SHOP,))
    followers = np.floor(rng.pareto(1.2, users) * 50).astype(np.int64)
    conn.execute(
        "INSERT INTO social_user (platform, user_id, username, followers_count, first_seen, last_seen) "
        "VALUES ('x', ?, 'shop', 5000, ?, ?)",
        (SHOP, stamp, stamp),
    )
    for start in range(0, users, CHUNK):
        part = ids[start : start + CHUNK]
        conn.executemany(
            "INSERT INTO social_user (platform, user_id, username, followers_count, first_seen, last_seen) "
            "VALUES ('x', ?, ?, ?, ?, ?)",
            [
                (str(u), f"user{u}", int(f), stamp, stamp)
                for u, f in zip(part, followers[start : start + CHUNK], strict=True)
            ],
        )
    # interactions: at least one per user, Zipf-like extra activity
    per_user = 1 + np.minimum(rng.zipf(2.2, users) - 1, 500)
    src = np.repeat(np.arange(users), per_user)
    n = len(src)
    rng.shuffle(src)
    popularity = 1.0 / (rng.permutation(users) + 1.0) ** 1.1
    cumulative = np.cumsum(popularity)
    cumulative /= cumulative[-1]
    to_shop = rng.random(n) < 0.6
    dst = np.minimum(np.searchsorted(cumulative, rng.random(n)), users - 1)
    kinds = rng.choice(len(KINDS), size=n, p=KIND_P)
    age = rng.exponential(40.0, n).clip(0, 179) * 86400.0
    epochs = now_s - age
    sentiment = np.clip(rng.normal(0.1, 0.5, n), -1, 1)
    complaint = rng.random(n) < 0.08
    for start in range(0, n, CHUNK):
        end = min(start + CHUNK, n)
        s = ids[src[start:end]].tolist()
        t = [
            SHOP if shop else str(ids[d])
            for shop, d in zip(to_shop[start:end].tolist(), dst[start:end].tolist(), strict=True)
        ]
        k = KINDS[kinds[start:end]].tolist()
        at = _times(epochs[start:end])
        post = [f"p{i}" for i in range(start, end)]
        conn.executemany(
            "INSERT INTO interaction (platform, source_user_id, target_user_id, kind, post_id, created_at) "
            "VALUES ('x', ?, ?, ?, ?, ?)",
            zip(s, t, k, post, at, strict=True),
        )
        msg = [i for i in range(end - start) if to_shop[start + i] and k[i] in ("mention", "dm", "reply", "quote")]
        conn.executemany(
            "INSERT INTO mention (account, platform, kind, platform_id, author_id, text, created_at, intent, "
            "sentiment, summoned, outcome, seen_at) VALUES ('shop', 'x', ?, ?, ?, 'hi @shop', ?, ?, ?, 1, "
            "'not_answered', ?)",
            [
                (
                    "dm" if k[i] == "dm" else "mention",
                    post[i],
                    s[i],
                    at[i],
                    "complaint" if complaint[start + i] else "other",
                    float(sentiment[start + i]),
                    at[i],
                )
                for i in msg
            ],
        )
    # a graph snapshot: a score and a community for everyone
    communities = np.minimum(rng.zipf(1.6, users), 300) - 1
    score = np.clip(popularity / popularity.max(), 0, 1)
    cur = conn.execute(
        "INSERT INTO graph_snapshot (created_at, n_users, n_edges, n_interactions, n_communities, modularity, "
        "reciprocity) VALUES (?, ?, ?, ?, ?, 0.5, 0.1)",
        (stamp, users, n, n, int(communities.max()) + 1),
    )
    snapshot_id = cur.lastrowid
    rank = np.argsort(np.argsort(-score)) + 1
    for start in range(0, users, CHUNK):
        end = min(start + CHUNK, users)
        conn.executemany(
            "INSERT INTO graph_score (snapshot_id, platform, user_id, pagerank, in_strength, hub, authority, "
            "betweenness, followers, score, rank, community) VALUES (?, 'x', ?, 0, 0, 0, 0, 0, ?, ?, ?, ?)",
            [
                (snapshot_id, str(ids[i]), int(followers[i]), float(score[i]), int(rank[i]), int(communities[i]))
                for i in range(start, end)
            ],
        )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    buyers = rng.choice(users, size=max(1, users // 10), replace=False)
    with orders_csv.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["handle", "order_id", "amount", "time"])
        order_no = 0
        for b in buyers.tolist():
            for _ in range(int(rng.integers(1, 4))):
                order_no += 1
                when = NOW - timedelta(days=float(rng.uniform(0, 365)))
                amount = round(float(rng.lognormal(3.5, 0.8)), 2)
                writer.writerow([f"@user{ids[b]}", f"o{order_no}", amount, when.strftime("%Y-%m-%dT%H:%M:%SZ")])
    print(f"generated {users:,} users, {n:,} interactions, orders for {len(buyers):,} people in {db}", flush=True)


def measure(db: Path, orders_csv: Path, k: int | None) -> dict[str, float]:
    from bot.adapters.store import Store
    from bot.core.clock import ManualClock
    from bot.domains.audience.segments import SegmentService, design_matrix, standardise, warm_up
    from bot.settings.config import AccountConfig, Settings
    from bot.settings.segments import SegmentsConfig

    clock = ManualClock(NOW)
    settings = Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        database_url=f"sqlite:///{db}",
        segments=SegmentsConfig(orders_csv=orders_csv, k=k),
    )
    figures: dict[str, float] = {}
    with Store.open(settings.database_url, clock=clock) as store:
        store.upgrade()
        service = SegmentService(settings, store, clock, owner="bench")
        started = time.perf_counter()
        warm_up()
        table = service.features(NOW)
        figures["features_s"] = time.perf_counter() - started
        t = time.perf_counter()
        seg = service.segment(table)
        figures["segments_s"] = time.perf_counter() - t
        t = time.perf_counter()
        result = service.save(NOW, table, seg)
        figures["store_s"] = time.perf_counter() - t
        figures["total_s"] = time.perf_counter() - started
        figures["peak_mb"] = peak_mb()
        figures["choose_k_s"] = seg.timings["choose_k_s"]
        print("segment steps: " + ", ".join(f"{k} {v:.2f}" for k, v in seg.timings.items()), flush=True)
        figures["kmeans_s"] = seg.timings["kmeans_s"]
        figures["users"] = len(table)
        figures["k"] = seg.k
        figures["silhouette"] = seg.silhouette if seg.silhouette is not None else float("nan")
        ours = float((seg.distance**2).sum())
        print(
            f"features {figures['features_s']:.2f} s ({len(table):,} people, {len(table.columns)} features, "
            f"{table.orders_matched:,} with orders) | segments {figures['segments_s']:.2f} s (choose k "
            f"{figures['choose_k_s']:.2f} s: silhouette {seg.k_scores}; K-means k={seg.k} {figures['kmeans_s']:.2f} s)"
            f" | store {figures['store_s']:.2f} s (run {result.run_id})",
            flush=True,
        )
        for sid, label, size, centroid in seg.info():
            print(f"  segment {sid} {label!r}: {size:,} people; " + ", ".join(
                f"{name} {centroid[name]:.2f}" for name in ("mention", "like", "complaints", "spent", "influence")
                if name in centroid
            ))  # fmt: skip
        # baselines on the same standardised matrix
        matrix, names, _ = design_matrix(table, settings.segments.top_communities)
        x, _space = standardise(matrix, names)
        del matrix
    import warnings

    from sklearn.cluster import KMeans, MiniBatchKMeans

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        plain = KMeans(n_clusters=seg.k, n_init=1, random_state=7).fit(x)
        figures["baseline_kmeans_s"] = time.perf_counter() - t
        t = time.perf_counter()
        mini = MiniBatchKMeans(n_clusters=seg.k, n_init=1, random_state=7, batch_size=4096).fit(x)
        figures["baseline_minibatch_s"] = time.perf_counter() - t
    mini_inertia = float(((x - mini.cluster_centers_[mini.predict(x)]) ** 2).sum())
    print(
        f"baseline, same matrix {x.shape[0]:,} x {x.shape[1]}, k={seg.k}: "
        f"ours (sample-seeded, full fit) {figures['kmeans_s']:.2f} s inertia {ours:,.0f} | "
        f"KMeans alone (k-means++, n_init=1) {figures['baseline_kmeans_s']:.2f} s inertia {plain.inertia_:,.0f} | "
        f"MiniBatchKMeans {figures['baseline_minibatch_s']:.2f} s inertia {mini_inertia:,.0f}",
        flush=True,
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--k", type=int, default=None, help="fixed k (default: chosen by silhouette)")
    parser.add_argument("--dir", type=Path, default=ROOT / "var", help="where the cached database lives")
    parser.add_argument("--fresh", action="store_true", help="regenerate the database even when cached")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--coupons", type=int, default=0, help="then issue this many coupons to the segments (timed on its own)"
    )
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    base = args.dir / f"bench_segments_{args.users}_{args.seed}"
    db, orders_csv, done = Path(f"{base}.db"), Path(f"{base}_orders.csv"), Path(f"{base}.ok")
    if args.generate_only:
        generate(db, args.users, args.seed, orders_csv)
        done.write_text("ok\n")
        return 0
    if args.fresh or not done.exists() or not db.exists():
        done.unlink(missing_ok=True)
        t = time.perf_counter()
        cmd = [sys.executable, __file__, "--generate-only", "--users", str(args.users), "--seed", str(args.seed)]
        subprocess.run([*cmd, "--dir", str(args.dir)], check=True)
        print(f"generation {time.perf_counter() - t:.1f} s (not counted)", flush=True)
    else:
        print(f"using the cached database {db}", flush=True)
    # each measured run starts from the generated file: earlier runs' segments would grow it
    work = Path(f"{base}.work.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    import shutil

    shutil.copyfile(db, work)
    try:
        figures = measure(work, orders_csv, args.k)
        if args.coupons:
            figures.update(issue_coupons(work, args.coupons))
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{work}{suffix}").unlink(missing_ok=True)
    if args.users >= 1_000_000:
        ok = figures["total_s"] <= GOAL_S and figures["peak_mb"] <= GOAL_MB
        print(
            f"goal (<= {GOAL_S:.0f} s, <= {GOAL_MB:.0f} MB): {'met' if ok else 'NOT met'} "
            f"({figures['total_s']:.1f} s, {figures['peak_mb']:.0f} MB)",
            flush=True,
        )
    coupons = f" coupons={int(figures['coupons'])} coupons_s={figures['coupons_s']:.2f}" if "coupons" in figures else ""
    print(
        f"RESULT users={int(figures['users'])} total_s={figures['total_s']:.2f} kmeans_s={figures['kmeans_s']:.2f} "
        f"peak_mb={figures['peak_mb']:.0f}{coupons}",
        flush=True,
    )
    return 0


def issue_coupons(db: Path, budget: int) -> dict[str, float]:
    """A coupon campaign over every segment of the run just stored: `budget` codes, 10% held out, timed."""
    from datetime import UTC, datetime

    from bot.adapters.store import Store
    from bot.core.clock import ManualClock
    from bot.domains.coupons.issuing import CouponService
    from bot.settings.config import AccountConfig, Settings
    from bot.settings.coupons import CouponCampaignConfig, CouponsConfig

    settings = Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        templates_dir=ROOT / "templates",
        coupons=CouponsConfig(
            campaigns={"bench": CouponCampaignConfig(discount="10% off", budget=budget, holdout=0.1, channel="export")}
        ),
        config_path=db.parent / "config.yaml",
    )
    with Store.open(f"sqlite:///{db}") as store:
        service = CouponService(settings, store, ManualClock(datetime.now(UTC)))
        started = time.perf_counter()
        report = service.issue("bench")
        seconds = time.perf_counter() - started
    print(
        f"coupons: {report.issued:,} issued, {report.held_out:,} held out, {report.over_budget:,} over budget "
        f"in {seconds:.2f} s (goal <= 30 s for 100,000)",
        flush=True,
    )
    return {"coupons": float(report.issued), "coupons_s": seconds}


if __name__ == "__main__":
    raise SystemExit(main())
