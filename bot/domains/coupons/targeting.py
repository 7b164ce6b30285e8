"""`target: uplift` at issuance: who of a campaign's eligible people gets a code (bot/domains/coupons/uplift.py).

The model is learned from the settled rows (their validity window is over) of the campaign's learning set (its own
earlier issuances and its `learn_from` campaigns): people with a code against those held out, each with their
feature row at the moment of that issuance (bot/domains/coupons/people.py) and whether they ordered within the
coupon's validity window (the orders CSV by handle, or the code redeemed). Every eligible person not held out is
valued (predicted incremental conversion x the margin of their order - the coupon's expected cost at the depth they
would get) and the campaign's whole budget is filled from the top with an exploration slice (uplift.choose),
counting the people already given a code by this campaign: a rerun after a crash chooses the same people, and
the store's budget lock and unique rows keep it once per person and within budget whatever happens.

Rows record how the person was chosen (choice: ranked | explored) and the probability of their treatment
(propensity: ranked, the share not held out; explored, that times the slice's chance; times the depth's with
several `discounts`; a holdout row: the holdout share).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import numpy as np

from bot.core.records import BatchOutcome, CouponRecord, IssueSpec, Member
from bot.domains.coupons.arms import MarginError, learning_set, margin_rate
from bot.domains.coupons.people import CampaignHistory, FeatureSource, OrderBook, People
from bot.domains.coupons.uplift import EXPLORE_SHARE, NotEnoughHistory, UpliftModel, choose, fit

if TYPE_CHECKING:
    from bot.domains.coupons.arms import DepthDraw
    from bot.settings.config import Settings
    from bot.settings.coupons import CouponCampaignConfig, DiscountDepth

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = timedelta(days=14)  # a learn_from campaign no longer configured: its codes' usual validity


class UpliftRows(Protocol):
    """What targeting reads of store.coupons (bot.adapters.store.coupons.CouponRepository)."""

    def screen(self, spec: IssueSpec, members: Sequence[Member]) -> tuple[list[Member], BatchOutcome]: ...

    def find(self, *, campaign: str | None = None, state: str | None = None) -> list[CouponRecord]: ...


class NoUpliftData(ValueError):
    """Nothing to learn from: no orders CSV, no person features or no margin (the reason, in words)."""


@dataclass
class UpliftPlan:
    """The rows one issuance of an uplift campaign writes: held out first, then the ranked, then the explored."""

    members: list[Member] = field(default_factory=list)
    ranked: int = 0
    explored: int = 0
    held_out: int = 0
    screened: BatchOutcome | None = None  # the counts of the people left out (opted out, already in...)


def orders_book(settings: Settings, coupons: UpliftRows) -> OrderBook:
    """The shop's orders (segments.orders_csv) by handle, knowing which were placed with a coupon; NoUpliftData
    when none is configured or readable."""
    path = settings.orders_csv_path
    if path is None:
        raise NoUpliftData("it needs the shop's orders (segments.orders_csv) to see who ordered")
    from bot.adapters.orders import read_orders_csv

    if not path.exists():
        raise NoUpliftData(f"the orders file {path} (segments.orders_csv) does not exist")
    orders, problems = read_orders_csv(path)
    for problem in problems[:5]:
        logger.warning("coupons: %s", problem)
    redeemed = {r.order_id for r in coupons.find(state="redeemed") if r.order_id}
    return OrderBook(orders, redeemed)


def window_of(settings: Settings, campaign: str) -> timedelta:
    cfg = settings.coupons.campaigns.get(campaign)
    return cfg.expires_after if cfg is not None else DEFAULT_WINDOW


def settled_rows(
    settings: Settings, coupons: UpliftRows, campaigns: Collection[str], *, by: datetime
) -> dict[str, list[CouponRecord]]:
    """Per campaign, its rows whose validity window was over by `by` (the outcome is known)."""
    out: dict[str, list[CouponRecord]] = {}
    for name in campaigns:
        window = window_of(settings, name)
        rows = [r for r in coupons.find(campaign=name) if r.issued_at + window <= by and r.state != "forgotten"]
        if rows:
            out[name] = rows
    return out


def outcomes(settings: Settings, rows: Sequence[CouponRecord], people: People) -> tuple[np.ndarray, np.ndarray]:
    """(treated, ordered within the validity window) of each row."""
    treated = np.array([not r.holdout for r in rows], dtype=bool)
    ordered = np.array(
        [
            r.state == "redeemed"
            or people.book.ordered(
                r.username or people.handle(r.platform, r.user_id),
                r.issued_at,
                r.issued_at + window_of(settings, r.campaign),
            )
            for r in rows
        ],
        dtype=bool,
    )
    return treated, ordered


def depth_shares(settings: Settings, rows: Sequence[CouponRecord], people: People) -> np.ndarray:
    """Each row's discount as a share of the person's usual order (its arm, else its campaign's one discount; NaN
    for a holdout row or a depth not known)."""
    out = np.full(len(rows), np.nan)
    for i, r in enumerate(rows):
        if r.holdout:
            continue
        depth = _depth(r.arm, settings.coupons.campaigns.get(r.campaign))
        if depth is not None:
            handle = r.username or people.handle(r.platform, r.user_id)
            out[i] = share_of(depth, people.book.basket(handle, r.issued_at))
    return out


def share_of(depth: DiscountDepth, basket: float) -> float:
    return depth.value if depth.kind == "percent" else min(depth.value / basket, 1.0) if basket > 0 else np.nan


def _depth(label: str | None, cfg: CouponCampaignConfig | None) -> DiscountDepth | None:
    from bot.settings.coupons import parse_depth

    if label is not None:
        try:
            return parse_depth(label)
        except ValueError:
            return None
    return cfg.coupon_depth if cfg is not None else None


def learn(settings: Settings, rows: Sequence[CouponRecord], people: People, *, seed: int = 0) -> UpliftModel:
    """The T-learner of these settled rows (NotEnoughHistory: too few with a code or held out)."""
    x = people.matrix([(r.platform, r.user_id, r.username) for r in rows], [r.issued_at for r in rows])
    treated, ordered = outcomes(settings, rows, people)
    return fit(people.names, x, treated, ordered, depth=depth_shares(settings, rows, people), seed=seed)


def people_now(settings: Settings, coupons: UpliftRows, features: FeatureSource | None, now: datetime) -> People:
    """The people as the model reads them at `now`, with every campaign's settled answers so far."""
    if features is None:
        raise NoUpliftData("no person features are available to this service")
    people = People(features(now), orders_book(settings, coupons), now)
    rows = [r for r in coupons.find() if r.state != "forgotten" and (r.code is not None or r.holdout)]
    rows = [r for r in rows if r.issued_at + window_of(settings, r.campaign) <= now]
    treated, ordered = outcomes(settings, rows, people)
    people.history = CampaignHistory(
        (r.platform, r.user_id, r.issued_at + window_of(settings, r.campaign), bool(t), bool(o))
        for r, t, o in zip(rows, treated, ordered, strict=True)
    )
    return people


