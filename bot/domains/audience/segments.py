"""Audience segments: features -> log1p where heavy-tailed -> standardised (community as one-hot of the largest
communities plus community-level aggregates) -> seeded K-means (k fixed, or chosen by silhouette on a sample)
-> ids matched to the previous run's centroids (stable meaning) -> readable labels -> stored as a run.

`SegmentService.run()` is the job (one daemon at a time, a lease in the database); `jobs()` schedules it."""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from bot.core.logs import job_failures
from bot.domains.audience.features import ORDER_FEATURES, FeatureTable, load_features

if TYPE_CHECKING:
    from bot.adapters.scheduling import Job
    from bot.adapters.store import Store
    from bot.adapters.store.segments import SegmentInfo, SegmentRun
    from bot.core.clock import Clock
    from bot.settings.config import Settings
    from bot.settings.segments import SegmentsConfig

logger = logging.getLogger(__name__)

LEASE = "segments-run"
LEASE_TTL = timedelta(minutes=30)
Progress = Callable[[str], None]
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
PROJECTION_POINTS = 3_000
MATCH_DISTANCE = 3.0  # a new centroid farther than this (standardised units) from every old one gets a new id
MAX_PROBLEMS_KEPT = 50


# ------------------------------------------------------------------------------------------- the model


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


