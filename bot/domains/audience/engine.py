"""The fast graph engine: measures and communities straight from an edge log, on integer node indices.

No networkx graph is built here (that alone costs minutes and gigabytes at 10M edges). The log's user ids are
mapped to 0..n-1 (sorted by id, int32 indices), parallel edges are summed into one scipy CSR matrix (row = source,
column = target), and:

- PageRank (alpha 0.85) is a scipy sparse power iteration run until the L1 change is below 1e-10, with the same
  semantics as networkx: rows normalised by out-strength, dangling nodes' mass spread uniformly, uniform teleport.
- HITS hub/authority is a sparse power iteration on the weighted matrix, normalised to sum to 1 like nx.hits;
  when it converges slowly it jumps to a Lanczos (ARPACK) estimate and goes on to the same stopping rule.
- Betweenness is approximated with igraph: shortest paths (hop counts: weights are interaction strengths, not
  distances) from ``betweenness_samples`` seeded random sources, rescaled by n/k and normalised by
  1/((n-1)(n-2)) as networkx's ``betweenness_centrality(G, k=...)``; with k >= n it is the exact value.
- Communities are igraph's Leiden optimising modularity (``community_leiden``: on 1M interactions it reaches a
  higher modularity than Louvain's ``community_multilevel`` in half the time) on the undirected graph, one
  iteration at resolution 2 then one at resolution 1 from that partition (see ``communities``), with igraph's RNG
  seeded for reproducible runs; community 0 is the largest. Leiden's communities are also guaranteed connected.
- One igraph Graph serves both: the directed graph of distinct edges (built once, from an iterator of (int, int)
  pairs: faster than igraph's numpy-array path) for betweenness, and its ``as_undirected(mode="each")`` copy for
  Leiden, where u->v and v->u become two parallel edges whose weights add up exactly like one summed edge
  (cheaper than summing them with scipy and building a second graph from Python ints).
- Reciprocity is the share of distinct edges u->v (u != v) whose reverse v->u exists (nx.reciprocity).

``nmi(a, b)`` compares two partitions (normalised mutual information, arithmetic mean of the entropies: the
default of scikit-learn's ``normalized_mutual_info_score``), for checking communities against planted ones.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

import igraph
import numpy as np
import scipy.sparse as sp

from bot.core.errors import BotError

log = logging.getLogger(__name__)

ALPHA = 0.85
TOLERANCE = 1e-10
MAX_ITERATIONS = 1000
_LANCZOS_CHECK = 5  # HITS power steps before deciding whether a Lanczos estimate is worth it (see hits())
_LANCZOS_WORTH = 20  # ... it is when more power steps than this remain (ARPACK takes ~13 products with A^T A)
_LANCZOS_TOL = 1e-10  # ARPACK's relative residual for that estimate (with 10 Lanczos vectors)
COARSE_RESOLUTION = 2.0  # resolution of the first Leiden pass (see communities())


class AnalysisError(BotError):
    """The edge log is malformed or a measure failed to converge."""


@dataclass(frozen=True)
class EdgeLog:
    """Interactions as parallel arrays: ``src[i]`` interacted with ``dst[i]`` with strength ``weight[i]``."""

    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray

    def __post_init__(self) -> None:
        src, dst = np.asarray(self.src), np.asarray(self.dst)
        weight = np.asarray(self.weight, dtype=np.float64)
        if src.shape != dst.shape or src.shape != weight.shape or src.ndim != 1:
            raise AnalysisError(f"src, dst and weight must be 1-D, one length: {src.shape} {dst.shape} {weight.shape}")
        if not (np.issubdtype(src.dtype, np.integer) and np.issubdtype(dst.dtype, np.integer)):
            raise AnalysisError("src and dst must be integer user ids")
        if weight.size and (not np.all(np.isfinite(weight)) or weight.min() < 0):
            raise AnalysisError("weights must be finite and >= 0")
        object.__setattr__(self, "src", src.astype(np.int64, copy=False))
        object.__setattr__(self, "dst", dst.astype(np.int64, copy=False))
        object.__setattr__(self, "weight", weight)

    def __len__(self) -> int:
        return int(self.src.size)


@dataclass(frozen=True)
class InteractionGraph:
    """A weighted digraph on node indices 0..n-1; ``node_ids[i]`` is node i's user id."""

    node_ids: np.ndarray
    matrix: sp.csr_array  # n x n, [i, j] = summed weight of i -> j, canonical (sorted, no duplicates)

    @property
    def n_nodes(self) -> int:
        return int(self.node_ids.size)

    @property
    def n_edges(self) -> int:
        return int(self.matrix.nnz)

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct edges as (src index, dst index, summed weight), sorted by source then target."""
        m = self.matrix
        src = np.repeat(np.arange(self.n_nodes, dtype=np.int64), np.diff(m.indptr))
        return src, m.indices.astype(np.int64, copy=False), m.data


def _distinct(ordered: np.ndarray) -> np.ndarray:
    """The first of each run of equal values of a sorted array (a boolean mask)."""
    first = np.empty(ordered.size, dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return first


def _ranks(values: np.ndarray, index_dtype: type[np.integer]) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, each value's index among them), from one argsort."""
    order = np.argsort(values)
    ordered = values[order]
    first = _distinct(ordered)
    rank = np.cumsum(first, dtype=index_dtype)
    rank -= 1
    inverse = np.empty(values.size, dtype=index_dtype)
    inverse[order] = rank
    return ordered[first], inverse


