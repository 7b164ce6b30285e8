"""The shop's order history for a simulated audience, as the CSV the segments and recommendations read.

With `posts` (the shop's posts: text and time), people also click the UTM links in them and order: each post with a
link gets about `post_orders` x appeal^2 x its hour's weight orders (the planted truth of
bot/sandbox/audience/outcomes.py: an appealing variant is clicked more and converts more; a post at a busy hour is
seen by more people), placed within days of the post (half within ~6 h), each row carrying the link's UTM: as
utm_* columns, or as a landing_url column (`utm="landing"`). Orders not from a post have empty UTM.

A post that names one of the audience's products (bot.sandbox.phrases.PRODUCTS, English or Chinese name) sells that
product, to the people online when it went out, in proportion to their communities' planted interest in it: each
community's part of the hour weight (its share x its activity at its local hour) x FAVOURITE_LIFT when the product is
one of its favourites (Community.products), else 1, over the mean of that over the products (so an average product
sells as many as a post without one). Buyers are members of a community drawn by those parts. `product_orders`
gives the expected orders per community (planted truth for evaluations).
"""

from __future__ import annotations

import csv
import math
import random
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from bot.sandbox import phrases
from bot.sandbox.audience.outcomes import PlantedOutcomes
from bot.sandbox.audience.population import Community, SimUser

UTM_COLUMNS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
ORDER_DELAY_HOURS = 8.0  # mean hours from a post to an order it brought (exponential, capped at 7 days)
FAVOURITE_LIFT = 6.0  # how much more a community buys a product it favours from a post naming it
_URL = re.compile(r"https?://\S+")


def named_product(text: str) -> int | None:
    """The index (phrases.PRODUCTS) of the first product a post names in English (any case) or Chinese."""
    lower = text.casefold()
    found: list[tuple[int, int]] = []
    for index, (en, zh, _price) in enumerate(phrases.PRODUCTS):
        for name in (en.casefold(), zh):
            at = lower.find(name)
            if at >= 0:
                found.append((at, index))
    return min(found)[1] if found else None


def product_orders(
    truth: PlantedOutcomes, communities: list[Community], product: int, hour: int, appeal: float, base: float
) -> list[float]:
    """Expected orders per community from one post naming `product` at a UTC hour (see the module docstring)."""
    raw = [c.share * truth.activity((hour + 0.5 + c.utc_offset) % 24, c.peaks) for c in truth.clocks]
    total = sum(raw)
    scale = truth.hour_weight(hour) / total if total > 0 else 0.0
    n = len(phrases.PRODUCTS)
    out: list[float] = []
    for clock, part in zip(truth.clocks, raw, strict=True):
        favourites = communities[clock.community].products
        mean = (len(favourites) * FAVOURITE_LIFT + (n - len(favourites))) / n
        lift = (FAVOURITE_LIFT if product in favourites else 1.0) / mean
        out.append(base * appeal**2 * part * scale * lift)
    return out