def _sample(n: int, size: int, seed: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _kmeans(k: int, seed: int, *, n_init: int = 3, init: np.ndarray | None = None) -> Any:
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

    rows = _sample(len(x), config.sample, config.seed)
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
            model = _kmeans(k, config.seed).fit(sample)
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


# ------------------------------------------------------------------------------------------- labels


def _z(z: dict[str, float], name: str) -> float:
    return float(z.get(name, 0.0))


def label_scores(z: dict[str, float], raw: dict[str, float]) -> dict[str, float]:
    """How strongly a centroid (standardised values z, raw means raw) fits each label; higher is better."""
    activity = max(_z(z, n) for n in ("per_week", "mention", "reply", "quote", "dm", "like", "retweet"))
    scores = {
        "complainers at risk": _z(z, "complaints") + max(0.0, -_z(z, "sentiment")) * 0.5
        if raw.get("complaints", 0.0) > 0
        else 0.0,
        "influencers": max(_z(z, "influence"), _z(z, "followers")) * 0.9,
        "big spenders": _z(z, "spent") if raw.get("spent", 0.0) > 0 else 0.0,
        "quiet buyers": _z(z, "orders") - max(0.0, activity) if raw.get("orders", 0.0) > 0 else 0.0,
        "advocates": (_z(z, "sentiment") + 0.5 * activity) * 0.9 if raw.get("sentiment", 0.0) > 0 else 0.0,
        "new faces": -_z(z, "tenure_days") * 0.8,
        "drifting away": _z(z, "recency_days") * 0.7,
        "regulars": activity * 0.7,
        "fans": max(_z(z, "like"), _z(z, "retweet")) * 0.85,
    }
    return scores


def label_for(z: dict[str, float], raw: dict[str, float]) -> str:
    scores = label_scores(z, raw)
    name, score = max(scores.items(), key=lambda item: (item[1], item[0]))
    return name if score >= 0.5 else "lurkers"


def unique_labels(labels: Sequence[str]) -> list[str]:
    """'x', 'x' -> 'x', 'x 2' (in the given order)."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} {seen[label]}")
    return out


def highlights(z: dict[str, float], n: int = 3) -> list[tuple[str, float]]:
    """The features that stand out most in a centroid (|z| largest), as (feature, z)."""
    items = [(k, v) for k, v in z.items() if not k.startswith("community=") and abs(v) >= 0.25]
    return sorted(items, key=lambda kv: (-abs(kv[1]), kv[0]))[:n]


# ------------------------------------------------------------------------------------------- one run


class MemberRows(Sequence[tuple[str, str, int, float | None]]):
    """(platform, user_id, segment_id, distance) built on demand from arrays (no million tuples at once)."""

    def __init__(self, platform: np.ndarray, user_id: np.ndarray, segment: np.ndarray, distance: np.ndarray) -> None:
        self.platform, self.user_id, self.segment, self.distance = platform, user_id, segment, distance

    def __len__(self) -> int:
        return len(self.user_id)

    @overload
    def __getitem__(self, index: int) -> tuple[str, str, int, float | None]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[str, str, int, float | None]]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return list(
                zip(
                    self.platform[index].tolist(),
                    self.user_id[index].tolist(),
                    self.segment[index].tolist(),
                    self.distance[index].tolist(),
                    strict=True,
                )
            )
        return (
            str(self.platform[index]),
            str(self.user_id[index]),
            int(self.segment[index]),
            float(self.distance[index]),
        )


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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _kmeans(k, config.seed, init=init).fit(x)
    labels_idx = np.asarray(model.labels_, dtype=np.int64)
    centers = np.asarray(model.cluster_centers_, dtype=np.float64)
    timings["kmeans_s"] = time.perf_counter() - t

    t = time.perf_counter()
    distance = np.sqrt(((x - centers[labels_idx]) ** 2).sum(axis=1))
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
    labels = unique_labels([label_for(z, raw) for z, raw in zip(zs, centroids, strict=True)])
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


def _projection(
    x: np.ndarray, assignment: np.ndarray, centers: np.ndarray, ids: list[int], table: FeatureTable, seed: int
) -> dict[str, Any]:
    """A 2-D PCA of a seeded sample of people and of the centroids, for the HTML page."""
    from sklearn.decomposition import PCA

    if len(x) < 3 or x.shape[1] < 2:
        return {}
    rows = _sample(len(x), PROJECTION_POINTS, seed)
    pca = PCA(n_components=2, random_state=seed).fit(x[_sample(len(x), 20_000, seed)])
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


# ------------------------------------------------------------------------------------------- the service


def _import_models() -> None:
    import scipy.optimize  # noqa: F401
    import sklearn.cluster
    import sklearn.decomposition
    import sklearn.metrics
    import sklearn.preprocessing  # noqa: F401


def warm_up() -> threading.Thread:
    """Import scikit-learn (~1.5 s) in a thread while the database aggregates the features (it sorts without
    the GIL); the import lock makes the clustering wait for it if needed. Join the thread when done."""
    thread = threading.Thread(target=_import_models, name="segments-imports", daemon=True)
    thread.start()
    return thread


@dataclass
class SegmentResult:
    run_id: int
    created_at: datetime
    segmentation: Segmentation
    n_users: int
    problems: list[str]
    timings: dict[str, float]


class SegmentService:
    """Builds and stores segmentations; `jobs()` for the daemon, `run()` for the CLI."""

    def __init__(self, settings: Settings, store: Store, clock: Clock, *, owner: str) -> None:
        self.settings = settings
        self.config = settings.segments
        self.store = store
        self.clock = clock
        self.owner = owner

    def due(self, now: datetime) -> bool:
        latest = self.store.latest_segment_run()
        return latest is None or now - latest.created_at >= self.config.every * 0.9

    def run(self, *, force: bool = False, progress: Progress | None = None) -> SegmentResult | None:
        """Segment the audience and store the run; None when another daemon holds the lease or (unless force)
        a recent enough run exists."""
        now = self.clock.now()
        if not force and not self.due(now):
            logger.debug("segments: the latest run is recent; not segmenting")
            return None
        if not self.store.acquire_lease(LEASE, self.owner, ttl=LEASE_TTL, now=now):
            holder = self.store.lease_holder(LEASE, now=now)
            logger.info("segments: already running on %s; skipping this turn", holder)
            return None
        try:
            if not force and not self.due(now):
                return None
            imports = warm_up()
            try:
                return self._run(now, progress)
            finally:
                imports.join()  # (no thread outlives the run, also when it fails)
        finally:
            self.store.release_lease(LEASE, self.owner)

    def _run(self, now: datetime, progress: Progress | None) -> SegmentResult:
        t = time.perf_counter()
        table = self.features(now, progress=progress)
        features_s = time.perf_counter() - t
        seg = self.segment(table, progress=progress)
        result = self.save(now, table, seg, progress=progress, timings={"features_s": features_s})
        logger.info(
            "segments run %d: %d people in %d segments (%s); silhouette %s",
            result.run_id,
            len(table),
            seg.k,
            ", ".join(f"{s} {label} {size}" for s, label, size, _ in seg.info()),
            "-" if seg.silhouette is None else f"{seg.silhouette:.3f}",
        )
        return result

    def features(self, now: datetime, *, progress: Progress | None = None) -> FeatureTable:
        """The features of the people to segment (at least segments.min_interactions interactions)."""
        table = load_features(self.settings, self.store, now, progress=progress)
        for problem in table.order_problems[:MAX_PROBLEMS_KEPT]:
            logger.warning("segments: orders CSV: %s", problem)
        total = np.zeros(len(table))
        for kind in ("mention", "reply", "quote", "dm", "like", "retweet", "received"):
            total += table.columns[kind]
        return table.select(total >= self.config.min_interactions)

    def segment(self, table: FeatureTable, *, progress: Progress | None = None) -> Segmentation:
        return segment_table(table, self.config, previous=self.store.latest_segment_run(), progress=progress)

    def save(
        self,
        now: datetime,
        table: FeatureTable,
        seg: Segmentation,
        *,
        progress: Progress | None = None,
        timings: dict[str, float] | None = None,
    ) -> SegmentResult:
        """Store a segmentation as a run (segments and members in one transaction)."""
        if progress:
            progress(f"storing {len(table):,} members of {seg.k} segments")
        t = time.perf_counter()
        timings = {**(timings or {}), **seg.timings}
        problems = [str(p) for p in table.order_problems]
        params = {
            "k_fixed": self.config.k,
            "k_range": list(self.config.k_range),
            "seed": self.config.seed,
            "window_days": self.config.window.total_seconds() / 86400 if self.config.window else None,
            "min_interactions": self.config.min_interactions,
            "space": seg.space.to_json() if seg.space else None,
            "centers": {str(s): c for s, c in zip(seg.segment_ids, seg.centers_log, strict=True)},
            "z": {str(s): z for s, z in zip(seg.segment_ids, seg.z, strict=True)},
            "next_id": seg.next_id,
            "k_scores": {str(k): round(v, 4) for k, v in seg.k_scores.items()},
            "orders_csv": str(self.config.orders_csv) if self.config.orders_csv else None,
        }
        stats: dict[str, Any] = {
            "projection": seg.projection,
            "orders_matched": table.orders_matched,
            "order_problems": problems[:MAX_PROBLEMS_KEPT],
            "order_problem_count": len(problems),
            "timings": {k: round(v, 3) for k, v in timings.items()},
        }
        run_id = self.store.save_segment_run(
            created_at=now,
            k=seg.k,
            silhouette=seg.silhouette,
            graph_snapshot_id=table.snapshot_id,
            params=params,
            stats=stats,
            segments=seg.info(),
            members=MemberRows(table.platform, table.user_id, seg.assignment, seg.distance),
        )
        timings["store_s"] = time.perf_counter() - t
        seg.run_id = run_id
        return SegmentResult(run_id, now, seg, len(table), problems, timings)

    def jobs(self) -> list[Job]:
        """One interval job, every segments.every; the first turn right away (skipped when a recent run
        exists; one daemon at a time)."""
        from bot.adapters.scheduling import Job

        if not self.config.enabled:
            return []
        return [
            Job(
                job_id="segments:run",
                func=self._job,
                spec=self.config.every.total_seconds(),
                name="audience segments",
                start_at=self.clock.now(),
            )
        ]

    def _job(self) -> None:
        with job_failures(logger, "segments: the run"):
            self.run()


# ------------------------------------------------------------------------------------------- reading back


def segments_by_label(store: Store, labels: Sequence[str | int], run_id: int | None = None) -> list[SegmentInfo]:
    """The segments of a run (default: the latest) whose label or id is in `labels` (labels case-insensitive;
    'advocates' also matches 'advocates 2')."""
    run = store.segment_run(run_id) if run_id is not None else store.latest_segment_run()
    if run is None:
        return []
    wanted_ids = {int(x) for x in labels if isinstance(x, int) or str(x).isdigit()}
    wanted = {str(x).strip().lower() for x in labels if not (isinstance(x, int) or str(x).isdigit())}
    out = []
    for info in store.segments(run.id):
        base = info.label.lower().rstrip("0123456789").rstrip()
        if info.segment_id in wanted_ids or info.label.lower() in wanted or base in wanted:
            out.append(info)
    return out


# ------------------------------------------------------------------------------------------- the HTML page

PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip


def _colour(segment_id: int) -> str:
    return PALETTE[segment_id % len(PALETTE)]


def render_html(run: SegmentRun, segments: Sequence[SegmentInfo]) -> str:
    """A self-contained page (no external resources): the segments table, a 2-D PCA scatter of a sample of
    people coloured by segment (inline SVG), and each segment's centroid as bars of standardised values."""
    from html import escape

    total = max(1, sum(s.size for s in segments))
    z_all = run.params.get("z") or {}
    projection = run.stats.get("projection") or {}
    points = projection.get("points") or []
    centers = projection.get("centers") or {}
    labels = {s.segment_id: s.label for s in segments}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Audience segments, run {run.id}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
        "td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}.num{text-align:right}"
        ".seg{display:inline-block;margin:0 1.5em 1.5em 0;vertical-align:top}"
        ".dot{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:6px}</style>",
        "</head><body>",
        f"<h1>Audience segments</h1><p>run {run.id} of {escape(f'{run.created_at:%Y-%m-%d %H:%M}')} UTC: "
        f"{run.n_users:,} people in {run.k} segments"
        + (f", silhouette {run.silhouette:.3f}" if run.silhouette is not None else "")
        + (f", graph snapshot {run.graph_snapshot_id}" if run.graph_snapshot_id is not None else "")
        + "</p>",
        "<table><tr><th>id</th><th>label</th><th class=num>people</th><th class=num>share</th><th>stands out</th></tr>",
    ]
    for s in segments:
        z = z_all.get(str(s.segment_id)) or {}
        stand = ", ".join(f"{name} {value:+.1f}σ" for name, value in highlights(z))
        parts.append(
            f'<tr><td><span class="dot" style="background:{_colour(s.segment_id)}"></span>{s.segment_id}</td>'
            f"<td>{escape(s.label)}</td><td class=num>{s.size:,}</td><td class=num>{s.size / total:.1%}</td>"
            f"<td>{escape(stand)}</td></tr>"
        )
    parts.append("</table>")
    if points:
        parts.append(f"<h2>People in two dimensions (PCA of the standardised features; {len(points):,} shown)</h2>")
        parts.append(_scatter_svg(points, centers, labels))
    parts.append("<h2>Centroids (standardised: 0 is the audience's mean, 1 one standard deviation)</h2>")
    for s in segments:
        z = z_all.get(str(s.segment_id)) or {}
        parts.append(
            f'<div class="seg"><h3><span class="dot" style="background:{_colour(s.segment_id)}"></span>'
            f"{s.segment_id} · {escape(s.label)} ({s.size:,})</h3>{_bars_svg(z, _colour(s.segment_id))}</div>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def _scatter_svg(points: list[list[Any]], centers: dict[str, list[float]], labels: dict[int, str]) -> str:
    from html import escape

    width, height, pad = 720, 460, 20
    xs = [float(p[0]) for p in points] + [c[0] for c in centers.values()]
    ys = [float(p[1]) for p in points] + [c[1] for c in centers.values()]
    lo_x, hi_x = float(np.percentile(xs, 0.5)), float(np.percentile(xs, 99.5))
    lo_y, hi_y = float(np.percentile(ys, 0.5)), float(np.percentile(ys, 99.5))
    span_x, span_y = (hi_x - lo_x) or 1.0, (hi_y - lo_y) or 1.0

    def at(x: float, y: float) -> tuple[float, float]:
        x = min(max(x, lo_x), hi_x)
        y = min(max(y, lo_y), hi_y)
        return pad + (x - lo_x) / span_x * (width - 2 * pad), height - pad - (y - lo_y) / span_y * (height - 2 * pad)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    out.append(f'<rect width="{width}" height="{height}" fill="#fafafa" stroke="#ddd"/>')
    for x, y, segment, who in points:
        px, py = at(float(x), float(y))
        out.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{_colour(int(segment))}" fill-opacity="0.6">'
            f"<title>{escape(str(who))} · {escape(labels.get(int(segment), str(segment)))}</title></circle>"
        )
    for sid, (x, y) in centers.items():
        px, py = at(x, y)
        name = escape(labels.get(int(sid), sid))
        out.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="7" fill="{_colour(int(sid))}" stroke="#000" stroke-width="1.5"/>'
            f'<text x="{px + 9:.1f}" y="{py + 4:.1f}" font-size="12">{name}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _bars_svg(z: dict[str, float], colour: str) -> str:
    from html import escape

    items = [(k, float(v)) for k, v in z.items()]
    row, label_w, bar_w = 16, 130, 200
    height = row * len(items) + 10
    mid = label_w + bar_w / 2
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 50}" height="{height}">']
    out.append(f'<line x1="{mid}" y1="0" x2="{mid}" y2="{height}" stroke="#999"/>')
    for i, (name, value) in enumerate(items):
        y = 5 + i * row
        clipped = max(-3.0, min(3.0, value))
        length = abs(clipped) / 3.0 * (bar_w / 2)
        x = mid if clipped >= 0 else mid - length
        out.append(
            f'<text x="{label_w - 6}" y="{y + 11}" font-size="11" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{x:.1f}" y="{y + 2}" width="{length:.1f}" height="{row - 5}" fill="{colour}"/>'
            f'<text x="{label_w + bar_w + 4}" y="{y + 11}" font-size="11">{value:+.2f}</text>'
        )
    out.append("</svg>")
    return "".join(out)
