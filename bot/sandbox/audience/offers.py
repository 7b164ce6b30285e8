"""Planted truth for coupon campaigns with several discount depths: how each community of the simulated audience
answers a discount, and the orders that follow (redemptions with the coupon code, and the held-out people's own
orders).

Each community gets a response curve to the depth d (a share of the order value): the chance a person with a
code orders while it is valid is base + lift / (1 + exp(-(d - threshold) / WIDTH)), rising with depth; without a
code (the holdout) they order with the chance `base`. A community's threshold is one of THRESHOLDS (by its index,
with a seeded jitter), so communities differ in the depth they need: price-insensitive ones buy at any depth,
others only from about 10% or 15% off. The margin of an order is its value x (MARGIN_RATE - d), falling with
depth, so the best depth (most margin per person) differs by community. A person's order value is their
community's spend x BASKET x a personal factor.

The bot never sees these parameters: the communities show in what the audience does (the graph, the segments),
and the curves only in the orders. `respond()` is deterministic per seed: each person's outcome comes from a
random.Random of the seed, their handle and the moment they were drawn, whatever the order of the list.
"""

from __future__ import annotations

import csv
import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.sandbox.audience.population import Community, SimUser
from bot.settings.coupons import parse_depth

MARGIN_RATE = 0.35  # the simulated shop's margin on an order's value before any discount
BASKET = 180.0  # mean order value (x the community's spend)
THRESHOLDS = (0.0, 0.075, 0.125)  # depth at which a community answers: buys anyway, ~10% needed, ~15% needed
WIDTH = 0.008


@dataclass(frozen=True)
class ResponseCurve:
    base: float  # chance of an order in the window without a coupon
    lift: float  # extra chance once the discount is deep enough
    threshold: float

    def conversion(self, depth: float) -> float:
        if depth <= 0:
            return self.base
        return min(1.0, self.base + self.lift / (1 + math.exp(-(depth - self.threshold) / WIDTH)))

    def margin(self, depth: float, value: float) -> float:
        """Expected margin per person given this depth (0: no coupon) on orders worth `value`."""
        return self.conversion(depth) * value * (MARGIN_RATE - depth)


@dataclass(frozen=True)
class IssuedOffer:
    """A person in a campaign: a code with its depth, or held out (code and depth None)."""

    handle: str
    code: str | None
    depth: str | None  # "10%" or an amount ("¥20")
    issued_at: datetime
    valid_for: timedelta


@dataclass(frozen=True)
class OfferOrder:
    handle: str
    order_id: str
    amount: float  # paid (after the discount)
    time: datetime
    code: str | None  # None: an order without a coupon (a held-out person's)


