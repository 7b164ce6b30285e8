"""CampaignService against a real SQLite store and real template files."""

from __future__ import annotations

import logging
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.scheduling import Scheduler, demo_schedule
from bot.adapters.store import Store
from bot.adapters.templating import TemplateRenderer
from bot.core.clock import ManualClock, SystemClock
from bot.domains.publishing.campaigns import CampaignService
from bot.settings.config import Settings, load_config

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday

CONFIG = """\
timezone: UTC
database_url: {database_url}
templates_dir: templates
accounts:
  shop:
    platform: sandbox
    handle: shop
    base_url: http://127.0.0.1:9
campaigns:
  rotate:
    account: shop
    template: rotate.j2
    schedule:
      interval: 1h
  static:
    account: shop
    template: static.j2
    schedule:
      interval: 1h
  toolong:
    account: shop
    template: toolong.j2
    schedule:
      interval: 1h
  broken:
    account: shop
    template: broken.j2
    schedule:
      interval: 1h
  frequent:
    account: shop
    template: numbered.j2
    schedule:
      interval: 5m
  windowed:
    account: shop
    template: numbered.j2
    schedule:
      interval: 1h
    start: 2026-11-10
    end: 2026-11-12
  paused:
    account: shop
    template: numbered.j2
    enabled: false
    schedule:
      cron: "0 9 * * *"
"""

TEMPLATES = {
    "rotate.j2": "First take, slot {{ sequence }}\n{# variant #}\nSecond take, slot {{ sequence }}\n"
    "{# variant #}\nThird take, slot {{ sequence }}\n",
    "static.j2": "Same words every time.\n{# variant #}\nOther words every time.\n",
    "toolong.j2": "Too long: " + "word " * 80 + "\n",
    "broken.j2": "Hello {{ no_such_variable }}\n",
    "numbered.j2": "Post number {{ sequence }} for {{ campaign.name }}\n",
}


