"""The post report: per post, per campaign, per variant and a weekday x hour heat map per account, in the shop's
time zone, with the sentences a social manager reads. With an attribution (bot/domains/outcomes/attribution.py: the
shop's orders matched to posts by their UTM), each post, campaign and variant also has its orders and revenue."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

import numpy as np

from bot.domains.outcomes.attribution import Attribution, Money, money
from bot.domains.outcomes.best_time import DEFAULT_WEEKS, PRIOR_POSTS, BestTimeModel, build_model
from bot.domains.outcomes.rates import BASIS_WORDS, WEEKDAYS, percent, plural, posts_from_columns, times
from bot.domains.outcomes.reading import OutcomeReader
from bot.domains.outcomes.variants import VariantEstimate, estimates

EXCERPT = 60


@dataclass(frozen=True)
class PostLine:
    posted_at: datetime  # in the shop's time zone
    account: str
    platform: str
    post_id: str
    kind: str
    campaign: str | None
    variant: str | None
    excerpt: str
    age: str
    engagements: int
    basis: str
    denominator: int | None
    rate: float
    lift: float
    revenue: float | None = None  # None: no orders CSV to attribute from
    orders: int | None = None
    currency: str = "$"

    def order_cells(self) -> tuple[str, str]:
        """(orders, revenue) as a table shows them (ORDER_COLUMNS): '3', '¥1,230'; empty without attribution."""
        if self.orders is None or self.revenue is None:
            return "", ""
        return f"{self.orders:,}", money(self.revenue, self.currency) if self.orders else "—"

    def cells(self) -> tuple[str, ...]:
        """The line as a table shows it (POST_COLUMNS): the shop's time, words and plain numbers."""
        return (
            self.posted_at.strftime("%Y-%m-%d %H:%M %Z"),
            self.account,
            self.campaign or "",
            self.variant or "",
            self.excerpt,
            f"{self.engagements:,}",
            percent(self.rate),
            times(self.lift),
        )


POST_COLUMNS = ("when", "account", "campaign", "variant", "text", "engagement", "rate", "vs usual")
ORDER_COLUMNS = ("orders", "revenue")  # after POST_COLUMNS when the report has an attribution


@dataclass(frozen=True)
class CampaignLine:
    campaign: str
    posts: int
    lift: float  # geometric mean of the posts' (clipped) lifts
    revenue: float | None = None  # None: no attribution
    orders: int | None = None
    from_posts: int = 0  # how many posts the attributed orders came from
    currency: str = "$"

    def sentence(self) -> str:
        if not self.posts:
            return f"Campaign {self.campaign}: no engagement readings in this window"
        return f"Campaign {self.campaign}: {plural(self.posts, 'post')}, {times(self.lift)} your usual engagement"

    def revenue_sentence(self) -> str | None:
        """'Campaign spring-sale: 14 orders, ¥3,420 from 9 posts' (None without attribution)."""
        if self.orders is None or self.revenue is None:
            return None
        if not self.orders:
            return f"Campaign {self.campaign}: no orders attributed"
        source = f" from {plural(self.from_posts, 'post')}" if self.from_posts else " (no post named by the links)"
        return f"Campaign {self.campaign}: {plural(self.orders, 'order')}, {money(self.revenue, self.currency)}{source}"


@dataclass
class PostReport:
    now: datetime
    since: datetime
    zone: str
    campaign: str | None
    posts: list[PostLine] = field(default_factory=list)
    campaigns: list[CampaignLine] = field(default_factory=list)
    variants: list[VariantEstimate] = field(default_factory=list)
    models: dict[str, BestTimeModel] = field(default_factory=dict)
    attribution: Attribution | None = None  # the orders placed in the window (and of `campaign`)
    currency: str = "$"  # the shop's
    variant_money: dict[tuple[str, str], Money] = field(default_factory=dict)
    campaign_currency: dict[str, str] = field(default_factory=dict)

    @property
    def attributed(self) -> bool:
        return self.attribution is not None

    def variant_orders(self, campaign: str, variant: str) -> tuple[int, float] | None:
        """(orders, revenue) of a variant, None without attribution."""
        if self.attribution is None:
            return None
        found = self.variant_money.get((campaign, variant), Money())
        return found.orders, found.revenue

    @property
    def empty(self) -> bool:
        return not self.posts

    def sentences(self) -> list[str]:
        """What a social manager reads first: the best hours (with enough posts), thin data, campaigns, variants."""
        lines = []
        several = len(self.models) > 1
        for account, model in self.models.items():
            prefix = f"{account}: " if several else ""
            if (thin := model.summary()) is not None:
                lines.append(prefix + thin[:1].upper() + thin[1:])
            for best in model.best_hours(3):
                if best.posts >= PRIOR_POSTS and best.lift > 1.05:
                    lines.append(f"{prefix}{best.when} posts get {times(best.lift)} your usual engagement")
                else:
                    lines.append(f"{prefix}{best.when}: {times(best.lift)} expected ({best.why})")
        for c in self.campaigns:
            if c.posts:
                lines.append(c.sentence())
            if (revenue := c.revenue_sentence()) is not None:
                lines.append(revenue)
        for v in self.variants:
            line = f"{v.campaign}, {v.sentence()}"
            if (found := self.variant_orders(v.campaign, v.variant)) is not None and found[0]:
                currency = self.campaign_currency.get(v.campaign, self.currency)
                line += f"; {plural(found[0], 'order')}, {money(found[1], currency)}"
            lines.append(line)
        if self.attribution is not None and (rest := self.attribution.unattributed_sentence(self.currency)):
            lines.append(rest)
        return lines


