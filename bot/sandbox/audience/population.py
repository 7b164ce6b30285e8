"""Who the simulated audience is: communities with their tastes and temper, users with names, planted influencers.

Every choice comes from the audience's one random.Random, in a fixed order, so a seed gives the same people.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bot.sandbox import phrases
from bot.sandbox.audience.transport import AudienceError

_BASE_INTENT_WEIGHTS: dict[str, float] = {
    "question": 30,
    "complaint": 18,
    "coupon_request": 15,
    "praise": 22,
    "opt_out": 4,
    "other": 11,
}


@dataclass
class Community:
    index: int
    zh_share: float  # chance a member writes in Chinese
    intent_weights: dict[str, float]
    products: list[int]  # favourite product indices (orders and texts lean on them)
    spend: float  # order amount multiplier
    order_rate: float  # order count multiplier
    recency: float  # exponent on order age: >1 recent buyers, <1 lapsed


@dataclass
class SimUser:
    username: str
    name: str
    community: int
    influencer: bool
    chinese: bool
    id: str = ""


def make_communities(rng: random.Random, count: int) -> list[Community]:
    out: list[Community] = []
    n_products = len(phrases.PRODUCTS)
    for i in range(count):
        weights = {k: v * rng.uniform(0.6, 1.5) for k, v in _BASE_INTENT_WEIGHTS.items()}
        if i % 3 == 1:
            weights["complaint"] *= 2.2  # a grumpy community
        if i % 3 == 2:
            weights["praise"] *= 2.0  # fans
        favourites = rng.sample(range(n_products), k=min(3, n_products))
        out.append(
            Community(
                index=i,
                zh_share=0.85 if i % 4 == 0 else round(rng.uniform(0.02, 0.25), 2),
                intent_weights=weights,
                products=favourites,
                spend=round(rng.uniform(0.6, 1.8), 2),
                order_rate=round(rng.uniform(0.5, 1.5), 2),
                recency=round(rng.uniform(0.5, 2.5), 2),
            )
        )
    return out


def make_users(
    rng: random.Random, communities: list[Community], count: int, influencers: int, shop_handle: str
) -> list[SimUser]:
    n = len(communities)
    sizes = [rng.uniform(0.5, 2.0) for _ in range(n)]
    taken: set[str] = {shop_handle.lower()}
    users: list[SimUser] = []
    for i in range(count):
        community = i if i < n else rng.choices(range(n), weights=sizes)[0]
        chinese = rng.random() < communities[community].zh_share
        username, name = _make_name(rng, chinese, taken)
        users.append(SimUser(username, name, community, False, chinese))
    # influencers: one per community in turn, picked among that community's members
    by_community: dict[int, list[SimUser]] = {}
    for u in users:
        by_community.setdefault(u.community, []).append(u)
    for k in range(influencers):
        pool = [u for u in by_community[k % n] if not u.influencer] or [u for u in users if not u.influencer]
        rng.choice(pool).influencer = True
    if count >= 20:  # one user with an SQL-looking handle and a hostile display name
        victim = next(u for u in reversed(users) if not u.influencer)
        if phrases.SQL_USER[0] not in taken:
            victim.username, victim.name = phrases.SQL_USER
            victim.chinese = False
    return users


def _make_name(rng: random.Random, chinese: bool, taken: set[str]) -> tuple[str, str]:
    for attempt in range(1000):
        if chinese:
            (sp, sh), (gp, gh) = rng.choice(phrases.PINYIN_SURNAMES), rng.choice(phrases.PINYIN_GIVEN)
            if rng.random() < 0.4:
                gp2, gh2 = rng.choice(phrases.PINYIN_GIVEN)
                gp, gh = gp + gp2, gh + gh2
            styles = (f"{gp}_{sp}", f"{sp}{gp}", f"{gp}{sp}")
            base, name = rng.choice(styles), sh + gh
        else:
            given, surname = rng.choice(phrases.GIVEN_EN), rng.choice(phrases.SURNAMES_EN)
            surname = surname.replace("ü", "u")
            base = rng.choice((f"{given}_{surname}", f"{given}{surname}", f"{given}.{surname}"))
            base = base.replace(".", "_")
            name = f"{given.title()} {surname.title()}"
        suffix = str(rng.randint(1, 99 if attempt < 50 else 99999))
        username = (base[: 15 - len(suffix)] + suffix) if rng.random() < 0.8 or attempt else base[:15]
        if username.lower() not in taken:
            taken.add(username.lower())
            return username, name
    raise AudienceError("could not make a unique username")
