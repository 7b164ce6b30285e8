"""The HTML report page: self-contained, escaped, one circle per node, colours consistent, reproducible."""

from __future__ import annotations

import math
import random
import re
import xml.etree.ElementTree as ET
from dataclasses import fields, replace
from datetime import UTC, datetime
from html.parser import HTMLParser

import networkx as nx
import pytest

from bot.domains.audience.report import Broker, CommunitySummary, GraphReport, RankedUser
from bot.reports.drawing import HEIGHT, MAX_LABELS, WIDTH, text_px
from bot.reports.graph_page import render_html
from bot.reports.palette import OTHER_COLOUR, PALETTE, colour

SCRIPT = "<script>alert(1)</script>"
ONMOUSE = '"onmouseover=alert(1) x="'
RTL = "مرحبا\u202eevil"
HOSTILE_ID = "9'\"><img src=x onerror=alert(2)>"


class Page(HTMLParser):
    """Every start tag with its attributes, the text outside script/style, and the scripts' bodies."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        if tag in ("script", "style"):
            self._in = tag

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append(data)
        elif self._in is None:
            self.text.append(data)

    def all_text(self) -> str:
        return "".join(self.text)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        found = []
        for name, values in self.tags:
            if name == tag and all(values.get(key.replace("_", "-")) == value for key, value in attrs.items()):
                found.append(values)
        return found


def svgs(page: str) -> list[ET.Element]:
    """Each inline <svg> parsed as XML (which also proves it is well-formed)."""
    return [ET.fromstring(chunk) for chunk in re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)]


def drawing(page: str) -> ET.Element:
    (svg,) = [svg for svg in svgs(page) if "graph" in svg.get("class", "").split()]
    return svg


def user(rank: int, user_id: str, username: str | None, community: int, score: float) -> RankedUser:
    return RankedUser(
        rank=rank,
        platform="x",
        user_id=user_id,
        username=username,
        score=score,
        pagerank=score / 10,
        in_strength=10.0 * score,
        hub=0.01,
        authority=0.02,
        betweenness=0.001 * rank,
        followers=None if rank % 2 else 1000 * rank,
        community=community,
        reasons=(f"PageRank #{rank}", f"{SCRIPT} reason"),
    )


def make_report(**changes: object) -> GraphReport:
    report = GraphReport(
        snapshot_id=42,
        created_at=datetime(2024, 11, 29, 9, 30, tzinfo=UTC),
        n_users=12345,
        n_edges=67890,
        n_interactions=234567,
        modularity=0.6543,
        reciprocity=0.1234,
        communities=[
            CommunitySummary(0, 500, 0.8, ("anna_shop", SCRIPT, "李小龙"), (("#新品", 80), ("🔥", 44), (SCRIPT, 3))),
            CommunitySummary(1, 300, 0.7, (ONMOUSE, RTL), (("#sale", 120), ("شكرا", 9))),
            CommunitySummary(2, 120, 0.65, ("deals4u",), (("😀🎉", 7),)),
            CommunitySummary(12, 15, 0.5, ("tiny",), ()),
        ],
        top=[
            user(1, "1", "anna_shop", 0, 1.0),
            user(2, "2", SCRIPT, 0, 0.8),
            user(3, HOSTILE_ID, ONMOUSE, 1, 0.6),
            user(4, "4", "李小龙", 1, 0.5),
            user(5, "5", None, 2, 0.3),
        ],
        brokers=[Broker(HOSTILE_ID, ONMOUSE, 1, (0, 2, 12), 0.0412, 17), Broker("2", SCRIPT, 0, (1,), 0.01, 5)],
        kinds={"reply": 4000, "mention": 5100, "<retweet>": 3000},
        timings={"graph": 0.12, "pagerank": 0.3},
        params={"seed": 7, "note": SCRIPT},
    )
    return replace(report, **changes)  # type: ignore[arg-type]


def make_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    nodes = [
        ("1", "anna_shop", 0, 1.0),
        ("2", SCRIPT, 0, 0.8),
        ("3", ONMOUSE, 1, 0.6),
        ("4", "李小龙", 1, 0.5),
        ("5", "5", 2, 0.3),
        ("6", RTL, 2, 0.2),
        ("7", "emoji😀🎉", 0, 0.1),
        ("8", "tiny", 12, 0.05),
        ("9", "ctrl\x00\x1b\x07char", 2, 0.0),
        ("10", "lonely", 1, 0.02),
    ]
    for key, label, community, score in nodes:
        graph.add_node(key, label=label, community=community, score=score)
    for a, b, weight in [
        ("2", "1", 5.0),
        ("1", "2", 2.0),
        ("7", "1", 1.0),
        ("3", "4", 3.0),
        ("4", "3", 1.0),
        ("5", "6", 1.0),
        ("9", "5", 12.0),
        ("3", "1", 1.0),
        ("8", "3", 1.0),
        ("6", "2", 0.5),
        ("1", "1", 4.0),  # a self-loop: not drawn
    ]:
        graph.add_edge(a, b, weight=weight)
    return graph


def planted_graph(seed: int = 5) -> nx.DiGraph:
    """A realistic drawing graph: ~200 nodes in 12 communities of falling size, hubs, sparse cross ties."""
    rng = random.Random(seed)
    sizes = [max(4, int(60 * 0.72**i)) for i in range(12)]
    base = nx.random_partition_graph(sizes, 0.12, 0.004, seed=seed, directed=True)
    pagerank = nx.pagerank(base)
    top = max(pagerank.values())
    graph = nx.DiGraph()
    for community, members in enumerate(base.graph["partition"]):
        for node in sorted(members):
            graph.add_node(str(node), label=f"user{node}", community=community, score=pagerank[node] / top)
    for a, b in base.edges:
        graph.add_edge(str(a), str(b), weight=float(rng.choice([1, 1, 2, 3, 12])))
    return graph


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(make_report(), make_graph(), title=f"Audience {SCRIPT}")


def test_self_contained_no_foreign_scripts_handlers_or_resources(page: str) -> None:
    parsed = Page(page)
    scripts = parsed.find("script")
    assert len(scripts) == 1 and scripts[0] == {}  # our one inline script, no src
    assert page.lower().count("<script") == 1
    for tag, attrs in parsed.tags:
        assert tag not in ("img", "link", "iframe", "object", "embed", "image", "use", "foreignobject"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("src", "href", "xlink:href", "action", "srcset", "poster"):
                pytest.fail(f"{tag} has {name}={value!r}")
    assert "http://" not in page and "https://" not in page
    assert "url(" not in page and "@import" not in page
    assert "<title>Audience &lt;script&gt;" in page


def test_hostile_text_is_escaped_and_survives_as_text(page: str) -> None:
    parsed = Page(page)
    text = parsed.all_text()
    assert SCRIPT in text and ONMOUSE in text and "李小龙" in text
    assert "#新品" in text and "🔥" in text and "😀🎉" in text and "شكرا" in text and RTL in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert SCRIPT not in page and "<img" not in page and ONMOUSE not in page
    assert "\x00" not in page and "\x1b" not in page and "ctrlchar" in text
    # a hostile user id stays one attribute value, whole
    assert [row["data-user"] for row in parsed.find("tr") if "data-user" in row].count(HOSTILE_ID) == 2
    # user text is bidi-isolated in the tables
    assert f"<bdi>{RTL}</bdi>" in page


def test_every_svg_is_well_formed_xml(page: str) -> None:
    charts = {svg.get("data-chart") for svg in svgs(page)}
    assert charts == {None, "influencers", "community-sizes", "kinds"}


def test_one_circle_per_node_inside_the_box(page: str) -> None:
    svg = drawing(page)
    circles = svg.findall(".//circle")
    assert len(circles) == make_graph().number_of_nodes()
    assert len({c.get("data-node") for c in circles}) == len(circles)
    for circle in circles:
        x, y, r = (float(circle.get(key, "nan")) for key in ("cx", "cy", "r"))
        assert r > 0 and r <= x <= WIDTH - r and r <= y <= HEIGHT - r
    radii = {c.find("title").text.split(" · ")[0]: float(c.get("r")) for c in circles}  # type: ignore[union-attr]
    assert radii["anna_shop"] > radii[SCRIPT] > radii["tiny"]
    # 10 edges between distinct nodes, 3 of them reciprocal pairs merged: 8 lines; the self-loop is not drawn
    assert len(svg.findall(".//line")) == 8


def test_community_colours_agree_between_drawing_legend_and_charts(page: str) -> None:
    parsed = Page(page)
    legend = {li["data-community"]: li["data-colour"] for li in parsed.find("li") if "data-colour" in li}
    assert legend == {"0": PALETTE[0], "1": PALETTE[1], "2": PALETTE[2], "other": OTHER_COLOUR}
    swatches = [attrs["style"] for tag, attrs in parsed.tags if tag == "span" and attrs.get("class") == "sw"]
    for value in legend.values():
        assert f"background:{value}" in swatches
    for circle in drawing(page).findall(".//circle"):
        community = circle.get("data-community", "")
        assert circle.get("fill") == legend.get(community, legend["other"])
    (sizes,) = [svg for svg in svgs(page) if svg.get("data-chart") == "community-sizes"]
    fills = [rect.get("fill") for rect in sizes.findall(".//rect")]
    assert fills == [colour(c) for c in (0, 1, 2, 12)] == [PALETTE[0], PALETTE[1], PALETTE[2], OTHER_COLOUR]


def test_header_figures(page: str) -> None:
    parsed = Page(page)
    text = parsed.all_text()
    figures = {attrs["data-figure"] for _, attrs in parsed.tags if "data-figure" in attrs}
    assert figures == {"users", "edges", "interactions", "communities", "modularity", "reciprocity", "snapshot", "time"}
    for shown in ("12,345", "67,890", "234,567", "0.654", "12.3%", "#42", "2024-11-29 09:30:00 UTC"):
        assert shown in text, shown
    assert re.search(r'data-figure="communities"><div class="v">4<', page)


def test_charts_and_tables(page: str) -> None:
    text = Page(page).all_text()
    for shown in ("PageRank #1", "5,100", "<retweet>", "80.0%", "0.0412", "17", "tiny"):
        assert shown in text, shown
    (bars,) = [svg for svg in svgs(page) if svg.get("data-chart") == "influencers"]
    assert len(bars.findall(".//rect")) == 5
    (kinds,) = [svg for svg in svgs(page) if svg.get("data-chart") == "kinds"]
    assert [t.text for t in kinds.iter("text") if t.get("class") != "val"] == ["mention", "reply", "<retweet>"]


def test_same_input_same_page_whatever_the_insertion_order() -> None:
    first = render_html(make_report(), make_graph())
    assert render_html(make_report(), make_graph()) == first
    shuffled = nx.DiGraph()
    graph = make_graph()
    shuffled.add_nodes_from(reversed(list(graph.nodes(data=True))))
    shuffled.add_edges_from(reversed(list(graph.edges(data=True))))
    assert render_html(make_report(), shuffled) == first


def test_empty_report_and_graph() -> None:
    empty = make_report(
        snapshot_id=None,
        n_users=0,
        n_edges=0,
        n_interactions=0,
        modularity=math.nan,
        reciprocity=0.0,
        communities=[],
        top=[],
        brokers=[],
        kinds={},
        timings={},
        params={},
    )
    page = render_html(empty, nx.DiGraph())
    svg = drawing(page)
    assert svg.findall(".//circle") == []
    text = Page(page).all_text()
    assert "No users to draw" in text and "No ranked users." in text and "No brokers." in text
    assert "nan" not in page.lower()


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("with_edges", [True, False])
def test_tiny_graphs(n: int, with_edges: bool) -> None:
    graph = nx.DiGraph()
    for i in range(n):
        graph.add_node(f"u{i}", label=f"user {i}", community=i % 2, score=1.0 / (i + 1))
    if with_edges:
        nx.add_path(graph, [f"u{i}" for i in range(n)], weight=2.0)
    svg = drawing(render_html(make_report(), graph))
    circles = svg.findall(".//circle")
    assert len(circles) == n
    points = {(c.get("cx"), c.get("cy")) for c in circles}
    assert len(points) == n  # nobody on top of anybody
    for circle in circles:
        x, y = float(circle.get("cx", "nan")), float(circle.get("cy", "nan"))
        assert 0 < x < WIDTH and 0 < y < HEIGHT
    assert "user 0" in {t.text for t in svg.iter("text") if t.get("class") == "label"}  # the top node is labelled


def test_missing_and_odd_attributes() -> None:
    graph = nx.DiGraph()
    graph.add_node("a")  # no label, community or score
    graph.add_node("b", label="", community=True, score=math.nan)
    graph.add_node("c", label="c", community=99, score=7.0)
    graph.add_edge("a", "b")  # no weight
    graph.add_edge("b", "c", weight=math.inf)
    svg = drawing(render_html(make_report(), graph))
    fills = {c.get("data-community"): c.get("fill") for c in svg.findall(".//circle")}
    assert fills == {"-1": OTHER_COLOUR, "99": OTHER_COLOUR}
    assert "nan" not in ET.tostring(svg, encoding="unicode").lower()


def test_realistic_graph_is_spread_and_labelled_without_overlaps() -> None:
    graph = planted_graph()
    page = render_html(make_report(n_users=8000), graph)
    svg = drawing(page)
    circles = svg.findall(".//circle")
    assert len(circles) == graph.number_of_nodes() > 150
    xs = [float(c.get("cx", "nan")) for c in circles]
    ys = [float(c.get("cy", "nan")) for c in circles]
    assert max(xs) - min(xs) > WIDTH * 0.6 and max(ys) - min(ys) > HEIGHT * 0.6
    labels = [t for t in svg.iter("text") if t.get("class") == "label"]
    assert MAX_LABELS // 2 <= len(labels) <= MAX_LABELS
    best = max(graph.nodes, key=lambda n: graph.nodes[n]["score"])
    assert graph.nodes[best]["label"] in {t.text for t in labels}
    boxes = []
    for label in labels:
        x, y, size = (float(label.get(key, "nan")) for key in ("x", "y", "font-size"))
        width = text_px(label.text or "", size)
        left = {"start": x, "middle": x - width / 2, "end": x - width}[label.get("text-anchor", "")]
        boxes.append((left, y - size, left + width, y + size * 0.25))
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        assert x0 >= 0 and x1 <= WIDTH and y0 >= 0 and y1 <= HEIGHT
        for a0, b0, a1, b1 in boxes[i + 1 :]:
            assert not (x0 < a1 and a0 < x1 and y0 < b1 and b0 < y1), "labels overlap"
    assert render_html(make_report(n_users=8000), planted_graph()) == page


def test_communities_found_but_not_listed() -> None:
    if "total_communities" not in {f.name for f in fields(GraphReport)}:
        pytest.skip("GraphReport has no total_communities")
    page = render_html(make_report(total_communities=40), make_graph())
    text = Page(page).all_text()
    assert re.search(r'data-figure="communities"><div class="v">40<', page)
    assert "37 smaller communities" in text  # community 12 listed beyond the palette + 36 unlisted
    assert "36 more communities" in text
