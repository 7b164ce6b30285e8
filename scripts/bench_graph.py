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

--from-store: the same log written into a migrated SQLite store (interaction rows: weights 1/2/3 as mention,
retweet and reply or quote, times spread over 85 days; a social_user row per user with followers, mention texts
for 2% of the interactions; raw sqlite3 inserts in a child process, the file cached under var/ by size and seed,
never timed), then the graph job exactly as the daemon runs it (AnalysisService.run: read, weigh, analyse, score,
store every score row) on a fresh copy, step by step with its peak RSS, and the engine alone on the very arrays
that run analysed (the same-run baseline). Goal (issue 16): 1M stored interactions in <= 5 s. The RESULT line
gains store_total_s (and store_peak_mb, engine_same_arrays_s).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def run_project(n: int, seed: int = 42) -> dict:
    from bot.domains.audience.engine import EdgeLog, analyse

    src, dst, weight = synthetic_log(n, seed)
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


def run_networkx(n: int, seed: int = 42) -> dict:
    import networkx as nx

    src, dst, weight = synthetic_log(n, seed)
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


STORE_GOAL_S = 5.0  # issue 16: 1M stored interactions, read to stored score rows
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CHUNK = 200_000
WORDS = ("lamp", "sofa", "rug", "vase", "shelf", "candle", "mirror", "chair", "table", "linen", "oak", "brass")


def _times(epochs: np.ndarray) -> list[str]:
    """Epoch seconds -> how UTCDateTime stores them on SQLite ('YYYY-MM-DD HH:MM:SS.ffffff')."""
    text = np.datetime_as_string((epochs * 1e6).astype("datetime64[us]"), unit="us")
    return [t.replace("T", " ") for t in text.tolist()]


def store_paths(directory: Path, n: int, seed: int) -> tuple[Path, Path]:
    base = directory / f"bench_graph_{n}_{seed}"
    return Path(f"{base}.db"), Path(f"{base}.ok")


