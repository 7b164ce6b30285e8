"""The post report: per post, per campaign, per variant and a weekday x hour heat map per account, in the shop's
time zone, with the sentences a social manager reads. Revenue is left empty until attribution fills it."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol

import numpy as np

from bot.domains.outcomes.best_time import DEFAULT_WEEKS, PRIOR_POSTS, BestTimeModel, build_model
from bot.domains.outcomes.rates import BASIS_WORDS, WEEKDAYS, percent, plural, posts_from_columns, times
from bot.domains.outcomes.variants import VariantEstimate, estimates

EXCERPT = 60


class OutcomeReader(Protocol):
    """What the report reads (store.outcomes)."""

    def readings(
        self,
        *,
        account: str | Collection[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        campaign: str | None = None,
        age: str | None = None,
    ) -> dict[str, list[Any]]: ...

    def post_texts(self, keys: Collection[str]) -> dict[str, str]: ...

    def activity(
        self, account: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[float]: ...


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
    revenue: float | None = None  # attribution comes later

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


@dataclass(frozen=True)
class CampaignLine:
    campaign: str
    posts: int
    lift: float  # geometric mean of the posts' (clipped) lifts
    revenue: float | None = None

    def sentence(self) -> str:
        return f"Campaign {self.campaign}: {plural(self.posts, 'post')}, {times(self.lift)} your usual engagement"


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
        lines += [c.sentence() for c in self.campaigns]
        for v in self.variants:
            lines.append(f"{v.campaign}, {v.sentence()}")
        return lines


def build_report(
    reader: OutcomeReader,
    zone: tzinfo,
    now: datetime,
    *,
    since: datetime | None = None,
    campaign: str | None = None,
    weeks: float = DEFAULT_WEEKS,
) -> PostReport:
    """The report over the posts posted since `since` (default: the last `weeks` weeks); lifts are against each
    account's posts of the whole window, whatever `campaign` narrows the lists to."""
    start = since if since is not None else now - timedelta(weeks=weeks)
    span_weeks = max((now - start).total_seconds() / (7 * 86400), 1 / 7)
    report = PostReport(now=now, since=start, zone=str(zone), campaign=campaign)
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
            )
        )
    log_lift = posts.log_lift
    for name in sorted({c for c in posts.campaign.tolist() if c is not None}):
        mask = (posts.campaign == name) & np.isfinite(log_lift)
        n = int((posts.campaign == name).sum())
        lift = float(np.exp(log_lift[mask].mean())) if mask.any() else math.nan
        report.campaigns.append(CampaignLine(name, n, lift))
    report.variants = estimates(posts)
    return report


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
            }
            for p in report.posts
        ],
        "campaigns": [
            {"campaign": c.campaign, "posts": c.posts, "lift": number(c.lift), "revenue": c.revenue}
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
                "revenue": None,
            }
            for v in report.variants
        ],
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
                "",
            ]
        )
    return rows
