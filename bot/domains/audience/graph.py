"""The audience graph from the stored interaction log: weights, influencer scores, brokers, community topics.

The log is read in chunks straight into integer arrays (no networkx graph at scale) and handed to the fast
engine (bot.domains.audience.engine). networkx is the API for what people look at: the drawing graph, ego networks and
exports (`to_networkx`, `ego_network`), all built from the same arrays.

Node keys are "platform:user_id" strings; node ints index `InteractionLog.keys`.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.domains.audience import engine
from bot.domains.audience.report import Broker, CommunitySummary, GraphReport, RankedUser
from bot.settings.graph import INTERACTION_KINDS, MEASURES, GraphConfig

if TYPE_CHECKING:
    import networkx as nx

    from bot.adapters.store import Store
    from bot.adapters.store.graphs import EdgeChunk, ScoreRow

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
MEASURE_LABELS = {
    "pagerank": "PageRank",
    "in_strength": "in-strength",
    "hub": "hub",
    "authority": "authority",
    "betweenness": "betweenness",
    "followers": "followers",
}
SUMMARISED_COMMUNITIES = 50
BROKERS = 10
TOP_MEMBERS = 5
TOP_TERMS = 8
_HANDLE = re.compile(r"@\w+")
_URL = re.compile(r"https?://\S+|\b\w+\.(?:com|net|org|cn)\S*")
_WORD = re.compile(r"[a-z][a-z'’-]{2,}")
_CJK = re.compile(r"[\u3400-\u9fff]+")
_STOPWORDS_TEXT = """the and for you your with this that have has had are was were not but all any can our out get got
    just from they them their what when where which who why how about would could should will shall there here
    been being into over very more most some such than then too also only its it's i'm i've don't didn't
    does did doing yours ours mine his her hers she him let lets still even much many really"""
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_ZH_STOPWORDS_TEXT = "这个 那个 我们 你们 他们 什么 怎么 还是 就是 已经 没有 一个 可以 真的 因为 所以 但是"
_ZH_STOPWORDS = frozenset(_ZH_STOPWORDS_TEXT.split())


def node_key(platform: str, user_id: str) -> str:
    return f"{platform}:{user_id}"


def split_key(key: str) -> tuple[str, str]:
    platform, _, user_id = key.partition(":")
    return platform, user_id


@dataclass
class InteractionLog:
    """The weighted edge log: src[i] -> dst[i] with weight[i] (kind weight x decay), node ints index `keys`."""

    keys: list[str]
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    kind: np.ndarray  # index into INTERACTION_KINDS
    n_read: int = 0  # interactions read from the store (before own-account and zero-weight rows were dropped)
    kinds: dict[str, int] = field(default_factory=dict)  # interactions kept, by kind

    def __len__(self) -> int:
        return int(self.src.size)

    def edge_log(self) -> engine.EdgeLog:
        return engine.EdgeLog(self.src, self.dst, self.weight)


def decay_factor(age_seconds: np.ndarray, half_life_seconds: float | None) -> np.ndarray:
    """0.5 ** (age / half_life); future timestamps count as now; no half-life: 1."""
    if not half_life_seconds:
        return np.ones_like(age_seconds, dtype=np.float64)
    return np.power(0.5, np.maximum(age_seconds, 0.0) / half_life_seconds)


class _LogBuilder:
    def __init__(self, config: GraphConfig, now: datetime, own_keys: Collection[str]) -> None:
        self.index: dict[str, int] = {}
        self.by_platform: dict[str, dict[str, int]] = {}
        self.keys: list[str] = []
        self.kind_code = {kind: i for i, kind in enumerate(INTERACTION_KINDS)}
        self.kind_weight = np.array([config.kind_weights.get(k, 0.0) for k in INTERACTION_KINDS], dtype=np.float64)
        self.half_life = config.half_life.total_seconds() if config.half_life else None
        self.now = now.timestamp()
        self.own = {self._id(k) for k in own_keys} if not config.include_own_account else set()
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.n_read = 0

    def _id(self, key: str) -> int:
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.keys)
            self.keys.append(key)
        return found

    def _ids(self, platforms: list[str], users: list[str]) -> np.ndarray:
        first = platforms[0] if platforms else ""
        if all(p == first for p in platforms):  # one platform (the usual case): no key strings per row
            by_user = self.by_platform.setdefault(first, {})
            prefix = f"{first}:"

            def ident(user: str) -> int:
                found = by_user.get(user)
                if found is None:
                    found = by_user[user] = self._id(prefix + user)
                return found

            return np.fromiter((ident(u) for u in users), np.int64, len(users))
        return np.fromiter((self._id(f"{p}:{u}") for p, u in zip(platforms, users, strict=True)), np.int64, len(users))

    def add(self, chunk: EdgeChunk) -> None:
        self.n_read += len(chunk)
        src = self._ids(chunk.platform, chunk.source)
        dst = self._ids(chunk.platform, chunk.target)
        codes = self.kind_code
        kind = np.fromiter((codes.get(k, -1) for k in chunk.kind), np.int16, len(chunk))
        epoch = np.asarray(chunk.epoch, dtype=np.float64)
        keep = (kind >= 0) & (src != dst)
        keep &= self.kind_weight[np.maximum(kind, 0)] > 0
        if self.own:
            own = np.fromiter(self.own, np.int64, len(self.own))
            keep &= ~np.isin(src, own) & ~np.isin(dst, own)
        src, dst, kind, epoch = src[keep], dst[keep], kind[keep], epoch[keep]
        weight = self.kind_weight[kind] * decay_factor(self.now - epoch, self.half_life)
        self.parts.append((src, dst, kind, weight))

    def build(self) -> InteractionLog:
        if self.parts:
            src, dst, kind, weight = (np.concatenate(column) for column in zip(*self.parts, strict=True))
        else:
            src = dst = np.zeros(0, np.int64)
            kind = np.zeros(0, np.int16)
            weight = np.zeros(0, np.float64)
        counts = np.bincount(kind, minlength=len(INTERACTION_KINDS)) if kind.size else np.zeros(0, np.int64)
        kinds = {INTERACTION_KINDS[i]: int(n) for i, n in enumerate(counts) if n}
        return InteractionLog(self.keys, src, dst, weight, kind, self.n_read, kinds)


def load_log(
    store: Store,
    config: GraphConfig,
    now: datetime,
    *,
    own_keys: Collection[str] = (),
    progress: Progress | None = None,
) -> InteractionLog:
    """The interaction log within config.window, weighted and decayed as of `now`, own accounts in or out."""
    since = now - config.window if config.window else None
    builder = _LogBuilder(config, now, own_keys)
    total = store.interaction_count(since=since) if progress else 0
    for chunk in store.iter_interaction_edges(since=since):
        builder.add(chunk)
        if progress:
            progress(f"reading interactions: {builder.n_read:,} of {total:,}")
    return builder.build()


def edge_log_from(
    rows: Iterable[tuple[str, str, str, str, float]],
    config: GraphConfig,
    now: datetime,
    *,
    own_keys: Collection[str] = (),
) -> InteractionLog:
    """An InteractionLog from (platform, source, target, kind, epoch) rows (tests, small graphs)."""
    from bot.adapters.store.graphs import EdgeChunk

    rows = list(rows)
    builder = _LogBuilder(config, now, own_keys)
    if rows:
        platform, source, target, kind, epoch = (list(c) for c in zip(*rows, strict=True))
        builder.add(EdgeChunk(platform, source, target, kind, [float(e) for e in epoch]))
    return builder.build()


# ---------------------------------------------------------------------------------------------- scores


@dataclass
class Scored:
    """Per-node (engine order) measures plus the combined score and its rank; own accounts unranked (rank 0)."""

    analysis: engine.Analysis
    keys: list[str]  # per engine node: its "platform:user_id"
    followers: np.ndarray  # -1: unknown
    normalised: dict[str, np.ndarray]
    score: np.ndarray
    rank: np.ndarray  # 1-based among ranked nodes; 0 for own accounts
    measure_rank: dict[str, np.ndarray]  # 1-based rank of each node on each measure
    normalised_cut: dict[str, float]  # a reason needs more than this (the value just below the reasons' bar)
    own: np.ndarray  # bool per node

    def order(self) -> np.ndarray:
        """Ranked nodes, best first."""
        ranked = np.flatnonzero(self.rank > 0)
        return ranked[np.argsort(self.rank[ranked], kind="stable")]


def _descending_rank(values: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    order = np.lexsort((tiebreak, -values))
    rank = np.empty(values.size, dtype=np.int64)
    rank[order] = np.arange(1, values.size + 1)
    return rank


def score_nodes(
    analysis: engine.Analysis,
    log: InteractionLog,
    config: GraphConfig,
    followers_of: dict[str, int],
    own_keys: Collection[str],
) -> Scored:
    """Each measure divided by its maximum (followers on a log scale), weighted by config.score_weights."""
    keys = [log.keys[int(i)] for i in analysis.node_ids]
    n = len(keys)
    followers = np.fromiter((followers_of.get(k, -1) for k in keys), np.int64, n)
    values = {
        "pagerank": analysis.pagerank,
        "in_strength": analysis.in_strength,
        "hub": analysis.hub,
        "authority": analysis.authority,
        "betweenness": analysis.betweenness,
        "followers": np.log1p(np.maximum(followers, 0)).astype(np.float64),
    }
    normalised: dict[str, np.ndarray] = {}
    for name, column in values.items():
        top = float(column.max()) if column.size else 0.0
        normalised[name] = column / top if top > 0 else np.zeros(n)
    weights = config.score_weights
    total = sum(weights.values()) or 1.0
    score = sum((weights[m] * normalised[m] for m in MEASURES), start=np.zeros(n)) / total
    own_set = set(own_keys)
    own = np.fromiter((k in own_set for k in keys), bool, n)
    tiebreak = np.arange(n)
    rank = np.zeros(n, dtype=np.int64)
    ranked = np.flatnonzero(~own)
    if ranked.size:
        rank[ranked] = _descending_rank(score[ranked], tiebreak[ranked])
    measure_rank = {m: _descending_rank(values[m], tiebreak) for m in MEASURES}
    bar = reason_bar(n, config)
    cut = {m: float(np.partition(normalised[m], n - bar - 1)[n - bar - 1]) if n > bar else 0.0 for m in MEASURES}
    return Scored(analysis, keys, followers, normalised, score, rank, measure_rank, cut, own)


def reason_bar(n: int, config: GraphConfig) -> int:
    """How high a user must rank on a measure for it to count as a reason: the top 10% (at least 3), and at
    most the listed top."""
    return min(max(10, config.top), max(3, n // 10))


def reasons_for(node: int, scored: Scored, config: GraphConfig, brokers: dict[int, tuple[int, ...]]) -> tuple[str, ...]:
    """Why a user is near the top: the measures on which they rank high, strongest contribution first."""
    n = len(scored.keys)
    found: list[tuple[float, str]] = []
    for measure in MEASURES:
        weight = config.score_weights[measure]
        value = float(scored.normalised[measure][node])
        if weight <= 0 or value <= scored.normalised_cut[measure]:  # (ties with those below the bar: no reason)
            continue
        position = int(scored.measure_rank[measure][node])
        if measure == "followers":
            found.append((weight * value, f"{int(scored.followers[node]):,} followers (#{position})"))
        else:
            found.append((weight * value, f"{MEASURE_LABELS[measure]} #{position} of {n:,}"))
    found.sort(key=lambda item: -item[0])
    out = [text for _, text in found]
    if node in brokers:
        out.append("connects communities " + ", ".join(str(c) for c in brokers[node]))
    return tuple(out) or ("high on several measures at once",)


# ---------------------------------------------------------------------------------- relationships


def find_brokers(
    scored: Scored, src: np.ndarray, dst: np.ndarray, limit: int = BROKERS
) -> list[tuple[int, tuple[int, ...], int]]:
    """(node, other communities reached, bridging edges) for the users whose distinct edges (src -> dst, engine
    node order) cross community borders, highest betweenness first (then most bridges); own accounts left out."""
    analysis = scored.analysis
    community = analysis.community
    cross = community[src] != community[dst]
    if not cross.any():
        return []
    ends = np.concatenate([src[cross], dst[cross]])
    others = np.concatenate([community[dst[cross]], community[src[cross]]])
    bridges = np.bincount(ends, minlength=analysis.n_nodes)
    candidates = np.flatnonzero((bridges > 0) & ~scored.own)
    order = candidates[np.lexsort((-bridges[candidates], -analysis.betweenness[candidates]))][:limit]
    out: list[tuple[int, tuple[int, ...], int]] = []
    for node in order:
        reached = tuple(sorted({int(c) for c in others[ends == node]}))
        out.append((int(node), reached, int(bridges[node])))
    return out


def community_summaries(
    scored: Scored,
    edge_weights: tuple[np.ndarray, np.ndarray, np.ndarray],
    texts: Iterable[tuple[str, str, str, list[str]]],
    usernames: dict[str, str],
    limit: int = SUMMARISED_COMMUNITIES,
) -> tuple[list[CommunitySummary], dict[int, tuple[str, ...]]]:
    """The largest communities: size, share of their edge weight kept inside, top members (handles; and their
    user ids, second value), top terms."""
    analysis = scored.analysis
    community = analysis.community
    if community.size == 0:
        return [], {}
    src, dst, weight = edge_weights
    n_comm = int(community.max()) + 1
    sizes = np.bincount(community, minlength=n_comm)
    inside = community[src] == community[dst]
    within = np.bincount(community[src[inside]], weights=weight[inside], minlength=n_comm)
    touching = np.bincount(community[src], weights=weight, minlength=n_comm) + np.bincount(
        community[dst[~inside]], weights=weight[~inside], minlength=n_comm
    )
    shown = min(limit, n_comm)
    position = {key: i for i, key in enumerate(scored.keys)}
    terms: list[Counter[str]] = [Counter() for _ in range(shown)]
    for platform, author, text, hashtags in texts:
        node = position.get(node_key(platform, author))
        if node is None:
            continue
        c = int(community[node])
        if c < shown:
            terms[c].update(_terms(text, hashtags))
    order = scored.order()
    members: list[list[str]] = [[] for _ in range(shown)]
    for node in order:
        c = int(community[node])
        if c < shown and len(members[c]) < TOP_MEMBERS:
            members[c].append(scored.keys[node])
    out: list[CommunitySummary] = []
    for c in range(shown):
        share = float(within[c] / touching[c]) if touching[c] > 0 else 0.0
        out.append(
            CommunitySummary(
                id=c,
                size=int(sizes[c]),
                internal_share=round(share, 4),
                top_members=tuple(usernames.get(key) or split_key(key)[1] for key in members[c]),
                top_terms=tuple(terms[c].most_common(TOP_TERMS)),
            )
        )
    return out, {c: tuple(split_key(key)[1] for key in members[c]) for c in range(shown)}


def _terms(text: str, hashtags: Iterable[str]) -> list[str]:
    out = [f"#{tag.lower()}" for tag in hashtags]
    plain = _URL.sub(" ", _HANDLE.sub(" ", text))
    plain = re.sub(r"#\w+", " ", plain)
    out.extend(w for w in _WORD.findall(plain.lower()) if w not in _STOPWORDS)
    for run in _CJK.findall(plain):
        from bot.adapters.sentiment import chinese_words

        out.extend(w for w in chinese_words(run) if len(w) >= 2 and w not in _ZH_STOPWORDS)
    return out


# ------------------------------------------------------------------------------------------ one run


@dataclass
class GraphRun:
    """One analysis: the log, the engine's result, scores and the report built from them."""

    log: InteractionLog
    scored: Scored
    report: GraphReport
    member_ids: dict[int, tuple[str, ...]]  # community -> its top members' user ids (report: handles)

    def score_rows(self) -> list[dict[str, Any]]:
        """One graph_score row per user (own accounts left out)."""
        s, a = self.scored, self.scored.analysis
        reasons = {u.user_id: list(u.reasons) for u in self.report.top}
        rows: list[dict[str, Any]] = []
        for node in s.order():
            platform, user_id = split_key(s.keys[node])
            rows.append(
                {
                    "platform": platform,
                    "user_id": user_id,
                    "pagerank": float(a.pagerank[node]),
                    "in_strength": float(a.in_strength[node]),
                    "hub": float(a.hub[node]),
                    "authority": float(a.authority[node]),
                    "betweenness": float(a.betweenness[node]),
                    "followers": int(s.followers[node]) if s.followers[node] >= 0 else None,
                    "score": float(s.score[node]),
                    "rank": int(s.rank[node]),
                    "community": int(a.community[node]),
                    "reasons": reasons.get(user_id),
                }
            )
        return rows

    def community_rows(self) -> list[dict[str, Any]]:
        rows = []
        for c in self.report.communities:
            rows.append(
                {
                    "community": c.id,
                    "size": c.size,
                    "internal_share": c.internal_share,
                    "top_members": list(self.member_ids[c.id]),
                    "top_terms": [[t, n] for t, n in c.top_terms],
                }
            )
        return rows


