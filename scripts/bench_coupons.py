#!/usr/bin/env python3
"""Coupon issuance at scale: a campaign with a budget of COUNT codes (10% holdout) over a stored segmentation
(SQLite file) of enough people to spend it (plus handles and a few opt-outs), issued through
CouponService.issue (batches under the budget lock: one transaction per coupons.batch_size people).
Checks afterwards: every person at most once, codes unique and valid, budget kept.
Last line: RESULT coupons=N issue_s=X   (goal: issue_s <= 30 for 100,000 on SQLite)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bot.adapters.store import Store
from bot.adapters.store.tables import coupon_t, social_user_t
from bot.core.clock import ManualClock
from bot.domains.coupons.codes import validate_code
from bot.domains.coupons.issuing import CouponService
from bot.settings.config import AccountConfig, Settings
from bot.settings.coupons import CouponCampaignConfig, CouponsConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000, help="codes to issue (the campaign's budget)")
    parser.add_argument("--batch", type=int, default=5000, help="people per issuance transaction")
    parser.add_argument("--database", default=None, help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        clock = ManualClock(datetime(2026, 11, 1, 9, tzinfo=UTC))
        store = Store.open(url, clock=clock)
        store.upgrade()
        n = int(args.count / 0.9 * 1.03) + 10  # enough people for the budget after the holdout and opt-outs
        started = time.perf_counter()
        members = [("x", f"{10**12 + i}", i % 5, 0.0) for i in range(n)]
        segments = [(s, f"segment{s}", n // 5, {}) for s in range(5)]
        store.segments.save_run(
            created_at=clock.now(),
            k=5,
            silhouette=None,
            graph_snapshot_id=None,
            params={},
            stats={},
            segments=segments,
            members=members,
        )
        now = clock.now()
        with store.engine.begin() as conn:
            conn.execute(
                sa.insert(social_user_t),
                [
                    {"platform": "x", "user_id": u, "username": f"fan{i}", "first_seen": now, "last_seen": now}
                    for i, (_, u, _, _) in enumerate(members)
                ],
            )
        for i in range(0, n, 997):
            store.mentions.add_optout("x", user_id=members[i][1], reason="bench")
        print(f"budget {args.count:,}; seeded {n:,} people in {time.perf_counter() - started:.1f} s", flush=True)
        settings = Settings(
            accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
            coupons=CouponsConfig(
                campaigns={"bench": CouponCampaignConfig(discount="10% off", budget=args.count, holdout=0.1)},
                batch_size=args.batch,
            ),
        )
        service = CouponService(settings, store, clock)
        started = time.perf_counter()
        report = service.issue("bench")
        issue_s = time.perf_counter() - started
        print(
            f"issued {report.issued:,} codes, {report.held_out:,} held out, {report.opted_out} opted out "
            f"in {issue_s:.2f} s ({report.issued / issue_s:,.0f} codes/s)",
            flush=True,
        )
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(coupon_t.c.user_id, coupon_t.c.code)).all()
        people = [r.user_id for r in rows]
        codes = [r.code for r in rows if r.code is not None]
        assert len(people) == len(set(people)), "a person twice"
        assert len(codes) == len(set(codes)) == report.issued == args.count, "codes not unique or budget not kept"
        assert all(validate_code(c) for c in codes), "an invalid code"
        again = time.perf_counter()
        assert service.issue("bench").issued == 0
        print(f"re-run (nothing new) in {time.perf_counter() - again:.2f} s", flush=True)
        store.close()
        print(f"RESULT coupons={report.issued} issue_s={issue_s:.2f}")


if __name__ == "__main__":
    main()
