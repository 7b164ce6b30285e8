"""One segmentation: cluster a FeatureTable, match ids to the previous run, label, and project for the page."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.domains.audience.features import FeatureTable
from bot.domains.audience.jobs import Progress
from bot.domains.audience.segments.labels import segment_labels
from bot.domains.audience.segments.model import (
    Space,
    choose_k,
    design_matrix,
    kmeans,
    match_ids,
    sample_rows,
    standardise,
)

if TYPE_CHECKING:
    from bot.core.records import SegmentRun
    from bot.settings.segments import SegmentsConfig

PROJECTION_POINTS = 3_000


@dataclass
class Segmentation:
    """The result of clustering a FeatureTable (before or after storing)."""

    k: int
    segment_ids: list[int]
    labels: list[str]
    sizes: list[int]
    centroids: list[dict[str, float]]  # raw units
    z: list[dict[str, float]]  # standardised centroid per segment
    assignment: np.ndarray  # segment id per user row
    distance: np.ndarray
    silhouette: float | None
    k_scores: dict[int, float]
    space: Space | None
    centers_log: list[list[float]]
    next_id: int
    projection: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    run_id: int | None = None

    def info(self) -> list[tuple[int, str, int, dict[str, float]]]:
        return list(zip(self.segment_ids, self.labels, self.sizes, self.centroids, strict=True))


def segment_table(
    table: FeatureTable,
    config: SegmentsConfig,
    *,
    previous: SegmentRun | None = None,
    progress: Progress | None = None,
) -> Segmentation:
    """Cluster the users of `table` (already filtered to those segmented)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    prev_params = previous.params if previous is not None else {}
    next_id = int(prev_params.get("next_id", 0)) if previous is not None else 0
    n = len(table)
    if n == 0:
        return Segmentation(0, [], [], [], [], [], np.zeros(0, np.int64), np.zeros(0), None, {}, None, [], next_id)
    if progress:
        progress(f"preparing {n:,} people's features")
    matrix, names, _ = design_matrix(table, config.top_communities)
    x, space = standardise(matrix, names)
    del matrix
    timings["prepare_s"] = time.perf_counter() - started

    t = time.perf_counter()
    k, init, k_scores = choose_k(x, config, progress=progress)
    timings["choose_k_s"] = time.perf_counter() - t
    t = time.perf_counter()
    if progress:
        progress(f"K-means with k={k} on {n:,} people")
    with warnings.catch_warnings():  # (float64: float32 halves the time but moved 1 of 1M people on the bench data)
        warnings.simplefilter("ignore")
        model = kmeans(k, config.seed, init=init).fit(x)
    labels_idx = np.asarray(model.labels_, dtype=np.int64)
    centers = np.asarray(model.cluster_centers_, dtype=np.float64)
    del model
    timings["kmeans_s"] = time.perf_counter() - t

    t = time.perf_counter()
    distance = distances(x, centers, labels_idx)
    sizes_idx = np.bincount(labels_idx, minlength=k)
    keep = [c for c in range(k) if sizes_idx[c] > 0]
    centers_log = centers * space.scale + space.mean
    prev_centers = {int(s): list(v) for s, v in (prev_params.get("centers") or {}).items()}
    ids, next_id = match_ids(centers_log[keep], space, prev_centers, prev_params.get("space"), next_id)
    id_of = np.full(k, -1, dtype=np.int64)
    id_of[keep] = ids
    assignment = id_of[labels_idx]

    raw_sums = {name: np.bincount(labels_idx, weights=values, minlength=k) for name, values in table.columns.items()}
    order = sorted(range(len(keep)), key=lambda i: ids[i])
    segment_ids, sizes, centroids, zs, logs = [], [], [], [], []
    for i in order:
        c = keep[i]
        size = int(sizes_idx[c])
        segment_ids.append(ids[i])
        sizes.append(size)
        centroids.append({name: float(raw_sums[name][c] / size) for name in raw_sums})
        zs.append({name: round(float(centers[c, j]), 4) for j, name in enumerate(names)})
        logs.append([float(v) for v in centers_log[c]])
    labels = segment_labels(zs, centroids, sizes)
    silhouette = k_scores.get(k)
    projection = _projection(x, assignment, centers[[keep[i] for i in order]], segment_ids, table, config.seed)
    timings["label_s"] = time.perf_counter() - t
    return Segmentation(
        k=len(segment_ids),
        segment_ids=segment_ids,
        labels=labels,
        sizes=sizes,
        centroids=centroids,
        z=zs,
        assignment=assignment,
        distance=distance,
        silhouette=silhouette,
        k_scores=k_scores,
        space=space,
        centers_log=logs,
        next_id=next_id,
        projection=projection,
        timings=timings,
    )


def distances(x: np.ndarray, centers: np.ndarray, labels: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """Each row's Euclidean distance to its centre (float64), a chunk at a time (no n x d temporary)."""
    out = np.empty(len(x))
    for start in range(0, len(x), chunk):
        diff = x[start : start + chunk] - centers[labels[start : start + chunk]]
        out[start : start + chunk] = np.sqrt((diff**2).sum(axis=1))
    return out


def _projection(
    x: np.ndarray, assignment: np.ndarray, centers: np.ndarray, ids: list[int], table: FeatureTable, seed: int
) -> dict[str, Any]:
    """A 2-D PCA of a seeded sample of people and of the centroids, for the HTML page."""
    from sklearn.decomposition import PCA

    if len(x) < 3 or x.shape[1] < 2:
        return {}
    rows = sample_rows(len(x), PROJECTION_POINTS, seed)
    pca = PCA(n_components=2, random_state=seed).fit(x[sample_rows(len(x), 20_000, seed)])
    points = pca.transform(x[rows])
    mid = pca.transform(centers)
    return {
        "points": [
            [round(float(px), 4), round(float(py), 4), int(assignment[r]), str(table.username[r] or table.user_id[r])]
            for (px, py), r in zip(points, rows, strict=True)
        ],
        "centers": {str(s): [round(float(a), 4), round(float(b), 4)] for s, (a, b) in zip(ids, mid, strict=True)},
        "explained": [round(float(v), 4) for v in pca.explained_variance_ratio_],
    }
