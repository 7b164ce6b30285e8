"""The audience-graph report as one self-contained HTML page: a drawing of the graph plus charts and tables.

Everything is drawn server-side as inline SVG (bot/reports/drawing.py lays the graph out) and printed by the
template graph.html.j2 with the pages' one escaping policy (bot.adapters.templating.pages): no CDN, font,
image or stylesheet is fetched, and the page reads fully without JavaScript (one small inline script only
highlights a node's ties on hover; tooltips are SVG ``<title>`` elements). User text in tables is
bidi-isolated. The same report and drawing graph always give the same page, byte for byte. Communities 0..9
(0 is the largest) get the palette's colours, the rest grey. A report with the communities' interests
(bot.domains.audience.report.with_interests) shows their readable names, favourite products and distinctive words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.reports.drawing import Drawing, draw, fit
from bot.reports.formats import coord, count, finite, num, pct, render, when
from bot.reports.palette import NEUTRAL_COLOUR, OTHER_COLOUR, colour

if TYPE_CHECKING:
    import networkx

    from bot.core.ports import GraphStore
    from bot.core.records import Snapshot
    from bot.domains.audience.report import CommunitySummary, GraphReport, RankedUser
    from bot.settings.config import Settings

MAX_BARS = 15  # rows per bar chart before "n more"


@dataclass(frozen=True)
class Bar:
    label: str
    tip: str
    fill: str
    shown: str
    y: int
    text_y: int
    width: str
    value_x: str


@dataclass(frozen=True)
class BarChart:
    name: str
    width: int
    height: int
    label_x: str
    bar_x: str
    bar_height: int
    bars: list[Bar]
    more: str | None


@dataclass(frozen=True)
class LegendItem:
    key: str
    colour: str
    bold: str | None
    text: str


def render_html(
    report: GraphReport, graph: networkx.DiGraph, *, title: str = "Audience graph", freshness: str | None = None
) -> str:
    """The report as one HTML page; ``graph`` is the small drawing graph (string ids; label/community/score);
    ``freshness``: how old the snapshot is and what arrived since (bot.reports.freshness), under the title."""
    drawing = draw(graph)
    snapshot = "—" if report.snapshot_id is None else f"#{report.snapshot_id}"
    timings = [(step, f"{finite(seconds):.2f}") for step, seconds in report.timings.items()]
    return render(
        "graph.html.j2",
        title=title,
        report=report,
        snapshot=snapshot,
        taken=when(report.created_at),
        freshness=freshness[:1].upper() + freshness[1:] if freshness else None,
        figures=_figures(report),
        shown=f"{len(drawing.circles):,} of {report.n_users:,} users and {len(drawing.lines):,} of their ties",
        drawing=drawing,
        legend=_legend(report, drawing),
        charts={
            "influencers": _influencer_chart(report.top),
            "communities": _community_chart(report.communities, report.n_communities),
            "kinds": _kinds_chart(report.kinds),
        },
        several_platforms=len({user.platform for user in report.top}) > 1,
        communities=sorted(report.communities, key=lambda c: c.id),
        named=any(c.name for c in report.communities),
        timings=timings,
        timings_total=f"{sum(finite(seconds) for seconds in report.timings.values()):.2f}",
    )


def snapshot_html(
    store: GraphStore, settings: Settings, snapshot: Snapshot, report: GraphReport, *, now: datetime | None = None
) -> str:
    """The page of a stored snapshot: how old it is at `now` (default: the clock's now) and what arrived since,
    the drawing (its leading users and their ties) and charts."""
    from bot.core.clock import SystemClock
    from bot.domains.audience.service import snapshot_drawing
    from bot.reports.freshness import snapshot_freshness

    now = now or SystemClock().now()
    fresh = snapshot_freshness(store, snapshot, now=now, tz=settings.tz)
    return render_html(report, snapshot_drawing(store, settings, snapshot), freshness=fresh)


def _figures(report: GraphReport) -> list[tuple[str, str, str]]:
    return [
        ("users", "Users", count(report.n_users)),
        ("edges", "Edges (distinct pairs)", count(report.n_edges)),
        ("interactions", "Interactions", count(report.n_interactions)),
        ("communities", "Communities", count(report.n_communities)),
        ("modularity", "Modularity", num(report.modularity)),
        ("reciprocity", "Reciprocity", pct(report.reciprocity)),
    ]


def _legend(report: GraphReport, drawing: Drawing) -> list[LegendItem]:
    """One entry per palette community (from the report and the drawing), then one grey entry for the rest.

    The rest counts the listed communities beyond the palette and those the report found but did not list.
    """
    sizes = {summary.id: summary for summary in report.communities}
    ids = sorted(set(sizes) | set(drawing.communities))
    coloured = [c for c in ids if colour(c) != OTHER_COLOUR]
    rest = [c for c in ids if colour(c) == OTHER_COLOUR]
    items = []
    for community in coloured:
        summary = sizes.get(community)
        detail = ""
        if summary is not None:
            detail = f" · {summary.size:,} users"
            if summary.name:
                detail += " · " + fit(summary.name, 12, 340)
            elif summary.top_terms:
                detail += " · " + ", ".join(fit(term, 12, 90) for term, _ in summary.top_terms[:2])
        items.append(LegendItem(str(community), colour(community), str(community), detail))
    unlisted = max(report.n_communities - len(sizes), 0)
    if rest or unlisted:
        users = sum(sizes[c].size for c in rest if c in sizes)
        if unlisted:
            users += max(report.n_users - sum(summary.size for summary in report.communities), 0)
        n = len(rest) + unlisted
        what = f"{n:,} smaller {'community' if n == 1 else 'communities'}"
        what += f" · {users:,} users" if users else ""
        items.append(LegendItem("other", OTHER_COLOUR, None, what))
    return items


def _bar_chart(
    rows: Sequence[tuple[str, float, str, str, str]],
    *,
    label_px: float = 150.0,
    width: int = 480,
    name: str,
    total: int | None = None,
    what: str = "",
) -> BarChart:
    """Horizontal bars; a row is (label, value, shown value, colour, tooltip); `total` rows in all."""
    row_h, bar_h, top = 24, 15, 4
    value_px = 64.0
    bar_x = label_px + 8
    bar_max = width - bar_x - value_px
    biggest = max((finite(value) for _, value, _, _, _ in rows), default=0.0)
    bars = []
    for i, (label, value, shown, fill, tip) in enumerate(rows):
        y = top + i * row_h
        length = max(finite(value), 0.0) / biggest * bar_max if biggest > 0 else 0.0
        bars.append(
            Bar(
                fit(label, 12, label_px),
                tip,
                fill,
                shown,
                y,
                y + bar_h - 3,
                coord(max(length, 1.0)),
                coord(bar_x + length + 5),
            )
        )
    total = len(rows) if total is None else total
    more = f"… and {total - len(rows):,} more {what}." if total > len(rows) else None
    return BarChart(name, width, top * 2 + row_h * len(rows), coord(label_px), coord(bar_x), bar_h, bars, more)


def _user_name(username: str | None, user_id: str) -> str:
    return username if username else user_id


def _influencer_chart(top: Sequence[RankedUser]) -> BarChart:
    rows = [
        (
            f"{user.rank}. {_user_name(user.username, user.user_id)}",
            user.score,
            f"{finite(user.score):.3f}",
            colour(user.community),
            f"{_user_name(user.username, user.user_id)}: score {finite(user.score):.3f}",
        )
        for user in top[:MAX_BARS]
    ]
    return _bar_chart(rows, label_px=220, width=980, name="influencers", total=len(top), what="ranked users")


def _community_chart(communities: Sequence[CommunitySummary], total: int) -> BarChart:
    ordered = sorted(communities, key=lambda c: (-c.size, c.id))
    rows = [
        (
            f"Community {c.id}",
            float(c.size),
            f"{c.size:,}",
            colour(c.id),
            f"Community {c.id}{f' ({c.name})' if c.name else ''}: {c.size:,} users",
        )
        for c in ordered[:MAX_BARS]
    ]
    return _bar_chart(
        rows, label_px=110, width=440, name="community-sizes", total=max(total, len(ordered)), what="communities"
    )


def _kinds_chart(kinds: dict[str, Any]) -> BarChart:
    ordered = sorted(kinds.items(), key=lambda item: (-finite(item[1]), str(item[0])))
    rows = [
        (str(kind), finite(n), f"{int(finite(n)):,}", NEUTRAL_COLOUR, f"{kind}: {int(finite(n)):,}")
        for kind, n in ordered[:MAX_BARS]
    ]
    return _bar_chart(rows, label_px=110, width=440, name="kinds", total=len(ordered), what="kinds")