def build_graph(edges: EdgeLog) -> InteractionGraph:
    """Map user ids to 0..n-1 (sorted by id) and sum parallel edges into a CSR matrix."""
    # one argsort per side, then the two sides' distinct ids merged: at 10M interactions ~3 s where
    # np.unique(concatenate([src, dst]), return_inverse=True) takes ~5 s, with int32 instead of int64 inverses; the
    # merge is np.sort + a mask (0.05 s) because np.union1d/np.unique take ~2 s on those 3.7M ids with numpy 2.4
    index_dtype = np.int32 if len(edges) < 2**31 else np.int64
    src_ids, src_rank = _ranks(edges.src, index_dtype)
    dst_ids, dst_rank = _ranks(edges.dst, index_dtype)
    both = np.sort(np.concatenate([src_ids, dst_ids]))
    node_ids = both[_distinct(both)]
    n = int(node_ids.size)
    rows = np.searchsorted(node_ids, src_ids).astype(index_dtype)[src_rank]
    cols = np.searchsorted(node_ids, dst_ids).astype(index_dtype)[dst_rank]
    matrix = sp.csr_array(sp.coo_array((edges.weight, (rows, cols)), shape=(n, n)))
    matrix.sum_duplicates()
    matrix.sort_indices()
    return InteractionGraph(node_ids=node_ids, matrix=matrix)


@dataclass(frozen=True)
class Analysis:
    """Per-node measures (arrays indexed like ``node_ids``), communities and run facts."""

    node_ids: np.ndarray
    pagerank: np.ndarray
    in_strength: np.ndarray
    hub: np.ndarray
    authority: np.ndarray
    betweenness: np.ndarray
    community: np.ndarray  # community index per node; 0 is the largest community
    modularity: float
    reciprocity: float
    n_interactions: int
    n_edges: int
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step
    iterations: dict[str, int] = field(default_factory=dict)  # power iterations to convergence
    graph: InteractionGraph | None = field(default=None, repr=False, compare=False)  # what was analysed

    @property
    def n_nodes(self) -> int:
        return int(self.node_ids.size)

    @property
    def n_communities(self) -> int:
        return int(self.community.max()) + 1 if self.community.size else 0

    def index_of(self, user_id: int) -> int:
        """The node index of a user id; KeyError when the user is not in the graph."""
        i = int(np.searchsorted(self.node_ids, user_id))
        if i >= self.node_ids.size or int(self.node_ids[i]) != user_id:
            raise KeyError(user_id)
        return i

    def top(self, scores: np.ndarray, k: int = 10) -> list[tuple[int, float]]:
        """The k highest-scoring users as (user id, score); ties broken by the smaller user id."""
        order = np.lexsort((self.node_ids, -scores))[:k]
        return [(int(self.node_ids[i]), float(scores[i])) for i in order]


