"""networkx views of the interaction log, for what people look at: the report page's drawing graph, Gephi exports,
ego networks and the tie between two users."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domains.audience import engine
from bot.domains.audience.graph.log import InteractionLog, node_key, split_key
from bot.settings.graph import INTERACTION_KINDS

if TYPE_CHECKING:
    import networkx as nx

    from bot.core.records import ScoreRow


def drawing_graph(
    nodes: Iterable[ScoreRow], log: InteractionLog, usernames: dict[str, str] | None = None
) -> nx.DiGraph:
    """A small networkx DiGraph for the HTML drawing: the given users (snapshot rows) and the summed, decayed
    edges among them from `log`. Nodes: user ids with label, community, score; edges: weight."""
    import networkx as nx

    g = nx.DiGraph()
    index: dict[str, str] = {}
    for row in nodes:
        key = node_key(row.platform, row.user_id)
        index[key] = row.user_id
        label = row.username or (usernames or {}).get(key) or row.user_id
        g.add_node(row.user_id, label=label, community=row.community, score=row.score)
    for a, b, w in zip(log.src.tolist(), log.dst.tolist(), log.weight.tolist(), strict=True):
        u, v = index.get(log.keys[a]), index.get(log.keys[b])
        if u is None or v is None or u == v:
            continue
        data = g.get_edge_data(u, v)
        if data is None:
            g.add_edge(u, v, weight=w)
        else:
            data["weight"] += w
    return g


def to_networkx(log: InteractionLog, scores: dict[str, ScoreRow], usernames: dict[str, str]) -> nx.DiGraph:
    """The whole weighted graph (parallel interactions summed) with a snapshot's measures as node attributes,
    for Gephi (GEXF/GraphML). Users the snapshot does not rank (own accounts, newer ones) get rank 0."""
    import networkx as nx

    graph = engine.build_graph(log.edge_log())
    g = nx.DiGraph()
    for key in (log.keys[int(i)] for i in graph.node_ids):
        platform, user_id = split_key(key)
        row = scores.get(key)
        g.add_node(
            key,
            platform=platform,
            user_id=user_id,
            label=(row.username if row else None) or usernames.get(key) or user_id,
            community=row.community if row else -1,
            score=row.score if row else 0.0,
            rank=row.rank if row else 0,
            pagerank=row.pagerank if row else 0.0,
            in_strength=row.in_strength if row else 0.0,
            hub=row.hub if row else 0.0,
            authority=row.authority if row else 0.0,
            betweenness=row.betweenness if row else 0.0,
            followers=row.followers if row and row.followers is not None else -1,
        )
    src, dst, weight = graph.edges()
    ids = graph.node_ids
    g.add_weighted_edges_from(
        (log.keys[int(ids[i])], log.keys[int(ids[j])], float(w))
        for i, j, w in zip(src.tolist(), dst.tolist(), weight.tolist(), strict=True)
    )
    return g


@dataclass(frozen=True)
class Tie:
    """What connects two users: decayed weight each way, interactions by kind each way, shared neighbours."""

    a: str
    b: str
    weight_ab: float
    weight_ba: float
    kinds_ab: dict[str, int]
    kinds_ba: dict[str, int]
    common_neighbours: int
    jaccard: float

    @property
    def strength(self) -> float:
        return self.weight_ab + self.weight_ba

    @property
    def reciprocal(self) -> bool:
        return self.weight_ab > 0 and self.weight_ba > 0


def ego_network(log: InteractionLog, platform: str, user_id: str) -> nx.DiGraph:
    """The user's direct ties as a networkx DiGraph: edge attributes weight (decayed) and count, per kind too."""
    import networkx as nx

    g = nx.DiGraph()
    center = node_key(platform, user_id)
    g.add_node(center)
    for a, b, w, k in zip(log.src.tolist(), log.dst.tolist(), log.weight.tolist(), log.kind.tolist(), strict=True):
        u, v = log.keys[a], log.keys[b]
        if center not in (u, v):
            continue
        data = g.get_edge_data(u, v)
        if data is None:
            g.add_edge(u, v, weight=0.0, count=0, kinds={})
            data = g.get_edge_data(u, v)
        data["weight"] += w
        data["count"] += 1
        kind = INTERACTION_KINDS[k]
        data["kinds"][kind] = data["kinds"].get(kind, 0) + 1
    return g


def tie(log_a: InteractionLog, log_b: InteractionLog, platform: str, a: str, b: str) -> Tie:
    """Tie strength between users a and b from their ego logs."""
    ka, kb = node_key(platform, a), node_key(platform, b)
    ego_a = ego_network(log_a, platform, a)
    ego_b = ego_network(log_b, platform, b)
    ab = ego_a.get_edge_data(ka, kb) or {"weight": 0.0, "kinds": {}}
    ba = ego_a.get_edge_data(kb, ka) or {"weight": 0.0, "kinds": {}}
    neighbours_a = (set(ego_a.predecessors(ka)) | set(ego_a.successors(ka))) - {ka, kb}
    neighbours_b = (set(ego_b.predecessors(kb)) | set(ego_b.successors(kb))) - {ka, kb}
    union = neighbours_a | neighbours_b
    common = neighbours_a & neighbours_b
    return Tie(
        a=a,
        b=b,
        weight_ab=float(ab["weight"]),
        weight_ba=float(ba["weight"]),
        kinds_ab=dict(ab["kinds"]),
        kinds_ba=dict(ba["kinds"]),
        common_neighbours=len(common),
        jaccard=len(common) / len(union) if union else 0.0,
    )
