"""Segments from a real store: k by silhouette on clearly separated groups, readable unique labels, ids that
keep their meaning across runs (same data, and after a small change), the lease (two services, one run),
orders with bad rows, the daemon job."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.core.records import InteractionRecord, MentionRecord, SegmentInfo, UserRecord
from bot.domains.audience.features import FeatureTable
from bot.domains.audience.segments import (
    LEASE,
    SegmentService,
    audience_mean,
    describe,
    label_for,
    match_ids,
    segment_labels,
    segment_table,
    segments_by_label,
)
from bot.settings.config import AccountConfig, Settings
from bot.settings.segments import SegmentsConfig

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SHOP = "1"


def settings(db_url: str, tmp_path: Path | None = None, **segments: object) -> Settings:
    return Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        database_url=db_url,
        segments=SegmentsConfig(**segments),  # type: ignore[arg-type]
        config_path=(tmp_path / "config.yaml") if tmp_path else Path("config.yaml"),
    )


def groups_rows(
    sizes: tuple[int, int, int] = (30, 30, 30), seed: int = 1, start: int = 1000
) -> tuple[list[UserRecord], list[InteractionRecord], list[MentionRecord]]:
    """Three kinds of people: fans (many likes and retweets, recently), complainers (DMs with complaints,
    negative), and chatty advocates (many positive mentions over many days)."""
    rng = np.random.default_rng(seed)
    users = [UserRecord("x", SHOP, "shop")]
    inter: list[InteractionRecord] = []
    msgs: list[MentionRecord] = []
    uid = start
    for group, size in enumerate(sizes):
        for _ in range(size):
            uid += 1
            u = str(uid)
            users.append(UserRecord("x", u, f"{['fan', 'angry', 'happy'][group]}{u}", None, int(rng.integers(5, 50))))
            if group == 0:
                for j in range(int(rng.integers(20, 26))):
                    kind = "like" if j % 2 else "retweet"
                    at = NOW - timedelta(days=float(rng.uniform(0, 3)))
                    inter.append(InteractionRecord("x", u, SHOP, kind, f"p{u}-{j}", at))
            elif group == 1:
                for j in range(int(rng.integers(3, 5))):
                    at = NOW - timedelta(days=float(rng.uniform(40, 60)))
                    inter.append(InteractionRecord("x", u, SHOP, "dm", f"d{u}-{j}", at))
                    msgs.append(
                        MentionRecord("shop", "x", "dm", f"d{u}-{j}", "broken again", "answered", author_id=u,
                                      created_at=at, intent="complaint", sentiment=-0.8)
                    )  # fmt: skip
            else:
                for j in range(int(rng.integers(10, 13))):
                    at = NOW - timedelta(days=float(j * 7 + rng.uniform(0, 1)))
                    inter.append(InteractionRecord("x", u, SHOP, "mention", f"m{u}-{j}", at))
                    msgs.append(
                        MentionRecord("shop", "x", "mention", f"m{u}-{j}", "@shop love it", "answered", author_id=u,
                                      created_at=at, intent="praise", sentiment=0.9)
                    )  # fmt: skip
    return users, inter, msgs


def fill(store: Store, rows: tuple[list[UserRecord], list[InteractionRecord], list[MentionRecord]]) -> None:
    users, inter, msgs = rows
    with store.mentions.unit("shop") as unit:
        unit.write(users=users, interactions=inter, mentions=msgs)
    store.accounts.set_platform_user_id("shop", SHOP)


def members(store: Store, run_id: int) -> dict[str, int]:
    return {u: s for chunk in store.segments.members(run_id) for _, u, s in chunk}


def test_k_by_silhouette_labels_and_stable_ids(db_url: str) -> None:
    clock = ManualClock(NOW)
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        fill(store, groups_rows())
        service = SegmentService(settings(db_url, k_range=(2, 6)), store, clock, owner="t")
        first = service.run()
        assert first is not None
        run = store.segments.latest_run()
        assert run is not None and run.id == first.run_id
        assert run.k == 3 and run.n_users == 90, "three clearly separated groups"
        assert run.silhouette is not None and run.silhouette > 0.5
        assert set(run.params["k_scores"]) == {"2", "3", "4", "5", "6"}
        segs = store.segments.of_run(run.id)
        labels = {s.label for s in segs}
        assert len(labels) == 3
        complainers = next(s for s in segs if s.matches("complainers at risk"))
        assert complainers.label.endswith("complainers at risk")  # with what else sets them apart: 'lapsed ...'
        assert complainers.size == 30 and complainers.centroid["complaints"] > 2
        one = members(store, run.id)
        assert {one[str(u)] for u in range(1031, 1061)} == {complainers.segment_id}
        assert store.segments.of_user("x", "1040") == (complainers.segment_id, complainers.label)
        assert SHOP not in one
        assert [s.segment_id for s in segments_by_label(store, ["complainers at risk"])] == [complainers.segment_id]
        assert service.run() is None, "a recent run exists"

        # the same data again: same ids, same labels, same members
        clock.advance(timedelta(days=1, hours=1))
        second = service.run()
        assert second is not None
        segs2 = {s.segment_id: s.label for s in store.segments.of_run(second.run_id)}
        assert segs2 == {s.segment_id: s.label for s in segs}
        assert members(store, second.run_id) == one

        # a small change: a few more people of each kind; ids keep their meaning
        fill(store, groups_rows((4, 4, 4), seed=2, start=5000))
        clock.advance(timedelta(days=1, hours=1))
        third = service.run()
        assert third is not None
        segs3 = {s.segment_id: s.label for s in store.segments.of_run(third.run_id)}
        assert segs3 == segs2
        after = members(store, third.run_id)
        assert all(after[u] == s for u, s in one.items())
        assert after["5005"] == complainers.segment_id  # the first of the new complainers (5001-4 are fans)


def test_more_segments_get_fresh_ids_and_fewer_keep_theirs() -> None:
    from bot.domains.audience.segments import Space

    space = Space(["a", "b"], np.zeros(2), np.ones(2))
    previous = {0: [0.0, 0.0], 1: [10.0, 0.0], 2: [0.0, 10.0]}
    prev_space = {"features": ["b", "a"]}  # order differs: matched by name
    ids, next_id = match_ids(np.array([[0.0, 10.2], [0.1, 0.0], [20.0, 20.0]]), space, previous, prev_space, 3)
    assert ids == [1, 0, 3] and next_id == 4, "(0, 10) is old 1 as (b, a); far away -> fresh id"
    ids, next_id = match_ids(np.array([[9.9, 0.2]]), space, previous, {"features": ["a", "b"]}, 4)
    assert ids == [1] and next_id == 4


def test_labels_read_the_centroid_and_stay_unique() -> None:
    assert label_for({"complaints": 2.0, "sentiment": -1.0}, {"complaints": 3.0}) == "complainers at risk"
    assert label_for({"influence": 3.0, "followers": 2.0}, {}) == "influencers"
    assert label_for({"spent": 2.5, "orders": 1.0}, {"spent": 300.0, "orders": 4.0}) == "big spenders"
    assert label_for({"orders": 1.5, "per_week": -0.8}, {"orders": 2.0}) == "quiet buyers"
    assert label_for({"sentiment": 1.5, "per_week": 1.0}, {"sentiment": 0.6}) == "advocates"
    assert label_for({"tenure_days": -1.5}, {}) == "new faces"
    assert label_for({"per_week": -0.5, "recency_days": 0.2}, {}) == "lurkers"
    # a quality the role does not say, in words: never a number
    assert label_for({"tenure_days": -1.5, "sentiment": -1.0}, {"sentiment": -0.4}) == "new and unhappy"
    assert label_for({"spent": 2.0, "recency_days": 1.2}, {"spent": 500.0}) == "lapsed big spenders"
    assert label_for({"per_week": 1.2, "followers": 1.5}, {}, share=0.2) == "well-followed regulars"
    # a third of the audience is not "the influencers", whatever its centroid leans to
    assert label_for({"influence": 3.0, "followers": 2.0}, {}, share=0.33) != "influencers"
    assert label_for({"influence": 3.0, "followers": 2.0}, {}, share=0.03) == "influencers"


def test_look_alike_segments_are_told_apart_in_words_and_targeted_as_one() -> None:
    zs = [{"per_week": 1.0, "orders": 0.8}, {"per_week": 1.1, "orders": -0.6}, {"like": 2.0}]
    raws = [{"orders": 0.0}, {"orders": 0.0}, {}]
    labels = segment_labels(zs, raws, [500, 300, 200])
    assert labels == ["regulars, more orders", "regulars, fewer orders", "fans"]
    assert segment_labels([{}, {}], [{}, {}], [10, 5]) == ["lurkers", "lurkers (another 5)"]
    infos = [SegmentInfo(1, i, label, 10, {}) for i, label in enumerate(labels)]
    assert [i.segment_id for i in infos if i.matches("Regulars")] == [0, 1]
    assert [i.segment_id for i in infos if i.matches("regulars, fewer orders")] == [1]
    assert [i.segment_id for i in infos if i.matches(2)] == [2]
    assert SegmentInfo(1, 7, "advocates 2", 3, {}).matches("advocates")  # labels of older runs


def test_what_sets_a_segment_apart_reads_as_words() -> None:
    segments = [
        SegmentInfo(1, 0, "quiet buyers", 100, {"orders": 4.0, "complaints": 0.0, "sentiment": 0.1}),
        SegmentInfo(1, 1, "lurkers", 900, {"orders": 0.0, "complaints": 0.0, "sentiment": 0.0}),
    ]
    mean = audience_mean(segments)
    assert mean["orders"] == 0.4
    words = describe(segments[0].centroid, mean, {"orders": 2.5})
    assert words == ["orders: 10.0× the average"]
    assert describe(segments[1].centroid, mean, {"orders": -0.4}) == ["orders: about none", "have never ordered"]
    assert describe({}, {}, {}) == ["close to the average person"]
    assert all("σ" not in w for w in words)


def test_fixed_k_tiny_and_empty_tables() -> None:
    def table(n: int) -> FeatureTable:
        rng = np.random.default_rng(0)
        obj = np.array([str(i) for i in range(n)], dtype=object)
        cols = {"mention": rng.integers(0, 5, n).astype(float), "influence": np.zeros(n), "like": np.zeros(n)}
        return FeatureTable(np.array(["x"] * n, dtype=object), obj, obj, cols, np.full(n, -1))

    empty = segment_table(table(0), SegmentsConfig())
    assert empty.k == 0 and empty.segment_ids == []
    one = segment_table(table(1), SegmentsConfig())
    assert one.k == 1 and one.sizes == [1]
    fixed = segment_table(table(200), SegmentsConfig(k=4))
    assert fixed.k == 4 and sum(fixed.sizes) == 200 and sorted(fixed.segment_ids) == [0, 1, 2, 3]


def test_orders_with_bad_rows_are_reported_and_good_rows_used(db_url: str, tmp_path: Path) -> None:
    users, inter, msgs = groups_rows()
    lines = ["handle,order_id,amount,time"]
    for i, u in enumerate(users[1:31]):  # the fans buy a lot
        lines.append(f"@{(u.username or '').upper()},o{i},{200 + i},2026-11-1{i % 9}T10:00:00Z")
    lines.append("fan1001,bad1,twelve,2026-11-01")
    lines.append("fan1002,bad2,12,")
    (tmp_path / "orders.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    clock = ManualClock(NOW)
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        fill(store, (users, inter, msgs))
        service = SegmentService(settings(db_url, tmp_path, k=3, orders_csv="orders.csv"), store, clock, owner="t")
        result = service.run()
        assert result is not None
        run = store.segments.latest_run()
        assert run is not None
        assert run.stats["orders_matched"] == 30 and run.stats["order_problem_count"] == 2
        assert [p.split(":")[1] for p in run.stats["order_problems"]] == ["32", "33"], "file line numbers"
        assert "amount" in run.stats["order_problems"][0] and "time" in run.stats["order_problems"][1]
        fans = store.segments.of_run(run.id)
        spender = max(fans, key=lambda s: s.centroid["spent"])
        assert spender.size == 30 and spender.centroid["orders"] == 1 and spender.matches("big spenders")


def test_two_services_one_run(db_url: str) -> None:
    clock = ManualClock(NOW)
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        fill(store, groups_rows())
        config = settings(db_url, k=3)
        a = SegmentService(config, store, clock, owner="daemon-a")
        b = SegmentService(config, store, clock, owner="daemon-b")
        # b holds the lease: a skips its turn even when forced
        assert store.leases.acquire(LEASE, "daemon-b", ttl=timedelta(minutes=5), now=NOW)
        assert a.run(force=True) is None
        store.leases.release(LEASE, "daemon-b")
        results: list[object] = []
        barrier = threading.Barrier(2)

        def go(service: SegmentService) -> None:
            barrier.wait()
            results.append(service.run())

        threads = [threading.Thread(target=go, args=(s,)) for s in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(store.segments.runs()) == 1
        assert sum(r is not None for r in results) == 1
        assert store.leases.holder(LEASE) is None, "released after the run"


def test_jobs(db_url: str) -> None:
    from bot.domains.audience.refresh import AudienceAnalyses

    clock = ManualClock(NOW)
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        service = SegmentService(settings(db_url, every="12h"), store, clock, owner="t")
        (job,) = AudienceAnalyses(None, service, clock).jobs()
        assert job.job_id == "audience:analyses" and job.spec == 60 and job.start_at == NOW  # it looks every minute
        disabled = SegmentService(settings(db_url, enabled=False), store, clock, owner="t")
        assert AudienceAnalyses(None, disabled, clock).jobs() == []
        job.func()  # an empty audience: no run stored (it would only hold the first real one back), no error
        assert store.segments.latest_run() is None
        forced = service.run(force=True)  # (`segments report` on an empty database: an empty run, k 0)
        assert forced is not None and forced.n_users == 0 and forced.segmentation.k == 0


def test_community_enters_as_one_hot_of_the_largest_and_aggregates_never_as_a_number() -> None:
    from bot.domains.audience.segments import design_matrix

    n = 100
    community = np.array([7] * 50 + [3] * 45 + [900] * 1 + [-1] * 4)
    influence = np.where(community == 3, 0.2, 0.01)
    ids = np.array([str(i) for i in range(n)], dtype=object)
    table = FeatureTable(
        np.array(["x"] * n, dtype=object), ids, ids, {"mention": np.ones(n), "influence": influence}, community
    )
    matrix, names, largest = design_matrix(table, top_communities=5)
    assert largest == [7, 3], "largest first; a community of one person gets no column"
    assert "community" not in names and names[-2:] == ["community=7", "community=3"]
    size = matrix[:, names.index("community_size")]
    assert size[0] == pytest.approx(np.log1p(50)) and size[-1] == 0.0
    mean_influence = matrix[:, names.index("community_influence")]
    assert mean_influence[60] == pytest.approx(np.log1p(0.2 * 100)) and mean_influence[-1] == 0.0
    assert matrix[:50, -2].all() and not matrix[50:, -2].any()
