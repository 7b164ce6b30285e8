"""The audience segments as one self-contained HTML page: the segments table, a 2-D PCA scatter of a sample of
people coloured by segment, and each segment's centroid as bars of standardised values.

The geometry is computed here; segments.html.j2 prints it as inline SVG with the pages' one escaping policy,
stylesheet and palette (a segment keeps its colour across runs, as it keeps its id)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.domains.audience.segments import audience_mean, describe
from bot.reports.formats import coord, render
from bot.reports.palette import segment_colour

if TYPE_CHECKING:
    from bot.core.ports import SegmentStore
    from bot.core.records import SegmentInfo, SegmentRun
    from bot.settings.config import Settings

SCATTER_WIDTH, SCATTER_HEIGHT, SCATTER_PAD = 720, 460, 20
BAR_ROW, BAR_LABEL_WIDTH, BAR_WIDTH = 16, 130, 200


@dataclass(frozen=True)
class Dot:
    x: str
    y: str
    fill: str
    tip: str


@dataclass(frozen=True)
class Centre:
    x: str
    y: str
    label_x: str
    label_y: str
    fill: str
    name: str


@dataclass(frozen=True)
class Scatter:
    width: int
    height: int
    dots: list[Dot]
    centres: list[Centre]


@dataclass(frozen=True)
class Bar:
    name: str
    y: int
    text_y: int
    x: str
    width: str
    value: str


@dataclass(frozen=True)
class Centroid:
    width: int
    height: int
    axis_x: str
    label_x: int
    value_x: int
    bar_height: int
    bars: list[Bar]


@dataclass(frozen=True)
class SegmentView:
    id: int
    label: str
    size: str
    share: str
    colour: str
    stands_out: str
    centroid: Centroid


def run_html(
    store: SegmentStore,
    settings: Settings,
    run: SegmentRun,
    segments: Sequence[SegmentInfo],
    *,
    now: datetime | None = None,
) -> str:
    """The page of a stored run with how old it is at `now` (default: the clock's now) and what arrived since."""
    from bot.core.clock import SystemClock
    from bot.reports.freshness import run_freshness

    now = now or SystemClock().now()
    return render_html(run, segments, freshness=run_freshness(store, run, now=now, tz=settings.tz))


def render_html(run: SegmentRun, segments: Sequence[SegmentInfo], *, freshness: str | None = None) -> str:
    """A self-contained page (no external resources) of a stored run and its segments; `freshness`: how old the
    run is and what arrived since (bot.reports.freshness), under the title."""
    total = max(1, sum(s.size for s in segments))
    z_all = run.params.get("z") or {}
    projection = run.stats.get("projection") or {}
    points = projection.get("points") or []
    mean = audience_mean(segments)
    views = []
    for s in segments:
        z = z_all.get(str(s.segment_id)) or {}
        views.append(
            SegmentView(
                s.segment_id,
                s.label,
                f"{s.size:,}",
                f"{s.size / total:.1%}",
                segment_colour(s.segment_id),
                "; ".join(describe(s.centroid, mean, z)),
                _centroid(z),
            )
        )
    labels = {s.segment_id: s.label for s in segments}
    return render(
        "segments.html.j2",
        title=f"Audience segments, run {run.id}",
        run=run,
        created=f"{run.created_at:%Y-%m-%d %H:%M}",
        n_users=f"{run.n_users:,}",
        silhouette=None if run.silhouette is None else f"{run.silhouette:.3f}",
        segments=views,
        n_points=f"{len(points):,}",
        scatter=_scatter(points, projection.get("centers") or {}, labels) if points else None,
        freshness=freshness[:1].upper() + freshness[1:] if freshness else None,
    )


def _scatter(points: list[list[Any]], centers: dict[str, list[float]], labels: dict[int, str]) -> Scatter:
    """People (a sample) and centroids in the first two principal components; the outer 0.5% clipped."""
    width, height, pad = SCATTER_WIDTH, SCATTER_HEIGHT, SCATTER_PAD
    xs = [float(p[0]) for p in points] + [c[0] for c in centers.values()]
    ys = [float(p[1]) for p in points] + [c[1] for c in centers.values()]
    lo_x, hi_x = float(np.percentile(xs, 0.5)), float(np.percentile(xs, 99.5))
    lo_y, hi_y = float(np.percentile(ys, 0.5)), float(np.percentile(ys, 99.5))
    span_x, span_y = (hi_x - lo_x) or 1.0, (hi_y - lo_y) or 1.0

    def at(x: float, y: float) -> tuple[float, float]:
        x = min(max(x, lo_x), hi_x)
        y = min(max(y, lo_y), hi_y)
        return pad + (x - lo_x) / span_x * (width - 2 * pad), height - pad - (y - lo_y) / span_y * (height - 2 * pad)

    dots = []
    for x, y, segment, who in points:
        px, py = at(float(x), float(y))
        tip = f"{who} · {labels.get(int(segment), str(segment))}"
        dots.append(Dot(coord(px), coord(py), segment_colour(int(segment)), tip))
    centres = []
    for sid, (x, y) in centers.items():
        px, py = at(x, y)
        name = labels.get(int(sid), sid)
        centres.append(Centre(coord(px), coord(py), coord(px + 9), coord(py + 4), segment_colour(int(sid)), name))
    return Scatter(width, height, dots, centres)


def _centroid(z: dict[str, float]) -> Centroid:
    """Diverging bars of a centroid's standardised values, clipped to ±3."""
    row, label_w, bar_w = BAR_ROW, BAR_LABEL_WIDTH, BAR_WIDTH
    mid = label_w + bar_w / 2
    bars = []
    for i, (name, value) in enumerate((k, float(v)) for k, v in z.items()):
        y = 5 + i * row
        clipped = max(-3.0, min(3.0, value))
        length = abs(clipped) / 3.0 * (bar_w / 2)
        x = mid if clipped >= 0 else mid - length
        bars.append(Bar(name, y + 2, y + 11, coord(x), coord(length), f"{value:+.2f}"))
    return Centroid(
        label_w + bar_w + 50, row * len(bars) + 10, coord(mid), label_w - 6, label_w + bar_w + 4, row - 5, bars
    )