class PlantedOffers:
    def __init__(
        self,
        seed: int,
        communities: Sequence[Community],
        users: Sequence[SimUser],
        history: Mapping[str, int] | None = None,
    ) -> None:
        """Curves per community; with `history` (handle -> orders in the shop's order history), per buying habit
        instead: regular buyers (3 orders or more) buy at any depth, occasional ones (1-2) from about 10% off,
        people who never ordered from about 15% off, each with their community's spend."""
        self.seed = seed
        self.history = {h.lower(): n for h, n in (history or {}).items()} if history is not None else None
        rng = random.Random(f"{seed}:offers")
        groups = len(communities) if history is None else len(THRESHOLDS)
        self.curves = [
            ResponseCurve(
                base=round(rng.uniform(0.04, 0.08), 4),
                lift=round(rng.uniform(0.22, 0.32), 4),
                threshold=round(THRESHOLDS[i % len(THRESHOLDS)] + rng.uniform(-0.005, 0.005), 4),
            )
            for i in range(groups)
        ]
        self.spend = [c.spend for c in communities]
        self.by_handle = {u.username.lower(): u for u in users}

    def group_of(self, handle: str) -> int | None:
        """The planted group: the community, or with a history the buying habit (0 regular, 1 occasional, 2 never)."""
        user = self.by_handle.get(handle.lower().lstrip("@"))
        if user is None:
            return None
        if self.history is None:
            return user.community
        orders = self.history.get(user.username.lower(), 0)
        return 0 if orders >= 3 else 1 if orders >= 1 else 2

    def curve_of(self, handle: str) -> ResponseCurve | None:
        group = self.group_of(handle)
        return None if group is None else self.curves[group]

    def value_of(self, handle: str) -> float:
        """The person's mean order value before any discount."""
        user = self.by_handle.get(handle.lower().lstrip("@"))
        if user is None:
            return BASKET
        personal = random.Random(f"{self.seed}:value:{user.username}").uniform(0.7, 1.3)
        return BASKET * self.spend[user.community] * personal

    def depth_share(self, label: str, value: float) -> float:
        depth = parse_depth(label)
        return depth.value if depth.kind == "percent" else min(depth.value / value, 1.0)

    def expected_margin(self, handle: str, label: str | None) -> float:
        """The planted expected margin of this person given a depth (None: held out)."""
        curve = self.curve_of(handle)
        if curve is None:
            return 0.0
        value = self.value_of(handle)
        return curve.margin(0.0 if label is None else self.depth_share(label, value), value)

    def best_depth(self, handles: Sequence[str], labels: Sequence[str]) -> tuple[str, dict[str, float]]:
        """The planted best of `labels` for a group of people (most margin per person) and each one's margin."""
        margins = {
            label: sum(self.expected_margin(h, label) for h in handles) / max(len(handles), 1) for label in labels
        }
        return max(labels, key=lambda label: margins[label]), margins

    def respond(self, offers: Sequence[IssuedOffer]) -> list[OfferOrder]:
        """The orders these offers bring: a person with a code orders with its depth's chance and redeems it; a
        held-out person orders with their base chance, at full price. Time: within the code's validity."""
        out: list[OfferOrder] = []
        for offer in offers:
            curve = self.curve_of(offer.handle)
            if curve is None:
                continue
            rng = random.Random(f"{self.seed}:respond:{offer.handle.lower()}:{offer.issued_at.isoformat()}")
            value = self.value_of(offer.handle) * rng.uniform(0.8, 1.2)
            share = 0.0 if offer.depth is None else self.depth_share(offer.depth, value)
            if rng.random() >= curve.conversion(share):
                continue
            when = offer.issued_at + offer.valid_for * rng.uniform(0.02, 0.95)
            paid = value * (1 - share)
            digest = hashlib.sha256(f"{self.seed}:{offer.handle}:{offer.issued_at.isoformat()}".encode()).hexdigest()
            out.append(
                OfferOrder(
                    offer.handle, f"CP{digest[:12].upper()}", round(paid, 2), when.replace(microsecond=0), offer.code
                )
            )
        return out

    def ground_truth(self) -> dict[str, Any]:
        return {"margin_rate": MARGIN_RATE, "curves": [c.__dict__ for c in self.curves]}


def write_redemptions_csv(path: str | Path, orders: Sequence[OfferOrder]) -> int:
    """The redeemed orders as `socialbot coupons import-redemptions` reads them: code,order_id,amount,time,handle."""
    rows = [o for o in orders if o.code]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["code", "order_id", "amount", "time", "handle"])
        for o in sorted(rows, key=lambda o: (o.time, o.order_id)):
            writer.writerow([o.code, o.order_id, f"{o.amount:.2f}", o.time.strftime("%Y-%m-%dT%H:%M:%SZ"), o.handle])
    return len(rows)


def append_orders_csv(path: str | Path, orders: Sequence[OfferOrder]) -> int:
    """Every order (redeemed or not) added to the shop's orders CSV, whose columns must be handle,order_id,amount,time
    (as write_orders_csv writes them without products or posts; the header is written when the file is new)."""
    target = Path(path)
    new = not target.exists() or target.stat().st_size == 0
    with target.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(["handle", "order_id", "amount", "time"])
        for o in sorted(orders, key=lambda o: (o.time, o.order_id)):
            writer.writerow([o.handle, o.order_id, f"{o.amount:.2f}", o.time.strftime("%Y-%m-%dT%H:%M:%SZ")])
    return len(orders)


def order_history(path: str | Path) -> dict[str, int]:
    """handle -> orders in a shop's orders CSV (as write_orders_csv writes it)."""
    counts: dict[str, int] = {}
    with Path(path).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            handle = (row.get("handle") or "").strip().lstrip("@").lower()
            if handle:
                counts[handle] = counts.get(handle, 0) + 1
    return counts