def build_report(
    reader: OutcomeReader,
    zone: tzinfo,
    now: datetime,
    *,
    since: datetime | None = None,
    campaign: str | None = None,
    weeks: float = DEFAULT_WEEKS,
    attribution: Attribution | None = None,
    currency: str = "$",
    campaign_currency: Mapping[str, str] | None = None,
) -> PostReport:
    """The report over the posts posted since `since` (default: the last `weeks` weeks); lifts are against each
    account's posts of the whole window, whatever `campaign` narrows the lists to. With `attribution`, the orders
    placed in the window (of `campaign`) add orders and revenue per post, campaign and variant, in `currency` (a
    campaign's own from `campaign_currency`)."""
    start = since if since is not None else now - timedelta(weeks=weeks)
    span_weeks = max((now - start).total_seconds() / (7 * 86400), 1 / 7)
    currencies = dict(campaign_currency or {})
    report = PostReport(
        now=now, since=start, zone=str(zone), campaign=campaign, currency=currency, campaign_currency=currencies
    )
    if attribution is not None:
        report.attribution = attribution.only(start, now, campaign)
        report.variant_money = report.attribution.per_variant()
    per_post = report.attribution.per_post() if report.attribution is not None else {}
    posts = posts_from_columns(reader.readings(since=start, until=now))
    if not len(posts):
        return report
    for account in sorted(set(posts.account.tolist())):
        activity = reader.activity(account, since=start, until=now)
        report.models[account] = build_model(account, posts, activity, zone, weeks=round(span_weeks, 1))
    if campaign is not None:
        posts = posts.take(posts.campaign == campaign)
    texts = reader.post_texts([k for k in posts.outbox_key.tolist() if k])
    order = np.argsort(-posts.posted_at, kind="stable")
    for i in order.tolist():
        text = " ".join(texts.get(posts.outbox_key[i] or "", "").split())
        denominator = posts.denominator[i]
        report.posts.append(
            PostLine(
                posted_at=datetime.fromtimestamp(float(posts.posted_at[i]), zone),
                account=str(posts.account[i]),
                platform=str(posts.platform[i]),
                post_id=str(posts.post_id[i]),
                kind=str(posts.kind[i]),
                campaign=posts.campaign[i],
                variant=posts.variant[i],
                excerpt=text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…",
                age=str(posts.age[i]),
                engagements=int(posts.engagements[i]),
                basis=BASIS_WORDS[int(posts.basis[i])],
                denominator=int(denominator) if math.isfinite(denominator) else None,
                rate=float(posts.rate[i]),
                lift=float(posts.lift[i]),
                **_post_money(report, per_post, posts.outbox_key[i], posts.campaign[i]),
            )
        )
    log_lift = posts.log_lift
    per_campaign = report.attribution.per_campaign() if report.attribution is not None else {}
    names = {c for c in posts.campaign.tolist() if c is not None} | set(per_campaign)
    for name in sorted(names):
        mask = (posts.campaign == name) & np.isfinite(log_lift)
        n = int((posts.campaign == name).sum())
        lift = float(np.exp(log_lift[mask].mean())) if mask.any() else math.nan
        earned = per_campaign.get(name, Money()) if report.attribution is not None else None
        report.campaigns.append(
            CampaignLine(
                name,
                n,
                lift,
                revenue=None if earned is None else round(earned.revenue, 2),
                orders=None if earned is None else earned.orders,
                from_posts=0 if earned is None else earned.posts,
                currency=currencies.get(name, currency),
            )
        )
    report.variants = estimates(posts)
    return report


