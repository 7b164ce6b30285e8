"""Winning variants: a Thompson-sampling bandit over a campaign's template variants (`variants: learn`).

Each variant's engagement rate per impression (rates.py's engagements: likes + reposts + replies + quotes + bookmarks
+ link clicks; per follower where the platform counts no views) has a Beta(1 + E, 1 + D - E) posterior, E and D
summed over the variant's posts. For a slot, one rate is drawn from each posterior and the highest draw wins, so
a variant is sent about as often as it is likely to be the best: a clear winner takes most slots, close ones share.

Exploration floor: with probability FLOOR (10%) the slot goes to a variant drawn uniformly instead, so each of n
variants keeps at least FLOOR / n of the slots (5% each for two, 2.5% for four) and a variant that started badly
can still show it was unlucky.

On revenue (`learn_on: revenue`, or `auto` once the campaign's posts have ATTRIBUTED_ENOUGH orders attributed by
their UTM links, attribution.py): each variant's revenue per impression, with the post as the unit (posts sell
very unevenly), drawn from a normal around its ratio estimate shrunk toward the campaign's: rank_variants_by_revenue.

Deterministic per slot: the draw is seeded by the campaign, the account and the slot time (`slot_seed`), so a re-run
or a second daemon with the same readings picks the same variant for the same slot. Pure: numpy only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from bot.core.clock import ensure_utc

FLOOR = 0.10  # share of slots that explore uniformly: each variant keeps at least FLOOR / n_variants
ATTRIBUTED_ENOUGH = 10  # `learn_on: auto` learns on revenue once this many of the campaign's orders name its posts

PRIOR_POSTS = 2.0  # how many posts the campaign's pooled revenue rate is worth in each variant's posterior

Stats = Mapping[int, tuple[float, float]]  # variant index -> (engagements, impressions)


def slot_seed(campaign: str, slot_at: datetime, account: str | None = None) -> int:
    """A 64-bit seed from the campaign, the account and the slot (UTC, to the second): the same slot, the same draw."""
    text = f"{campaign}\x1f{account or ''}\x1f{int(ensure_utc(slot_at).timestamp())}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _rng(seed: int | str) -> np.random.Generator:
    if isinstance(seed, str):
        seed = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    return np.random.default_rng(seed)


def _order(variants: list[int], draws: np.ndarray) -> list[int]:
    """The variants by their draws, best first, ties by index."""
    return [variants[i] for i in np.lexsort((np.arange(len(variants)), -draws)).tolist()]


def _explore(rng: np.random.Generator, variants: list[int], floor: float) -> int | None:
    """With probability `floor`, a variant drawn uniformly to go first (the exploration floor); drawn from `rng`
    before the posterior draws, so a seed gives the same slot the same choice."""
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"floor must be between 0 and 1, not {floor}")
    explore = rng.random() < floor
    pick = int(rng.integers(len(variants)))
    return variants[pick] if explore else None


def _first(order: list[int], pick: int | None) -> list[int]:
    if pick is not None:
        order.remove(pick)
        order.insert(0, pick)
    return order


def rank_variants(stats: Stats, seed: int | str, *, floor: float = FLOOR) -> list[int]:
    """Every variant of `stats`, the one this slot sends first, then the rest by their draws (best first): the
    order the duplicate-text rule walks when the first one's text was already posted."""
    if not stats:
        return []
    variants = sorted(stats)
    rng = _rng(seed)
    pick = _explore(rng, variants, floor)
    engaged = np.array([max(0.0, float(stats[v][0])) for v in variants])
    shown = np.array([max(0.0, float(stats[v][1])) for v in variants])
    engaged = np.minimum(engaged, shown)
    draws = rng.beta(1.0 + engaged, 1.0 + shown - engaged)
    return _first(_order(variants, draws), pick)


@dataclass(frozen=True)
class RevenueStats:
    """One variant's posts for the revenue bandit: how many, and the sums the ratio estimator needs (revenue r and
    exposure x of each post: Σr, Σx, Σr², Σx², Σrx)."""

    posts: int = 0
    revenue: float = 0.0
    exposure: float = 0.0
    rr: float = 0.0
    xx: float = 0.0
    rx: float = 0.0

    def add(self, revenue: float, exposure: float) -> RevenueStats:
        return RevenueStats(
            self.posts + 1,
            self.revenue + revenue,
            self.exposure + exposure,
            self.rr + revenue * revenue,
            self.xx + exposure * exposure,
            self.rx + revenue * exposure,
        )

    def merged(self, other: RevenueStats) -> RevenueStats:
        return RevenueStats(
            self.posts + other.posts,
            self.revenue + other.revenue,
            self.exposure + other.exposure,
            self.rr + other.rr,
            self.xx + other.xx,
            self.rx + other.rx,
        )

    @property
    def rate(self) -> float:
        return self.revenue / self.exposure if self.exposure > 0 else 0.0

    def post_variance(self) -> float | None:
        """The variance of one post's revenue per impression around the ratio (None below two posts)."""
        if self.posts < 2 or self.exposure <= 0:
            return None
        rate = self.rate
        spread = max(0.0, self.rr - 2 * rate * self.rx + rate * rate * self.xx) / (self.posts - 1)
        mean_exposure = self.exposure / self.posts
        return spread / (mean_exposure * mean_exposure)


