"""The audience-graph report as one self-contained HTML page: a drawing of the graph plus charts and tables.

Everything is drawn here, server-side, as inline SVG: no CDN, font, image or stylesheet is fetched, and the page
reads fully without JavaScript (one small inline script only highlights a node's ties on hover; tooltips are SVG
``<title>`` elements). Every string that comes from user data (handles, hashtags, words, reasons, params) is
stripped of characters that HTML/XML cannot carry, HTML-escaped and, in tables, bidi-isolated with ``<bdi>`` so
right-to-left or override characters cannot reorder the text around them.

The drawing uses a seeded networkx spring layout started from community centres on a circle (edges inside a
community pull harder, a hidden centre keeps isolated nodes near the rest), so the same report and drawing graph
always give the same page, byte for byte (nodes and edges are sorted first, so not even the graph's insertion
order matters). Above ~500 drawn nodes networkx switches to its slower sparse layout (about 8 s at 600).
Communities 0..9 (0 is the largest) get a fixed palette, the rest grey.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.domains.audience.report import Broker, CommunitySummary, GraphReport, RankedUser

if TYPE_CHECKING:
    import networkx

# Tableau 10 without its grey, plus a light blue: distinct on white, the grey is kept for "other communities".
PALETTE: tuple[str, ...] = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#86bcf6",
)
OTHER_COLOUR = "#b0b0b0"
EDGE_COLOUR = "#8a94a6"

WIDTH = 1000
HEIGHT = 700
SEED = 7
MAX_LABELS = 20  # labelled nodes in the drawing, by score
MAX_LABEL_PX = 150.0
MIN_RADIUS = 3.0
MAX_RADIUS = 18.0
MAX_BARS = 15  # rows per bar chart before "n more"

# C0/C1 controls (but tab and newline), lone surrogates and non-characters: neither HTML nor XML carries them.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def render_html(report: GraphReport, graph: networkx.DiGraph, *, title: str = "Audience graph") -> str:
    """The report as one HTML page; ``graph`` is the small drawing graph (string ids; label/community/score)."""
    nodes = _drawing_nodes(graph)
    edges = _drawing_edges(graph, {node.key for node in nodes})
    drawing = _draw_graph(nodes, edges)
    communities_in_drawing = sorted({node.community for node in nodes})
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        '<main class="page">',
        f"<header><h1>{_esc(title)}</h1>",
        f'<p class="sub">{_snapshot_line(report)}</p></header>',
        _figures(report),
        '<section class="card" id="drawing">',
        "<h2>The graph</h2>",
        f'<p class="note">{_drawing_note(report, len(nodes), len(edges))}</p>',
        drawing,
        _legend(report, communities_in_drawing),
        "</section>",
        '<section class="card" id="influencers">',
        "<h2>Top influencers</h2>",
        _influencer_chart(report.top),
        _influencer_table(report.top),
        "</section>",
        '<div class="duo">',
        '<section class="card" id="community-sizes"><h2>Community sizes</h2>',
        _community_chart(report.communities, report.n_communities),
        "</section>",
        '<section class="card" id="kinds"><h2>Interactions by kind</h2>',
        _kinds_chart(report.kinds),
        "</section>",
        "</div>",
        '<section class="card" id="communities"><h2>Communities</h2>',
        _community_table(report.communities),
        "</section>",
        '<section class="card" id="brokers"><h2>Brokers</h2>',
        '<p class="note">Users whose ties reach into several communities (high betweenness across borders).</p>',
        _broker_table(report.brokers),
        "</section>",
        _run_details(report),
        "</main>",
        f"<script>{_JS}</script>",
        "</body>",
        "</html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# text helpers


def _clean(value: object) -> str:
    """``value`` as text without the characters HTML and XML cannot carry."""
    return _UNSAFE.sub("", str(value))


def _esc(value: object) -> str:
    """Clean and HTML-escape (quotes too): safe in text and in double- or single-quoted attributes."""
    return html.escape(_clean(value), quote=True)


def _bdi(value: object) -> str:
    """Escaped user text isolated from the text around it (right-to-left, bidi overrides)."""
    return f"<bdi>{_esc(value)}</bdi>"


def _char_px(char: str, size: float) -> float:
    if unicodedata.combining(char) or char in "\u200d\ufe0f":
        return 0.0
    if unicodedata.east_asian_width(char) in ("W", "F") or ord(char) >= 0x1F000:
        return size * 1.05
    if char in "il.,:;'|!":
        return size * 0.3
    if char.isupper() or char in "mwMW@":
        return size * 0.72
    return size * 0.56


def _text_px(text: str, size: float) -> float:
    """A rough rendered width of ``text`` in a sans-serif font of ``size`` px."""
    return sum(_char_px(char, size) for char in text)


def _fit(text: str, size: float, max_px: float) -> str:
    """``text`` cut with an ellipsis so it renders no wider than ``max_px``."""
    text = " ".join(_clean(text).split())
    if _text_px(text, size) <= max_px:
        return text
    out, used = [], _char_px("…", size)
    for char in text:
        used += _char_px(char, size)
        if used > max_px:
            break
        out.append(char)
    return "".join(out).rstrip() + "…"


def _finite(value: Any, default: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def _int(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _num(value: float, digits: int = 3) -> str:
    number = _finite(value, math.nan)
    return "—" if math.isnan(number) else f"{number:.{digits}f}"


def _pct(value: float) -> str:
    number = _finite(value, math.nan)
    return "—" if math.isnan(number) else f"{number * 100:.1f}%"


def _f(value: float) -> str:
    """An SVG coordinate."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def colour(community: int) -> str:
    """The colour of a community everywhere on the page: the palette for 0..9, grey beyond (or unknown)."""
    return PALETTE[community] if 0 <= community < len(PALETTE) else OTHER_COLOUR