def _post_money(
    report: PostReport, per_post: Mapping[str, Money], key: str | None, campaign: str | None
) -> dict[str, Any]:
    """A PostLine's orders, revenue and currency (None without attribution)."""
    currency = report.campaign_currency.get(campaign or "", report.currency)
    if report.attribution is None:
        return {"currency": currency}
    earned = per_post.get(key or "", Money())
    return {"orders": earned.orders, "revenue": round(earned.revenue, 2), "currency": currency}


def to_json(report: PostReport) -> dict[str, Any]:
    """The report as plain JSON values (times in the shop's zone, ISO 8601 with their offset)."""

    def number(value: float) -> float | None:
        return round(value, 6) if math.isfinite(value) else None

    return {
        "now": report.now.isoformat(),
        "since": report.since.isoformat(),
        "timezone": report.zone,
        "campaign": report.campaign,
        "sentences": report.sentences(),
        "posts": [
            {
                "posted_at": p.posted_at.isoformat(),
                "account": p.account,
                "platform": p.platform,
                "post_id": p.post_id,
                "kind": p.kind,
                "campaign": p.campaign,
                "variant": p.variant,
                "text": p.excerpt,
                "reading_age": p.age,
                "engagements": p.engagements,
                "basis": p.basis,
                "denominator": p.denominator,
                "engagement_rate": number(p.rate),
                "lift": number(p.lift),
                "revenue": p.revenue,
                "orders": p.orders,
            }
            for p in report.posts
        ],
        "campaigns": [
            {
                "campaign": c.campaign,
                "posts": c.posts,
                "lift": number(c.lift),
                "revenue": c.revenue,
                "orders": c.orders,
                "posts_with_orders": c.from_posts if c.orders is not None else None,
                "currency": c.currency,
            }
            for c in report.campaigns
        ],
        "variants": [
            {
                "campaign": v.campaign,
                "variant": v.variant,
                "basis": v.basis,
                "posts": v.posts,
                "share": number(v.share),
                "engagement_rate": number(v.rate),
                "interval_90": [number(v.low), number(v.high)],
                "sentence": v.sentence(),
                **_variant_json(report, v),
            }
            for v in report.variants
        ],
        "attribution": _attribution_json(report),
        "best_times": {
            account: {
                "summary": model.summary(),
                "best_hours": [
                    {
                        "weekday": WEEKDAYS[b.weekday],
                        "hour": b.hour,
                        "lift": number(b.lift),
                        "posts": b.posts,
                        "why": b.why,
                    }
                    for b in model.best_hours(5)
                ],
                "heatmap_lift": [[round(float(x), 3) for x in row] for row in model.lift],
                "heatmap_posts": model.posts.tolist(),
            }
            for account, model in report.models.items()
        },
    }


def _variant_json(report: PostReport, v: VariantEstimate) -> dict[str, Any]:
    found = report.variant_orders(v.campaign, v.variant)
    if found is None:
        return {"revenue": None, "orders": None}
    return {"revenue": round(found[1], 2), "orders": found[0]}


def _attribution_json(report: PostReport) -> dict[str, Any] | None:
    """How many of the shop's orders were attributed (to a post, to a campaign only) and why the rest were not."""
    a = report.attribution
    if a is None:
        return None
    return {
        "currency": report.currency,
        "orders_read": a.total,
        "attributed": len(a.orders),
        "attributed_to_posts": a.to_posts,
        "revenue": round(sum(o.amount for o in a.orders), 2),
        "unattributed": dict(a.unattributed.most_common()),
        "unattributed_revenue": round(a.unattributed_revenue, 2),
    }


CSV_COLUMNS = (
    "posted_at",
    "account",
    "platform",
    "post_id",
    "kind",
    "campaign",
    "variant",
    "text",
    "reading_age",
    "engagements",
    "basis",
    "denominator",
    "engagement_rate",
    "lift",
    "revenue",
    "orders",
)


def csv_rows(report: PostReport) -> list[list[Any]]:
    """One row per post (CSV_COLUMNS), times in the shop's zone."""
    rows = []
    for p in report.posts:
        rate = f"{p.rate:.6f}" if math.isfinite(p.rate) else ""
        lift = f"{p.lift:.3f}" if math.isfinite(p.lift) else ""
        rows.append(
            [
                p.posted_at.strftime("%Y-%m-%d %H:%M %Z"),
                p.account,
                p.platform,
                p.post_id,
                p.kind,
                p.campaign or "",
                p.variant or "",
                p.excerpt,
                p.age,
                p.engagements,
                p.basis,
                "" if p.denominator is None else p.denominator,
                rate,
                lift,
                "" if p.revenue is None else f"{p.revenue:.2f}",
                "" if p.orders is None else p.orders,
            ]
        )
    return rows
