#!/usr/bin/env python3
"""Redemption imports at scale: a CSV of ROWS lines (60% redeem an issued code, 25% unknown codes, some reused
and expired codes, repeated orders, bad rows, a NUL in some order ids) imported with
bot.domains.coupons.redemptions.import_redemptions into a store holding the issued coupons (SQLite file, or --database).

Baselines in the same run, on the same file: a bare csv.reader pass (the floor), and the per-row path this
replaced (DictReader, then SELECT + INSERT + UPDATE per line) on the first --baseline-rows lines of a second,
identical store, extrapolated to ROWS.
Checks afterwards: every counted line redeemed its coupon once, nothing counted twice, each order stored once.
Last line: RESULT rows=N import_s=X rows_per_s=R csv_only_s=C per_row_extrapolated_s=P speedup=S ...
(goal: import_s <= 30 for 1,000,000 rows)
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bot.adapters.store import Store
from bot.adapters.store.tables import coupon_t, redemption_t
from bot.core.clock import ManualClock, ensure_utc
from bot.core.records import RedemptionLine, RedemptionStatus
from bot.domains.coupons.redemptions import import_redemptions, parse_line

NOW = datetime(2026, 11, 1, 9, tzinfo=UTC)


def seed(url: str, coupons: int) -> Store:
    store = Store.open(url, clock=ManualClock(NOW))
    store.upgrade()
    with store.engine.begin() as conn:
        for start in range(0, coupons, 50_000):
            conn.execute(
                sa.insert(coupon_t),
                [
                    {
                        "campaign": "bench",
                        "platform": "x",
                        "user_id": str(10**12 + i),
                        "code": f"BENCH{i:08d}",
                        "state": "issued",
                        "channel": "reply",
                        "issued_at": NOW,
                        "expires_at": NOW + (timedelta(days=-1) if i % 50 == 0 else timedelta(days=30)),
                    }
                    for i in range(start, min(coupons, start + 50_000))
                ],
            )
    return store


def write_csv(path: Path, rows: int, coupons: int) -> None:
    when = (NOW + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    issued = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("code,order_id,amount,time\n")
        for i in range(rows):
            kind = i % 100
            order = f"ORD{i:09d}"
            if kind < 60:
                code = f"BENCH{issued % coupons:08d}"  # past the coupons: codes come round again (reused)
                issued += 1
                handle.write(f"{code},{order},{100 + kind}.50,{when}\n")
            elif kind < 85:
                handle.write(f"NOPE{i:09d},{order},12,{when}\n")
            elif kind < 90:
                handle.write(f"bench{(i // 100) % coupons:08d},{order},30,{when}\n")  # lower case, often reused
            elif kind < 95:
                handle.write(f"NOPE{i:09d},ORD{i - 5:09d},12,{when}\n")  # an order seen before
            elif kind == 95:
                handle.write(f"NOPE{i:09d},{order},lots,{when}\n")
            elif kind == 96:
                handle.write(f"NOPE{i:09d},{order},12,yesterday\n")
            elif kind == 97:
                handle.write(f"NOPE{i:09d},,12,{when}\n")
            elif kind == 98:
                handle.write(f"NOPE{i:09d},{order}\x00,12,{when}\n")  # a NUL: cleaned, the row goes in
            else:
                handle.write(f"NOPE{i:09d},{order},12,{when},extra\n")


def per_row(store: Store, path: Path, limit: int) -> int:
    """The replaced path: DictReader + parse_line, then per line a SELECT, an INSERT and maybe an UPDATE."""
    c, r = coupon_t, redemption_t
    lines: list[RedemptionLine] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        for raw in reader:
            if len(lines) >= limit:
                break
            if None in raw:
                continue
            try:
                lines.append(parse_line({k.strip().lower(): (v or "").strip() for k, v in raw.items()}, "x"))
            except ValueError:
                continue
    for start in range(0, len(lines), 1000):
        with store.engine.begin() as conn:
            for line in lines[start : start + 1000]:
                coupon: Any = conn.execute(
                    sa.select(c.c.id, c.c.state, c.c.expires_at).where(c.c.code == line.code)
                ).first()
                when = ensure_utc(line.time)
                status = (
                    RedemptionStatus.UNKNOWN
                    if coupon is None
                    else RedemptionStatus.REUSED
                    if coupon.state == "redeemed"
                    else RedemptionStatus.EXPIRED
                    if coupon.expires_at is not None and when > ensure_utc(coupon.expires_at)
                    else RedemptionStatus.COUNTED
                )
                inserted = conn.execute(
                    store.db.insert(r)
                    .values(
                        code=line.code,
                        order_id=line.order_id,
                        amount=line.amount,
                        redeemed_at=when,
                        status=status,
                        coupon_id=coupon.id if coupon else None,
                        source=line.source,
                        imported_at=NOW,
                    )
                    .on_conflict_do_nothing(index_elements=["order_id"])
                    .returning(r.c.id)
                ).first()
                if inserted is not None and status == RedemptionStatus.COUNTED:
                    conn.execute(
                        sa.update(c)
                        .where(c.c.id == coupon.id, c.c.state.in_(("issued", "delivered", "expired")))
                        .values(state="redeemed", redeemed_at=when, order_id=line.order_id, amount=line.amount)
                    )
    return len(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="lines in the redemptions CSV")
    parser.add_argument("--coupons", type=int, default=None, help="issued coupons (default: rows / 2, at most 300k)")
    parser.add_argument("--baseline-rows", type=int, default=10_000, help="lines imported by the per-row path")
    parser.add_argument("--database", default=None, help="database URL (default: temporary SQLite files)")
    args = parser.parse_args()
    coupons = args.coupons or max(10, min(args.rows // 2, 300_000))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "redemptions.csv"
        write_csv(path, args.rows, coupons)
        print(f"{args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB), {coupons:,} coupons issued", flush=True)

        started = time.perf_counter()
        with path.open(encoding="utf-8", newline="") as handle:
            bare = sum(1 for _ in csv.reader(handle))
        csv_s = time.perf_counter() - started

        store = seed(args.database or f"sqlite:///{folder / 'bench.db'}", coupons)
        started = time.perf_counter()
        report = import_redemptions(store, path, problems_file=folder / "problems.csv")
        import_s = time.perf_counter() - started
        counts = report.counts
        print(f"import: {import_s:.1f} s, {counts}", flush=True)

        with store.engine.connect() as conn:
            redeemed = conn.execute(sa.select(sa.func.count()).where(coupon_t.c.state == "redeemed")).scalar_one()
            stored = conn.execute(sa.select(sa.func.count()).select_from(redemption_t)).scalar_one()
            orders = conn.execute(sa.select(sa.func.count(sa.distinct(redemption_t.c.order_id)))).scalar_one()
            counted_rows = conn.execute(
                sa.select(sa.func.count()).where(redemption_t.c.status == "counted")
            ).scalar_one()
        problem_lines = sum(1 for _ in path.parent.joinpath("problems.csv").open(encoding="utf-8")) - 1
        ok = (
            redeemed == counts["counted"] == counted_rows
            and stored == orders == sum(counts[s] for s in RedemptionStatus.STORED)
            and counts["bad_rows"] + counts["unknown"] + counts["expired"] + counts["reused"] == problem_lines
            and bare - 1 == report.rows + 0
        )
        store.engine.dispose()

        baseline_store = seed(f"sqlite:///{folder / 'baseline.db'}", coupons) if args.database is None else None
        if baseline_store is None:
            with store.engine.begin() as conn:  # the same database again, emptied
                conn.execute(sa.delete(redemption_t))
                conn.execute(sa.update(coupon_t).values(state="issued", redeemed_at=None, order_id=None, amount=None))
            baseline_store = store
        started = time.perf_counter()
        done = per_row(baseline_store, path, min(args.baseline_rows, args.rows))
        per_row_s = (time.perf_counter() - started) * args.rows / max(done, 1)
        baseline_store.engine.dispose()

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"RESULT rows={args.rows} import_s={import_s:.1f} rows_per_s={args.rows / import_s:.0f} "
        f"csv_only_s={csv_s:.1f} per_row_extrapolated_s={per_row_s:.0f} speedup={per_row_s / import_s:.1f} "
        f"counted={counts['counted']} unknown={counts['unknown']} expired={counts['expired']} "
        f"reused={counts['reused']} duplicate={counts['duplicate']} bad_rows={counts['bad_rows']} "
        f"peak_mb={peak_mb:.0f} consistent={int(ok)}"
    )
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