def plan(
    name: str,
    cfg: CouponCampaignConfig,
    settings: Settings,
    coupons: UpliftRows,
    spec: IssueSpec,
    members: Sequence[Member],
    *,
    draw: DepthDraw | None,
    features: FeatureSource | None,
    now: datetime,
) -> UpliftPlan:
    """The rows of one issuance (NoUpliftData / NotEnoughHistory: the campaign falls back to its segments)."""
    eligible, screened = coupons.screen(spec, members)
    result = UpliftPlan(screened=screened)
    if not eligible or screened.budget_left <= 0:
        return result
    people = people_now(settings, coupons, features, now)
    try:
        rate = margin_rate(settings)
    except MarginError as exc:
        raise NoUpliftData(str(exc)) from exc
    history = [
        row for rows in settled_rows(settings, coupons, learning_set(name, cfg), by=now).values() for row in rows
    ]
    model = learn(settings, history, people)
    mine = [r for r in coupons.find(campaign=name) if not r.holdout and r.code is not None]
    already = {(r.platform, r.user_id) for r in mine}
    candidates = [m for m in eligible if not m.holdout] + [
        Member(r.platform, r.user_id, r.segment_id, False) for r in mine
    ]
    # one order whoever is still to be issued: equal values (a tree model has many) rank alike in a rerun
    candidates.sort(key=lambda m: hashlib.sha256(f"uplift:{name}\x1f{m.platform}:{m.user_id}".encode()).digest())
    priced = draw.members([(m.platform, m.user_id, m.segment_id, False) for m in candidates]) if draw else candidates
    x = people.matrix([(m.platform, m.user_id, None) for m in candidates], now)
    basket = np.array([people.book.basket(people.handle(m.platform, m.user_id), now) for m in candidates])
    depths = [_depth(m.arm, cfg) for m in priced]
    cost = np.array([d.cost(v) if d is not None else 0.0 for d, v in zip(depths, basket, strict=True)])
    share = np.array([share_of(d, v) if d is not None else np.nan for d, v in zip(depths, basket, strict=True)])
    value = model.value(x, margin=basket * rate, coupon_cost=cost, depth=share)
    keys = [f"{m.platform}:{m.user_id}" for m in candidates]
    ranked, explored = choose(keys, value, cfg.budget, salt=f"uplift:{name}")
    rest = len(candidates) - len(ranked)
    slice_chance = len(explored) / rest if rest else 0.0
    held = [replace(m, propensity=cfg.holdout, choice=None) for m in eligible if m.holdout]
    chosen: list[Member] = []
    for indexes, how, chance in ((ranked, "ranked", 1.0), (explored, "explored", slice_chance)):
        for i in indexes:
            m = priced[i]
            if (m.platform, m.user_id) in already:
                continue
            depth_p = (m.propensity or 1.0) / (1 - cfg.holdout) if draw is not None else 1.0
            chosen.append(replace(m, propensity=(1 - cfg.holdout) * chance * depth_p, choice=how))
    result.members = held + chosen
    result.held_out = len(held)
    result.ranked = sum(1 for m in chosen if m.choice == "ranked")
    result.explored = len(chosen) - result.ranked
    positive = int((value > 0).sum())
    logger.info(
        "coupons %s: %d eligible people ranked by uplift (%d worth a coupon); %d new codes to the top, %d explored "
        "(%.0f%% of the budget drawn at random), %d held out",
        name,
        len(candidates),
        positive,
        result.ranked,
        result.explored,
        EXPLORE_SHARE * 100,
        result.held_out,
    )
    return result


def fallback_member(m: Member, holdout: float) -> Member:
    """A row of an uplift campaign that fell back to its segments: chosen as a segment member."""
    if m.holdout:
        return replace(m, propensity=m.propensity if m.propensity is not None else holdout)
    return replace(m, choice="segment", propensity=m.propensity if m.propensity is not None else 1 - holdout)


__all__ = ["NoUpliftData", "NotEnoughHistory", "UpliftPlan", "fallback_member", "plan"]
