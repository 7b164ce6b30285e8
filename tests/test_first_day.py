"""The first day (issue 14): a daemon on a fresh database with the shipped config's schedules (graph every 6 h,
segments every 24 h, coupons every 1 h) analyses and segments the first audience within its next look and issues
coupon codes right after; the reports and /metrics say how old the analyses are and what arrived since.

Real parts: the X sandbox over HTTP with the simulated audience, a SQLite file, APScheduler, the shipped
config.yaml and templates (pointed at the sandbox as `socialbot demo` does), the CLI through typer."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from bot.adapters.store import Store
from bot.app.cli import app
from bot.app.daemon import Daemon
from bot.app.demo import demo_settings
from bot.app.metrics import Reading, metric_families
from bot.core.clock import ManualClock
from bot.core.records import InteractionRecord, UserRecord
from bot.domains.audience import freshness
from bot.domains.audience.freshness import Freshness
from bot.domains.audience.refresh import JOB_ID
from bot.domains.audience.segments import SegmentService
from bot.domains.audience.service import AnalysisService
from bot.settings.config import AccountConfig, Settings
from bot.settings.segments import SegmentsConfig
from tests.conftest import REPO_ROOT
from tests.helpers import wait_for
from tests.test_daemon import running
from tests.test_metrics import scrape

__all__ = ["running"]  # the fixture, re-used

CONFIG = REPO_ROOT / "config.yaml"
SHOP = "1"


def test_a_fresh_daemon_analyses_segments_and_issues_coupons_on_the_first_day(
    sandbox: Any,
    tmp_path: Path,
    running: Callable[..., Daemon],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.sandbox.audience import Audience

    caplog.set_level(logging.INFO)
    monkeypatch.setattr(freshness, "CHECK_EVERY", timedelta(seconds=1))  # the daemon looks every second, not minute
    database_url = f"sqlite:///{tmp_path / 'first-day.db'}"

    def hook(shipped: Settings) -> Settings:
        """The demo's settings (the sandbox, fast polls), with the shipped analysis and coupon schedules."""
        settings = demo_settings(shipped, sandbox_url=sandbox.url, database_url=database_url, slot_seconds=60)
        return settings.model_copy(
            update={
                "graph": settings.graph.model_copy(update={"every": shipped.graph.every}),
                "segments": settings.segments.model_copy(update={"every": shipped.segments.every}),
                "coupons": settings.coupons.model_copy(update={"every": shipped.coupons.every}),
            }
        )

    daemon = running(CONFIG, settings_hook=hook, require_credentials=False, metrics_port=0)
    settings = daemon.settings
    assert settings is not None and settings.graph.every == timedelta(hours=6)
    assert settings.segments.every == timedelta(hours=24) and settings.coupons.every == timedelta(hours=1)
    assert daemon.scheduler is not None and JOB_ID in daemon.scheduler.job_ids()
    started = daemon.clock.now()
    wait_for(lambda: (daemon.scheduler.next_run_time(JOB_ID) or started) > started, what="the first look")
    samples = scrape(daemon)
    assert samples[("socialbot_graph_interactions_since_snapshot", ())] == 0
    assert ("socialbot_graph_snapshot_age_seconds", ()) not in samples, "no snapshot: no age"
    assert ("socialbot_segments_snapshot_age_seconds", ()) not in samples

    shop = settings.accounts["shop"].handle
    with Audience(sandbox.url, shop, seed=7, users=60, communities=3, influencers=3) as audience:
        audience.setup()
        audience.step(60)
        audience.showcase(odd=False)

        with Store.open(database_url) as store:

            def issued() -> int:
                return sum(1 for c in store.coupons.find() if c.code)

            wait_for(issued, timeout=60, what="coupon codes issued on the first day")
            snapshot, run = store.graphs.latest_snapshot(), store.segments.latest_run()
            assert snapshot is not None and run is not None
            assert all(r.n_users > 0 for r in store.segments.runs()), "no empty segmentation was stored"
            assert store.segments.runs()[-1].graph_snapshot_id is not None, "the first segmentation read the graph"
            coupon = store.coupons.find()[0]
            assert coupon.campaign == "thank_you" and coupon.segment_id is not None
    assert daemon.clock.now() - started < settings.coupons.every, "well before any `every`"
    assert "coupons: segmentation" in caplog.text and "is new" in caplog.text, "the coupon turn after segmenting"
    assert "graph: analysing (no snapshot yet and" in caplog.text

    samples = scrape(daemon)
    assert samples[("socialbot_graph_snapshot_age_seconds", ())] >= 0
    assert samples[("socialbot_segments_snapshot_age_seconds", ())] >= 0
    assert samples[("socialbot_graph_interactions_since_snapshot", ())] >= 0
    assert samples[("socialbot_segments_interactions_since_snapshot", ())] >= 0