def rank_variants_by_revenue(stats: Mapping[int, RevenueStats], seed: int | str, *, floor: float = FLOOR) -> list[int]:
    """Like rank_variants, on revenue per impression (per follower where the platform counts no views), with the
    post as the unit, so a campaign whose posts sell very unevenly (a product people love, a viral hour) is not
    taken for certain after a few lucky posts: each variant's rate is drawn from a normal around its ratio
    estimate shrunk toward the campaign's pooled rate (worth PRIOR_POSTS posts), whose spread is the variance of
    one post's rate (the variant's, itself shrunk toward the campaign's) over the posts behind it."""
    if not stats:
        return []
    variants = sorted(stats)
    rng = _rng(seed)
    pick = _explore(rng, variants, floor)
    pooled = RevenueStats()
    for v in variants:
        pooled = pooled.merged(stats[v])
    pooled_rate = pooled.rate
    pooled_variance = pooled.post_variance()
    if pooled_variance is None or pooled_variance <= 0:
        pooled_variance = max(pooled_rate, 1e-9) ** 2  # no spread seen yet: as wide as the rate itself
    means, sds = [], []
    for v in variants:
        mine = stats[v]
        own = mine.post_variance()
        variance = (
            pooled_variance
            if own is None
            else (mine.posts * own + PRIOR_POSTS * pooled_variance) / (mine.posts + PRIOR_POSTS)
        )
        weight = mine.posts + PRIOR_POSTS
        means.append((mine.posts * mine.rate + PRIOR_POSTS * pooled_rate) / weight)
        sds.append(float(np.sqrt(variance / weight)))
    draws = rng.normal(np.array(means), np.array(sds))
    return _first(_order(variants, draws), pick)


def choose_variant(stats: Stats, seed: int | str, floor: float = FLOOR) -> int:
    """The variant index this slot sends: Thompson sampling on engagements / impressions with an exploration floor.
    `stats` maps each variant index (all of them: an untried one as (0, 0)) to (engagements, impressions)."""
    order = rank_variants(stats, seed, floor=floor)
    if not order:
        raise ValueError("choose_variant needs at least one variant")
    return order[0]


def variant_stats(
    variants: Sequence[object], engagements: Sequence[float], denominators: Sequence[float], n: int
) -> dict[int, tuple[float, float]]:
    """(engagements, impressions) summed per variant index 0..n-1 from per-post columns (the variant as stored:
    "0", "1", ...); posts without a number or a denominator, and indexes beyond n, are left out."""
    totals = {i: [0.0, 0.0] for i in range(n)}
    for variant, engaged, shown in zip(variants, engagements, denominators, strict=True):
        try:
            index = int(str(variant))
        except ValueError:
            continue
        if index not in totals or not np.isfinite(shown) or shown <= 0 or not np.isfinite(engaged):
            continue
        totals[index][0] += min(float(engaged), float(shown))
        totals[index][1] += float(shown)
    return {i: (e, d) for i, (e, d) in totals.items()}


def revenue_stats(
    variants: Sequence[object],
    outbox_keys: Sequence[object],
    denominators: Sequence[float],
    money: Mapping[str, tuple[float, float]],
    n: int,
) -> dict[int, RevenueStats]:
    """RevenueStats per variant index 0..n-1 from per-post columns (each post's latest reading) and `money` (outbox
    key -> (orders, revenue) it brought); posts without a number or a denominator are left out."""
    totals = {i: RevenueStats() for i in range(n)}
    for variant, key, shown in zip(variants, outbox_keys, denominators, strict=True):
        try:
            index = int(str(variant))
        except ValueError:
            continue
        if index not in totals or not np.isfinite(shown) or shown <= 0:
            continue
        _, revenue = money.get(str(key), (0.0, 0.0)) if key is not None else (0.0, 0.0)
        totals[index] = totals[index].add(revenue, float(shown))
    return totals


@dataclass(frozen=True)
class Simulation:
    """Bandit against uniform rotation over the same slots: expected regret (the best variant's rate minus the
    chosen one's, summed over the slots, in engagements per impression) and each variant's share of the bandit's
    sends."""

    slots: int
    bandit_regret: float
    rotation_regret: float
    shares: tuple[float, ...]

    @property
    def ratio(self) -> float:
        """The bandit's regret / rotation's (lower is better; rotation's is never 0 with two distinct appeals)."""
        return self.bandit_regret / self.rotation_regret if self.rotation_regret > 0 else 0.0


def simulate(
    appeal: Sequence[float],
    slots: int,
    *,
    impressions: int = 1000,
    seed: int = 0,
    floor: float = FLOOR,
    campaign: str = "simulated",
) -> Simulation:
    """`slots` slots of one campaign whose variants have the planted engagement rates `appeal` (per impression):
    each slot's post is seen `impressions` times and engages binomially; the bandit sees the readings of the
    earlier slots. Returns its regret beside uniform rotation's (slot k -> variant k % n)."""
    rates = np.asarray(appeal, dtype=np.float64)
    if rates.ndim != 1 or not len(rates) or ((rates < 0) | (rates > 1)).any():
        raise ValueError("appeal must be one engagement rate between 0 and 1 per variant")
    rng = np.random.default_rng(seed)
    n = len(rates)
    engaged = np.zeros(n)
    shown = np.zeros(n)
    sent = np.zeros(n)
    best = float(rates.max())
    bandit = 0.0
    for k in range(slots):
        stats = {i: (float(engaged[i]), float(shown[i])) for i in range(n)}
        chosen = choose_variant(stats, f"{campaign}:{seed}:{k}", floor=floor)
        sent[chosen] += 1
        bandit += best - float(rates[chosen])
        engaged[chosen] += rng.binomial(impressions, rates[chosen])
        shown[chosen] += impressions
    rotation = float(sum(best - rates[k % n] for k in range(slots)))
    shares = tuple(float(s / slots) if slots else 0.0 for s in sent)
    return Simulation(slots, bandit, rotation, shares)