def _swatch(community: int) -> str:
    return f'<span class="sw" style="background:{colour(community)}"></span>'


def _community_tag(community: int) -> str:
    return f'<span class="ctag" data-community="{community}">{_swatch(community)}{community}</span>'


def _user_name(username: str | None, user_id: str) -> str:
    return username if username else user_id


# ---------------------------------------------------------------------------------------------------------------
# header


def _snapshot_line(report: GraphReport) -> str:
    snapshot = "—" if report.snapshot_id is None else f"#{report.snapshot_id}"
    return f"Snapshot {_esc(snapshot)} · {_esc(_when(report.created_at))}"


def _when(moment: datetime) -> str:
    text = moment.isoformat(sep=" ", timespec="seconds")
    return text.replace("+00:00", " UTC")


def _figures(report: GraphReport) -> str:
    figures = [
        ("users", "Users", _int(report.n_users)),
        ("edges", "Edges (distinct pairs)", _int(report.n_edges)),
        ("interactions", "Interactions", _int(report.n_interactions)),
        ("communities", "Communities", _int(report.n_communities)),
        ("modularity", "Modularity", _num(report.modularity)),
        ("reciprocity", "Reciprocity", _pct(report.reciprocity)),
    ]
    cells = [
        f'<div class="fig" data-figure="{key}"><div class="v">{_esc(value)}</div>'
        f'<div class="k">{_esc(name)}</div></div>'
        for key, name, value in figures
    ]
    snapshot = "—" if report.snapshot_id is None else f"#{report.snapshot_id}"
    cells.append(
        f'<div class="fig wide"><div class="v" data-figure="snapshot">{_esc(snapshot)}</div>'
        f'<div class="k">Snapshot, taken <span data-figure="time">{_esc(_when(report.created_at))}</span></div></div>'
    )
    return f'<section class="figures">{"".join(cells)}</section>'


def _drawing_note(report: GraphReport, n_nodes: int, n_edges: int) -> str:
    shown = f"{n_nodes:,} of {report.n_users:,} users and {n_edges:,} of their ties"
    return (
        f"Showing {_esc(shown)}: the top influencers, brokers and strongest members of each community. "
        "Colour is the community, size the influencer score, line darkness the interaction weight "
        "(both directions added). Hover a node for its ties."
    )


