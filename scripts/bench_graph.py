#!/usr/bin/env python3
"""The graph engine against networkx on one heavy-tailed synthetic interaction log.

For each size N: a seeded log of N interactions among N/5 users in N/1000 communities (users' activity and
popularity Zipf-like; 80% of interactions stay inside the source's community; type weights like 1, retweet 2,
reply/quote 3). Two worker processes regenerate the same log from the seed:
- project: bot.domains.audience.engine.analyse (build from arrays + PageRank + in-strength + HITS + betweenness on 64
  sampled sources + seeded Leiden + reciprocity);
- networkx: DiGraph built from the same pairs (parallel edges summed with numpy first, which favours networkx),
  pagerank (default tol), in_degree(weight), hits, betweenness_centrality(k=64), louvain_communities on
  to_undirected(), reciprocity. Skipped above --networkx-max (it takes minutes: ~120 s at 1M); --networkx-max 0
  runs the project alone.
Times exclude generating the log. Peak memory is the worker's peak RSS (resource.getrusage ru_maxrss: the whole
process, interpreter + libraries + the generated log included). Goals (issue 4): 1M interactions in <= 5 s and
<= 800 MB peak RSS, 10M in <= 60 s and <= 6 GB; a "goal" line says whether a size with a goal meets it.
Last line: RESULT edges=N project_s=X project_peak_mb=M networkx_s=Y speedup=Y/X   (for the largest size)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def synthetic_log(n: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    users = max(n // 5, 10)
    groups = max(n // 1000, 2)
    user_ids = rng.permutation(users).astype(np.int64) * 7919 + 10**15
    community = np.arange(users) % groups
    activity = 1.0 / (rng.permutation(users) + 1.0) ** 0.8
    popularity = 1.0 / (rng.permutation(users) + 1.0) ** 1.1
    src = rng.choice(users, size=n, p=activity / activity.sum())
    # targets: inverse-CDF sampling of popularity, within the source's community (80%) or anywhere (20%)
    by_group = np.argsort(community, kind="stable")
    cumulative = np.cumsum(popularity[by_group])
    starts = np.searchsorted(community[by_group], np.arange(groups))
    ends = np.append(starts[1:], users)
    low = np.where(starts > 0, cumulative[np.maximum(starts - 1, 0)], 0.0)
    inside = rng.random(n) < 0.8
    group = community[src]
    lo = np.where(inside, low[group], 0.0)
    hi = np.where(inside, cumulative[ends[group] - 1], cumulative[-1])
    position = np.searchsorted(cumulative, lo + rng.random(n) * (hi - lo), side="right")
    dst = by_group[np.minimum(position, users - 1)]
    weight = rng.choice(np.array([1.0, 2.0, 3.0, 3.0]), size=n, p=[0.6, 0.2, 0.1, 0.1])
    return user_ids[src], user_ids[dst], weight


GOALS = {1_000_000: (5.0, 800.0), 10_000_000: (60.0, 6144.0)}  # interactions -> (seconds, peak MB)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_project(n: int) -> dict:
    from bot.domains.audience.engine import EdgeLog, analyse

    src, dst, weight = synthetic_log(n)
    started = time.perf_counter()
    analysis = analyse(EdgeLog(src, dst, weight), betweenness_samples=64, seed=7)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_mb": peak_mb(),
        "nodes": analysis.n_nodes,
        "edges": analysis.n_edges,
        "communities": analysis.n_communities,
        "modularity": analysis.modularity,
        "reciprocity": analysis.reciprocity,
        "steps": {k: round(v, 3) for k, v in analysis.timings.items()},
        "iterations": analysis.iterations,
        "top100": [u for u, _ in analysis.top(analysis.pagerank, 100)],
    }


def run_networkx(n: int) -> dict:
    import networkx as nx

    src, dst, weight = synthetic_log(n)
    pairs, inverse = np.unique(np.column_stack([src, dst]), axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=weight)
    steps: dict[str, float] = {}
    started = lap = time.perf_counter()

    def mark(step: str) -> None:
        nonlocal lap
        now = time.perf_counter()
        steps[step] = round(now - lap, 3)
        lap = now

    graph = nx.DiGraph()
    graph.add_weighted_edges_from(zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), summed.tolist(), strict=True))
    mark("build")
    rank = nx.pagerank(graph, alpha=0.85, weight="weight")
    mark("pagerank")
    dict(graph.in_degree(weight="weight"))
    mark("in_strength")
    nx.hits(graph)
    mark("hits")
    nx.betweenness_centrality(graph, k=min(64, len(graph)), seed=7)
    mark("betweenness")
    undirected = graph.to_undirected()
    found = nx.community.louvain_communities(undirected, weight="weight", seed=7)
    modularity = nx.community.modularity(undirected, found, weight="weight")
    mark("communities")
    mutual = nx.reciprocity(graph)
    mark("reciprocity")
    return {
        "seconds": time.perf_counter() - started,
        "peak_mb": peak_mb(),
        "communities": len(found),
        "modularity": modularity,
        "reciprocity": mutual,
        "steps": steps,
        "top100": sorted(rank, key=lambda u: -rank[u])[:100],
    }


def worker(kind: str, n: int) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--worker", kind, "--sizes", str(n)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"{kind} worker failed at {n}:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated interaction counts")
    parser.add_argument("--networkx-max", type=int, default=1_000_000, help="skip networkx above this size")
    parser.add_argument("--worker", choices=["project", "networkx"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.worker:
        run = run_project if args.worker == "project" else run_networkx
        print(json.dumps(run(sizes[0])))
        return
    line = ""
    for n in sizes:
        project = worker("project", n)
        print(
            f"N={n}: project {project['seconds']:.2f} s, peak RSS {project['peak_mb']:.0f} MB, "
            f"{project['nodes']} users, {project['edges']} distinct edges, {project['communities']} communities, "
            f"modularity {project['modularity']:.4f}, reciprocity {project['reciprocity']:.4f}, "
            f"iterations {project['iterations']}, steps {project['steps']}",
            flush=True,
        )
        if n in GOALS:
            seconds, megabytes = GOALS[n]
            met = project["seconds"] <= seconds and project["peak_mb"] <= megabytes
            print(
                f"N={n}: goal <= {seconds:g} s and <= {megabytes:g} MB: {'met' if met else 'MISSED'} "
                f"({project['seconds']:.2f} s, {project['peak_mb']:.0f} MB)",
                flush=True,
            )
        if n > args.networkx_max:
            print(f"N={n}: networkx skipped (above --networkx-max {args.networkx_max}: it would take minutes)")
            line = f"RESULT edges={n} project_s={project['seconds']:.2f} project_peak_mb={project['peak_mb']:.0f}"
            line += " networkx_s=skipped speedup=n/a"
            continue
        reference = worker("networkx", n)
        overlap = len(set(project["top100"]) & set(reference["top100"]))
        speedup = reference["seconds"] / project["seconds"]
        print(
            f"N={n}: networkx {reference['seconds']:.2f} s, peak RSS {reference['peak_mb']:.0f} MB, "
            f"{reference['communities']} communities, modularity {reference['modularity']:.4f}, "
            f"reciprocity {reference['reciprocity']:.4f}, steps {reference['steps']}; "
            f"PageRank top-100 overlap with networkx default tol: {overlap}/100",
            flush=True,
        )
        line = (
            f"RESULT edges={n} project_s={project['seconds']:.2f} project_peak_mb={project['peak_mb']:.0f} "
            f"networkx_s={reference['seconds']:.2f} speedup={speedup:.1f}"
        )
    print(line)


if __name__ == "__main__":
    main()
