"""The shop's order history for a simulated audience, as the CSV the segments and recommendations read."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.sandbox import phrases
from bot.sandbox.audience.population import Community, SimUser


def write_orders_csv(
    users: list[SimUser],
    communities: list[Community],
    seed: int,
    path: str | Path,
    *,
    orders_per_user: tuple[int, int] = (0, 5),
    until: datetime | None = None,
    days: int = 365,
    product_column: bool = False,
) -> int:
    """Write handle,order_id,amount,time (ISO 8601 UTC) for the audience; returns the number of orders.

    Deterministic for the seed and `until` (default: today 00:00 UTC). Communities differ in order count,
    spend and recency; influencers order more, and more expensive things. Handles are without '@'.
    """
    low, high = orders_per_user
    if low < 0 or high < low:
        raise ValueError("orders_per_user must be (low, high) with 0 <= low <= high")
    end = until or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(f"{seed}:orders")
    rows: list[tuple[datetime, str, float, str]] = []
    for user in users:
        community = communities[user.community]
        n = high if user.influencer else round(rng.randint(low, high) * community.order_rate)
        for _ in range(max(low, min(high, n))):
            index = rng.choice(community.products) if rng.random() < 0.7 else rng.randrange(len(phrases.PRODUCTS))
            en, _zh, price = phrases.PRODUCTS[index]
            quantity = rng.choices((1, 2, 3, 4), weights=(75, 17, 6, 2))[0]
            amount = price * quantity * community.spend * (1.4 if user.influencer else 1.0)
            amount *= rng.uniform(0.85, 1.15)
            if rng.random() < 0.2:
                amount *= 0.9  # a coupon
            amount = max(9.9, round(amount, 1) - 0.01 if rng.random() < 0.5 else round(amount, 2))
            age = days * (rng.random() ** community.recency)
            when = (end - timedelta(days=age)).replace(microsecond=0)
            rows.append((when, user.username, round(amount, 2), en))
    rows.sort(key=lambda r: (r[0], r[1]))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["handle", "order_id", "amount", "time"] + (["product"] if product_column else []))
        for seq, (when, handle, amount, product) in enumerate(rows, start=1):
            row = [handle, f"LH{100000 + seq}", f"{amount:.2f}", when.strftime("%Y-%m-%dT%H:%M:%SZ")]
            writer.writerow(row + ([product] if product_column else []))
    return len(rows)