def write_project(
    tmp_path: Path, database_url: str, config: str = CONFIG, templates: dict[str, str] = TEMPLATES
) -> Path:
    folder = tmp_path / "project"
    (folder / "templates").mkdir(parents=True, exist_ok=True)
    for name, body in templates.items():
        (folder / "templates" / name).write_text(body, encoding="utf-8")
    path = folder / "config.yaml"
    path.write_text(textwrap.dedent(config).format(database_url=database_url), encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return load_config(write_project(tmp_path, sqlite_url), environ={}, require_credentials=False)


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    store = Store.open(sqlite_url)
    store.upgrade()
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def service(settings: Settings, store: Store, clock: ManualClock) -> CampaignService:
    return CampaignService(settings, store, TemplateRenderer(settings, clock=clock), clock)


def test_a_slot_is_enqueued_once(service: CampaignService, store: Store) -> None:
    woken: list[bool] = []
    service.on_enqueue = lambda: woken.append(True)
    first = service.fire("rotate", T0)
    again = service.fire("rotate", T0)
    assert first.state == "queued"
    assert again.state == "duplicate"
    assert woken == [True]
    [slot] = store.slots.find("rotate")
    assert slot.state == "queued" and slot.slot_at == T0
    items = [i for i in store.outbox.items() if i.campaign == "rotate"]
    assert len(items) == 1
    assert items[0].key == "campaign:rotate:2026-11-02T10:00:00Z"
    assert items[0].text == first.text and items[0].account == "shop"


def test_variants_rotate_across_slots(service: CampaignService) -> None:
    results = [service.fire("rotate", T0 + timedelta(hours=h), now=T0 + timedelta(hours=h)) for h in range(3)]
    assert [r.state for r in results] == ["queued"] * 3
    assert sorted(r.variant for r in results if r.variant is not None) == [0, 1, 2]
    assert len({r.text for r in results}) == 3


def test_all_variants_used_skips_the_slot_with_a_warning(
    service: CampaignService, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    states = [service.fire("static", T0 + timedelta(hours=h), now=T0 + timedelta(hours=h)).state for h in range(3)]
    assert states == ["queued", "queued", "skipped"]
    skipped = store.slots.find("static")[-1]
    assert skipped.state == "skipped"
    assert skipped.reason is not None and "every variant already posted" in skipped.reason
    assert any(
        r.levelno == logging.WARNING and "every variant already posted" in r.getMessage() for r in caplog.records
    )
    assert len([i for i in store.outbox.items() if i.campaign == "static"]) == 2


def test_too_long_text_fails_the_slot_and_is_never_queued(
    service: CampaignService, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    result = service.fire("toolong", T0)
    assert result.state == "failed"
    [slot] = store.slots.find("toolong")
    assert slot.state == "failed"
    assert slot.reason is not None and "/280" in slot.reason
    assert not [i for i in store.outbox.items() if i.campaign == "toolong"]
    assert any(r.levelno == logging.ERROR and "toolong" in r.getMessage() for r in caplog.records)


def test_template_error_fails_the_slot_with_the_template_name(service: CampaignService, store: Store) -> None:
    result = service.fire("broken", T0)
    assert result.state == "failed"
    [slot] = store.slots.find("broken")
    assert slot.reason is not None and "broken.j2" in slot.reason and "no_such_variable" in slot.reason


def test_disabled_and_out_of_window_slots_leave_no_trace(service: CampaignService, store: Store) -> None:
    assert service.fire("paused", T0).state == "disabled"
    assert service.fire("windowed", T0).state == "outside"
    assert service.fire("nope", T0).state == "disabled"
    assert store.slots.find("paused") == [] and store.slots.find("windowed") == []


def test_a_slot_fired_after_the_grace_is_missed(service: CampaignService, store: Store, clock: ManualClock) -> None:
    clock.set(T0 + timedelta(minutes=16))
    result = service.fire("rotate", T0)
    assert result.state == "missed"
    assert store.slots.find("rotate")[0].reason == "daemon was down at 2026-11-02T10:00:00Z; grace 15 min"


def test_catch_up_sends_recent_slots_late_and_records_older_ones_as_missed(
    service: CampaignService, store: Store, clock: ManualClock
) -> None:
    assert service.fire("frequent", T0).state == "queued"  # the daemon was up at T0, then went down
    now = T0 + timedelta(hours=1)
    clock.set(now)
    report = service.catch_up(now)
    slots = {s.slot_at: s for s in store.slots.find("frequent")}
    late = [T0 + timedelta(minutes=m) for m in (45, 50, 55)]
    missed = [T0 + timedelta(minutes=m) for m in range(5, 45, 5)]
    assert all(slots[t].state == "queued" for t in late)
    assert all(slots[t].state == "missed" for t in missed)
    assert all("daemon was down at" in (slots[t].reason or "") for t in missed)
    assert now not in slots  # the slot at "now" belongs to the scheduler job
    assert report.missed >= len(missed) and report.queued >= len(late)
    # no backlog burst: only the late slots reached the outbox
    assert len([i for i in store.outbox.items() if i.campaign == "frequent"]) == 1 + len(late)
    # a second catch-up (a reload) changes nothing
    again = service.catch_up(now)
    assert again.queued == 0 and again.missed == 0
    [job] = [j for j in service.jobs() if j.job_id == "campaign:frequent"]
    assert job.start_at == now


def test_catch_up_for_a_new_campaign_only_looks_back_the_grace(
    service: CampaignService, store: Store, clock: ManualClock
) -> None:
    now = T0 + timedelta(minutes=2)
    service.catch_up(now)
    frequent = store.slots.find("frequent")
    assert {s.slot_at for s in frequent} == {T0 - timedelta(minutes=10), T0 - timedelta(minutes=5), T0}
    assert all(s.state == "queued" for s in frequent)
    assert all(s.state != "missed" for s in store.slots.find())


def test_jobs_cover_enabled_campaigns(service: CampaignService) -> None:
    ids = sorted(job.job_id for job in service.jobs())
    assert ids == sorted(f"campaign:{n}" for n in ("rotate", "static", "toolong", "broken", "frequent", "windowed"))


def test_the_real_scheduler_drives_the_service(settings: Settings, store: Store) -> None:
    fast = settings.with_campaign("frequent", schedule=demo_schedule(1))
    fast = fast.with_overrides(delivery=fast.delivery.model_copy(update={"grace_minutes": 0.05}))
    queued = threading.Event()
    clock = SystemClock()
    service = CampaignService(fast, store, TemplateRenderer(fast), clock, on_enqueue=queued.set)
    scheduler = Scheduler(clock=clock)
    service.catch_up(clock.now())
    scheduler.replace_all([job for job in service.jobs() if job.job_id == "campaign:frequent"])
    scheduler.start()
    try:
        assert queued.wait(timeout=15)
    finally:
        scheduler.shutdown(wait=True)
    slots = [s for s in store.slots.find("frequent") if s.state == "queued"]
    assert slots
    for slot in slots:
        assert slot.slot_at.microsecond == 0  # the scheduled slot time, not the moment the job ran
        item = store.outbox.item(key=f"campaign:frequent:{slot.slot_at.strftime('%Y-%m-%dT%H:%M:%SZ')}")
        assert item is not None and item.slot_at == slot.slot_at