# ---------------------------------------------------------------------------------------------------------------
# the drawing


class _Node:
    __slots__ = ("community", "index", "key", "label", "r", "score", "x", "y")

    def __init__(self, index: int, key: Any, label: str, community: int, score: float) -> None:
        self.index = index
        self.key = key
        self.label = label
        self.community = community
        self.score = score
        self.x = 0.0
        self.y = 0.0
        self.r = MIN_RADIUS


def _drawing_nodes(graph: networkx.DiGraph) -> list[_Node]:
    nodes = []
    for index, key in enumerate(sorted(graph.nodes, key=str)):
        data = graph.nodes[key]
        label = data.get("label")
        community = data.get("community")
        nodes.append(
            _Node(
                index,
                key,
                str(key) if label is None or label == "" else str(label),
                community if isinstance(community, int) and not isinstance(community, bool) else -1,
                min(max(_finite(data.get("score")), 0.0), 1.0),
            )
        )
    return nodes


def _drawing_edges(graph: networkx.DiGraph, keys: set[Any]) -> list[tuple[Any, Any, float]]:
    """Distinct unordered pairs (no self-loops) with both directions' weights added, in a fixed order."""
    pairs: dict[tuple[Any, Any], float] = {}
    for source, target, data in graph.edges(data=True):
        if source == target or source not in keys or target not in keys:
            continue
        pair = (source, target) if str(source) <= str(target) else (target, source)
        pairs[pair] = pairs.get(pair, 0.0) + max(_finite(data.get("weight"), 1.0), 0.0)
    return sorted(((a, b, w) for (a, b), w in pairs.items()), key=lambda e: (str(e[0]), str(e[1])))


def _layout(nodes: list[_Node], edges: list[tuple[Any, Any, float]]) -> None:
    """Seeded spring layout from community centres on a circle, scaled into the drawing box (sets x, y, r)."""
    import networkx as nx
    import numpy as np

    if not nodes:
        return
    max_score = max(node.score for node in nodes)
    for node in nodes:
        node.r = MIN_RADIUS + (MAX_RADIUS - MIN_RADIUS) * (math.sqrt(node.score / max_score) if max_score > 0 else 0)
    if len(nodes) == 1:
        nodes[0].x, nodes[0].y = WIDTH / 2, HEIGHT / 2
        return
    by_key = {node.key: node for node in nodes}
    undirected = nx.Graph()
    undirected.add_nodes_from(node.index for node in nodes)
    for a, b, weight in edges:
        same = by_key[a].community == by_key[b].community and by_key[a].community >= 0
        undirected.add_edge(by_key[a].index, by_key[b].index, lw=(1.0 + math.log1p(weight)) * (3.0 if same else 0.5))
    # A hidden centre weakly tied to everyone: isolated nodes and small components stay near the rest
    # instead of being pushed to the rim (which would squeeze the graph itself into a corner).
    centre = -1
    gravity = min(0.3, 1.0 / math.sqrt(len(nodes)))  # weaker in big graphs: it would blur the communities
    undirected.add_edges_from(((centre, node.index) for node in nodes), lw=gravity)
    groups = sorted({node.community for node in nodes})
    rng = np.random.default_rng(SEED)
    start = {centre: (0.0, 0.0)}
    for node in nodes:
        angle = 2 * math.pi * groups.index(node.community) / len(groups)
        radius = 0.0 if len(groups) == 1 else 1.0
        jitter = rng.normal(0.0, 0.25, size=2)
        start[node.index] = (radius * math.cos(angle) + jitter[0], radius * math.sin(angle) + jitter[1])
    k = 1.6 / math.sqrt(len(nodes))
    pos = nx.spring_layout(undirected, pos=start, k=k, weight="lw", iterations=200, seed=SEED)
    xs = np.array([pos[node.index][0] for node in nodes], dtype=float)
    ys = np.array([pos[node.index][1] for node in nodes], dtype=float)
    # Stragglers should not squeeze everyone else into the middle.
    xs, ys = _tame_outliers(xs), _tame_outliers(ys)
    # A few nodes get a smaller box in the middle: two nodes in opposite corners read badly.
    fill = min(1.0, 0.3 + 0.7 * math.sqrt(len(nodes) / 80))
    pad_x, pad_y = MAX_RADIUS + 70.0, MAX_RADIUS + 24.0  # room for labels beside and below the outer nodes
    half_w, half_h = (WIDTH / 2 - pad_x) * fill, (HEIGHT / 2 - pad_y) * fill
    xs = _scale(xs, WIDTH / 2 - half_w, WIDTH / 2 + half_w)
    ys = _scale(ys, HEIGHT / 2 - half_h, HEIGHT / 2 + half_h)
    for node, x, y in zip(nodes, xs, ys, strict=True):
        node.x, node.y = float(x), float(y)


