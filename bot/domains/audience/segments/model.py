"""The segments' model: features -> log1p where heavy-tailed -> standardised (community as one-hot of the largest
communities plus community-level aggregates) -> seeded K-means with k fixed or chosen by silhouette on a sample;
new centroids matched to the previous run's, so a segment's id keeps its meaning."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.domains.audience.features import ORDER_FEATURES, FeatureTable
from bot.domains.audience.jobs import Progress

if TYPE_CHECKING:
    from bot.settings.segments import SegmentsConfig

# heavy-tailed counts and amounts: log1p before standardising
LOG_FEATURES = frozenset(
    {"mention", "reply", "quote", "dm", "like", "retweet", "received", "per_week", "messages"}
    | {"complaints", "followers", "orders", "spent", "community_size"}
)
MODEL_FEATURES = (
    "mention",
    "reply",
    "quote",
    "dm",
    "like",
    "retweet",
    "received",
    "recency_days",
    "tenure_days",
    "per_week",
    "sentiment",
    "complaints",
    "influence",
    "followers",
    "community_size",
    "community_influence",
    *ORDER_FEATURES,
)
INFLUENCE_SCALE = 100.0  # influence scores are mostly tiny: log1p(100 x score)
SILHOUETTE_ROWS = 3_000
MATCH_DISTANCE = 3.0  # a new centroid farther than this (standardised units) from every old one gets a new id


@dataclass
class Space:
    """Model features: names, which get log1p, and the standardisation (mean, scale) of the log values."""

    names: list[str]
    mean: np.ndarray
    scale: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {"features": self.names, "mean": self.mean.tolist(), "scale": self.scale.tolist()}


def _log_value(name: str, values: np.ndarray) -> np.ndarray:
    if name == "influence" or name == "community_influence":
        return np.log1p(np.clip(values, 0.0, None) * INFLUENCE_SCALE)
    if name in LOG_FEATURES:
        return np.log1p(np.clip(values, 0.0, None))
    return values.astype(np.float64, copy=False)


def community_columns(table: FeatureTable, top: int) -> tuple[dict[str, np.ndarray], list[int]]:
    """Community-level aggregates (size, mean influence of the person's community; 0 without one) and the
    ids of the `top` largest communities (their one-hot columns). Never the community number itself."""
    n = len(table)
    size = np.zeros(n)
    mean_influence = np.zeros(n)
    known = table.community >= 0
    largest: list[int] = []
    if known.any():
        ids, inverse, counts = np.unique(table.community[known], return_inverse=True, return_counts=True)
        sums = np.bincount(inverse, weights=table.columns["influence"][known], minlength=len(ids))
        size[known] = counts[inverse]
        mean_influence[known] = (sums / counts)[inverse]
        order = np.lexsort((ids, -counts))
        largest = [int(ids[i]) for i in order[:top] if counts[i] >= max(2, 0.02 * n)]
    return {"community_size": size, "community_influence": mean_influence}, largest


def design_matrix(table: FeatureTable, top_communities: int) -> tuple[np.ndarray, list[str], list[int]]:
    """Log-transformed model features (unscaled) plus one-hot columns 'community=<id>' of the largest ones."""
    extra, largest = community_columns(table, top_communities)
    columns = {**table.columns, **extra}
    names = [name for name in MODEL_FEATURES if name in columns]
    n = len(table)
    matrix = np.empty((n, len(names) + len(largest)), dtype=np.float64)
    for j, name in enumerate(names):
        matrix[:, j] = _log_value(name, columns[name])
    for j, community in enumerate(largest):
        matrix[:, len(names) + j] = table.community == community
    return matrix, names + [f"community={c}" for c in largest], largest


def standardise(matrix: np.ndarray, names: list[str]) -> tuple[np.ndarray, Space]:
    """StandardScaler in place (a constant column stays 0); one-hot columns are scaled like the others but
    weighed down so that a handful of them do not outvote the behaviour."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler(copy=False)
    scaled = scaler.fit_transform(matrix)
    scale = np.asarray(scaler.scale_, dtype=np.float64)
    onehot = [j for j, name in enumerate(names) if name.startswith("community=")]
    if onehot:
        weight = 1.0 / np.sqrt(len(onehot))
        scaled[:, onehot] *= weight
        scale = scale.copy()
        scale[onehot] /= weight
    return scaled, Space(list(names), np.asarray(scaler.mean_, dtype=np.float64), scale)


def sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def kmeans(k: int, seed: int, *, n_init: int = 3, init: np.ndarray | None = None) -> Any:
    from sklearn.cluster import KMeans

    if init is not None:
        return KMeans(n_clusters=k, init=init, n_init=1, random_state=seed)
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed)


