"""The fast engine agrees with networkx (converged references) on small weighted digraphs."""

from __future__ import annotations

import subprocess
import sys

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from bot.domains.audience import engine
from bot.domains.audience.engine import AnalysisError, EdgeLog, analyse, build_graph


def random_log(seed: int, n_users: int = 120, n_edges: int = 600) -> EdgeLog:
    """Random weighted interactions between sparse user ids; users seen only as targets are dangling."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(10**9, size=n_users, replace=False)
    senders = ids[: n_users * 2 // 3]  # the last third never interact: dangling nodes
    src = rng.choice(senders, size=n_edges)
    dst = rng.choice(ids, size=n_edges, p=_zipf(n_users))
    return EdgeLog(src, dst, rng.uniform(0.1, 5.0, size=n_edges))


def _zipf(n: int) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1)
    return p / p.sum()


def to_networkx(edges: EdgeLog) -> nx.DiGraph:
    graph = nx.DiGraph()
    for u, v, w in zip(edges.src.tolist(), edges.dst.tolist(), edges.weight.tolist(), strict=True):
        if graph.has_edge(u, v):
            graph[u][v]["weight"] += w
        else:
            graph.add_edge(u, v, weight=w)
    return graph


def as_array(analysis, values: dict) -> np.ndarray:
    return np.array([values[int(u)] for u in analysis.node_ids])


def undirected(graph: nx.DiGraph) -> nx.Graph:
    result = nx.Graph()
    result.add_nodes_from(graph)
    for u, v, w in graph.edges(data="weight"):
        if result.has_edge(u, v):
            result[u][v]["weight"] += w
        else:
            result.add_edge(u, v, weight=w)
    return result


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_pagerank_matches_converged_networkx(seed: int) -> None:
    edges = random_log(seed)
    graph = to_networkx(edges)
    analysis = analyse(edges)
    assert analysis.n_nodes == graph.number_of_nodes()
    assert analysis.n_edges == graph.number_of_edges()
    reference = nx.pagerank(graph, alpha=0.85, tol=1e-10 / len(graph), weight="weight")
    expected = as_array(analysis, reference)
    assert np.abs(analysis.pagerank - expected).sum() <= 1e-6
    assert [u for u, _ in analysis.top(analysis.pagerank, 10)] == sorted(reference, key=lambda u: -reference[u])[:10]
    assert any(graph.out_degree(u) == 0 for u in graph)  # dangling nodes were exercised


@pytest.mark.parametrize("seed", [5, 6])
def test_in_strength_and_hits_match_networkx(seed: int) -> None:
    edges = random_log(seed)
    graph = to_networkx(edges)
    analysis = analyse(edges)
    strength = dict(graph.in_degree(weight="weight"))
    np.testing.assert_allclose(analysis.in_strength, as_array(analysis, strength), rtol=1e-12)
    hubs, authorities = nx.hits(graph, max_iter=10_000, tol=1e-12)
    np.testing.assert_allclose(analysis.hub, as_array(analysis, hubs), atol=1e-8)
    np.testing.assert_allclose(analysis.authority, as_array(analysis, authorities), atol=1e-8)
    assert analysis.hub.sum() == pytest.approx(1.0)
    assert analysis.authority.sum() == pytest.approx(1.0)


def test_hits_with_a_lanczos_jump_is_the_converged_power_iteration(monkeypatch: pytest.MonkeyPatch) -> None:
    edges = planted_partition(11)  # a small spectral gap: the power iteration alone needs > 20 steps
    jumped = analyse(edges)
    monkeypatch.setattr(engine, "_LANCZOS_WORTH", float("inf"))
    plain = analyse(edges)
    assert jumped.iterations["hits"] < engine._LANCZOS_CHECK + 5 < plain.iterations["hits"]
    np.testing.assert_allclose(jumped.hub, plain.hub, atol=1e-10)
    np.testing.assert_allclose(jumped.authority, plain.authority, atol=1e-10)
    hubs, authorities = nx.hits(to_networkx(edges), max_iter=10_000, tol=1e-12)
    np.testing.assert_allclose(jumped.hub, as_array(jumped, hubs), atol=1e-8)
    np.testing.assert_allclose(jumped.authority, as_array(jumped, authorities), atol=1e-8)


def test_betweenness_with_all_sources_is_exact_networkx() -> None:
    edges = random_log(8, n_users=60, n_edges=200)
    graph = to_networkx(edges)
    analysis = analyse(edges, betweenness_samples=10_000)
    expected = as_array(analysis, nx.betweenness_centrality(graph))  # hop counts, normalised
    np.testing.assert_allclose(analysis.betweenness, expected, atol=1e-12)


def test_sampled_betweenness_is_seeded_and_close_to_exact() -> None:
    edges = random_log(9, n_users=300, n_edges=1500)
    exact = analyse(edges, betweenness_samples=10_000).betweenness
    first = analyse(edges, betweenness_samples=64, seed=3).betweenness
    again = analyse(edges, betweenness_samples=64, seed=3).betweenness
    np.testing.assert_array_equal(first, again)
    assert np.corrcoef(first, exact)[0, 1] > 0.8


def planted_partition(seed: int) -> EdgeLog:
    rng = np.random.default_rng(seed)
    groups, size, n_edges = 6, 40, 3000
    src = rng.integers(0, groups * size, size=n_edges)
    same = rng.random(n_edges) < 0.85
    target_group = np.where(same, src // size, rng.integers(0, groups, size=n_edges))
    dst = target_group * size + rng.integers(0, size, size=n_edges)
    return EdgeLog(src + 1000, dst + 1000, rng.uniform(0.5, 2.0, size=n_edges))


def test_louvain_modularity_matches_networkx_and_finds_the_planted_groups() -> None:
    edges = planted_partition(11)
    analysis = analyse(edges)
    graph = undirected(to_networkx(edges))
    found = nx.community.louvain_communities(graph, weight="weight", seed=11)
    reference = nx.community.modularity(graph, found, weight="weight")
    assert abs(analysis.modularity - reference) <= 0.01
    ours = [set(analysis.node_ids[analysis.community == c].tolist()) for c in range(analysis.n_communities)]
    assert analysis.modularity == pytest.approx(nx.community.modularity(graph, ours, weight="weight"), abs=1e-9)
    assert analysis.n_communities == 6
    sizes = np.bincount(analysis.community)
    assert list(sizes) == sorted(sizes, reverse=True)


def test_communities_are_reproducible_with_the_same_seed() -> None:
    edges = planted_partition(12)
    first = analyse(edges, seed=5)
    second = analyse(edges, seed=5)
    np.testing.assert_array_equal(first.community, second.community)
    assert first.modularity == second.modularity


@pytest.mark.parametrize("seed", [1, 2])
def test_communities_on_reciprocal_edges_and_self_loops_match_networkx_modularity(seed: int) -> None:
    base = random_log(seed, n_users=300, n_edges=1500)
    rng = np.random.default_rng(seed)
    back = rng.choice(len(base), size=300, replace=False)  # reverse edges: u->v and v->u are summed undirected
    loops = rng.choice(base.src, size=20)
    edges = EdgeLog(
        np.concatenate([base.src, base.dst[back], loops]),
        np.concatenate([base.dst, base.src[back], loops]),
        np.concatenate([base.weight, rng.uniform(0.1, 5.0, size=300), np.full(20, 2.0)]),
    )
    analysis = analyse(edges, seed=seed)
    graph = undirected(to_networkx(edges))
    ours = [set(analysis.node_ids[analysis.community == c].tolist()) for c in range(analysis.n_communities)]
    assert analysis.modularity == pytest.approx(nx.community.modularity(graph, ours, weight="weight"), abs=1e-9)
    found = nx.community.louvain_communities(graph, weight="weight", seed=seed)
    assert analysis.modularity >= nx.community.modularity(graph, found, weight="weight") - 0.01
    assert all(nx.is_connected(graph.subgraph(group)) for group in ours)  # Leiden's communities are connected


@pytest.mark.parametrize("seed", [13, 14])
def test_reciprocity_equals_networkx(seed: int) -> None:
    rng = np.random.default_rng(seed)
    src = rng.integers(0, 30, size=200)
    dst = rng.integers(0, 30, size=200)  # includes self-loops and parallel edges
    edges = EdgeLog(src, dst, np.ones(200))
    assert analyse(edges).reciprocity == pytest.approx(nx.reciprocity(to_networkx(edges)), abs=1e-12)


def test_parallel_edges_are_summed_and_ids_mapped() -> None:
    edges = EdgeLog(np.array([50, 50, 7]), np.array([7, 7, 50]), np.array([1.0, 2.5, 1.0]))
    graph = build_graph(edges)
    assert graph.node_ids.tolist() == [7, 50]
    src, dst, weight = graph.edges()
    assert list(zip(src.tolist(), dst.tolist(), weight.tolist(), strict=True)) == [(0, 1, 1.0), (1, 0, 3.5)]
    analysis = analyse(edges)
    assert analysis.index_of(50) == 1
    with pytest.raises(KeyError):
        analysis.index_of(8)
    assert analysis.reciprocity == 1.0
    assert set(analysis.timings) >= {"build", "pagerank", "hits", "betweenness", "communities", "reciprocity"}


def test_ids_map_to_their_rank_among_all_ids() -> None:
    rng = np.random.default_rng(21)
    src = rng.integers(-(2**62), 2**62, size=500)
    dst = np.concatenate([rng.choice(src, size=300), rng.integers(0, 50, size=200)])  # shared and target-only ids
    graph = build_graph(EdgeLog(src, dst, np.ones(500)))
    expected_ids, inverse = np.unique(np.concatenate([src, dst]), return_inverse=True)
    np.testing.assert_array_equal(graph.node_ids, expected_ids)
    rows, cols, weight = graph.edges()
    expected = sp.coo_array((np.ones(500), (inverse[:500], inverse[500:])), shape=(graph.n_nodes,) * 2).tocsr()
    np.testing.assert_array_equal(
        sp.csr_array(sp.coo_array((weight, (rows, cols)), shape=expected.shape)).toarray(), expected.toarray()
    )


def test_empty_log_and_bad_input() -> None:
    analysis = analyse(EdgeLog(np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([])))
    assert analysis.n_nodes == 0 and analysis.modularity == 0.0
    with pytest.raises(AnalysisError):
        EdgeLog(np.array([1]), np.array([2]), np.array([-1.0]))
    with pytest.raises(AnalysisError):
        EdgeLog(np.array([1, 2]), np.array([2]), np.array([1.0]))


def test_the_cli_does_not_import_the_graph_libraries() -> None:
    code = "import sys, bot.app.cli; print(sorted(m for m in ('networkx', 'scipy', 'igraph') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"