def _tame_outliers(values: Any) -> Any:
    import numpy as np

    if len(values) < 20:
        return values
    low, high = np.percentile(values, [2, 98])
    spread = high - low
    if spread <= 0:
        return values
    lo, hi = low - 0.15 * spread, high + 0.15 * spread
    return np.clip(values, lo, hi)


def _scale(values: Any, low: float, high: float) -> Any:
    span = float(values.max() - values.min())
    if span < 1e-12:
        return values * 0 + (low + high) / 2
    return low + (values - values.min()) / span * (high - low)


def _overlaps(box: tuple[float, float, float, float], boxes: Iterable[tuple[float, float, float, float]]) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b2 and b0 < x1 and y0 < b3 and b1 < y1 for b0, b1, b2, b3 in boxes)


def _place_labels(nodes: list[_Node]) -> list[str]:
    """SVG text for the top-scored nodes, each beside its node where it overlaps no other label.

    Positions are tried right, left, above, below, then diagonally; first where the label also covers no labelled
    node, then where it only avoids the other labels. A label that fits nowhere is left out (the node keeps its
    tooltip), never drawn over another label.
    """
    ranked = sorted(nodes, key=lambda node: (-node.score, node.index))[:MAX_LABELS]
    ranked = [node for node in ranked if node.score > 0] or ranked[:1]
    circles = {node.index: (node.x - node.r, node.y - node.r, node.x + node.r, node.y + node.r) for node in ranked}
    labels: list[tuple[float, float, float, float]] = []
    out = []
    for place, node in enumerate(ranked):
        size = 13.0 if place < 5 else 11.5
        text = _fit(node.label, size, MAX_LABEL_PX)
        width, height = _text_px(text, size), size * 1.25
        gap, diag = node.r + 3.0, node.r * 0.7 + 2.0
        base = size * 0.35  # from the middle of a line of text to its baseline
        candidates = [  # anchor, text x, text y, box left, box top
            ("start", node.x + gap, node.y + base, node.x + gap, node.y - height / 2),
            ("end", node.x - gap, node.y + base, node.x - gap - width, node.y - height / 2),
            ("middle", node.x, node.y - gap - height / 2 + base, node.x - width / 2, node.y - gap - height),
            ("middle", node.x, node.y + gap + height / 2 + base, node.x - width / 2, node.y + gap),
            ("start", node.x + diag, node.y - diag - height / 2 + base, node.x + diag, node.y - diag - height),
            ("start", node.x + diag, node.y + diag + height / 2 + base, node.x + diag, node.y + diag),
            ("end", node.x - diag, node.y - diag - height / 2 + base, node.x - diag - width, node.y - diag - height),
            ("end", node.x - diag, node.y + diag + height / 2 + base, node.x - diag - width, node.y + diag),
        ]
        others = [box for index, box in circles.items() if index != node.index]
        fits = [
            (anchor, tx, ty, (bx, by, bx + width, by + height))
            for anchor, tx, ty, bx, by in candidates
            if bx >= 2
            and bx + width <= WIDTH - 2
            and by >= 2
            and by + height <= HEIGHT - 2
            and not _overlaps((bx, by, bx + width, by + height), labels)
        ]
        clear = [fit for fit in fits if not _overlaps(fit[3], others)]
        if not (clear or fits):
            continue
        anchor, tx, ty, box = (clear or fits)[0]
        labels.append(box)
        weight = ' font-weight="600"' if place < 5 else ""
        out.append(
            f'<text class="label" x="{_f(tx)}" y="{_f(ty)}" text-anchor="{anchor}" font-size="{size:g}"'
            f'{weight} data-node="{node.index}">{_esc(text)}</text>'
        )
    return out