def choose_k(
    x: np.ndarray, config: SegmentsConfig, *, progress: Progress | None = None
) -> tuple[int, np.ndarray, dict[int, float]]:
    """k (fixed, or the best silhouette over k_range on a seeded sample) and centres fitted on the sample
    (the full fit starts from them); also the silhouette of each k tried."""
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits

    rows = sample_rows(len(x), config.sample, config.seed)
    sample = x[rows]
    distinct = len(np.unique(sample, axis=0)) if len(sample) <= 50_000 else len(sample)
    low, high = config.k_range
    candidates = [config.k] if config.k is not None else list(range(low, high + 1))
    candidates = sorted({min(k, distinct) for k in candidates if k >= 1}) or [1]
    scores: dict[int, float] = {}
    best: tuple[float, int, np.ndarray] | None = None
    for k in candidates:
        if progress:
            progress(f"trying k={k} on {len(sample):,} people")
        with warnings.catch_warnings(), threadpool_limits(1):  # small data: OpenMP threads only cost here
            warnings.simplefilter("ignore")
            model = kmeans(k, config.seed).fit(sample)
        labels = model.labels_
        score = float("nan")
        if 2 <= len(np.unique(labels)) < len(sample):
            score = float(
                silhouette_score(
                    sample, labels, sample_size=min(len(sample), SILHOUETTE_ROWS), random_state=config.seed
                )
            )
            scores[k] = score
        key = score if not np.isnan(score) else -2.0
        if best is None or key > best[0]:
            best = (key, k, model.cluster_centers_)
    assert best is not None
    return best[1], best[2], scores


def match_ids(
    new_centers: np.ndarray,
    new_space: Space,
    previous: dict[int, list[float]],
    previous_space: dict[str, Any] | None,
    next_id: int,
) -> tuple[list[int], int]:
    """Stable segment ids: the new centroids (log space) are matched to the previous run's (log space) on their
    shared features, standardised with the new run's scale, by the Hungarian method; unmatched or too far ->
    fresh ids from next_id. Returns (id per new centroid, next free id)."""
    from scipy.optimize import linear_sum_assignment

    k = len(new_centers)
    ids = [-1] * k
    if previous and previous_space:
        old_names = list(previous_space.get("features") or [])
        shared = [n for n in new_space.names if n in old_names and not n.startswith("community=")]
        if shared:
            new_idx = [new_space.names.index(n) for n in shared]
            old_idx = [old_names.index(n) for n in shared]
            scale = new_space.scale[new_idx]
            scale = np.where(scale > 0, scale, 1.0)
            old_ids = sorted(previous)
            old = np.array([[previous[s][j] for j in old_idx] for s in old_ids]) / scale
            new = new_centers[:, new_idx] / scale
            cost = np.sqrt(((new[:, None, :] - old[None, :, :]) ** 2).sum(axis=2))
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                if cost[r, c] <= MATCH_DISTANCE:
                    ids[r] = old_ids[c]
    for r in range(k):
        if ids[r] < 0:
            ids[r] = next_id
            next_id += 1
    return ids, next_id
