"""The audience graph from the store: weights and decay, own account in or out, scores with reasons, brokers,
community topics, snapshots, the one-daemon-at-a-time lease, ego networks, ties and exports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.core.records import InteractionRecord, MentionRecord, UserRecord
from bot.domains.audience.graph import edge_log_from, ego_log, ego_network, tie, to_networkx
from bot.domains.audience.service import AnalysisService, report_from_snapshot
from bot.settings.config import AccountConfig, Settings
from bot.settings.graph import GraphConfig

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SHOP = "1"


def settings(db_url: str, **graph: object) -> Settings:
    return Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        database_url=db_url,
        graph=GraphConfig(**graph),  # type: ignore[arg-type]
    )


def planted_rows(now: datetime = NOW) -> list[tuple[str, str, str, str, datetime]]:
    """Two communities (100s and 200s) with a star each (101 and 201), user 150 bridging them, everyone
    mentioning the shop (1)."""
    rows: list[tuple[str, str, str, str, datetime]] = []
    at = now - timedelta(days=1)
    for group, star in ((100, "101"), (200, "201")):
        members = [str(group + i) for i in range(2, 12)]
        for i, member in enumerate(members):
            rows.append((member, star, "reply", f"p{member}{star}", at))
            rows.append((member, SHOP, "mention", f"m{member}", at))
            rows.append((member, members[(i + 1) % len(members)], "mention", f"q{member}", at))
        rows.append((star, members[0], "mention", f"s{star}", at))
    rows.append(("150", "101", "reply", "b1", at))
    rows.append(("150", "201", "reply", "b2", at))
    rows.append(("101", "150", "mention", "b3", at))
    rows.append(("201", "150", "mention", "b4", at))
    return rows


def fill(store: Store, rows: list[tuple[str, str, str, str, datetime]], *, texts: bool = True) -> None:
    with store.mentions.unit("shop") as unit:
        users = {u for r in rows for u in r[:2]}
        unit.write(
            users=[
                UserRecord("x", u, f"user{u}" if u != SHOP else "shop", None, 50_000 if u == "201" else 10)
                for u in sorted(users)
            ],
            interactions=[InteractionRecord("x", s, t, k, p, at) for s, t, k, p, at in rows],
            mentions=[
                MentionRecord(
                    "shop",
                    "x",
                    "mention",
                    f"t{s}{p}",
                    f"@shop love the #Lamp{int(s) // 100} lamp so much" if texts else "@shop hi",
                    "not_answered",
                    author_id=s,
                    hashtags=[f"Lamp{int(s) // 100}"],
                )
                for s, t, k, p, _ in rows
                if t == SHOP
            ],
        )
    store.accounts.set_platform_user_id("shop", SHOP)


def test_weights_decay_and_zero_weight_kinds() -> None:
    config = GraphConfig(half_life="10d", kind_weights={"like": 0, "reply": 4})
    rows = [
        ("x", "a", "b", "reply", NOW.timestamp()),
        ("x", "a", "c", "reply", (NOW - timedelta(days=10)).timestamp()),
        ("x", "a", "d", "like", NOW.timestamp()),
        ("x", "a", "a", "mention", NOW.timestamp()),  # a self-loop says nothing about influence
        ("x", "a", "e", "mention", (NOW + timedelta(hours=1)).timestamp()),  # clock skew: counts as now
    ]
    log = edge_log_from(rows, config, NOW)
    assert len(log) == 3
    got = {(log.keys[s], log.keys[d]): w for s, d, w in zip(log.src, log.dst, log.weight, strict=True)}
    assert got == {("x:a", "x:b"): 4.0, ("x:a", "x:c"): pytest.approx(2.0), ("x:a", "x:e"): 1.0}
    assert log.kinds == {"reply": 2, "mention": 1}


def test_own_account_in_or_out() -> None:
    rows = [("x", "a", SHOP, "mention", NOW.timestamp()), ("x", "a", "b", "mention", NOW.timestamp())]
    out = edge_log_from(rows, GraphConfig(), NOW, own_keys={f"x:{SHOP}"})
    inside = edge_log_from(rows, GraphConfig(include_own_account=True), NOW, own_keys={f"x:{SHOP}"})
    assert len(out) == 1 and len(inside) == 2


def test_snapshot_ranks_the_stars_with_reasons_and_finds_the_broker(db_url: str) -> None:
    clock = ManualClock(NOW)
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        fill(store, planted_rows())
        service = AnalysisService(settings(db_url, top=5), store, clock, owner="test")
        run = service.run(force=True)
        assert run is not None
        report = run.report
        assert report.snapshot_id is not None
        assert {u.user_id for u in report.top[:2]} == {"101", "201"}
        assert SHOP not in {u.user_id for u in report.top}  # own account left out by default
        assert all(u.reasons for u in report.top)
        assert any("PageRank #" in r for r in report.top[0].reasons)
        star201 = next(u for u in report.top if u.user_id == "201")
        assert star201.followers == 50_000 and any("followers" in r for r in star201.reasons)
        star101 = next(u for u in report.top if u.user_id == "101")
        assert not any("followers" in r for r in star101.reasons), "10 followers like most: no reason"
        assert not any(f"#{n} of" in r for u in report.top for r in u.reasons for n in range(4, 24)), "top 3 only"
        assert report.n_communities >= 2
        assert report.communities[0].top_terms, "topics come from the mention texts"
        assert report.communities[0].top_terms[0][0].startswith("#lamp")
        assert "150" in {b.user_id for b in report.brokers}
        broker = next(b for b in report.brokers if b.user_id == "150")
        assert len(broker.communities) >= 1 and broker.bridges >= 2
        assert report.kinds == {"reply": 22, "mention": 24}  # the 20 mentions of the shop are left out

        again = report_from_snapshot(store, store.graphs.latest_snapshot(), top=5)  # type: ignore[arg-type]
        assert [u.user_id for u in again.top] == [u.user_id for u in report.top]
        assert [u.reasons for u in again.top] == [u.reasons for u in report.top]
        assert again.communities[0].top_members == report.communities[0].top_members
        assert [b.user_id for b in again.brokers] == [b.user_id for b in report.brokers]
        assert again.n_communities == report.n_communities

        history = store.graphs.user_score_history("x", "101")
        assert len(history) == 1 and history[0][1].rank in (1, 2)


def test_same_data_same_snapshot(db_url: str) -> None:
    clock = ManualClock(NOW)
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        fill(store, planted_rows())
        service = AnalysisService(settings(db_url), store, clock, owner="test")
        first = service.run(force=True)
        second = service.run(force=True)
        assert first is not None and second is not None
        a = store.graphs.snapshot_scores(first.report.snapshot_id)  # type: ignore[arg-type]
        b = store.graphs.snapshot_scores(second.report.snapshot_id)  # type: ignore[arg-type]
        assert [(r.user_id, r.rank, r.community, r.score) for r in a] == [
            (r.user_id, r.rank, r.community, r.score) for r in b
        ]


def test_pagerank_of_the_weighted_graph_matches_networkx(db_url: str) -> None:
    clock = ManualClock(NOW)
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        rows = planted_rows()
        fill(store, rows)
        config = GraphConfig(half_life="2d", include_own_account=True)
        run = AnalysisService(settings(db_url, half_life="2d", include_own_account=True), store, clock, owner="t").run(
            force=True
        )
        assert run is not None
    reference = nx.DiGraph()
    for s, t, kind, _, at in rows:
        w = config.kind_weights[kind] * 0.5 ** ((NOW - at) / timedelta(days=2))
        old = reference.get_edge_data(s, t, {"weight": 0.0})["weight"]
        reference.add_edge(s, t, weight=old + w)
    expected = nx.pagerank(reference, weight="weight", tol=1e-12)
    analysis = run.scored.analysis
    got = {run.scored.keys[i].split(":", 1)[1]: analysis.pagerank[i] for i in range(analysis.n_nodes)}
    assert set(got) == set(expected)
    assert sum(abs(got[k] - expected[k]) for k in expected) < 1e-6


def test_recent_snapshot_is_not_redone_and_the_lease_keeps_others_out(db_url: str) -> None:
    clock = ManualClock(NOW)
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        fill(store, planted_rows())
        config = settings(db_url, every="1h")
        first = AnalysisService(config, store, clock, owner="daemon-a")
        second = AnalysisService(config, store, clock, owner="daemon-b")
        assert first.run() is not None
        assert second.run() is None  # a fresh snapshot exists
        clock.advance(timedelta(hours=2))
        assert store.leases.acquire("graph-analysis", "daemon-a", ttl=timedelta(minutes=30))
        assert second.run() is None  # daemon-a is analysing
        assert store.leases.holder("graph-analysis") == "daemon-a"
        clock.advance(timedelta(minutes=31))  # daemon-a died: its lease runs out
        assert second.run() is not None
        assert store.leases.holder("graph-analysis") is None  # released after the run
        assert len(store.graphs.snapshots()) == 2


def test_ego_network_tie_strength_and_exports(db_url: str, tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    config = GraphConfig()
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        fill(store, planted_rows())
        ego = ego_network(ego_log(store, "x", "150", config, NOW), "x", "150")
        assert set(ego.successors("x:150")) == {"x:101", "x:201"}
        assert set(ego.predecessors("x:150")) == {"x:101", "x:201"}
        assert ego["x:150"]["x:101"]["kinds"] == {"reply": 1}
        t = tie(ego_log(store, "x", "150", config, NOW), ego_log(store, "x", "101", config, NOW), "x", "150", "101")
        assert t.reciprocal and t.weight_ab == pytest.approx(3.0 * 0.5 ** (1 / 30)) and t.kinds_ba == {"mention": 1}
        run = AnalysisService(settings(db_url), store, clock, owner="t").run(force=True)
        assert run is not None
        scores = {f"{r.platform}:{r.user_id}": r for r in store.graphs.snapshot_scores(run.report.snapshot_id)}  # type: ignore[arg-type]
        graph = to_networkx(run.log, scores, {})
    assert graph.number_of_nodes() == run.report.n_users
    assert graph.number_of_edges() == run.report.n_edges
    nx.write_gexf(graph, tmp_path / "g.gexf")
    nx.write_graphml(graph, tmp_path / "g.graphml")
    back = nx.read_graphml(tmp_path / "g.graphml")
    assert back.nodes["x:101"]["rank"] in (1, 2)
    assert np.isclose(sum(d["weight"] for *_, d in back.edges(data=True)), float(run.log.weight.sum()))


def test_two_daemons_at_once_make_one_snapshot(db_url: str) -> None:
    import threading

    clock = ManualClock(NOW)
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        fill(store, planted_rows())
    results: list[object] = []
    barrier = threading.Barrier(4)

    def daemon(owner: str) -> None:
        with Store.open(db_url, clock=clock) as own_store:
            barrier.wait()
            results.append(AnalysisService(settings(db_url, every="1h"), own_store, clock, owner=owner).run())

    threads = [threading.Thread(target=daemon, args=(f"daemon-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(r is not None for r in results) == 1 and len(results) == 4
    with Store.open(db_url, clock=clock) as store:
        assert len(store.graphs.snapshots()) == 1