def analyse_log(
    log: InteractionLog,
    config: GraphConfig,
    *,
    now: datetime,
    own_keys: Collection[str] = (),
    followers_of: dict[str, int] | None = None,
    usernames: dict[str, str] | None = None,
    texts: Iterable[tuple[str, str, str, list[str]]] = (),
    progress: Progress | None = None,
) -> GraphRun:
    """Measures, communities, the combined score with reasons, brokers and community summaries."""
    if progress:
        progress(f"analysing {len(log):,} interactions")
    analysis = engine.analyse(log.edge_log(), betweenness_samples=config.betweenness_samples, seed=config.seed)
    graph = engine.build_graph(engine.EdgeLog(log.src, log.dst, log.weight))
    src, dst, weight = graph.edges()
    scored = score_nodes(analysis, log, config, followers_of or {}, own_keys)
    usernames = usernames or {}
    if progress:
        progress("finding brokers and community topics")
    brokers = find_brokers(scored, src, dst)
    broker_map = {node: reached for node, reached, _ in brokers}
    top: list[RankedUser] = []
    for node in scored.order()[: config.top]:
        platform, user_id = split_key(scored.keys[node])
        top.append(
            RankedUser(
                rank=int(scored.rank[node]),
                platform=platform,
                user_id=user_id,
                username=usernames.get(scored.keys[node]),
                score=round(float(scored.score[node]), 6),
                pagerank=float(analysis.pagerank[node]),
                in_strength=float(analysis.in_strength[node]),
                hub=float(analysis.hub[node]),
                authority=float(analysis.authority[node]),
                betweenness=float(analysis.betweenness[node]),
                followers=int(scored.followers[node]) if scored.followers[node] >= 0 else None,
                community=int(analysis.community[node]),
                reasons=reasons_for(int(node), scored, config, broker_map),
            )
        )
    broker_rows = [
        Broker(
            user_id=split_key(scored.keys[node])[1],
            username=usernames.get(scored.keys[node]),
            community=int(analysis.community[node]),
            communities=reached,
            betweenness=float(analysis.betweenness[node]),
            bridges=bridges,
        )
        for node, reached, bridges in brokers
    ]
    summaries, member_ids = community_summaries(scored, (src, dst, weight), texts, usernames)
    report = GraphReport(
        snapshot_id=None,
        created_at=now,
        n_users=analysis.n_nodes,
        n_edges=analysis.n_edges,
        n_interactions=len(log),
        modularity=round(float(analysis.modularity), 6),
        reciprocity=round(float(analysis.reciprocity), 6),
        communities=summaries,
        top=top,
        brokers=broker_rows,
        kinds=dict(log.kinds),
        timings={k: round(v, 4) for k, v in analysis.timings.items()},
        params=config_params(config),
        total_communities=analysis.n_communities,
    )
    return GraphRun(log, scored, report, member_ids)


