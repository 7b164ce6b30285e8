"""The combined influencer score: each measure divided by its maximum (followers on a log scale), weighted; ranks,
and the reasons a user ranks high."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from bot.domains.audience import engine
from bot.domains.audience.graph.log import InteractionLog
from bot.settings.graph import MEASURES, GraphConfig

MEASURE_LABELS = {
    "pagerank": "PageRank",
    "in_strength": "in-strength",
    "hub": "hub",
    "authority": "authority",
    "betweenness": "betweenness",
    "followers": "followers",
}


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
    keys = list(map(log.keys.__getitem__, analysis.node_ids.tolist()))
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