def _draw_graph(nodes: list[_Node], edges: list[tuple[Any, Any, float]]) -> str:
    head = (
        f'<svg class="graph" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        'aria-label="Drawing of the audience graph">'
    )
    if not nodes:
        return (
            f'{head}<rect class="bg" x="0" y="0" width="{WIDTH}" height="{HEIGHT}" rx="8"/>'
            f'<text class="empty" x="{WIDTH // 2}" y="{HEIGHT // 2}" text-anchor="middle">No users to draw</text></svg>'
        )
    _layout(nodes, edges)
    by_key = {node.key: node for node in nodes}
    max_weight = max((w for _, _, w in edges), default=0.0)
    parts = [head, f'<rect class="bg" x="0" y="0" width="{WIDTH}" height="{HEIGHT}" rx="8"/>', '<g class="edges">']
    for a, b, weight in edges:
        one, two = by_key[a], by_key[b]
        strength = math.log1p(weight) / math.log1p(max_weight) if max_weight > 0 else 0.0
        same = one.community == two.community
        stroke = colour(one.community) if same else EDGE_COLOUR
        parts.append(
            f'<line class="edge" x1="{_f(one.x)}" y1="{_f(one.y)}" x2="{_f(two.x)}" y2="{_f(two.y)}" '
            f'stroke="{stroke}" stroke-opacity="{(0.15 if same else 0.08) + 0.5 * strength:.2f}" '
            f'stroke-width="{0.6 + 1.4 * strength:.2f}" data-a="{one.index}" data-b="{two.index}"/>'
        )
    parts.append('</g><g class="nodes">')
    for node in sorted(nodes, key=lambda n: (n.score, -n.index)):  # the biggest are drawn last, on top
        tip = f"{node.label} · community {node.community if node.community >= 0 else '?'} · score {node.score:.3f}"
        parts.append(
            f'<circle class="node" cx="{_f(node.x)}" cy="{_f(node.y)}" r="{_f(node.r)}" '
            f'fill="{colour(node.community)}" data-node="{node.index}" data-community="{node.community}">'
            f"<title>{_esc(tip)}</title></circle>"
        )
    parts.append('</g><g class="labels">')
    parts.extend(_place_labels(nodes))
    parts.append("</g></svg>")
    return "".join(parts)


def _legend(report: GraphReport, in_drawing: Sequence[int]) -> str:
    """One entry per palette community (from the report and the drawing), then one grey entry for the rest.

    The rest counts the listed communities beyond the palette and those the report found but did not list.
    """
    sizes = {summary.id: summary for summary in report.communities}
    ids = sorted(set(sizes) | set(in_drawing))
    coloured = [c for c in ids if colour(c) != OTHER_COLOUR]
    rest = [c for c in ids if colour(c) == OTHER_COLOUR]
    items = []
    for community in coloured:
        summary = sizes.get(community)
        detail = ""
        if summary is not None:
            detail = f" · {summary.size:,} users"
            if summary.top_terms:
                detail += " · " + ", ".join(_fit(term, 12, 90) for term, _ in summary.top_terms[:2])
        items.append(
            f'<li data-community="{community}" data-colour="{colour(community)}">{_swatch(community)}'
            f"<b>{community}</b><bdi>{_esc(detail)}</bdi></li>"
        )
    unlisted = max(report.n_communities - len(sizes), 0)
    if rest or unlisted:
        users = sum(sizes[c].size for c in rest if c in sizes)
        if unlisted:
            users += max(report.n_users - sum(summary.size for summary in report.communities), 0)
        count = len(rest) + unlisted
        what = f"{count:,} smaller {'community' if count == 1 else 'communities'}"
        what += f" · {users:,} users" if users else ""
        items.append(f'<li data-community="other" data-colour="{OTHER_COLOUR}">{_swatch(-1)}{_esc(what)}</li>')
    if not items:
        return ""
    return f'<ul class="legend" aria-label="Communities">{"".join(items)}</ul>'


