"""Coupons as records: who may get one, what an issuance batch did, codes and their redemptions, the counts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class CouponState:
    ISSUED = "issued"
    DELIVERED = "delivered"
    REDEEMED = "redeemed"
    EXPIRED = "expired"
    HELD_OUT = "held_out"
    FORGOTTEN = "forgotten"  # the code was voided by `socialbot forget`

    ALL = (ISSUED, DELIVERED, REDEEMED, EXPIRED, HELD_OUT, FORGOTTEN)


class RedemptionStatus:
    COUNTED = "counted"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REUSED = "reused"
    DUPLICATE = "duplicate"  # this order was imported before: nothing written (not a stored status)

    STORED = (COUNTED, UNKNOWN, EXPIRED, REUSED)


@dataclass(frozen=True)
class Member:
    platform: str
    user_id: str
    segment_id: int | None
    holdout: bool  # drawn for the holdout (gets a held_out row and nothing else)
    arm: str | None = None  # the discount depth drawn (campaigns with several `discounts`)
    propensity: float | None = None  # the probability this treatment (depth or holdout) was drawn
    choice: str | None = None  # `target: uplift`: ranked | explored | segment (the fallback)


@dataclass(frozen=True)
class IssueSpec:
    """What one campaign's issuance needs from the service."""

    campaign: str
    budget: int
    channel: str
    expires_after_s: float
    min_influence: float = 0.0
    snapshot_id: int | None = None  # the graph snapshot the influence comes from
    cooldown_since: datetime | None = None  # nobody with a code (any campaign) issued after this
    new_code: Callable[[], str] | None = None  # generated codes, or:
    pool: Sequence[str] | None = None  # codes from the shop's pool CSV, used in order


@dataclass
class BatchOutcome:
    issued: int = 0
    held_out: int = 0
    opted_out: int = 0
    low_influence: int = 0
    existing: int = 0
    cooldown: int = 0
    over_budget: int = 0  # eligible, but the budget was spent
    pool_empty: int = 0  # eligible, but the pool had no code left
    budget_left: int = 0
    pool_position: int = 0
    collisions: int = 0


@dataclass(frozen=True)
class CouponRecord:
    id: int
    campaign: str
    platform: str
    user_id: str
    username: str | None
    segment_id: int | None
    holdout: bool
    code: str | None
    state: str
    channel: str | None
    issued_at: datetime
    expires_at: datetime | None
    delivered_at: datetime | None
    outbox_key: str | None
    redeemed_at: datetime | None
    order_id: str | None
    amount: float | None
    language: str | None = None  # of the person's latest DM (DM delivery)
    arm: str | None = None  # the discount depth drawn (several `discounts`)
    propensity: float | None = None
    choice: str | None = None  # `target: uplift`: ranked | explored | segment


@dataclass(frozen=True)
class ArmCounts:
    """Settled coupons of one segment and discount depth (redeemed, or past expiry): what the depth brought."""

    segment_id: int | None
    arm: str
    settled: int
    redeemed: int
    paid: float  # the redeemed orders' amounts (after the discount)


@dataclass(frozen=True)
class RedemptionLine:
    code: str
    order_id: str
    amount: float | None
    time: datetime
    source: str | None = None


@dataclass(frozen=True)
class RedemptionResult:
    line: RedemptionLine
    status: str  # RedemptionStatus
    coupon_id: int | None = None
    campaign: str | None = None


@dataclass
class CampaignCounts:
    """Counts of one campaign and segment (segment None: the whole campaign)."""

    campaign: str
    segment_id: int | None
    held_out: int = 0
    issued: int = 0
    delivered: int = 0
    redeemed: int = 0
    expired: int = 0
    revenue: float = 0.0
    first_issued_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
