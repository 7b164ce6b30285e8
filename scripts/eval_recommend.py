#!/usr/bin/env python3
"""How well the recommender predicts what people order next, against the popularity baseline, in one run.

Data: the simulated audience (bot/sandbox/audience/, seeded; no sandbox server is needed to write orders)
writes its orders CSV with a product column: each community prefers three of the ten products. With --mentions M
each person also writes about M product questions (English or Chinese, leaning on the community's favourites the
way the audience does), which reach the recommender as mention signals.

Holdout (--holdout last, the default): for everyone with at least two orders, the most recent order is the test
set; with --holdout share, a random --test-share of each person's orders (at least one, never all). The
recommender is fitted on the rest (orders before the cut, all mentions). A test product the person already
ordered in the training part cannot be recommended (bought products are excluded) and is left out of their
test set; people left with no test product are skipped (counted in the output).

For each test person: top-5 from collaborative filtering (Recommender.recommend) and from popularity alone
(the most ordered products, recency-weighted, minus what they bought). precision@5 = hits / 5, recall@5 =
hits / test products, hit rate = share of people with at least one hit; means over the test people.

Last line: RESULT precision_at_5=X popularity_precision_at_5=Y
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.adapters.orders import Order, read_orders_csv  # noqa: E402
from bot.domains.audience.recommend import (  # noqa: E402
    Catalogue,
    Recommendation,
    RecommendConfig,
    Recommender,
    catalogue_from,
    user_key,
)
from bot.sandbox import phrases  # noqa: E402
from bot.sandbox.audience import Audience  # noqa: E402

K = 5
UNTIL = datetime(2026, 11, 30, tzinfo=UTC)


def progress(message: str) -> None:
    print(message, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--communities", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--orders-per-user", default="1,8", help="low,high orders per person (default 1,8)")
    parser.add_argument("--mentions", type=float, default=1.0, help="product mentions per person, on average")
    parser.add_argument("--holdout", choices=("last", "share"), default="last")
    parser.add_argument("--test-share", type=float, default=0.2)
    parser.add_argument("--neighbours", type=int, default=RecommendConfig.neighbours)
    parser.add_argument("--min-neighbours", type=int, default=RecommendConfig.min_neighbours)
    parser.add_argument("--mention-weight", type=float, default=RecommendConfig.mention_weight)
    parser.add_argument("--order-weight", type=float, default=RecommendConfig.order_weight)
    return parser.parse_args(argv)


def simulated_data(args: argparse.Namespace, folder: Path) -> tuple[list[Order], list[tuple[str, str]], Audience]:
    low, high = (int(x) for x in args.orders_per_user.split(","))
    audience = Audience("http://127.0.0.1:9", "lumenhome", seed=args.seed, users=args.users,
                        communities=args.communities, influencers=min(3, args.users - 1))  # fmt: skip
    path = folder / "orders.csv"
    audience.write_orders_csv(path, orders_per_user=(low, high), until=UNTIL, product_column=True)
    audience.close()
    orders, problems = read_orders_csv(path)
    if problems:
        raise SystemExit(f"the simulated orders CSV has problems: {problems[:3]}")
    rng = random.Random(f"{args.seed}:mentions")
    mentions: list[tuple[str, str]] = []
    for user in audience.users:
        favourites = audience.communities[user.community].products
        count = rng.choices(range(4), weights=(1, 1, 0.6, 0.4))[0] if args.mentions > 0 else 0
        count = round(count * args.mentions)
        for _ in range(count):
            index = rng.choice(favourites) if rng.random() < 0.7 else rng.randrange(len(phrases.PRODUCTS))
            en, zh, _price = phrases.PRODUCTS[index]
            language = "zh" if (user.chinese and rng.random() < 0.85) else "en"
            template = rng.choice([t for t in phrases.TEMPLATES["question"][language] if "{product}" in t])
            text = template.format(product=zh if language == "zh" else en, order="#123456")
            mentions.append((user_key(user.username), f"@lumenhome {text}"))
    return orders, mentions, audience


def split(orders: list[Order], args: argparse.Namespace) -> tuple[list[Order], dict[str, set[str]], int]:
    """(training orders, held-out products per user key, people skipped for having no new test product)."""
    by_user: dict[str, list[Order]] = defaultdict(list)
    for order in orders:
        by_user[user_key(order.handle)].append(order)
    rng = random.Random(f"{args.seed}:split")
    train: list[Order] = []
    test: dict[str, set[str]] = {}
    skipped = 0
    for key, mine in by_user.items():
        mine.sort(key=lambda o: (o.time, o.order_id))
        if len(mine) < 2:
            train.extend(mine)
            continue
        if args.holdout == "last":
            held = [mine[-1]]
        else:
            count = min(len(mine) - 1, max(1, round(len(mine) * args.test_share)))
            held = rng.sample(mine, count)
        held_ids = {o.order_id for o in held}
        kept = [o for o in mine if o.order_id not in held_ids]
        train.extend(kept)
        bought = {o.product for o in kept}
        new = {o.product for o in held if o.product and o.product not in bought}
        if new:
            test[key] = new  # type: ignore[assignment]
        else:
            skipped += 1
    return train, test, skipped


def score(recs: list[list[Recommendation]], truth: list[set[str]]) -> tuple[float, float, float]:
    precision = recall = hits = 0.0
    for mine, wanted in zip(recs, truth, strict=True):
        got = len({r.product for r in mine[:K]} & wanted)
        precision += got / K
        recall += got / len(wanted)
        hits += got > 0
    n = max(len(truth), 1)
    return precision / n, recall / n, hits / n


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        orders, mentions, _audience = simulated_data(args, Path(tmp))
    progress(
        f"data: {args.users} people in {args.communities} communities, {len(orders)} orders, "
        f"{len(mentions)} product mentions ({time.perf_counter() - started:.1f} s)"
    )
    train, test, skipped = split(orders, args)
    progress(
        f"holdout {args.holdout}: {len(train)} training orders, {len(test)} test people "
        f"({skipped} skipped: their held-out products were all bought before)"
    )
    extra = [(en, [zh], {"price": price}) for en, zh, price in phrases.PRODUCTS]
    catalogue: Catalogue = catalogue_from(None, extra)
    config = RecommendConfig(
        neighbours=args.neighbours,
        min_neighbours=args.min_neighbours,
        mention_weight=args.mention_weight,
        order_weight=args.order_weight,
    )
    fit_started = time.perf_counter()
    recommender = Recommender.from_data(orders=train, mentions=mentions, catalogue=catalogue, now=UNTIL, config=config)
    progress(
        f"fitted: {len(recommender.users)} people x {len(recommender.products)} products "
        f"({time.perf_counter() - fit_started:.2f} s)"
    )
    keys = sorted(test)
    truth = [test[k] for k in keys]
    answer_started = time.perf_counter()
    cf = recommender.recommend_many(keys, K)
    progress(f"recommended for {len(keys)} people ({time.perf_counter() - answer_started:.2f} s)")
    bought: dict[str, set[str]] = defaultdict(set)
    for order in train:
        if order.product:
            bought[user_key(order.handle)].add(order.product)
    popular = [recommender.popular(K, exclude=bought[k]) for k in keys]
    cf_p, cf_r, cf_h = score(cf, truth)
    pop_p, pop_r, pop_h = score(popular, truth)
    from_cf = sum(1 for mine in cf for r in mine if r.reason != "popular")
    progress(f"collaborative filtering: precision@5={cf_p:.4f} recall@5={cf_r:.4f} hit_rate@5={cf_h:.4f}")
    progress(f"popularity baseline:     precision@5={pop_p:.4f} recall@5={pop_r:.4f} hit_rate@5={pop_h:.4f}")
    progress(
        f"{from_cf} of {sum(len(m) for m in cf)} recommended slots came from similar people "
        f"(the rest: popular fill); total {time.perf_counter() - started:.1f} s"
    )
    print(f"RESULT precision_at_5={cf_p:.4f} popularity_precision_at_5={pop_p:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