# ---------------------------------------------------------------------------------------------------------------
# charts


def _bar_chart(
    rows: Sequence[tuple[str, float, str, str, str]], *, label_px: float = 150.0, width: int = 480, name: str
) -> str:
    """Horizontal bars; a row is (label, value, shown value, colour, tooltip)."""
    if not rows:
        return '<p class="empty">Nothing to chart.</p>'
    row_h, bar_h, top = 24, 15, 4
    height = top * 2 + row_h * len(rows)
    value_px = 64.0
    bar_x = label_px + 8
    bar_max = width - bar_x - value_px
    biggest = max(_finite(value) for _, value, _, _, _ in rows)
    parts = [
        f'<svg class="bars" data-chart="{name}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{_esc(name)}">'
    ]
    for i, (label, value, shown, fill, tip) in enumerate(rows):
        y = top + i * row_h
        length = max(_finite(value), 0.0) / biggest * bar_max if biggest > 0 else 0.0
        parts.append(
            f'<g class="bar"><title>{_esc(tip)}</title>'
            f'<text x="{_f(label_px)}" y="{y + bar_h - 3}" text-anchor="end" font-size="12">'
            f"{_esc(_fit(label, 12, label_px))}</text>"
            f'<rect x="{_f(bar_x)}" y="{y}" width="{_f(max(length, 1.0))}" height="{bar_h}" rx="2" fill="{fill}"/>'
            f'<text class="val" x="{_f(bar_x + length + 5)}" y="{y + bar_h - 3}" font-size="11.5">{_esc(shown)}</text>'
            "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _more(total: int, shown: int, what: str) -> str:
    return f'<p class="note">… and {total - shown:,} more {_esc(what)}.</p>' if total > shown else ""


def _influencer_chart(top: Sequence[RankedUser]) -> str:
    rows = [
        (
            f"{user.rank}. {_user_name(user.username, user.user_id)}",
            user.score,
            f"{_finite(user.score):.3f}",
            colour(user.community),
            f"{_user_name(user.username, user.user_id)}: score {_finite(user.score):.3f}",
        )
        for user in top[:MAX_BARS]
    ]
    return _bar_chart(rows, label_px=220, width=980, name="influencers") + _more(len(top), len(rows), "ranked users")


def _influencer_table(top: Sequence[RankedUser]) -> str:
    if not top:
        return '<p class="empty">No ranked users.</p>'
    head = (
        '<tr><th class="n">#</th><th>User</th><th class="n">Score</th><th class="n">PageRank</th>'
        '<th class="n">In-strength</th><th class="n">Betweenness</th><th class="n">Followers</th><th>Community</th>'
        "<th>Why</th></tr>"
    )
    several_platforms = len({user.platform for user in top}) > 1
    rows = []
    for user in top:
        reasons = "".join(f'<span class="chip">{_bdi(reason)}</span>' for reason in user.reasons) or "—"
        platform = f' <span class="muted">{_esc(user.platform)}</span>' if several_platforms else ""
        rows.append(
            f'<tr data-user="{_esc(user.user_id)}"><td class="n">{user.rank}</td>'
            f'<td class="who">{_bdi(_user_name(user.username, user.user_id))}{platform}</td>'
            f'<td class="n">{_num(user.score)}</td><td class="n">{_num(user.pagerank, 4)}</td>'
            f'<td class="n">{_num(user.in_strength, 1)}</td><td class="n">{_num(user.betweenness, 4)}</td>'
            f'<td class="n">{_int(user.followers)}</td><td>{_community_tag(user.community)}</td>'
            f'<td class="why">{reasons}</td></tr>'
        )
    return f'<div class="tablewrap"><table class="influencers">{head}{"".join(rows)}</table></div>'


def _community_chart(communities: Sequence[CommunitySummary], total: int) -> str:
    ordered = sorted(communities, key=lambda c: (-c.size, c.id))
    rows = [
        (f"Community {c.id}", float(c.size), f"{c.size:,}", colour(c.id), f"Community {c.id}: {c.size:,} users")
        for c in ordered[:MAX_BARS]
    ]
    return _bar_chart(rows, label_px=110, width=440, name="community-sizes") + _more(
        max(total, len(ordered)), len(rows), "communities"
    )


def _kinds_chart(kinds: dict[str, int]) -> str:
    ordered = sorted(kinds.items(), key=lambda item: (-_finite(item[1]), str(item[0])))
    rows = [
        (str(kind), float(_finite(count)), f"{int(_finite(count)):,}", "#5b6b8c", f"{kind}: {int(_finite(count)):,}")
        for kind, count in ordered[:MAX_BARS]
    ]
    return _bar_chart(rows, label_px=110, width=440, name="kinds") + _more(len(ordered), len(rows), "kinds")


def _community_table(communities: Sequence[CommunitySummary]) -> str:
    if not communities:
        return '<p class="empty">No communities.</p>'
    head = (
        '<tr><th>Community</th><th class="n">Size</th><th class="n">Internal share</th><th>Top members</th>'
        "<th>Top terms</th></tr>"
    )
    rows = []
    for summary in sorted(communities, key=lambda c: c.id):
        members = ", ".join(_bdi(member) for member in summary.top_members) or "—"
        terms = (
            " ".join(
                f'<span class="term">{_bdi(term)} <span class="muted">{_int(count)}</span></span>'
                for term, count in summary.top_terms
            )
            or "—"
        )
        rows.append(
            f'<tr data-community="{summary.id}"><td>{_community_tag(summary.id)}</td>'
            f'<td class="n">{summary.size:,}</td><td class="n">{_pct(summary.internal_share)}</td>'
            f"<td>{members}</td><td>{terms}</td></tr>"
        )
    return f'<div class="tablewrap"><table class="communities">{head}{"".join(rows)}</table></div>'


def _broker_table(brokers: Sequence[Broker]) -> str:
    if not brokers:
        return '<p class="empty">No brokers.</p>'
    head = (
        '<tr><th>User</th><th>Community</th><th>Reaches</th><th class="n">Betweenness</th>'
        '<th class="n">Bridging ties</th></tr>'
    )
    rows = []
    for broker in brokers:
        reaches = " ".join(_community_tag(c) for c in broker.communities) or "—"
        rows.append(
            f'<tr data-user="{_esc(broker.user_id)}"><td>{_bdi(_user_name(broker.username, broker.user_id))}</td>'
            f"<td>{_community_tag(broker.community)}</td><td>{reaches}</td>"
            f'<td class="n">{_num(broker.betweenness, 4)}</td><td class="n">{_int(broker.bridges)}</td></tr>'
        )
    return f'<div class="tablewrap"><table class="brokers">{head}{"".join(rows)}</table></div>'


def _run_details(report: GraphReport) -> str:
    if not report.timings and not report.params:
        return ""
    parts = ['<details class="card"><summary>Run details</summary>']
    if report.timings:
        total = sum(_finite(seconds) for seconds in report.timings.values())
        steps = ", ".join(f"{_esc(step)} {_finite(seconds):.2f} s" for step, seconds in report.timings.items())
        parts.append(f'<p class="note">Computed in {total:.2f} s: {steps}.</p>')
    if report.params:
        rows = "".join(f"<tr><th>{_esc(key)}</th><td>{_bdi(value)}</td></tr>" for key, value in report.params.items())
        parts.append(f'<table class="params">{rows}</table>')
    parts.append("</details>")
    return "".join(parts)


_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f3f4f7;color:#1f2633;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Noto Sans","Noto Sans CJK SC","Noto Color Emoji",sans-serif}
.page{max-width:1060px;margin:0 auto;padding:24px 20px 40px}
header h1{margin:0;font-size:26px}
.sub{margin:2px 0 16px;color:#5c6578}
h2{margin:0 0 6px;font-size:17px}
.card{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(20,30,50,.12);padding:16px 18px;margin:0 0 16px;
overflow:hidden}
.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(110px,1fr));gap:10px;margin:0 0 16px}
.fig{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(20,30,50,.12);padding:10px 12px}
.fig .v{font-size:20px;font-weight:650;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.fig.wide{grid-column:span 2}
.fig .k{color:#5c6578;font-size:12px}
.note{color:#5c6578;margin:0 0 10px;font-size:13px}
.empty{color:#5c6578;font-style:italic}
svg{display:block;max-width:100%;height:auto}
svg text{fill:#1f2633;unicode-bidi:isolate}
svg.graph .bg{fill:#fbfbfd;stroke:#e3e6ec}
svg.graph .empty{fill:#8a94a6;font-size:18px}
svg.graph .label{paint-order:stroke;stroke:#fff;stroke-width:3.5px;stroke-linejoin:round;pointer-events:none}
svg.graph .node{stroke:#fff;stroke-width:1}
svg.graph.focus .edge{stroke-opacity:.04}
svg.graph.focus .edge.hl{stroke-opacity:.9;stroke:#1f2633}
svg.graph.focus .node{opacity:.25}
svg.graph.focus .node.hl{opacity:1;stroke:#1f2633}
svg.bars .val{fill:#5c6578}
.legend{list-style:none;margin:10px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:6px 16px;font-size:13px}
.legend li{display:flex;align-items:center;gap:4px}
.sw{display:inline-block;width:11px;height:11px;border-radius:50%;margin-right:4px;vertical-align:-1px;
border:1px solid rgba(0,0,0,.15)}
.ctag{white-space:nowrap;margin-right:6px}
.duo{display:grid;grid-template-columns:1fr 1fr;gap:16px}
@media (max-width:900px){.duo{grid-template-columns:1fr}}
svg.bars[data-chart=influencers]{margin-bottom:12px}
.tablewrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th.n{text-align:right}
th{text-align:left;color:#5c6578;font-weight:600;border-bottom:1px solid #dde1e8;padding:4px 8px 4px 0}
td{border-bottom:1px solid #eef0f4;padding:4px 8px 4px 0;vertical-align:top;overflow-wrap:anywhere}
td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.term,.chip{display:inline-block;background:#f0f2f6;border-radius:4px;padding:0 5px;margin:1px 3px 1px 0}
.chip{font-size:12px;color:#3d4658}
td.who{min-width:120px}
.muted{color:#8a94a6;font-size:11px}
details summary{cursor:pointer;font-weight:600}
table.params th{width:30%}
"""

# Highlight a node's ties on hover; the page needs none of it to be read.
_JS = """
(function(){
  document.querySelectorAll("svg.graph").forEach(function(svg){
    var edges = svg.querySelectorAll(".edge");
    svg.querySelectorAll(".node").forEach(function(node){
      var id = node.getAttribute("data-node");
      node.addEventListener("mouseenter", function(){
        svg.classList.add("focus"); node.classList.add("hl");
        edges.forEach(function(edge){
          var a = edge.getAttribute("data-a"), b = edge.getAttribute("data-b");
          if (a === id || b === id) {
            edge.classList.add("hl");
            var other = svg.querySelector('.node[data-node="' + (a === id ? b : a) + '"]');
            if (other) other.classList.add("hl");
          }
        });
      });
      node.addEventListener("mouseleave", function(){
        svg.classList.remove("focus");
        svg.querySelectorAll(".hl").forEach(function(el){ el.classList.remove("hl"); });
      });
    });
  });
})();
"""