def generate_store(db: Path, n: int, seed: int) -> None:
    """The seeded synthetic log as interaction rows of a fresh, migrated SQLite file (raw sqlite3 inserts)."""
    from bot.adapters.store import Store

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with Store.open(f"sqlite:///{db}") as store:
        store.upgrade()
    src, dst, weight = synthetic_log(n, seed)
    rng = np.random.default_rng(seed + 1)
    kind = np.where(weight == 1.0, "mention", np.where(weight == 2.0, "retweet", "reply")).astype(object)
    kind[(weight == 3.0) & (rng.random(n) < 0.5)] = "quote"
    epochs = NOW.timestamp() - rng.uniform(0, 85 * 86400.0, n)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    stamp = _times(np.array([NOW.timestamp()]))[0]
    conn.execute("INSERT INTO account_state (account, platform_user_id) VALUES ('shop', '1')")
    users = np.unique(np.concatenate([src, dst]))
    followers = np.floor(rng.pareto(1.2, users.size) * 50).astype(np.int64)
    conn.executemany(
        "INSERT INTO social_user (platform, user_id, username, followers_count, first_seen, last_seen) "
        "VALUES ('x', ?, ?, ?, ?, ?)",
        ((str(u), f"user{u}", int(f), stamp, stamp) for u, f in zip(users.tolist(), followers.tolist(), strict=True)),
    )
    for start in range(0, n, CHUNK):
        end = min(start + CHUNK, n)
        conn.executemany(
            "INSERT INTO interaction (platform, source_user_id, target_user_id, kind, post_id, created_at) "
            "VALUES ('x', ?, ?, ?, ?, ?)",
            zip(
                map(str, src[start:end].tolist()),
                map(str, dst[start:end].tolist()),
                kind[start:end].tolist(),
                (f"p{i}" for i in range(start, end)),
                _times(epochs[start:end]),
                strict=True,
            ),
        )
    writers = rng.choice(n, size=max(1, n // 50), replace=False)
    texts = []
    for i in writers.tolist():
        author = int(src[i])
        words = " ".join(WORDS[(author + j) % len(WORDS)] for j in range(3))
        texts.append(("x", f"t{i}", str(author), f"@shop love this {words}", f'["{WORDS[author % len(WORDS)]}"]'))
    conn.executemany(
        "INSERT INTO mention (account, platform, kind, platform_id, author_id, text, hashtags, created_at, "
        f"summoned, outcome, seen_at) VALUES ('shop', ?, 'mention', ?, ?, ?, ?, '{stamp}', 1, 'not_answered', "
        f"'{stamp}')",
        texts,
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    print(f"generated {n:,} interactions among {users.size:,} users, {len(texts):,} mention texts in {db}")


class StepTimer:
    """Seconds spent in wrapped calls, by step (a generator: the time inside each next())."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}

    def add(self, step: str, seconds: float) -> None:
        self.steps[step] = self.steps.get(step, 0.0) + seconds

    def wrap(self, func: Callable[..., Any], step: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.add(step, time.perf_counter() - started)

        return timed

    def wrap_iter(self, func: Callable[..., Iterator[Any]], step: str) -> Callable[..., Iterator[Any]]:
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            items = func(*args, **kwargs)
            while True:
                started = time.perf_counter()
                try:
                    item = next(items)
                except StopIteration:
                    self.add(step, time.perf_counter() - started)
                    return
                self.add(step, time.perf_counter() - started)
                yield item

        return timed


def _patch(owner: Any, name: str, wrapped: Callable[..., Any]) -> None:
    setattr(owner, name, wrapped)


def stored_digest(db: Path, snapshot_id: int) -> str:
    """sha256 of the snapshot's score and community rows (rank order): the same digest = the same stored results."""
    conn = sqlite3.connect(db)
    digest = hashlib.sha256()
    for row in conn.execute(
        "SELECT platform, user_id, pagerank, in_strength, hub, authority, betweenness, followers, score, rank, "
        "community, reasons FROM graph_score WHERE snapshot_id = ? ORDER BY rank, user_id",
        (snapshot_id,),
    ):
        digest.update(repr(row).encode())
    for row in conn.execute(
        "SELECT community, size, internal_share, top_members, top_terms FROM graph_community "
        "WHERE snapshot_id = ? ORDER BY community",
        (snapshot_id,),
    ):
        digest.update(repr(row).encode())
    conn.close()
    return digest.hexdigest()[:16]


def run_store(db: Path) -> dict:
    """The daemon's graph job on the stored log (AnalysisService.run), timed by step, then the engine alone on the
    arrays it analysed."""
    import bot.domains.audience.graph as graph_package
    from bot.adapters.store import Store
    from bot.core.clock import ManualClock
    from bot.domains.audience import engine
    from bot.domains.audience.service import AnalysisService
    from bot.settings.config import AccountConfig, Settings

    settings = Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")}, database_url=f"sqlite:///{db}"
    )
    timer = StepTimer()
    logs: list[Any] = []
    load_log, analyse_log, analyse = graph_package.load_log, graph_package.analyse_log, engine.analyse

    def loading(*args: Any, **kwargs: Any) -> Any:
        logs.append(load_log(*args, **kwargs))
        return logs[-1]

    _patch(graph_package, "load_log", timer.wrap(loading, "load"))
    _patch(graph_package, "analyse_log", timer.wrap(analyse_log, "report"))
    _patch(engine, "analyse", timer.wrap(analyse, "analyse"))
    with Store.open(settings.database_url, clock=ManualClock(NOW)) as store:
        store.upgrade()
        _patch(store.graphs, "interaction_edges", timer.wrap_iter(store.graphs.interaction_edges, "read"))
        _patch(store.graphs, "user_keys", timer.wrap(store.graphs.user_keys, "users"))
        _patch(store.graphs, "texts_by_author", timer.wrap(store.graphs.texts_by_author, "texts"))
        _patch(store.graphs, "save_snapshot", timer.wrap(store.graphs.save_snapshot, "store"))
        service = AnalysisService(settings, store, ManualClock(NOW), owner="bench")
        started, cpu = time.perf_counter(), time.process_time()
        run = service.run(force=True)
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = peak_mb()
    if run is None:
        raise SystemExit("the graph job stored no snapshot")
    steps = dict(timer.steps)
    steps["weigh"] = steps.pop("load") - steps.get("read", 0.0)
    steps["score"] = steps.pop("report") - steps["analyse"]
    steps["other"] = total - sum(steps.values())
    log = logs[-1]
    started = time.perf_counter()
    analyse(engine.EdgeLog(log.src, log.dst, log.weight), betweenness_samples=64, seed=7)
    baseline = time.perf_counter() - started
    return {
        "seconds": total,
        "cpu_s": cpu,
        "peak_mb": peak,
        "engine_same_arrays_s": baseline,
        "steps": {k: round(v, 3) for k, v in steps.items()},
        "engine_steps": run.report.timings,
        "users": run.report.n_users,
        "edges": run.report.n_edges,
        "interactions": run.report.n_interactions,
        "communities": run.report.n_communities,
        "digest": stored_digest(db, int(run.report.snapshot_id or 0)),
    }


def store_worker(n: int, seed: int, directory: Path) -> dict:
    """A fresh copy of the cached store (generated once, untimed), then run_store in a child process."""
    db, done = store_paths(directory, n, seed)
    if not done.exists() or not db.exists():
        started = time.perf_counter()
        command = [sys.executable, __file__, "--worker", "generate", "--sizes", str(n), "--seed", str(seed)]
        subprocess.run([*command, "--dir", str(directory)], check=True)
        done.write_text("ok\n")
        print(f"N={n}: store generated in {time.perf_counter() - started:.1f} s (not counted)", flush=True)
    work = db.with_suffix(".work.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(db, work)
    try:
        command = [sys.executable, __file__, "--worker", "store", "--sizes", str(n), "--dir", str(work)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{work}{suffix}").unlink(missing_ok=True)
    if result.returncode != 0:
        raise SystemExit(f"store worker failed at {n}:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def worker(kind: str, n: int, seed: int = 42) -> dict:
    command = [sys.executable, __file__, "--worker", kind, "--sizes", str(n), "--seed", str(seed)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{kind} worker failed at {n}:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def report_store(n: int, project: dict, stored: dict) -> str:
    """Print the store run beside the engine's figures; the RESULT fields it adds."""
    steps = ", ".join(f"{k} {v:.2f}" for k, v in stored["steps"].items())
    print(
        f"N={n}: from the store {stored['seconds']:.2f} s (CPU {stored['cpu_s']:.2f} s), "
        f"peak RSS {stored['peak_mb']:.0f} MB "
        f"({stored['interactions']:,} interactions, {stored['users']:,} users, {stored['edges']:,} distinct edges, "
        f"{stored['communities']} communities); steps: {steps}",
        flush=True,
    )
    print(
        f"N={n}: engine alone on the same arrays {stored['engine_same_arrays_s']:.2f} s (inside the job: "
        f"{stored['steps']['analyse']:.2f} s); engine on the synthetic log {project['seconds']:.2f} s; "
        f"stored rows digest {stored['digest']}",
        flush=True,
    )
    if n in GOALS:
        met = stored["seconds"] <= STORE_GOAL_S
        print(
            f"N={n}: store goal <= {STORE_GOAL_S:g} s: {'met' if met else 'MISSED'} ({stored['seconds']:.2f} s)",
            flush=True,
        )
    return (
        f" store_total_s={stored['seconds']:.2f} store_peak_mb={stored['peak_mb']:.0f}"
        f" engine_same_arrays_s={stored['engine_same_arrays_s']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated interaction counts")
    parser.add_argument("--networkx-max", type=int, default=1_000_000, help="skip networkx above this size")
    parser.add_argument("--from-store", action="store_true", help="also run the daemon's graph job from a store")
    parser.add_argument("--seed", type=int, default=42, help="the synthetic log's seed")
    parser.add_argument("--dir", type=Path, default=ROOT / "var", help="where the cached store lives")
    parser.add_argument("--worker", choices=["project", "networkx", "store", "generate"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.worker == "generate":
        generate_store(store_paths(args.dir, sizes[0], args.seed)[0], sizes[0], args.seed)
        return
    if args.worker:
        if args.worker == "store":
            print(json.dumps(run_store(args.dir)))
            return
        run = run_project if args.worker == "project" else run_networkx
        print(json.dumps(run(sizes[0], args.seed)))
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    line = ""
    for n in sizes:
        project = worker("project", n, args.seed)
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
        store_fields = report_store(n, project, store_worker(n, args.seed, args.dir)) if args.from_store else ""
        if n > args.networkx_max:
            print(f"N={n}: networkx skipped (above --networkx-max {args.networkx_max}: it would take minutes)")
            line = f"RESULT edges={n} project_s={project['seconds']:.2f} project_peak_mb={project['peak_mb']:.0f}"
            line += " networkx_s=skipped speedup=n/a" + store_fields
            continue
        reference = worker("networkx", n, args.seed)
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
            f"networkx_s={reference['seconds']:.2f} speedup={speedup:.1f}" + store_fields
        )
    print(line)


if __name__ == "__main__":
    main()
