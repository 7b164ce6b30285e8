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

Uplift types (with `traits`: what each person did before the campaigns): some buy anyway, coupon or not (sure
things: SURE_RATE), some never buy (lost causes: LOST_RATE), the rest (persuadables) answer the depth curve of
their group. The type is drawn per person (seeded by the seed and the handle) with chances that follow what the bot
can see through its own data only: sure things are mostly regular, recent buyers (the orders CSV); lost causes
mostly people who complained to the shop (the mentions the bot classifies) or never ordered and barely engage.

The bot never sees these parameters: the communities show in what the audience does (the graph, the segments),
and the curves and types only in the orders. `respond()` is deterministic per seed: each person's outcome comes from a
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
SURE_RATE = 0.40  # a sure thing orders in the window with this chance, coupon or not
LOST_RATE = 0.01  # a lost cause, coupon or not
SURE, PERSUADABLE, LOST = "sure thing", "persuadable", "lost cause"


@dataclass(frozen=True)
class Traits:
    """What a person did before the campaigns, as the bot can see it too: orders in the shop's history, days since
    the last one, complaints written to the shop, and actions (mentions, replies, likes...)."""

    orders: int = 0
    last_order_days: float | None = None
    complaints: int = 0
    actions: int = 0


def type_chances(traits: Traits) -> tuple[float, float]:
    """(chance of being a sure thing, chance of being a lost cause) for these traits."""
    recent = traits.last_order_days is not None and traits.last_order_days <= 120
    if traits.orders >= 3:
        sure = 0.8 if recent else 0.45
    elif traits.orders >= 1:
        sure = 0.15 if recent else 0.05
    else:
        sure = 0.0
    if traits.complaints >= 2:
        lost = 0.85
    elif traits.complaints == 1:
        lost = 0.45
    elif traits.orders == 0 and traits.actions <= 4:
        lost = 0.5
    else:
        lost = 0.05
    lost = min(lost, 1.0 - sure)
    return sure, lost


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
        traits: Mapping[str, Traits] | None = None,
    ) -> None:
        """Curves per community; with `history` (handle -> orders in the shop's order history), per buying habit
        instead: regular buyers (3 orders or more) buy at any depth, occasional ones (1-2) from about 10% off,
        people who never ordered from about 15% off, each with their community's spend. With `traits` (handle ->
        Traits), people also differ in uplift: sure things, persuadables and lost causes (see the module)."""
        self.seed = seed
        self.kinds: dict[str, str] = {}
        for handle, person in sorted((traits or {}).items()):
            sure, lost = type_chances(person)
            u = random.Random(f"{seed}:uplift-type:{handle.lower()}").random()
            self.kinds[handle.lower()] = SURE if u < sure else LOST if u < sure + lost else PERSUADABLE
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

    def kind_of(self, handle: str) -> str:
        """The planted uplift type (persuadable when no traits were given)."""
        return self.kinds.get(handle.lower().lstrip("@"), PERSUADABLE)

    def conversion(self, handle: str, share: float) -> float:
        """The planted chance this person orders in the window given a discount of `share` (0: no coupon)."""
        curve = self.curve_of(handle)
        if curve is None:
            return 0.0
        kind = self.kind_of(handle)
        if kind == SURE:
            return SURE_RATE
        if kind == LOST:
            return LOST_RATE
        return curve.conversion(share)

    def incremental(self, handle: str, label: str | None) -> float:
        """The planted incremental chance of an order a code of this depth brings this person (None: the one
        depth of a campaign is unknown: 0)."""
        if label is None:
            return 0.0
        share = self.depth_share(label, self.value_of(handle))
        return self.conversion(handle, share) - self.conversion(handle, 0.0)

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
        if self.curve_of(handle) is None:
            return 0.0
        value = self.value_of(handle)
        share = 0.0 if label is None else self.depth_share(label, value)
        return self.conversion(handle, share) * value * (MARGIN_RATE - share)

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
            if rng.random() >= self.conversion(offer.handle, share):
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
        kinds = {kind: sum(1 for k in self.kinds.values() if k == kind) for kind in (SURE, PERSUADABLE, LOST)}
        return {"margin_rate": MARGIN_RATE, "curves": [c.__dict__ for c in self.curves], "uplift_types": kinds}


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


def order_traits(path: str | Path, until: datetime) -> dict[str, tuple[int, float]]:
    """handle -> (orders, days from the last one to `until`) in a shop's orders CSV (as write_orders_csv writes it)."""
    out: dict[str, tuple[int, float]] = {}
    with Path(path).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            handle = (row.get("handle") or "").strip().lstrip("@").lower()
            if not handle:
                continue
            when = datetime.fromisoformat((row.get("time") or "").replace("Z", "+00:00"))
            days = (until - when).total_seconds() / 86_400
            n, last = out.get(handle, (0, days))
            out[handle] = (n + 1, min(last, days))
    return out


def order_history(path: str | Path) -> dict[str, int]:
    """handle -> orders in a shop's orders CSV (as write_orders_csv writes it)."""
    counts: dict[str, int] = {}
    with Path(path).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            handle = (row.get("handle") or "").strip().lstrip("@").lower()
            if handle:
                counts[handle] = counts.get(handle, 0) + 1
    return counts
