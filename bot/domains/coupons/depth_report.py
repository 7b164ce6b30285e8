"""What the discount depths learned, per campaign (with several `discounts`) and segment, in plain words: the best
depth with its interval and how sure, the margin per person against the holdout's (their own orders while a code
would have been valid, from the orders CSV), and what each depth did."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.domains.coupons.arms import MarginError, learning_set, margin_rate, segment_depths
from bot.domains.coupons.depth import SegmentDepths

if TYPE_CHECKING:
    from bot.adapters.orders import Order
    from bot.core.ports import CouponStore
    from bot.settings.config import Settings


@dataclass
class DepthRow:
    campaign: str
    segment_id: int | None
    segment: str | None  # the segment's label in the latest segmentation
    best: str  # the learned best depth
    p_best: float  # the chance it is the best
    margin: float  # expected margin per person at the best depth
    low: float
    high: float
    settled: int  # coupons whose outcome is known (redeemed or expired)
    held_out: int
    holdout_margin: float | None  # margin per held-out person from their own orders (None: no orders CSV)
    depths: list[dict[str, Any]] = field(default_factory=list)  # per depth: label, settled, redeemed, margin, ...

    @property
    def gain(self) -> float | None:
        return None if self.holdout_margin is None else self.margin - self.holdout_margin

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"gain": self.gain}

    def sentence(self, currency: str) -> str:
        """One paragraph the shop's team reads."""
        money = _money(currency)
        who = f"segment {self.segment_id}" + (f" ({self.segment})" if self.segment else "")
        if not self.settled:
            return f"{who}: no coupon has been redeemed or expired yet, so every depth is still being tried."
        text = (
            f"{who}: the best depth so far is {self.best}, earning about {money(self.margin)} margin per person "
            f"(90% interval {money(self.low)} to {money(self.high)}); the chance it really is the best: "
            f"{self.p_best:.0%}. "
        )
        if self.holdout_margin is None:
            text += "The holdout comparison needs the orders CSV (segments.orders_csv or --orders). "
        elif self.held_out:
            gain = self.gain or 0.0
            text += (
                f"The {self.held_out:,} people held out brought {money(self.holdout_margin)} each without a coupon, "
                f"so {self.best} {'adds' if gain >= 0 else 'loses'} {money(abs(gain))} per person. "
            )
        else:
            text += "Nobody was held out, so there is no comparison without a coupon. "
        parts = [
            f"{d['label']}: {money(d['margin'])} per person, {d['redeemed']:,} of {d['settled']:,} redeemed"
            for d in self.depths
        ]
        return text + "By depth: " + "; ".join(parts) + f" ({self.settled:,} coupons settled)."


def _money(currency: str) -> Any:
    def fmt(value: float) -> str:
        sign = "-" if value < 0 else ""
        return f"{sign}{currency}{abs(value):,.2f}"

    return fmt


def depth_rows(
    settings: Settings, store: CouponStore, now: datetime, orders: Sequence[Order] | None = None
) -> list[DepthRow]:
    """One row per segment of each campaign with several depths (MarginError when the margin is unknown)."""
    campaigns = {n: c for n, c in settings.coupons.campaigns.items() if c.discounts}
    if not campaigns:
        return []
    rate = margin_rate(settings)
    labels: dict[int, str] = {}
    run = store.segments.latest_run()
    if run is not None:
        labels = {s.segment_id: s.label for s in store.segments.of_run(run.id)}
    by_handle: dict[str, list[Order]] = {}
    for order in orders or ():
        by_handle.setdefault(order.handle.lower(), []).append(order)
    rows: list[DepthRow] = []
    for name, cfg in campaigns.items():
        names = learning_set(name, cfg)
        posteriors = segment_depths(name, cfg, store.coupons, rate=rate, run_id=None, now=now)
        held = _holdout_margins(store, names, by_handle, rate, settings, orders is not None)
        for segment, estimates in posteriors.items():
            count, margin = held.get(segment, (0, None))
            rows.append(
                _row(name, segment, labels.get(segment) if segment is not None else None, estimates, count, margin)
            )
    return rows


def _row(
    name: str, segment: int | None, label: str | None, estimates: SegmentDepths, held: int, holdout: float | None
) -> DepthRow:
    best = estimates.best
    return DepthRow(
        campaign=name,
        segment_id=segment,
        segment=label,
        best=best.depth.label,
        p_best=best.p_best,
        margin=best.margin,
        low=best.low,
        high=best.high,
        settled=estimates.settled,
        held_out=held,
        holdout_margin=holdout,
        depths=[
            {
                "label": d.depth.label,
                "settled": d.settled,
                "redeemed": d.redeemed,
                "conversion": d.conversion,
                "margin": d.margin,
                "low": d.low,
                "high": d.high,
                "p_best": d.p_best,
                "draw": d.draw,
            }
            for d in estimates.depths
        ],
    )


def _holdout_margins(
    store: CouponStore,
    names: Sequence[str],
    by_handle: Mapping[str, Sequence[Order]],
    rate: float,
    settings: Settings,
    have_orders: bool,
) -> dict[int | None, tuple[int, float | None]]:
    """Per segment: (held-out people, their margin per person from orders placed while a code would have been
    valid; None without orders)."""
    people: dict[int | None, int] = {}
    money: dict[int | None, float] = {}
    for name in names:
        cfg = settings.coupons.campaigns.get(name)
        window = cfg.expires_after if cfg is not None else timedelta(days=14)
        for person in store.coupons.held_out_people(name):
            people[person.segment_id] = people.get(person.segment_id, 0) + 1
            end = person.issued_at + window
            spent = sum(
                o.amount for o in by_handle.get((person.username or "").lower(), ()) if person.issued_at <= o.time < end
            )
            money[person.segment_id] = money.get(person.segment_id, 0.0) + spent * rate
    return {s: (n, money.get(s, 0.0) / n if have_orders and n else None) for s, n in people.items()}


__all__ = ["DepthRow", "MarginError", "depth_rows"]