def pagerank(
    matrix: sp.csr_array, alpha: float = ALPHA, tol: float = TOLERANCE, *, transposed: sp.csr_array | None = None
) -> tuple[np.ndarray, int]:
    """Weighted PageRank by power iteration until the L1 change is < tol; returns (scores, iterations).

    ``transposed`` is ``csr_array(matrix.T)`` when the caller already has it.
    """
    n = matrix.shape[0]
    if n == 0:
        return np.zeros(0), 0
    out = np.asarray(matrix.sum(axis=1)).ravel()
    dangling = np.flatnonzero(out == 0)
    scale = np.divide(1.0, out, out=np.zeros(n), where=out != 0)
    matrix_t = transposed if transposed is not None else sp.csr_array(matrix.T)
    # P^T = (diag(scale) @ matrix).T: the transpose's column j is scaled by scale[j]; same pattern, no new transpose
    transition_t = sp.csr_array((matrix_t.data * scale[matrix_t.indices], matrix_t.indices, matrix_t.indptr), (n, n))
    x = np.full(n, 1.0 / n)
    teleport = (1.0 - alpha) / n
    change = np.empty(n)
    for iteration in range(1, MAX_ITERATIONS + 1):
        previous = x
        x = transition_t @ previous
        x *= alpha
        x += alpha * previous[dangling].sum() / n + teleport
        np.subtract(x, previous, out=change)
        np.abs(change, out=change)
        if change.sum() < tol:
            return x / x.sum(), iteration
    raise AnalysisError(f"PageRank did not converge in {MAX_ITERATIONS} iterations")