def analysed_hours_ago(db_url: str, hours: float) -> tuple[datetime, ZoneInfo]:
    """A store whose graph snapshot and segmentation were made `hours` ago, then 3 interactions arrived."""
    at = datetime.now(UTC) - timedelta(hours=hours)
    clock = ManualClock(at)
    settings = Settings(
        timezone="Asia/Shanghai",
        accounts={"shop": AccountConfig(platform="sandbox", handle="lumenhome")},
        database_url=db_url,
        segments=SegmentsConfig(k=2),
    )
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        store.accounts.set_platform_user_id("shop", SHOP)

        def arrive(people: range, tag: str) -> None:
            rows = [InteractionRecord("x", str(n), str(n + 1), "mention", f"{tag}{n}", clock.now()) for n in people]
            rows += [InteractionRecord("x", str(n), SHOP, "mention", f"{tag}{n}", clock.now()) for n in people]
            with store.mentions.unit("shop") as unit:
                unit.write(users=[UserRecord("x", str(n), f"user{n}") for n in range(200)], interactions=rows)

        arrive(range(100, 120), "a")
        assert AnalysisService(settings, store, clock, owner="t").run(force=True) is not None
        assert SegmentService(settings, store, clock, owner="t").run(force=True) is not None
        clock.advance(timedelta(hours=1))
        arrive(range(150, 151), "b")  # 2 interactions
        with store.mentions.unit("shop") as unit:
            unit.write(interactions=[InteractionRecord("x", "170", "171", "reply", "d", clock.now())])
    return at, settings.tz


def test_reports_say_how_old_the_analyses_are_and_what_arrived_since(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'reports.db'}"
    at, tz = analysed_hours_ago(url, 3.1)
    local = at.astimezone(tz)
    shown = rf"\(({local:%Y-%m-%d} )?{local:%H:%M}\)"  # in Shanghai: with the date when it was another day there
    common = ["--config", str(CONFIG), "--database", url]
    runner = CliRunner()

    graph = runner.invoke(app, ["graph", "report", "--html", str(tmp_path / "g.html"), *common], env={"COLUMNS": "200"})
    assert graph.exit_code == 0, graph.output
    assert re.search(rf"analysed 3 hours ago {shown}; 3 interactions arrived since", graph.output), graph.output
    page = (tmp_path / "g.html").read_text(encoding="utf-8")
    assert re.search(rf'data-figure="freshness">Analysed 3 hours ago {shown}; 3 interactions arrived since<', page)

    segments = runner.invoke(app, ["segments", "report", "--html", str(tmp_path / "s.html"), *common])
    assert segments.exit_code == 0, segments.output
    assert re.search(rf"segmented 3 hours ago {shown}; 3 interactions arrived since", segments.output)
    page = (tmp_path / "s.html").read_text(encoding="utf-8")
    assert re.search(rf'data-figure="freshness">Segmented 3 hours ago {shown}; 3 interactions arrived since<', page)


def test_metrics_of_age_and_arrivals_and_of_no_snapshot_yet() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    reading = Reading(
        now, freshness={"graph": Freshness(now - timedelta(hours=2), 1240), "segments": Freshness(None, 7)}
    )
    samples = {(s.name, tuple(s.labels.items())): s.value for f in metric_families(reading) for s in f.samples}
    assert samples[("socialbot_graph_snapshot_age_seconds", ())] == 7200
    assert samples[("socialbot_graph_interactions_since_snapshot", ())] == 1240
    assert ("socialbot_segments_snapshot_age_seconds", ()) not in samples, "no segmentation yet: no age"
    assert samples[("socialbot_segments_interactions_since_snapshot", ())] == 7, "everything waits for it"
    assert samples[("socialbot_segment_run_timestamp_seconds", ())] == 0
