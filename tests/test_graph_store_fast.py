"""The graph run's fast store path (store.graphs.interaction_edges, numpy numbering, column-wise score rows) gives
exactly what the row-by-row path gave: the same weighted log, node order, scores, communities and stored rows, on
SQLite and PostgreSQL, with integer ids, ids that only look like integers, one platform or two."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.core.records import InteractionRecord, UserRecord
from bot.domains.audience.graph import InteractionLog, analyse_log, load_log
from bot.domains.audience.graph.log import decay_factor
from bot.domains.audience.service import AnalysisService
from bot.settings.config import AccountConfig, Settings
from bot.settings.graph import INTERACTION_KINDS, GraphConfig

NOW = datetime(2026, 11, 20, 12, 0, 0, 250_000, tzinfo=UTC)
SHOP = "1"


def seeded_rows(platforms: tuple[str, ...], seed: int = 5) -> list[InteractionRecord]:
    """~1,500 interactions among 120 users: numeric ids, "007"-style ids beside "7", text ids, the shop, a
    self-loop, rows outside the window and within a millisecond of its edge."""
    rng = np.random.default_rng(seed)
    users = [str(i) for i in range(2, 100)] + ["007", "0", "-3", "did:plc:abc", "u_x", "99999999999999999999"]
    users += [SHOP] * 8
    window_edge = NOW - timedelta(days=90)
    out: list[InteractionRecord] = []
    for i in range(1500):
        source, target = (str(u) for u in rng.choice(users, 2))
        platform = platforms[int(rng.integers(len(platforms)))]
        kind = INTERACTION_KINDS[int(rng.integers(len(INTERACTION_KINDS)))]
        at = NOW - timedelta(seconds=float(rng.uniform(0, 100 * 86400)))
        if i % 97 == 0:
            at = window_edge + timedelta(microseconds=int(rng.integers(-900, 900)))
        out.append(InteractionRecord(platform, source, target, kind, f"p{i}", at))
    out.append(InteractionRecord(platforms[0], "5", "5", "reply", "loop", NOW - timedelta(days=1)))
    return out


def fill(store: Store, rows: list[InteractionRecord]) -> None:
    users = sorted({(r.platform, u) for r in rows for u in (r.source_user_id, r.target_user_id)})
    with store.mentions.unit("shop") as unit:
        unit.write(users=[UserRecord(p, u, f"user{u}", None, (len(u) * 37) % 500) for p, u in users], interactions=rows)
    store.accounts.set_platform_user_id("shop", SHOP)


def reference_log(store: Store, config: GraphConfig, now: datetime, own_keys: Collection[str]) -> InteractionLog:
    """The row-by-row path as it was: store.people.iter_interaction_edges, a dict numbering per chunk (sources
    then targets), weights per chunk."""
    index: dict[str, int] = {}
    keys: list[str] = []

    def ident(key: str) -> int:
        if key not in index:
            index[key] = len(keys)
            keys.append(key)
        return index[key]

    kind_weight = np.array([config.kind_weights.get(k, 0.0) for k in INTERACTION_KINDS])
    half_life = config.half_life.total_seconds() if config.half_life else None
    own = np.array([ident(k) for k in own_keys] if not config.include_own_account else [], dtype=np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    n_read = 0
    since = now - config.window if config.window else None
    for chunk in store.people.iter_interaction_edges(since=since):
        n_read += len(chunk)
        pairs = list(zip(chunk.platform, chunk.source, chunk.target, strict=True))
        src = np.array([ident(f"{p}:{s}") for p, s, _ in pairs], dtype=np.int64)
        dst = np.array([ident(f"{p}:{t}") for p, _, t in pairs], dtype=np.int64)
        kind = np.array([INTERACTION_KINDS.index(k) if k in INTERACTION_KINDS else -1 for k in chunk.kind], np.int16)
        epoch = np.array(chunk.epoch, dtype=np.float64)
        keep = (kind >= 0) & (src != dst) & (kind_weight[np.maximum(kind, 0)] > 0)
        keep &= ~np.isin(src, own) & ~np.isin(dst, own)
        src, dst, kind, epoch = src[keep], dst[keep], kind[keep], epoch[keep]
        parts.append((src, dst, kind, kind_weight[kind] * decay_factor(now.timestamp() - epoch, half_life)))
    src, dst, kind, weight = (np.concatenate(c) for c in zip(*parts, strict=True))
    return InteractionLog(keys, src, dst, weight, kind, n_read)


def score_table(columns: dict[str, list[Any]]) -> list[tuple[Any, ...]]:
    names = sorted(columns)
    return sorted(zip(*(columns[n] for n in names), strict=True), key=lambda row: row[names.index("rank")])


@pytest.mark.parametrize("platforms", [("x",), ("x", "bluesky")], ids=["one-platform", "two-platforms"])
def test_fast_path_equals_the_row_by_row_path(db_url: str, platforms: tuple[str, ...]) -> None:
    clock = ManualClock(NOW)
    config = GraphConfig(top=10)
    settings = Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")}, database_url=db_url, graph=config
    )
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        fill(store, seeded_rows(platforms))
        own = {f"x:{SHOP}"}
        fast = load_log(store, config, NOW, own_keys=own)
        old = reference_log(store, config.model_copy(), NOW, own)
        assert fast.n_read == old.n_read and 0 < len(fast) < fast.n_read
        kept = sorted(set(fast.src.tolist()) | set(fast.dst.tolist()))
        assert [fast.keys[i] for i in kept] == [
            old.keys[i] for i in sorted(set(old.src.tolist()) | set(old.dst.tolist()))
        ]
        assert [fast.keys[i] for i in fast.src] == [old.keys[i] for i in old.src]
        assert [fast.keys[i] for i in fast.dst] == [old.keys[i] for i in old.dst]
        assert np.array_equal(fast.weight, old.weight) and np.array_equal(fast.kind, old.kind)
        assert "x:007" in fast.keys and "x:7" in fast.keys  # told apart

        run = AnalysisService(settings, store, clock, owner="test").run(force=True)
        assert run is not None and run.report.snapshot_id is not None
        expected = analyse_log(old, config, now=NOW, own_keys=own, followers_of=store.graphs.user_keys()[0])
        assert score_table(run.score_columns()) == score_table(expected.score_columns())
        stored = store.graphs.snapshot_scores(run.report.snapshot_id)
        columns = run.score_columns()
        assert [r.platform for r in stored] == columns["platform"]
        assert [r.user_id for r in stored] == columns["user_id"]
        assert [r.pagerank for r in stored] == columns["pagerank"]
        assert [r.score for r in stored] == columns["score"]
        assert [r.community for r in stored] == columns["community"]
        assert [r.followers for r in stored] == columns["followers"]
        assert [list(r.reasons) or None for r in stored] == columns["reasons"]
        assert stored[0].reasons and stored[-1].reasons == ()
        assert run.report.modularity == expected.report.modularity
        assert run.member_ids == expected.member_ids


def test_score_rows_as_rows_or_columns_are_stored_alike(db_url: str) -> None:
    rows = [
        {"platform": "x", "user_id": u, "pagerank": 0.1 * i, "in_strength": 1.0, "hub": 0.0, "authority": 0.5,
         "betweenness": 0.0, "followers": None if i % 2 else 10, "score": 1.0 - 0.1 * i, "rank": i + 1,
         "community": i % 2, "reasons": ["PageRank #1 of 3"] if i == 0 else None}
        for i, u in enumerate(["b", "a", "c\x00"])
    ]  # fmt: skip
    with Store.open(db_url, clock=ManualClock(NOW)) as store:
        store.upgrade()
        save = store.graphs.save_snapshot
        figures = {"n_users": 3, "n_edges": 0, "n_interactions": 0, "n_communities": 2, "modularity": 0.0}
        figures["reciprocity"] = 0.0
        first = save(created_at=NOW, figures=figures, params={}, stats={}, scores=rows, communities=[])
        columns = {name: [row[name] for row in rows] for name in rows[0]}
        second = save(created_at=NOW, figures=figures, params={}, stats={}, scores=columns, communities=[])
        a, b = store.graphs.snapshot_scores(first), store.graphs.snapshot_scores(second)
        assert [r.user_id for r in a] == ["b", "a", "c"]
        assert [(r.user_id, r.followers, r.reasons, r.score) for r in a] == [
            (r.user_id, r.followers, r.reasons, r.score) for r in b
        ]