def config_params(config: GraphConfig) -> dict[str, Any]:
    def seconds(value: Any) -> float | None:
        return value.total_seconds() if value is not None else None

    return {
        "window_s": seconds(config.window),
        "half_life_s": seconds(config.half_life),
        "kind_weights": dict(config.kind_weights),
        "score_weights": dict(config.score_weights),
        "include_own_account": config.include_own_account,
        "betweenness_samples": config.betweenness_samples,
        "seed": config.seed,
    }


# ------------------------------------------------------------------------------------------ networkx views


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


def ego_log(store: Store, platform: str, user_id: str, config: GraphConfig, now: datetime) -> InteractionLog:
    since = now - config.window if config.window else None
    chunk = store.interactions_of(platform, user_id, since=since)
    rows = zip(chunk.platform, chunk.source, chunk.target, chunk.kind, chunk.epoch, strict=True)
    return edge_log_from(rows, config.model_copy(update={"include_own_account": True}), now)


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


def format_score(value: float) -> str:
    return f"{value:.3f}" if value >= 0.001 or value == 0 else f"{value:.2e}"


def humanise_seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s" if value < 60 else f"{value / 60:.1f} min"


__all__ = [
    "GraphRun",
    "InteractionLog",
    "Tie",
    "analyse_log",
    "drawing_graph",
    "ego_log",
    "ego_network",
    "load_log",
    "node_key",
    "tie",
    "to_networkx",
]
