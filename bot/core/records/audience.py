"""The audience as the store hands it to the analysis: engagement of our posts, the interaction log in columns,
graph snapshots, segments and their features, and what people wrote (recommendation signals)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.clock import ensure_utc

FEATURE_KINDS = ("mention", "reply", "quote", "dm", "like", "retweet")
# the value columns of each part of the features, after (platform, user_id)
FEATURE_PARTS: dict[str, tuple[str, ...]] = {
    "started": (*FEATURE_KINDS, "last_epoch", "first_epoch"),  # interactions the user started, by kind
    "received": ("received", "last_epoch", "first_epoch"),  # interactions towards the user
    "messages": ("messages", "sentiment", "complaints"),  # mentions/DMs to our accounts; mean sentiment (None: none)
    "users": ("username", "followers"),  # every known user (followers None: unknown)
    "scores": ("influence", "community"),  # the graph snapshot's combined score and community
}


def utc_day(moment: datetime) -> str:
    """The read-budget day of `moment`: 'YYYY-MM-DD' in UTC."""
    return ensure_utc(moment).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class TrackedPost:
    """One of our posts whose engagement is collected; counts are what the last collection saw."""

    account: str
    post_id: str
    posted_at: datetime
    last_collected_at: datetime | None
    likes: int
    retweets: int
    quotes: int


@dataclass(frozen=True)
class EdgeChunk:
    """Parallel columns of interactions; `epoch` is created_at in seconds since 1970 (UTC)."""

    platform: list[str]
    source: list[str]
    target: list[str]
    kind: list[str]
    epoch: list[float]

    def __len__(self) -> int:
        return len(self.source)


@dataclass(frozen=True)
class UserInfo:
    platform: str
    user_id: str
    username: str | None
    followers: int | None


@dataclass(frozen=True)
class Snapshot:
    id: int
    created_at: datetime
    n_users: int
    n_edges: int
    n_interactions: int
    n_communities: int
    modularity: float
    reciprocity: float
    params: dict[str, Any]
    stats: dict[str, Any]


@dataclass(frozen=True)
class ScoreRow:
    snapshot_id: int
    platform: str
    user_id: str
    username: str | None
    pagerank: float
    in_strength: float
    hub: float
    authority: float
    betweenness: float
    followers: int | None
    score: float
    rank: int
    community: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class CommunityRow:
    snapshot_id: int
    community: int
    size: int
    internal_share: float
    top_members: tuple[str, ...]
    top_terms: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class SegmentRun:
    id: int
    created_at: datetime
    k: int
    n_users: int
    silhouette: float | None
    graph_snapshot_id: int | None
    params: dict[str, Any]
    stats: dict[str, Any]


@dataclass(frozen=True)
class SegmentInfo:
    run_id: int
    segment_id: int  # stable across runs (new centroids are matched to the previous ones)
    label: str
    size: int
    centroid: dict[str, float]  # feature -> mean value (raw units)

    def matches(self, target: str | int) -> bool:
        """Whether a campaign's `segments:` entry names this segment: its id, its label, or its label's family
        (case-insensitive): 'regulars' names 'happy regulars', 'regulars, more orders' and 'regulars (another
        120)' too, and in older runs 'advocates' names 'advocates 2'."""
        text = str(target).strip().casefold()
        if isinstance(target, int) or text.isdigit():
            return int(text) == self.segment_id
        family = label_family(self.label)
        return text in (self.label.casefold(), family) or family.endswith(f" {text}")


def label_family(label: str) -> str:
    """A segment label without what tells look-alikes apart: 'regulars, more orders' -> 'regulars'."""
    base = re.sub(r" \(another [\d,]+\)$", "", label.strip().casefold())
    return re.sub(r" \d+$", "", base.split(", ", 1)[0])


@dataclass(frozen=True)
class FeatureChunk:
    """Rows of one part of the features: (platform, user id) and a tuple of the part's FEATURE_PARTS columns."""

    part: str
    platform: list[str]
    user_id: list[str]
    values: list[tuple[Any, ...]]

    def __len__(self) -> int:
        return len(self.user_id)


@dataclass(frozen=True)
class MentionText:
    """One mention or DM as the recommender reads it: who wrote what, when."""

    platform: str
    author_id: str
    username: str | None  # the author's handle when social_user knows it
    text: str
    at: datetime  # created_at, or seen_at when the platform gave no time (aware, UTC)
