"""Discount depth per segment, learned: Thompson sampling over a campaign's `discounts`, maximising the expected
margin per person (the margin of redeemed orders minus what the discount gives away), with the response to the
discount kept monotone (a deeper discount never converts fewer people).

Pure: counts in, estimates out. Per draw, each depth's conversion comes from its Beta posterior (settled coupons:
redeemed or past expiry), the draws are made non-decreasing in depth by weighted isotonic regression (pool
adjacent violators; weight = the depth's coupons + 2), and each depth's margin per person is
conversion x (order value x margin rate - the discount's cost on that order). The order value is the mean list
price (before the discount) of every redeemed order of the segment, pooled over the depths.
The probability a person is drawn a depth is its share of the draws it wins, mixed with a uniform EXPLORE share,
so every depth keeps a positive propensity (any policy can be evaluated offline later).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.core.records import ArmCounts
from bot.settings.coupons import DiscountDepth

DRAWS = 4000
EXPLORE = 0.05  # share of people drawn a depth uniformly, whatever the posterior says
INTERVAL = (5.0, 95.0)  # the report's interval: 90%


@dataclass(frozen=True)
class DepthEstimate:
    depth: DiscountDepth
    settled: int  # coupons whose outcome is known
    redeemed: int
    conversion: float  # posterior mean, monotone in depth
    margin: float  # expected margin per person given this depth (posterior mean)
    low: float  # INTERVAL of the margin per person
    high: float
    p_best: float  # share of posterior draws in which this depth earns most
    draw: float  # the probability the next person is drawn this depth


@dataclass(frozen=True)
class SegmentDepths:
    segment_id: int | None
    depths: list[DepthEstimate]
    order_value: float | None  # mean order value before the discount (None: no redemption yet)

    @property
    def best(self) -> DepthEstimate:
        """The learned best depth: the highest expected margin per person."""
        return max(self.depths, key=lambda d: (d.margin, -d.depth.value))

    @property
    def settled(self) -> int:
        return sum(d.settled for d in self.depths)

    def propensities(self) -> list[float]:
        return [d.draw for d in self.depths]


def isotonic(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-decreasing fit of each row of `values` (draws x depths): for a handful of depths,
    fit_i = max over j <= i of min over k >= i of the weighted mean of j..k (equal to pool adjacent violators)."""
    n = values.shape[-1]
    cum_w = np.concatenate([[0.0], np.cumsum(weights)])
    cum_v = np.concatenate([np.zeros((*values.shape[:-1], 1)), np.cumsum(values * weights, axis=-1)], axis=-1)
    out = np.empty_like(values)
    for i in range(n):
        best = None
        for j in range(i + 1):
            worst = None
            for k in range(i, n):
                mean = (cum_v[..., k + 1] - cum_v[..., j]) / (cum_w[k + 1] - cum_w[j])
                worst = mean if worst is None else np.minimum(worst, mean)
            assert worst is not None
            best = worst if best is None else np.maximum(best, worst)
        assert best is not None
        out[..., i] = best
    return out


def seed_of(*parts: object) -> int:
    """A stable 64-bit seed from the campaign, run and segment (never Python's salted hash)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def uniform_of(*parts: object) -> float:
    """The person's own uniform number in [0, 1) for the depth draw (a hash, like the holdout's)."""
    return seed_of("depth", *parts) / 2**64


class DepthModel:
    """The posterior over a campaign's depths for one segment."""

    def __init__(self, depths: Sequence[DiscountDepth], margin_rate: float, *, draws: int = DRAWS) -> None:
        if len(depths) < 2:
            raise ValueError("a depth model needs at least two depths")
        self.depths = sorted(depths, key=lambda d: d.value)
        self.margin_rate = margin_rate
        self.draws = draws

    def order_value(self, counts: Sequence[ArmCounts]) -> float | None:
        by_label = {d.label: d for d in self.depths}
        redeemed = sum(c.redeemed for c in counts if c.arm in by_label)
        if not redeemed:
            return None
        listed = 0.0
        for c in counts:
            depth = by_label.get(c.arm)
            if depth is None or not c.redeemed:
                continue
            listed += c.paid / (1 - depth.value) if depth.kind == "percent" else c.paid + depth.value * c.redeemed
        return listed / redeemed

    def estimate(self, segment_id: int | None, counts: Sequence[ArmCounts], seed: int) -> SegmentDepths:
        """The posterior of one segment from its counts (depths not among `self.depths` are ignored)."""
        rng = np.random.default_rng(seed)
        mine = {c.arm: c for c in counts}
        settled = np.array([mine[d.label].settled if d.label in mine else 0 for d in self.depths], dtype=float)
        won = np.array([mine[d.label].redeemed if d.label in mine else 0 for d in self.depths], dtype=float)
        won = np.minimum(won, settled)
        conv = rng.beta(1.0 + won, 1.0 + settled - won, size=(self.draws, len(self.depths)))
        conv = isotonic(conv, settled + 2.0)
        value = self.order_value(counts)
        unit = value if value is not None else self._assumed_value()
        per_order = np.array([unit * self.margin_rate - d.cost(unit) for d in self.depths])
        margin = conv * per_order
        winners = np.argmax(margin, axis=1)
        p_best = np.bincount(winners, minlength=len(self.depths)) / self.draws
        draw = (1 - EXPLORE) * p_best + EXPLORE / len(self.depths)
        low, high = np.percentile(margin, INTERVAL, axis=0)
        estimates = [
            DepthEstimate(
                depth=d,
                settled=int(settled[i]),
                redeemed=int(won[i]),
                conversion=float(conv[:, i].mean()),
                margin=float(margin[:, i].mean()),
                low=float(low[i]),
                high=float(high[i]),
                p_best=float(p_best[i]),
                draw=float(draw[i]),
            )
            for i, d in enumerate(self.depths)
        ]
        return SegmentDepths(segment_id, estimates, value)

    def _assumed_value(self) -> float:
        """Before the first redemption: percentages compare on any order value (1); amounts on an order worth
        five times the deepest amount."""
        return 1.0 if self.depths[0].kind == "percent" else 5.0 * self.depths[-1].value


def pick(estimates: SegmentDepths, u: float) -> tuple[DiscountDepth, float]:
    """The depth for a person whose uniform number is `u`, and the probability it had."""
    total = 0.0
    for estimate in estimates.depths:
        total += estimate.draw
        if u < total:
            return estimate.depth, estimate.draw
    last = estimates.depths[-1]
    return last.depth, last.draw
