"""The graph analysis: one daemon at a time (a lease in the database) reads the interaction log, analyses it and
stores a snapshot; when it is due, see bot.domains.audience.freshness; reports are read back from snapshots."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.core.errors import PlatformError
from bot.core.models import platform_name
from bot.domains.audience.freshness import (
    HIGH_WATER,
    age_text,
    arrived_since,
    check_every,
    every_passed,
    grown_to,
    high_water,
)
from bot.domains.audience.jobs import Progress
from bot.domains.audience.report import Broker, CommunitySummary, GraphReport, RankedUser

if TYPE_CHECKING:
    import networkx as nx

    from bot.core.clock import Clock
    from bot.core.ports import GraphStore, Platform
    from bot.core.records import ScoreRow, Snapshot
    from bot.domains.audience.graph import GraphRun, InteractionLog
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

LEASE = "graph-analysis"
LEASE_TTL = timedelta(minutes=30)


def _keys(settings: Settings, known: Mapping[str, str]) -> set[str]:
    from bot.domains.audience.graph import node_key

    keys = set()
    for account, user_id in known.items():
        config = settings.accounts.get(account)
        if config is not None:
            keys.add(node_key(platform_name(config.platform), user_id))
    return keys


class AnalysisService:
    """Builds graph snapshots from the stored interactions; `jobs()` for the daemon, `run()` for the CLI."""

    def __init__(
        self,
        settings: Settings,
        store: GraphStore,
        clock: Clock,
        *,
        owner: str,
        platforms: Mapping[str, Platform] | None = None,
    ) -> None:
        self.settings = settings
        self.config = settings.graph
        self.store = store
        self.clock = clock
        self.owner = owner
        self.platforms = dict(platforms or {})

    # ---- whose graph
    def own_keys(self) -> set[str]:
        """'platform:user_id' of our own accounts: asked of the platforms when connected, else as stored."""
        known = self.store.accounts.own_user_ids()
        for account, platform in self.platforms.items():
            if account in known:
                continue
            try:
                user_id = platform.me().id
            except PlatformError as exc:
                logger.warning("graph: cannot ask %s who it is (%s); its own edges may stay in", account, exc)
                continue
            self.store.accounts.set_platform_user_id(account, user_id)
            known[account] = user_id
        return _keys(self.settings, known)

    # ---- when
    @property
    def check_every(self) -> timedelta:
        """How often the daemon asks `due_reason` (a minute, or graph.every when shorter)."""
        return check_every(self.config.every)

    def due_reason(self, now: datetime) -> str | None:
        """Why an analysis is due now, or None: no snapshot yet and interactions in the window, graph.every
        passed, or the interactions in the window grew by graph.rerun_when_grown (bot.domains.audience.freshness)."""
        since = now - self.config.window if self.config.window else None
        latest = self.store.graphs.latest_snapshot()
        if latest is None:
            n = self.store.people.interaction_count(since=since)
            return f"no snapshot yet and {n:,} interactions to analyse" if n else None
        age = now - latest.created_at
        if every_passed(age, self.config.every):
            return f"the latest snapshot is {age_text(age)} old"
        base = int(latest.stats.get("interactions_read", latest.n_interactions))
        grown = grown_to(
            base,
            self.config.rerun_when_grown,
            arrived_since(self.store, latest.stats),
            lambda: self.store.people.interaction_count(since=since),
        )
        if grown is not None:
            return f"the interactions grew from {base:,} to {grown:,} since the latest snapshot"
        return None

    def due(self, now: datetime) -> bool:
        return self.due_reason(now) is not None

    # ---- one run
    def run(self, *, force: bool = False, progress: Progress | None = None) -> GraphRun | None:
        """Analyse and store a snapshot; None when another daemon holds the lease or (unless force) no analysis
        is due (`due_reason`)."""
        from bot.domains.audience.graph import analyse_log, load_log

        now = self.clock.now()
        if not force and self.due_reason(now) is None:
            logger.debug("graph: no analysis due")
            return None
        if not self.store.leases.acquire(LEASE, self.owner, ttl=LEASE_TTL, now=now):
            holder = self.store.leases.holder(LEASE, now=now)
            logger.info("graph: analysis already running on %s; skipping this turn", holder)
            return None
        try:
            reason = "asked for" if force else self.due_reason(now)
            if reason is None:  # another daemon finished one while we waited for the lease
                return None
            logger.info("graph: analysing (%s)", reason)
            mark = high_water(self.store)  # before reading: what arrives meanwhile counts as arrived since
            own = self.own_keys()
            log = load_log(self.store, self.config, now, own_keys=own, progress=progress)
            followers, usernames = self.store.graphs.user_keys()
            since = now - self.config.window if self.config.window else None
            texts = self.store.graphs.texts_by_author(since=since)
            run = analyse_log(
                log,
                self.config,
                now=now,
                own_keys=own,
                followers_of=followers,
                usernames=usernames,
                texts=texts,
                progress=progress,
            )
            if progress:
                progress("storing the snapshot")
            report = run.report
            snapshot_id = self.store.graphs.save_snapshot(
                created_at=now,
                figures={
                    "n_users": report.n_users,
                    "n_edges": report.n_edges,
                    "n_interactions": report.n_interactions,
                    "n_communities": report.n_communities,
                    "modularity": report.modularity,
                    "reciprocity": report.reciprocity,
                },
                params=report.params,
                stats={
                    "kinds": report.kinds,
                    "timings": report.timings,
                    "brokers": [asdict(b) for b in report.brokers],
                    "interactions_read": log.n_read,
                    HIGH_WATER: mark,
                },
                scores=run.score_columns(),
                communities=run.community_rows(),
            )
            run.report = replace(report, snapshot_id=snapshot_id)
        finally:
            self.store.leases.release(LEASE, self.owner)
        top = ", ".join(f"@{u.username or u.user_id}" for u in run.report.top[:3])
        logger.info(
            "graph snapshot %d: %d users, %d edges from %d interactions, %d communities (modularity %.3f); top: %s",
            snapshot_id,
            report.n_users,
            report.n_edges,
            report.n_interactions,
            report.n_communities,
            report.modularity,
            top or "-",
        )
        return run


# ---------------------------------------------------------------------------------------- reading back


def report_from_snapshot(store: GraphStore, snapshot: Snapshot, *, top: int = 25) -> GraphReport:
    """The GraphReport of a stored snapshot (what `socialbot graph report` shows)."""
    rows = store.graphs.snapshot_scores(snapshot.id, limit=top)
    communities = store.graphs.snapshot_communities(snapshot.id)
    member_ids = {m for c in communities for m in c.top_members}
    names = {u.user_id: u.username for u in store.people.user_infos(user_ids=member_ids) if u.username}
    return GraphReport(
        snapshot_id=snapshot.id,
        created_at=snapshot.created_at,
        n_users=snapshot.n_users,
        n_edges=snapshot.n_edges,
        n_interactions=snapshot.n_interactions,
        modularity=snapshot.modularity,
        reciprocity=snapshot.reciprocity,
        communities=[
            CommunitySummary(
                id=c.community,
                size=c.size,
                internal_share=c.internal_share,
                top_members=tuple(names.get(m, m) for m in c.top_members),
                top_terms=c.top_terms,
            )
            for c in communities
        ],
        top=[ranked_user(row) for row in rows],
        brokers=[
            Broker(**{**b, "communities": tuple(b.get("communities") or ())})
            for b in snapshot.stats.get("brokers") or []
        ],
        kinds=dict(snapshot.stats.get("kinds") or {}),
        timings=dict(snapshot.stats.get("timings") or {}),
        params=dict(snapshot.params),
        total_communities=snapshot.n_communities,
    )


def ranked_user(row: ScoreRow) -> RankedUser:
    return RankedUser(
        rank=row.rank,
        platform=row.platform,
        user_id=row.user_id,
        username=row.username,
        score=row.score,
        pagerank=row.pagerank,
        in_strength=row.in_strength,
        hub=row.hub,
        authority=row.authority,
        betweenness=row.betweenness,
        followers=row.followers,
        community=row.community,
        reasons=row.reasons,
    )


def drawing_rows(store: GraphStore, snapshot: Snapshot, *, limit: int = 250, per_community: int = 8) -> list[ScoreRow]:
    """Who the HTML drawing shows: the top influencers, the brokers, the strongest members of the largest
    communities, then the next best, up to `limit`."""
    chosen: dict[tuple[str, str], ScoreRow] = {}
    best = store.graphs.snapshot_scores(snapshot.id, limit=limit)
    for row in best[:25]:
        chosen.setdefault((row.platform, row.user_id), row)
    brokers = {b.get("user_id") for b in snapshot.stats.get("brokers") or []}
    for row in best:
        if row.user_id in brokers:
            chosen.setdefault((row.platform, row.user_id), row)
    for community in store.graphs.snapshot_communities(snapshot.id)[:12]:
        for row in store.graphs.snapshot_scores(snapshot.id, limit=per_community, community=community.community):
            if len(chosen) < limit:
                chosen.setdefault((row.platform, row.user_id), row)
    for row in best:
        if len(chosen) >= limit:
            break
        chosen.setdefault((row.platform, row.user_id), row)
    return sorted(chosen.values(), key=lambda r: r.rank)


def snapshot_log(store: GraphStore, settings: Settings, snapshot: Snapshot) -> InteractionLog:
    """The interaction log as the snapshot's run saw it (same window and weights, decayed to its time)."""
    from bot.domains.audience.graph import load_log

    return load_log(store, settings.graph, snapshot.created_at, own_keys=_keys(settings, store.accounts.own_user_ids()))


def snapshot_drawing(store: GraphStore, settings: Settings, snapshot: Snapshot) -> nx.DiGraph:
    """What the report page draws of a snapshot: its leading users (drawing_rows) and their ties."""
    from bot.domains.audience.graph import drawing_graph

    return drawing_graph(drawing_rows(store, snapshot), snapshot_log(store, settings, snapshot))
