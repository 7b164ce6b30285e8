"""The post report as one self-contained HTML page: the sentences, a weekday x hour heat map per account (cells
coloured by the expected engagement against the account's usual post), campaigns, variants with their 90%
intervals, and the posts. No script, no external resource; the pages' one escaping policy and stylesheet."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.domains.outcomes.attribution import money
from bot.domains.outcomes.rates import WEEKDAYS, percent, percent_range, times
from bot.domains.outcomes.report import PostReport
from bot.reports.formats import render


@dataclass(frozen=True)
class Cell:
    text: str
    colour: str
    tip: str


@dataclass(frozen=True)
class HeatMap:
    account: str
    summary: str | None
    rows: list[tuple[str, list[Cell]]]
    best: list[str]


def _colour(lift: float) -> str:
    """Green above the usual post, red below, white at 1x (log scale, saturated at 3x and 1/3x)."""
    if not math.isfinite(lift) or lift <= 0:
        return "#ffffff"
    x = max(-1.0, min(1.0, math.log(lift) / math.log(3.0)))
    if x >= 0:
        r, g, b = int(255 - 166 * x), int(255 - 60 * x), int(255 - 166 * x)
    else:
        r, g, b = int(255 + 30 * x), int(255 + 165 * x), int(255 + 165 * x)
    return f"#{r:02x}{g:02x}{b:02x}"


def _variant_money(report: PostReport, campaign: str, variant: str) -> tuple[str, str]:
    found = report.variant_orders(campaign, variant)
    if found is None:
        return "", ""
    return f"{found[0]:,}", money(found[1], report.campaign_currency.get(campaign, report.currency))


def render_html(report: PostReport) -> str:
    maps = []
    for account, model in report.models.items():
        rows = []
        for weekday in range(7):
            cells = []
            for hour in range(24):
                lift, n = float(model.lift[weekday, hour]), int(model.posts[weekday, hour])
                why = model.why(weekday, hour)
                tip = f"{WEEKDAYS[weekday]} {hour:02d}:00: {times(lift)} your usual, {n} posts; {why}"
                cells.append(Cell(f"{lift:.1f}", _colour(lift), tip))
            rows.append((WEEKDAYS[weekday][:3], cells))
        best = [f"{b.when}: {times(b.lift)} ({b.why})" for b in model.best_hours(3)]
        maps.append(HeatMap(account, model.summary(), rows, best))
    return render(
        "posts.html.j2",
        title="How the posts did",
        zone=report.zone,
        since=report.since.strftime("%Y-%m-%d"),
        now=report.now.strftime("%Y-%m-%d %H:%M"),
        campaign=report.campaign,
        sentences=report.sentences(),
        maps=maps,
        hours=[f"{h:02d}" for h in range(24)],
        attributed=report.attributed,
        campaigns=[
            (
                c.campaign,
                f"{c.posts:,}",
                times(c.lift),
                "" if c.orders is None else f"{c.orders:,}",
                "" if c.revenue is None else money(c.revenue, c.currency),
            )
            for c in report.campaigns
        ],
        variants=[
            (
                v.campaign,
                v.variant,
                v.basis,
                percent(v.rate),
                percent_range(v.low, v.high),
                f"{v.posts:,}",
                f"{v.share:.0%}",
                *_variant_money(report, v.campaign, v.variant),
            )
            for v in report.variants
        ],
        posts=[p.cells() + p.order_cells() for p in report.posts[:500]],
        more=max(0, len(report.posts) - 500),
    )
