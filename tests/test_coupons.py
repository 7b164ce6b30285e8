"""Coupon issuance on real databases (SQLite, PostgreSQL when configured): budget, exactly once per person,
holdout, opt-outs, influence, cooldown, code pools, and delivery (reply, DM to who wrote first, export)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.adapters.store import Store
from bot.adapters.store.tables import social_user_t
from bot.core.clock import ManualClock
from bot.domains.coupons.codes import validate_code
from bot.domains.coupons.issuing import CouponService, is_held_out
from bot.settings.config import AccountConfig, Settings
from bot.settings.coupons import CouponCampaignConfig, CouponsConfig
from tests.conftest import POSTGRES_ENV, REPO_ROOT

START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def make_settings(tmp_path: Path, **campaigns: dict[str, Any]) -> Settings:
    configs = {
        name: CouponCampaignConfig(**{"discount": "15% off", "budget": 100, **values})
        for name, values in campaigns.items()
    }
    return Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        templates_dir=REPO_ROOT / "templates",
        coupons=CouponsConfig(campaigns=configs, export_dir=tmp_path / "exports", batch_size=100),
        config_path=tmp_path / "config.yaml",
    )


def seed_segments(store: Store, n: int, *, segments: int = 2, platform: str = "x", names: bool = True) -> int:
    """A segmentation of n people u0..u{n-1} (segment i % segments, labels seg0, seg1 ...) and their handles."""
    members = [(platform, f"u{i}", i % segments, 0.5) for i in range(n)]
    infos = [(s, f"seg{s}", sum(1 for m in members if m[2] == s), {"x": float(s)}) for s in range(segments)]
    run_id = store.segments.save_run(
        created_at=store.clock.now(),
        k=segments,
        silhouette=0.5,
        graph_snapshot_id=None,
        params={},
        stats={},
        segments=infos,
        members=members,
    )
    if names:
        now = store.clock.now()
        rows = [
            {"platform": platform, "user_id": f"u{i}", "username": f"user{i}", "first_seen": now, "last_seen": now}
            for i in range(n)
        ]
        with store.engine.begin() as conn:
            conn.execute(sa.insert(social_user_t), rows)
    return run_id


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def test_issue_within_budget_with_holdout_once_per_person(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    run_id = seed_segments(store, 300)
    settings = make_settings(tmp_path, d11={"budget": 120, "holdout": 0.2, "code_prefix": "D11-"})
    service = CouponService(settings, store, clock)
    report = service.issue("d11")
    # batches of 100 in the store's order; the budget is spent in the second, so the third is not reached
    reached = [u for chunk in store.segments.members(run_id) for _, u, _ in chunk][:200]
    expected_holdout = {u for u in reached if is_held_out("d11", "x", u, 0.2)}
    assert 20 < len(expected_holdout) < 60
    assert (report.targeted, report.issued, report.held_out) == (300, 120, len(expected_holdout))
    assert report.over_budget == 300 - 120 - len(expected_holdout) and report.budget_left == 0
    coupons = store.coupons.find(campaign="d11")
    codes = [c for c in coupons if not c.holdout]
    held = [c for c in coupons if c.holdout]
    assert {c.user_id for c in held} == expected_holdout
    assert all(c.code is None and c.state == "held_out" for c in held)
    assert not expected_holdout & {c.user_id for c in codes}
    assert len({c.code for c in codes}) == 120 and all(validate_code(c.code or "", "D11-") for c in codes)
    assert all(c.expires_at == START + timedelta(days=14) and c.state == "issued" for c in codes)
    assert store.coupons.budget("d11") == (120, len(expected_holdout))
    again = service.issue("d11")  # a re-run (or a restart) adds nobody
    assert (again.issued, again.held_out) == (0, 0) and again.already > 0
    assert len(store.coupons.find(campaign="d11")) == len(coupons)
    bigger = make_settings(tmp_path, d11={"budget": 150, "holdout": 0.2, "code_prefix": "D11-"})
    assert CouponService(bigger, store, clock).issue("d11").issued == 30  # a raised budget issues the rest


def test_target_segments_by_label_and_id(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    seed_segments(store, 90, segments=3)
    settings = make_settings(tmp_path, a={"segments": ["SEG1"], "holdout": 0}, b={"segments": [2], "holdout": 0})
    service = CouponService(settings, store, clock)
    assert service.issue("a").issued == 30
    assert {int(c.user_id[1:]) % 3 for c in store.coupons.find(campaign="a")} == {1}
    assert service.issue("b").issued == 30
    assert {c.segment_id for c in store.coupons.find(campaign="b")} == {2}
    missing = make_settings(tmp_path, c={"segments": ["nobody"]})
    assert CouponService(missing, store, clock).issue("c").stopped == "no target segment in the latest segmentation"


def test_opted_out_people_never_get_a_code(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    seed_segments(store, 50)
    store.mentions.add_optout("x", user_id="u3", reason="stop")
    store.mentions.add_optout("x", username="@USER7", reason="by hand")  # by handle only
    settings = make_settings(tmp_path, a={"holdout": 0})
    report = CouponService(settings, store, clock).issue("a")
    assert (report.issued, report.opted_out) == (48, 2)
    assert not {"u3", "u7"} & {c.user_id for c in store.coupons.find(campaign="a")}


def test_min_influence_cooldown_and_end(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    seed_segments(store, 20)
    scores = [
        {
            "platform": "x",
            "user_id": f"u{i}",
            "pagerank": 0.0,
            "in_strength": 0.0,
            "hub": 0.0,
            "authority": 0.0,
            "betweenness": 0.0,
            "score": i / 20,
            "rank": 20 - i,
            "community": 0,
        }
        for i in range(20)
    ]
    figures = {"n_users": 20, "n_edges": 0, "n_interactions": 0, "n_communities": 1, "modularity": 0, "reciprocity": 0}
    store.graphs.save_snapshot(created_at=START, figures=figures, params={}, stats={}, scores=scores, communities=[])
    settings = make_settings(
        tmp_path,
        vip={"min_influence": 0.5, "holdout": 0},
        later={"holdout": 0, "cooldown": "7d"},
        over={"holdout": 0, "ends": "2026-10-31T00:00:00Z"},
    )
    service = CouponService(settings, store, clock)
    vip = service.issue("vip")
    assert (vip.issued, vip.low_influence) == (10, 10)
    assert {c.user_id for c in store.coupons.find(campaign="vip")} == {f"u{i}" for i in range(10, 20)}
    later = service.issue("later")  # the vip codes are less than 7 days old
    assert (later.issued, later.cooldown) == (10, 10)
    clock.advance(timedelta(days=8))
    assert service.issue("later").issued == 10  # the cooldown is over
    assert service.issue("over").stopped == "ended" and not store.coupons.find(campaign="over")


def test_code_pool_runs_out_with_a_clear_log_line(
    store: Store, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seed_segments(store, 30)
    pool = tmp_path / "pool.csv"
    pool.write_text("code\nPOOL-1\nPOOL-2\nPOOL 3!\nPOOL-4\nPOOL-5\nPOOL-6\n", encoding="utf-8")
    settings = make_settings(tmp_path, p={"holdout": 0, "codes_csv": pool})
    with caplog.at_level(logging.WARNING):
        report = CouponService(settings, store, clock).issue("p")
    assert report.issued == 5 and report.stopped == "the code pool ran out"
    assert sorted(c.code for c in store.coupons.find(campaign="p")) == [
        "POOL-1",
        "POOL-2",
        "POOL-4",
        "POOL-5",
        "POOL-6",
    ]
    assert any("ran out" in r.getMessage() for r in caplog.records)
    assert any(":4:" in r.getMessage() for r in caplog.records)  # the bad pool line, by number


def test_concurrent_issuance_threads_keep_budget_and_once(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    seed_segments(store, 1000)
    settings = make_settings(tmp_path, rush={"budget": 333, "holdout": 0.1})
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            reports.append(CouponService(settings, store, clock).issue("rush"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    coupons = store.coupons.find(campaign="rush")
    codes = [c for c in coupons if not c.holdout]
    assert len(codes) == 333 == sum(r.issued for r in reports)
    assert len({(c.platform, c.user_id) for c in coupons}) == len(coupons)
    assert store.coupons.budget("rush")[0] == 333


SCRIPT = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from bot.core.clock import ManualClock
from bot.adapters.store import Store
from bot.domains.coupons.issuing import CouponService
from tests.test_coupons import make_settings
url, tmp = sys.argv[1], Path(sys.argv[2])
clock = ManualClock(datetime(2026, 11, 1, 9, tzinfo=UTC))
store = Store.open(url, clock=clock)
report = CouponService(make_settings(tmp, rush={"budget": 777, "holdout": 0.1}), store, clock).issue("rush")
print(report.issued)
"""


@pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} not set")
def test_two_processes_on_postgresql_keep_budget_and_once(db_url: str, tmp_path: Path) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("two processes: PostgreSQL only")
    store = Store.open(db_url)
    store.upgrade()
    seed_segments(store, 3000)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, db_url, str(tmp_path)], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(int(o.strip()) for o in outs) == 777
    coupons = store.coupons.find(campaign="rush")
    assert len([c for c in coupons if not c.holdout]) == 777
    assert len({c.user_id for c in coupons}) == len(coupons)
    assert len({c.code for c in coupons if c.code}) == 777
    store.close()


def test_a_crash_between_batches_resumes_without_doubles(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    seed_segments(store, 450)
    settings = make_settings(tmp_path, c={"budget": 250, "holdout": 0.1})  # batch_size 100

    class Crash(Exception):
        pass

    def crash_after_two(done: int, total: int) -> None:
        if done >= 200:
            raise Crash  # the process dies after two committed batches

    with pytest.raises(Crash):
        CouponService(settings, store, clock).issue("c", progress=crash_after_two)
    first = store.coupons.find(campaign="c")
    assert 0 < len([c for c in first if not c.holdout]) <= 200
    report = CouponService(settings, store, clock).issue("c")
    coupons = store.coupons.find(campaign="c")
    assert len([c for c in coupons if not c.holdout]) == 250 == store.coupons.budget("c")[0]
    assert len({c.user_id for c in coupons}) == len(coupons)
    assert report.already == len(first)


def test_jobs_and_run_once(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    seed_segments(store, 30)
    settings = make_settings(tmp_path, a={"holdout": 0, "channel": "export", "expires_after": "1d"})
    service = CouponService(settings, store, clock, owner="daemon-1")
    [job] = service.jobs()
    assert job.job_id == "coupons:issue" and job.spec == 3600.0
    assert CouponService(make_settings(tmp_path), store, clock).jobs() == []
    [report] = service.run_once()
    assert report.issued == 30
    assert {c.state for c in store.coupons.find(campaign="a")} == {"delivered"}  # exported
    assert store.leases.acquire("coupons", "daemon-2", ttl=timedelta(minutes=5))
    assert service.run_once() == []  # another daemon holds the turn
    store.leases.release("coupons", "daemon-2")
    clock.advance(timedelta(days=2))
    service.run_once()
    assert {c.state for c in store.coupons.find(campaign="a")} == {"expired"}


def test_a_daemon_killed_mid_turn_blocks_the_others_only_briefly(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    seed_segments(store, 30)
    settings = make_settings(tmp_path, a={"holdout": 0, "channel": "export"})
    survivor = CouponService(settings, store, clock, owner="daemon-2")
    ttl = survivor.lease_ttl
    assert timedelta(seconds=20) <= ttl <= timedelta(minutes=10)  # three turns (every: 1h), at most 10 minutes
    assert store.leases.acquire("coupons", "daemon-1", ttl=ttl)  # daemon-1 took its turn and was killed
    clock.advance(ttl - timedelta(seconds=1))
    assert survivor.run_once() == []
    clock.advance(timedelta(seconds=2))
    [report] = survivor.run_once()  # the dead daemon's turn has lapsed
    assert report.issued == 30


def test_a_label_targets_its_numbered_twins(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    members = [("x", f"u{i}", i % 3, 0.5) for i in range(9)]
    store.segments.save_run(
        created_at=store.clock.now(), k=3, silhouette=0.5, graph_snapshot_id=None, params={}, stats={},
        segments=[(0, "advocates", 3, {}), (1, "advocates 2", 3, {}), (2, "lurkers", 3, {})], members=members,
    )  # fmt: skip
    settings = make_settings(tmp_path, fans={"holdout": 0, "segments": ["Advocates"]})
    report = CouponService(settings, store, clock).issue("fans")
    assert report.issued == 6
    assert {c.segment_id for c in store.coupons.find(campaign="fans")} == {0, 1}
