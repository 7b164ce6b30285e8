"""One analysis of the interaction log: the engine's measures and communities, scores with reasons, brokers and
community summaries, as a GraphReport plus the rows a snapshot stores."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.memory import paused_gc
from bot.domains.audience import engine
from bot.domains.audience.graph.communities import community_summaries, find_brokers
from bot.domains.audience.graph.log import InteractionLog, split_key
from bot.domains.audience.graph.scores import Scored, reasons_for, score_nodes
from bot.domains.audience.jobs import Progress
from bot.domains.audience.report import Broker, GraphReport, RankedUser
from bot.settings.graph import GraphConfig


@dataclass
class GraphRun:
    """One analysis: the log, the engine's result, scores and the report built from them."""

    log: InteractionLog
    scored: Scored
    report: GraphReport
    member_ids: dict[int, tuple[str, ...]]  # community -> its top members' user ids (report: handles)

    def score_columns(self) -> dict[str, list[Any]]:
        """The graph_score rows as columns, one value per ranked user, best first (own accounts left out)."""
        s, a = self.scored, self.scored.analysis
        order = s.order()
        platform, user_id = [], []
        for key in map(s.keys.__getitem__, order.tolist()):
            p, _, u = key.partition(":")
            platform.append(p)
            user_id.append(u)
        reasons = {u.user_id: list(u.reasons) for u in self.report.top}
        return {
            "platform": platform,
            "user_id": user_id,
            "pagerank": a.pagerank[order].tolist(),
            "in_strength": a.in_strength[order].tolist(),
            "hub": a.hub[order].tolist(),
            "authority": a.authority[order].tolist(),
            "betweenness": a.betweenness[order].tolist(),
            "followers": [f if f >= 0 else None for f in s.followers[order].tolist()],
            "score": s.score[order].tolist(),
            "rank": s.rank[order].tolist(),
            "community": a.community[order].tolist(),
            "reasons": [reasons.get(u) for u in user_id] if reasons else [None] * len(user_id),
        }

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
    with paused_gc():
        return _analysed(log, config, now, own_keys, followers_of or {}, usernames or {}, texts, progress)


def _analysed(
    log: InteractionLog,
    config: GraphConfig,
    now: datetime,
    own_keys: Collection[str],
    followers_of: dict[str, int],
    usernames: dict[str, str],
    texts: Iterable[tuple[str, str, str, list[str]]],
    progress: Progress | None,
) -> GraphRun:
    if progress:
        progress(f"analysing {len(log):,} interactions")
    analysis = engine.analyse(log.edge_log(), betweenness_samples=config.betweenness_samples, seed=config.seed)
    graph = analysis.graph if analysis.graph is not None else engine.build_graph(log.edge_log())
    src, dst, weight = graph.edges()
    scored = score_nodes(analysis, log, config, followers_of, own_keys)
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
