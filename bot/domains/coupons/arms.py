"""Which discount depth each person of a campaign with several `discounts` gets (bot/domains/coupons/depth.py).

One `DepthDraw` per issuance of a campaign: the posterior of every target segment from the settled coupons of the
campaign and its `learn_from` campaigns, fixed for the whole issuance (so a crash and a re-run draw alike), a
model seeded by campaign, segmentation run and segment, and each person's own hash number picking the depth.
The row records the depth (`arm`) and the probability its treatment was drawn with (`propensity`: the depth's
probability x the share not held out; a holdout row: the holdout share).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bot.core.records import ArmCounts, Member
from bot.domains.coupons.depth import DepthModel, SegmentDepths, pick, seed_of, uniform_of
from bot.settings.products import read_products_csv

if TYPE_CHECKING:
    from bot.settings.config import Settings
    from bot.settings.coupons import CouponCampaignConfig

logger = logging.getLogger(__name__)


class ArmRows(Protocol):
    """The one read of store.coupons the depths need (bot.adapters.store.coupons.CouponRepository.arm_counts)."""

    def arm_counts(self, campaigns: Collection[str], *, now: datetime) -> list[ArmCounts]: ...


class MarginError(ValueError):
    """The margin of an order cannot be known (no usable `cost` column and no margin_rate)."""


def margin_rate(settings: Settings) -> float:
    """The share of an order's value (before the discount) that is margin: from coupons.products_csv's `price`
    and `cost` columns (price-weighted over the products with both), else coupons.margin_rate."""
    config = settings.coupons
    if config.products_csv is not None:
        path = settings.in_config_dir(config.products_csv)
        rate = _catalogue_rate(path)
        if rate is not None:
            return rate
        if config.margin_rate is None:
            raise MarginError(
                f"coupons.products_csv {path}: no product with both a price and a cost column; add a `cost` "
                "column or set coupons.margin_rate"
            )
        logger.warning(
            "coupons: %s has no product with a price and a cost; using margin_rate %.2f", path, config.margin_rate
        )
    if config.margin_rate is None:
        raise MarginError("coupons.margin_rate: not set, and no coupons.products_csv with a `cost` column")
    return config.margin_rate


def _catalogue_rate(path: Path) -> float | None:
    products, problems = read_products_csv(path)
    for problem in problems[:5]:
        logger.warning("coupons: %s", problem)
    price = cost = 0.0
    for product in products:
        raw = (product.model_extra or {}).get("cost")
        if product.price is None or product.price <= 0 or raw is None:
            continue
        try:
            value = float(str(raw).strip().lstrip("$¥€£￥").replace(",", ""))
        except ValueError:
            continue
        price += product.price
        cost += value
    if price <= 0:
        return None
    return max(0.0, min(1.0, (price - cost) / price))


def learning_set(name: str, cfg: CouponCampaignConfig) -> list[str]:
    return [name, *(other for other in cfg.learn_from if other != name)]


def segment_depths(
    name: str,
    cfg: CouponCampaignConfig,
    rows: ArmRows,
    *,
    rate: float,
    run_id: int | None,
    now: datetime,
    segment_ids: Sequence[int | None] = (),
) -> dict[int | None, SegmentDepths]:
    """The posterior of every segment with data, and of `segment_ids` (no data yet: the prior)."""
    counts: dict[int | None, list[ArmCounts]] = defaultdict(list)
    for c in rows.arm_counts(learning_set(name, cfg), now=now):
        counts[c.segment_id].append(c)
    model = DepthModel(cfg.depths, rate)
    wanted = set(counts) | set(segment_ids)
    return {
        segment: model.estimate(segment, counts.get(segment, []), seed_of(name, run_id, segment))
        for segment in sorted(wanted, key=lambda s: (s is None, s or 0))
    }


def depth_draw(
    name: str,
    cfg: CouponCampaignConfig,
    settings: Settings,
    rows: ArmRows,
    run_id: int,
    now: datetime,
    members: Sequence[tuple[str, str, int]],
) -> DepthDraw:
    """The draw of one issuance of a campaign with several depths (MarginError: no margin to learn from)."""
    posteriors = segment_depths(
        name, cfg, rows, rate=margin_rate(settings), run_id=run_id, now=now, segment_ids=sorted({m[2] for m in members})
    )
    draw = DepthDraw(name, cfg.holdout, posteriors)
    logger.info("coupons %s: discount depths drawn with %s", name, draw.describe())
    return draw


class DepthDraw:
    """Assigns depths to one issuance's members."""

    def __init__(self, name: str, holdout: float, posteriors: dict[int | None, SegmentDepths]) -> None:
        self.name = name
        self.holdout = holdout
        self.posteriors = posteriors

    def members(self, people: Sequence[tuple[str, str, int | None, bool]]) -> list[Member]:
        out: list[Member] = []
        for platform, user_id, segment, held in people:
            if held:
                out.append(Member(platform, user_id, segment, True, None, self.holdout))
                continue
            estimates = self.posteriors[segment]
            depth, probability = pick(estimates, uniform_of(self.name, platform, user_id))
            out.append(Member(platform, user_id, segment, False, depth.label, probability * (1 - self.holdout)))
        return out

    def describe(self) -> str:
        parts = []
        for segment, estimates in self.posteriors.items():
            shares = ", ".join(f"{d.depth.label} {d.draw:.0%}" for d in estimates.depths)
            parts.append(f"segment {segment}: {shares} ({estimates.settled} settled)")
        return "; ".join(parts)
