"""When the audience analyses run (a real store, the services and their daemon job with a ManualClock): nothing on
an empty store, at the next look once the first interactions arrive (not after `every`), again when the data
grew by rerun_when_grown, and how old a snapshot or segmentation is in the reports' words."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.core.records import InteractionRecord, UserRecord
from bot.domains.audience.freshness import (
    HIGH_WATER,
    Freshness,
    every_passed,
    graph_freshness,
    grown_to,
    segments_freshness,
)
from bot.domains.audience.refresh import AudienceAnalyses
from bot.domains.audience.segments import SegmentService
from bot.domains.audience.service import AnalysisService
from bot.reports.freshness import ago, freshness_text, moment
from bot.settings.config import AccountConfig, Settings
from bot.settings.graph import GraphConfig
from bot.settings.segments import SegmentsConfig

NOW = datetime(2026, 11, 20, 6, 5, tzinfo=UTC)  # 14:05 in Shanghai
SHOP = "1"


def settings(
    db_url: str, *, graph: dict[str, object] | None = None, segments: dict[str, object] | None = None
) -> Settings:
    return Settings(
        timezone="Asia/Shanghai",
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        database_url=db_url,
        graph=GraphConfig(**(graph or {})),  # type: ignore[arg-type]
        segments=SegmentsConfig(k=2, **(segments or {})),  # type: ignore[arg-type]
    )


def arrive(store: Store, people: range, at: datetime, *, tag: str = "") -> int:
    """Each person mentions the shop and the next person (the graph gets edges between people): 2 interactions
    each."""
    rows = []
    for n in people:
        rows.append(InteractionRecord("x", str(n), SHOP, "mention", f"m{tag}{n}", at))
        rows.append(InteractionRecord("x", str(n), str(n + 1), "mention", f"m{tag}{n}", at))
    users = [UserRecord("x", str(n), f"user{n}") for n in range(people.start, people.stop + 1)]
    with store.mentions.unit("shop") as unit:
        unit.write(users=[UserRecord("x", SHOP, "shop"), *users], interactions=rows)
    return len(rows)


@pytest.fixture
def world(db_url: str) -> Iterator[tuple[Store, ManualClock]]:
    clock = ManualClock(NOW)
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        store.accounts.set_platform_user_id("shop", SHOP)
        yield store, clock


def services(store: Store, clock: ManualClock, config: Settings) -> tuple[AnalysisService, SegmentService]:
    return AnalysisService(config, store, clock, owner="daemon-a"), SegmentService(
        config, store, clock, owner="daemon-a"
    )


def test_an_empty_store_stores_nothing_and_the_first_interactions_are_analysed_at_the_next_look(
    world: tuple[Store, ManualClock], db_url: str
) -> None:
    store, clock = world
    config = settings(db_url)  # the shipped schedule: graph every 6 h, segments every 24 h
    graph, segments = services(store, clock, config)
    new_runs: list[int] = []
    job = AudienceAnalyses(graph, segments, clock, on_segments=lambda result: new_runs.append(result.run_id))
    (scheduled,) = job.jobs()
    assert scheduled.spec == 60, "it looks every minute"

    job.turn()  # the daemon's first look, before the first mentions poll
    assert store.graphs.latest_snapshot() is None and store.segments.latest_run() is None, "no empty analysis"
    assert graph.due_reason(clock.now()) is None and segments.due_reason(clock.now()) is None
    assert graph_freshness(store) == Freshness(None, 0)

    clock.advance(timedelta(seconds=30))
    arrive(store, range(100, 110), clock.now())  # the first mentions poll
    assert graph.due_reason(clock.now()) == "no snapshot yet and 20 interactions to analyse"
    assert segments.due_reason(clock.now()) == "no segments yet and 11 people to segment"
    clock.advance(timedelta(seconds=30))
    job.turn()  # the next look, one minute after the first: not six hours
    snapshot, run = store.graphs.latest_snapshot(), store.segments.latest_run()
    assert snapshot is not None and snapshot.created_at == clock.now()
    assert run is not None and run.n_users == 11 and run.k == 2
    assert run.graph_snapshot_id == snapshot.id, "the graph first: the first segmentation reads its scores"
    assert new_runs == [run.id], "a new segmentation is announced (the app starts a coupon turn)"
    assert snapshot.stats[HIGH_WATER] == run.stats[HIGH_WATER] == 21  # the first id neither saw

    clock.advance(timedelta(minutes=1))
    job.turn()  # nothing new: nothing runs
    assert len(store.graphs.snapshots()) == 1 and len(store.segments.runs()) == 1 and new_runs == [run.id]


def test_growth_by_the_factor_runs_again_before_every(world: tuple[Store, ManualClock], db_url: str) -> None:
    store, clock = world
    config = settings(db_url, graph={"rerun_when_grown": 2.0}, segments={"rerun_when_grown": 3})
    graph, segments = services(store, clock, config)
    job = AudienceAnalyses(graph, segments, clock)
    arrive(store, range(100, 110), clock.now())  # 20 interactions, 11 people
    job.turn()
    assert len(store.graphs.snapshots()) == 1 and len(store.segments.runs()) == 1

    clock.advance(timedelta(minutes=5))
    arrive(store, range(200, 209), clock.now(), tag="b")  # 18 more: 38 < 2 x 20; 10 people met: 11 + 10 < 3 x 11
    assert graph.due_reason(clock.now()) is None and segments.due_reason(clock.now()) is None
    assert graph_freshness(store) == Freshness(NOW, 18)
    job.turn()
    assert len(store.graphs.snapshots()) == 1 and len(store.segments.runs()) == 1

    clock.advance(timedelta(minutes=5))
    arrive(store, range(300, 301), clock.now(), tag="c")  # 2 more: 40 = 2 x 20
    assert graph.due_reason(clock.now()) == "the interactions grew from 20 to 40 since the latest snapshot"
    assert segments.due_reason(clock.now()) is None  # 12 people met: 11 + 12 < 33
    job.turn()
    snapshots = store.graphs.snapshots()
    assert len(snapshots) == 2 and snapshots[0].created_at == clock.now()
    assert graph_freshness(store) == Freshness(clock.now(), 0)

    arrive(store, range(400, 410), clock.now(), tag="d")  # 23 people met: 11 + 23 >= 3 x 11
    assert segments.due_reason(clock.now()) == "23 people met since the latest run, which segmented 11"
    job.turn()
    assert len(store.segments.runs()) == 2 and store.segments.latest_run().n_users == 34  # type: ignore[union-attr]
    assert len(store.graphs.snapshots()) == 2, "the graph grew by 20 of 40: not yet"

    clock.advance(config.graph.every)  # `every` still holds
    assert graph.due_reason(clock.now()) == "the latest snapshot is 6.0 h old"


def test_no_growth_rule_and_analyses_without_high_water_marks(world: tuple[Store, ManualClock], db_url: str) -> None:
    store, clock = world
    off = {"rerun_when_grown": None}
    graph, segments = services(store, clock, settings(db_url, graph=off, segments=off))
    arrive(store, range(100, 105), clock.now())
    assert graph.run() is not None and segments.run() is not None
    arrive(store, range(200, 230), clock.now(), tag="b")
    assert graph.due_reason(clock.now()) is None, "rerun_when_grown: null: only every `every`"
    assert segments.due_reason(clock.now()) is None

    # segmentations stored before runs recorded their marks: an empty one (the old daemon's first look on a
    # fresh database) does not hold the first real one back; another waits for `every`
    _, segments = services(store, clock, settings(db_url))
    legacy = {"created_at": clock.now(), "silhouette": None, "graph_snapshot_id": 1, "params": {}, "stats": {}}
    store.segments.save_run(k=0, segments=[], members=[], **legacy)  # type: ignore[arg-type]
    assert segments.due_reason(clock.now()) == "the latest run segmented nobody and 37 people are there to segment now"
    store.segments.save_run(k=1, segments=[(0, "fans", 1, {})], members=[("x", "100", 0, 0.0)], **legacy)  # type: ignore[arg-type]
    assert segments.due_reason(clock.now()) is None

    # a snapshot stored before snapshots recorded their high-water mark: arrivals by the interactions' own times
    clock.advance(timedelta(minutes=1))
    legacy_at = clock.now()
    store.graphs.save_snapshot(
        created_at=legacy_at,
        figures={"n_users": 0, "n_edges": 0, "n_interactions": 0, "n_communities": 0, "modularity": 0.0,
                 "reciprocity": 0.0},
        params={}, stats={}, scores=[], communities=[],
    )  # fmt: skip
    clock.advance(timedelta(minutes=1))
    arrive(store, range(300, 302), clock.now(), tag="c")
    assert graph_freshness(store) == Freshness(legacy_at, 4)
    grows, _ = services(store, clock, settings(db_url))  # an empty one (the old daemon's first look) is looked past
    assert grows.due_reason(clock.now()) == "the interactions grew from 0 to 74 since the latest snapshot"


def test_segments_follow_the_graphs_first_snapshot(world: tuple[Store, ManualClock], db_url: str) -> None:
    store, clock = world
    graph, segments = services(store, clock, settings(db_url))
    arrive(store, range(100, 110), clock.now())
    assert segments.run() is not None  # (e.g. the graph's first analysis failed)
    assert segments.due_reason(clock.now()) is None
    assert graph.run() is not None
    assert segments.due_reason(clock.now()) == "the latest run had no graph snapshot and there is one now"
    assert segments.run() is not None and store.segments.latest_run().graph_snapshot_id is not None  # type: ignore[union-attr]
    assert segments.due_reason(clock.now()) is None


def test_the_full_count_runs_only_when_the_arrivals_could_have_made_it() -> None:
    counted: list[int] = []

    def count(n: int) -> int:
        counted.append(n)
        return n

    assert grown_to(1000, 2.0, 999, lambda: count(2000)) is None and counted == []  # 1000 + 999 < 2000
    assert grown_to(1000, 2.0, 1000, lambda: count(1900)) is None and counted == [1900]  # counted, not there
    assert grown_to(1000, 2.0, 1000, lambda: count(2000)) == 2000
    assert grown_to(0, 2.0, 0, lambda: count(0)) is None and counted == [1900, 2000]  # nothing arrived
    assert grown_to(0, 2.0, 1, lambda: count(1)) == 1  # from nothing: any arrival
    assert grown_to(10, None, 100, lambda: count(100)) is None  # growth rule off
    assert grown_to(10, 2.0, None, lambda: count(20)) == 20  # arrivals unknown: counted


def test_every_is_due_up_to_one_look_early_and_never_by_a_second_daemons_look() -> None:
    hours, seconds = timedelta(hours=1), timedelta(seconds=1)
    assert every_passed(6 * hours - 60 * seconds, 6 * hours) and not every_passed(6 * hours - 61 * seconds, 6 * hours)
    assert every_passed(1.8 * seconds, 2 * seconds), "looks every 2 s: a look a little early still runs"
    assert not every_passed(0.7 * seconds, 2 * seconds), "another daemon's look right after a run does not"


def test_freshness_in_words_in_the_shops_time_zone(world: tuple[Store, ManualClock], db_url: str) -> None:
    store, clock = world
    shanghai = ZoneInfo("Asia/Shanghai")
    assert [ago(timedelta(seconds=s)) for s in (5, 60, 150, 3600, 3 * 3600 + 3599, 86400, 5 * 86400)] == [
        "just now", "1 minute ago", "2 minutes ago", "1 hour ago", "3 hours ago", "1 day ago", "5 days ago",
    ]  # fmt: skip
    assert moment(NOW, NOW, shanghai) == "14:05"
    assert moment(NOW, NOW + timedelta(hours=12), shanghai) == "2026-11-20 14:05", "another day in Shanghai"
    nothing = freshness_text(segments_freshness(store), now=NOW, tz=shanghai, done="segmented")
    assert nothing == "not segmented yet; no interactions stored"

    arrive(store, range(100, 110), clock.now())
    assert (
        freshness_text(graph_freshness(store), now=NOW, tz=shanghai)
        == "not analysed yet; 20 interactions stored so far"
    )
    graph, segments = services(store, clock, settings(db_url))
    assert graph.run() is not None and segments.run() is not None
    clock.advance(timedelta(hours=3, minutes=10))
    arrive(store, range(300, 301), clock.now(), tag="c")
    later = clock.now()
    assert freshness_text(graph_freshness(store), now=later, tz=shanghai) == (
        "analysed 3 hours ago (14:05); 2 interactions arrived since"
    )
    assert freshness_text(segments_freshness(store), now=later, tz=shanghai, done="segmented") == (
        "segmented 3 hours ago (14:05); 2 interactions arrived since"
    )
    assert (
        freshness_text(Freshness(NOW, 1), now=NOW, tz=shanghai)
        == "analysed just now (14:05); 1 interaction arrived since"
    )
    assert (
        freshness_text(Freshness(NOW, 0), now=NOW, tz=UTC) == "analysed just now (06:05); no interactions arrived since"
    )