def post_link(text: str) -> str | None:
    """The first link in a post that carries a utm_campaign, else None."""
    for url in _URL.findall(text):
        if any(k == "utm_campaign" and v for k, v in parse_qsl(urlsplit(url).query)):
            return url
    return None


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _product_buyers(
    clicker: random.Random,
    truth: PlantedOutcomes,
    communities: list[Community],
    users: list[SimUser],
    product: int,
    hour: int,
    appeal: float,
    base: float,
) -> list[tuple[SimUser, int | None]]:
    buyers: list[tuple[SimUser, int | None]] = []
    parts = product_orders(truth, communities, product, hour, appeal, base)
    for clock, part in zip(truth.clocks, parts, strict=True):
        pool = [u for u in users if u.community == clock.community]
        count = _poisson(clicker, part) if pool else 0
        buyers += [(clicker.choice(pool), product) for _ in range(count)]
    return buyers


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
    posts: Sequence[tuple[str, datetime]] = (),
    planted: PlantedOutcomes | None = None,
    post_orders: float = 2.0,
    utm: str = "columns",
) -> int:
    """Write handle,order_id,amount,time (ISO 8601 UTC) for the audience; returns the number of orders.

    Deterministic for the seed and `until` (default: today 00:00 UTC). Communities differ in order count,
    spend and recency; influencers order more, and more expensive things. Handles are without '@'.
    With `posts` ((text, posted_at) of the shop's posts), also the orders people place after clicking a post's UTM
    link (see the module docstring; `planted` defaults to the audience's PlantedOutcomes for the seed), with the
    UTM in utm_* columns (`utm="columns"`) or a landing_url column (`utm="landing"`).
    """
    if utm not in ("columns", "landing"):
        raise ValueError("utm must be 'columns' or 'landing'")
    low, high = orders_per_user
    if low < 0 or high < low:
        raise ValueError("orders_per_user must be (low, high) with 0 <= low <= high")
    end = until or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(f"{seed}:orders")
    rows: list[tuple[datetime, str, float, str, str]] = []  # (time, handle, amount, product, link)

    def basket(user: SimUser) -> tuple[float, str]:
        community = communities[user.community]
        index = rng.choice(community.products) if rng.random() < 0.7 else rng.randrange(len(phrases.PRODUCTS))
        en, _zh, price = phrases.PRODUCTS[index]
        quantity = rng.choices((1, 2, 3, 4), weights=(75, 17, 6, 2))[0]
        amount = price * quantity * community.spend * (1.4 if user.influencer else 1.0)
        amount *= rng.uniform(0.85, 1.15)
        if rng.random() < 0.2:
            amount *= 0.9  # a coupon
        amount = max(9.9, round(amount, 1) - 0.01 if rng.random() < 0.5 else round(amount, 2))
        return round(amount, 2), en

    for user in users:
        community = communities[user.community]
        n = high if user.influencer else round(rng.randint(low, high) * community.order_rate)
        for _ in range(max(low, min(high, n))):
            amount, product = basket(user)
            age = days * (rng.random() ** community.recency)
            when = (end - timedelta(days=age)).replace(microsecond=0)
            rows.append((when, user.username, amount, product, ""))
    if posts:
        truth = planted or PlantedOutcomes(seed, communities, users)
        clicker = random.Random(f"{seed}:post-orders")
        for text, posted_at in posts:
            link = post_link(text)
            if link is None:
                continue
            hour = posted_at.astimezone(UTC).hour
            named = named_product(text)
            buyers: Iterable[tuple[SimUser, int | None]]
            if named is None:
                mean = post_orders * truth.appeal(text) ** 2 * truth.hour_weight(hour)
                buyers = (
                    (clicker.choice(users), None) for _ in range(_poisson(clicker, mean))
                )  # lazy: draw order kept
            else:
                buyers = _product_buyers(
                    clicker, truth, communities, users, named, hour, truth.appeal(text), post_orders
                )
            for user, index in buyers:
                amount, product = basket(user)
                if index is not None:
                    en, _zh, price = phrases.PRODUCTS[index]
                    amount, product = (
                        round(price * communities[user.community].spend * clicker.uniform(0.9, 1.1), 2),
                        en,
                    )
                delay = min(7 * 24.0, clicker.expovariate(1 / ORDER_DELAY_HOURS))
                when = (posted_at.astimezone(UTC) + timedelta(hours=delay)).replace(microsecond=0)
                rows.append((when, user.username, amount, product, link))
    rows.sort(key=lambda r: (r[0], r[1]))
    extra = [] if not posts else list(UTM_COLUMNS) if utm == "columns" else ["landing_url"]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["handle", "order_id", "amount", "time"] + (["product"] if product_column else []) + extra)
        for seq, (when, handle, amount, product, link) in enumerate(rows, start=1):
            row = [handle, f"LH{100000 + seq}", f"{amount:.2f}", when.strftime("%Y-%m-%dT%H:%M:%SZ")]
            row += [product] if product_column else []
            if posts and utm == "columns":
                query = dict(parse_qsl(urlsplit(link).query)) if link else {}
                row += [query.get(name, "") for name in UTM_COLUMNS]
            elif posts:
                row.append(link)
            writer.writerow(row)
    return len(rows)
