"""The drawing of the audience graph: a seeded layout and label placement, as data the page template draws.

A seeded networkx spring layout started from community centres on a circle (edges inside a community pull
harder, a hidden centre keeps isolated nodes near the rest), so the same drawing graph always gives the same
drawing (nodes and edges are sorted first, so not even the graph's insertion order matters). Above ~500 drawn
nodes networkx switches to its slower sparse layout (about 8 s at 600).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.adapters.templating.pages import clean
from bot.reports.formats import coord, finite
from bot.reports.palette import EDGE_COLOUR, colour

if TYPE_CHECKING:
    import networkx

WIDTH = 1000
HEIGHT = 700
SEED = 7
MAX_LABELS = 20  # labelled nodes in the drawing, by score
MAX_LABEL_PX = 150.0
MIN_RADIUS = 3.0
MAX_RADIUS = 18.0


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


def text_px(text: str, size: float) -> float:
    """A rough rendered width of ``text`` in a sans-serif font of ``size`` px."""
    return sum(_char_px(char, size) for char in text)


def fit(text: str, size: float, max_px: float) -> str:
    """``text`` cut with an ellipsis so it renders no wider than ``max_px``."""
    text = " ".join(clean(text).split())
    if text_px(text, size) <= max_px:
        return text
    out, used = [], _char_px("…", size)
    for char in text:
        used += _char_px(char, size)
        if used > max_px:
            break
        out.append(char)
    return "".join(out).rstrip() + "…"


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
                min(max(finite(data.get("score")), 0.0), 1.0),
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
        pairs[pair] = pairs.get(pair, 0.0) + max(finite(data.get("weight"), 1.0), 0.0)
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


def _place_labels(nodes: list[_Node]) -> list[Label]:
    """Labels for the top-scored nodes, each beside its node where it overlaps no other label.

    Positions are tried right, left, above, below, then diagonally; first where the label also covers no labelled
    node, then where it only avoids the other labels. A label that fits nowhere is left out (the node keeps its
    tooltip), never drawn over another label.
    """
    ranked = sorted(nodes, key=lambda node: (-node.score, node.index))[:MAX_LABELS]
    ranked = [node for node in ranked if node.score > 0] or ranked[:1]
    circles = {node.index: (node.x - node.r, node.y - node.r, node.x + node.r, node.y + node.r) for node in ranked}
    labels: list[tuple[float, float, float, float]] = []
    out: list[Label] = []
    for place, node in enumerate(ranked):
        size = 13.0 if place < 5 else 11.5
        text = fit(node.label, size, MAX_LABEL_PX)
        width, height = text_px(text, size), size * 1.25
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
        out.append(Label(coord(tx), coord(ty), anchor, f"{size:g}", place < 5, node.index, text))
    return out


@dataclass(frozen=True)
class Line:
    x1: str
    y1: str
    x2: str
    y2: str
    stroke: str
    opacity: str
    width: str
    a: int
    b: int


@dataclass(frozen=True)
class Circle:
    x: str
    y: str
    r: str
    fill: str
    index: int
    community: int
    tip: str


@dataclass(frozen=True)
class Label:
    x: str
    y: str
    anchor: str
    size: str
    bold: bool
    index: int
    text: str


@dataclass
class Drawing:
    """What the page draws: lines (ties), circles (people, the biggest last), labels; `communities` drawn."""

    width: int = WIDTH
    height: int = HEIGHT
    lines: list[Line] = field(default_factory=list)
    circles: list[Circle] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    communities: list[int] = field(default_factory=list)


def draw(graph: networkx.DiGraph) -> Drawing:
    """The drawing of ``graph`` (string ids; label/community/score on nodes, weight on edges)."""
    nodes = _drawing_nodes(graph)
    edges = _drawing_edges(graph, {node.key for node in nodes})
    drawing = Drawing(communities=sorted({node.community for node in nodes}))
    if not nodes:
        return drawing
    _layout(nodes, edges)
    by_key = {node.key: node for node in nodes}
    max_weight = max((w for _, _, w in edges), default=0.0)
    for a, b, weight in edges:
        one, two = by_key[a], by_key[b]
        strength = math.log1p(weight) / math.log1p(max_weight) if max_weight > 0 else 0.0
        same = one.community == two.community
        drawing.lines.append(
            Line(
                coord(one.x),
                coord(one.y),
                coord(two.x),
                coord(two.y),
                colour(one.community) if same else EDGE_COLOUR,
                f"{(0.15 if same else 0.08) + 0.5 * strength:.2f}",
                f"{0.6 + 1.4 * strength:.2f}",
                one.index,
                two.index,
            )
        )
    for node in sorted(nodes, key=lambda n: (n.score, -n.index)):  # the biggest are drawn last, on top
        tip = f"{node.label} · community {node.community if node.community >= 0 else '?'} · score {node.score:.3f}"
        drawing.circles.append(
            Circle(coord(node.x), coord(node.y), coord(node.r), colour(node.community), node.index, node.community, tip)
        )
    drawing.labels = _place_labels(nodes)
    return drawing
