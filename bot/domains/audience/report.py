"""What an analysis run found, as plain data: the CLI tables, CSV/JSON, the HTML page and the demo read this."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.domains.audience.interests import Interests


@dataclass(frozen=True)
class RankedUser:
    """One user's measures and combined influencer score; `reasons` say which measures put them high."""

    rank: int  # 1 = most influential
    platform: str
    user_id: str
    username: str | None
    score: float  # combined influencer score, 0..1
    pagerank: float
    in_strength: float
    hub: float
    authority: float
    betweenness: float
    followers: int | None
    community: int
    reasons: tuple[str, ...] = ()  # e.g. ("PageRank #1", "in-strength #3", "broker between 0 and 2")


@dataclass(frozen=True)
class CommunitySummary:
    id: int  # 0 is the largest
    size: int
    internal_share: float  # share of the community's edge weight that stays inside it
    top_members: tuple[str, ...]  # handles (or user ids when unknown), most influential first
    top_terms: tuple[tuple[str, int], ...]  # most used hashtags/words and their counts
    # from the same snapshot's interests (bot.domains.audience.interests; `with_interests`), when known:
    name: str | None = None  # readable: "candle & scent lovers (Yuki candle, Hinoki bath set)"
    products: tuple[tuple[str, float], ...] = ()  # favourite products, share of the members' product signals
    distinctive_terms: tuple[tuple[str, float], ...] = ()  # c-TF-IDF: words this community uses more than others


@dataclass(frozen=True)
class Broker:
    """A user whose ties reach into several communities (high betweenness across community borders)."""

    user_id: str
    username: str | None
    community: int
    communities: tuple[int, ...]  # the other communities their edges reach
    betweenness: float
    bridges: int  # edges to or from other communities


@dataclass(frozen=True)
class GraphReport:
    snapshot_id: int | None
    created_at: datetime
    n_users: int
    n_edges: int
    n_interactions: int
    modularity: float
    reciprocity: float
    communities: list[CommunitySummary]
    top: list[RankedUser]
    brokers: list[Broker]
    kinds: dict[str, int] = field(default_factory=dict)  # interactions by kind
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step
    params: dict[str, Any] = field(default_factory=dict)  # the config the run used
    total_communities: int | None = None  # all communities found (`communities` lists the largest ones)
    community_names: dict[int, str] = field(default_factory=dict)  # every community's readable name, when known

    @property
    def n_communities(self) -> int:
        return self.total_communities if self.total_communities is not None else len(self.communities)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["n_communities"] = self.n_communities
        return data


def with_interests(report: GraphReport, interests: Interests | None) -> GraphReport:
    """The report with each community's readable name, favourite products and distinctive terms, from the
    interests of the same snapshot (others, or None: the report unchanged)."""
    if interests is None or interests.snapshot_id != report.snapshot_id:
        return report
    found = {c.id: c for c in interests.communities}
    communities = [
        replace(c, name=found[c.id].name, products=found[c.id].products, distinctive_terms=found[c.id].terms)
        if c.id in found
        else c
        for c in report.communities
    ]
    names = {c.id: c.name for c in interests.communities}
    return replace(report, communities=communities, community_names=names)