def hits(
    matrix: sp.csr_array, tol: float = TOLERANCE, *, transposed: sp.csr_array | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Weighted HITS (hub, authority), each summing to 1, by power iteration until both L1 changes are < tol.

    After ``_LANCZOS_CHECK`` power steps, the rate at which the change shrinks tells how many more steps are
    needed; when that is over ``_LANCZOS_WORTH`` (a small spectral gap: 87 steps in all at 10M interactions, 13
    at 1M), the iteration jumps to a Lanczos estimate of the authority vector (the principal eigenvector of A^T A
    by ARPACK through scipy's eigsh, what nx.hits computes with svds) started from the current authorities, and
    goes on from there to the same stopping rule: the result is the converged HITS vector either way (at 10M:
    19 products with A and with A^T instead of 87, 3 s instead of 10). ``iterations`` counts the power steps.
    ``transposed`` is ``csr_array(matrix.T)`` when the caller already has it.
    """
    n = matrix.shape[0]
    if n == 0 or matrix.nnz == 0:
        uniform = np.full(n, 1.0 / n) if n else np.zeros(0)
        return uniform, uniform.copy(), 0
    matrix_t = transposed if transposed is not None else sp.csr_array(matrix.T)
    hub = np.full(n, 1.0 / n)
    authority = np.zeros(n)
    last_change = np.inf
    for iteration in range(1, MAX_ITERATIONS + 1):
        new_authority = matrix_t @ hub
        new_authority /= new_authority.sum()
        new_hub = matrix @ new_authority
        new_hub /= new_hub.sum()
        change = np.abs(new_hub - hub).sum() + np.abs(new_authority - authority).sum()
        hub, authority = new_hub, new_authority
        if change < tol:
            return hub, authority, iteration
        if iteration == _LANCZOS_CHECK and _steps_left(last_change, change, tol) > _LANCZOS_WORTH:
            hub = _lanczos_hubs(matrix, matrix_t, authority, hub)
        last_change = change
    log.warning("HITS stopped after %d iterations without reaching tol %g", MAX_ITERATIONS, tol)
    return hub, authority, MAX_ITERATIONS


def _steps_left(previous: float, change: float, tol: float) -> float:
    """Power steps still needed to bring ``change`` under ``tol`` at the last step's rate of decrease."""
    if not (np.isfinite(change) and np.isfinite(previous)):
        return 0.0  # nothing to estimate (NaN from all-zero weights): no Lanczos either
    rate = change / previous if previous > 0 else 1.0
    if not 0 < rate < 1:
        return np.inf
    return float(np.log(tol / change) / np.log(rate))


def _lanczos_hubs(matrix: sp.csr_array, matrix_t: sp.csr_array, authority: np.ndarray, hub: np.ndarray) -> np.ndarray:
    """Hubs (summing to 1) from the principal eigenvector of A^T A (ARPACK, from ``authority``); else ``hub``."""
    n = matrix.shape[0]
    if n < 3:  # eigsh needs k=1 < n - 1
        return hub
    from scipy.sparse.linalg import ArpackError, LinearOperator, eigsh

    product = LinearOperator((n, n), matvec=lambda v: matrix_t @ (matrix @ v), dtype=np.float64)
    try:
        _, vectors = eigsh(product, k=1, which="LA", v0=authority, ncv=min(n - 1, 10), tol=_LANCZOS_TOL)
    except ArpackError as exc:  # includes ArpackNoConvergence
        log.warning("HITS: ARPACK failed (%s); going on with the power iteration", exc)
        return hub
    estimate = matrix @ np.abs(vectors[:, 0])  # the principal eigenvector is non-negative up to its sign
    total = estimate.sum()
    return estimate / total if total > 0 and np.isfinite(total) else hub


def reciprocity(graph: InteractionGraph) -> float:
    """Share of distinct edges u->v (u != v) whose reverse v->u exists (self-loops count, never reciprocal)."""
    if graph.n_edges == 0:
        return 0.0
    m = graph.matrix
    # the edge pattern (explicit zero weights are still edges); pattern * pattern.T is 1 exactly on mutual pairs
    pattern = sp.csr_array((np.ones(m.nnz), m.indices, m.indptr), shape=m.shape)
    mutual = float(pattern.multiply(pattern.T).sum()) - float(pattern.diagonal().sum())  # a self-loop is no pair
    return mutual / graph.n_edges


def _igraph(n: int, src: np.ndarray, dst: np.ndarray, *, directed: bool) -> igraph.Graph:
    # a zip of Python ints is ~2x faster than igraph's numpy-array path (0.3 s vs 0.7 s at 650k edges)
    return igraph.Graph(n=n, edges=zip(src.tolist(), dst.tolist(), strict=True), directed=directed)


def directed_igraph(graph: InteractionGraph) -> igraph.Graph:
    """The distinct edges as a directed igraph Graph (no weights: betweenness counts hops)."""
    src, dst, _ = graph.edges()
    return _igraph(graph.n_nodes, src, dst, directed=True)


def betweenness(
    graph: InteractionGraph, samples: int, seed: int, *, directed: igraph.Graph | None = None
) -> np.ndarray:
    """Hop-count betweenness estimated from ``samples`` seeded random sources, normalised like networkx's k=.

    ``directed`` is ``directed_igraph(graph)`` when the caller already built it.
    """
    n = graph.n_nodes
    if n < 3:
        return np.zeros(n)
    g = directed if directed is not None else directed_igraph(graph)
    if samples >= n:
        raw = np.asarray(g.betweenness(directed=True), dtype=np.float64)
        factor = 1.0
    else:
        sources = np.random.default_rng(seed).choice(n, size=samples, replace=False)
        raw = np.asarray(g.betweenness(directed=True, sources=sorted(int(s) for s in sources)), dtype=np.float64)
        factor = n / samples
    return raw * factor / ((n - 1) * (n - 2))


def communities(
    graph: InteractionGraph, seed: int, *, directed: igraph.Graph | None = None
) -> tuple[np.ndarray, float]:
    """Leiden (modularity) on the undirected weighted graph; returns (community per node, largest first; modularity).

    Two passes of one Leiden iteration each: at resolution ``COARSE_RESOLUTION`` (2) from singletons, then at
    resolution 1 (plain modularity, the value returned) from that partition. Starting fine and letting the
    modularity pass merge what is worth merging avoids the early merges of a resolution-1 run from singletons:
    on LFR graphs (scripts/eval_graph.py, n=100,000, mixing 0.3) NMI against the planted communities goes from
    0.82 to 0.97 and modularity from 0.487 to 0.535 against one 2-iteration run at resolution 1, in about the same
    time; on the benchmark's interaction logs the modularity is the same to 1e-4. ``directed`` is
    ``directed_igraph(graph)`` when the caller already built it.
    """
    n = graph.n_nodes
    if n == 0 or graph.n_edges == 0:
        return np.arange(n, dtype=np.int64), 0.0
    g = (directed if directed is not None else directed_igraph(graph)).as_undirected(mode="each")
    weights = graph.matrix.data.tolist()  # mode="each" keeps the edge order: the CSR order of graph.edges()
    igraph.set_random_number_generator(random.Random(seed))
    try:
        coarse = g.community_leiden(
            objective_function="modularity", weights=weights, resolution=COARSE_RESOLUTION, n_iterations=1
        )
        clustering = g.community_leiden(
            objective_function="modularity", weights=weights, initial_membership=coarse.membership, n_iterations=1
        )
    finally:
        igraph.set_random_number_generator(random)
    membership = np.asarray(clustering.membership, dtype=np.int64)
    sizes = np.bincount(membership)
    order = np.lexsort((np.arange(sizes.size), -sizes))  # largest first, then by first appearance label
    relabel = np.empty_like(order)
    relabel[order] = np.arange(order.size)
    return relabel[membership], float(g.modularity(clustering.membership, weights=weights))


def nmi(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised mutual information of two labelings of the same items: I(a; b) / ((H(a) + H(b)) / 2).

    Natural logarithms; 1.0 for identical partitions (whatever the label values) and when both put every item in
    one group; 0.0 for independent ones. The labels may be any integers.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise AnalysisError(f"nmi needs two 1-D labelings of one length: {a.shape} {b.shape}")
    n = a.size
    _, a_index = np.unique(a, return_inverse=True)
    _, b_index = np.unique(b, return_inverse=True)
    a_index, b_index = a_index.ravel(), b_index.ravel()
    a_groups = int(a_index.max()) + 1 if n else 0
    b_groups = int(b_index.max()) + 1 if n else 0
    if a_groups == b_groups and a_groups <= 1:  # both one group (or no items): the same partition
        return 1.0
    # the contingency table's non-zero cells: count of items per (a group, b group) pair
    pairs, cells = np.unique(a_index.astype(np.int64) * b_groups + b_index, return_counts=True)
    a_sizes = np.bincount(a_index, minlength=a_groups).astype(np.float64)
    b_sizes = np.bincount(b_index, minlength=b_groups).astype(np.float64)
    joint = cells / n
    outer = a_sizes[pairs // b_groups] * b_sizes[pairs % b_groups] / (n * n)
    mutual = max(float(np.sum(joint * np.log(joint / outer))), 0.0)
    if mutual == 0.0:
        return 0.0
    h_a = -float(np.sum((a_sizes / n) * np.log(a_sizes / n)))
    h_b = -float(np.sum((b_sizes / n) * np.log(b_sizes / n)))
    return mutual / max((h_a + h_b) / 2, np.finfo(np.float64).eps)


def analyse(edges: EdgeLog, *, betweenness_samples: int = 64, seed: int = 7) -> Analysis:
    """Every measure and the communities of the interaction graph, with the seconds each step took."""
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal started
        now = time.perf_counter()
        timings[step] = now - started
        started = now

    graph = build_graph(edges)
    transposed = sp.csr_array(graph.matrix.T)  # for PageRank and HITS (one transpose, not two)
    lap("build")
    rank, rank_iterations = pagerank(graph.matrix, transposed=transposed)
    lap("pagerank")
    in_strength = np.asarray(graph.matrix.sum(axis=0), dtype=np.float64).ravel()
    lap("in_strength")
    hub, authority, hits_iterations = hits(graph.matrix, transposed=transposed)
    del transposed
    lap("hits")
    directed = directed_igraph(graph)
    lap("igraph")
    between = betweenness(graph, betweenness_samples, seed, directed=directed)
    lap("betweenness")
    membership, modularity = communities(graph, seed, directed=directed)
    lap("communities")
    mutual = reciprocity(graph)
    lap("reciprocity")
    log.debug("analysed %d interactions, %d nodes, %d edges: %s", len(edges), graph.n_nodes, graph.n_edges, timings)
    return Analysis(
        node_ids=graph.node_ids,
        pagerank=rank,
        in_strength=in_strength,
        hub=hub,
        authority=authority,
        betweenness=between,
        community=membership,
        modularity=modularity,
        reciprocity=mutual,
        n_interactions=len(edges),
        n_edges=graph.n_edges,
        timings=timings,
        iterations={"pagerank": rank_iterations, "hits": hits_iterations},
        graph=graph,
    )
