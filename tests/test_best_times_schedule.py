"""`schedule: {best_times: N, per: day|week, within: ...}`: config errors, slots fixed before their period from the
readings dated before its cutoff (two daemons agree; later readings do not move them), the even fallback without
data, a planted better hour chosen, and `socialbot schedule` saying why (real SQLite files, real templates)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.adapters.scheduling import next_slots, period_start, slot_sequence, zone
from bot.adapters.store import Store
from bot.adapters.store.tables import post_metric_t
from bot.adapters.templating import TemplateRenderer
from bot.app.cli import app
from bot.core.clock import ManualClock
from bot.core.errors import ConfigError
from bot.domains.publishing.campaigns import CampaignService
from bot.settings.campaigns import BestTimesSchedule
from bot.settings.config import Settings, load_config

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # Friday 12:00 in Shanghai
NEXT_WEEK = datetime(2026, 11, 23)  # Monday: the next weekly period (local midnight)
CUTOFF = datetime(2026, 11, 9, tzinfo=ZONE)  # its cutoff: minus the 7 d reading age, minus one week

CONFIG = """\
timezone: Asia/Shanghai
database_url: {database_url}
templates_dir: templates
accounts:
  shop:
    platform: sandbox
    handle: lumenhome
    base_url: http://127.0.0.1:9
campaigns:
  weekly:
    account: shop
    template: promo.j2
    schedule:
      best_times: 1
      per: week
      within: "09:00-22:00"
  daily:
    account: shop
    template: promo.j2
    schedule:
      best_times: 2
"""
TEMPLATES = {"promo.j2": "Promo {{ sequence }} from {{ campaign.name }}\n"}


def write_project(tmp_path: Path, database_url: str, config: str = CONFIG) -> Path:
    (tmp_path / "templates").mkdir(exist_ok=True)
    for name, body in TEMPLATES.items():
        (tmp_path / "templates" / name).write_text(body, encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(config).format(database_url=database_url), encoding="utf-8")
    return path


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'var' / 'socialbot.db'}"


@pytest.fixture
def settings(tmp_path: Path, url: str) -> Settings:
    return load_config(write_project(tmp_path, url), environ={}, require_credentials=False)


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = Store.open(url)
    s.upgrade()
    try:
        yield s
    finally:
        s.close()


def service(settings: Settings, store: Store, now: datetime = NOW) -> CampaignService:
    clock = ManualClock(now)
    return CampaignService(settings, store, TemplateRenderer(settings, clock=clock), clock)


def planted(
    *, until: datetime, weeks: int = 16, best: tuple[int, int] = (1, 20), seed: int = 3, n: int = 900
) -> list[dict[str, Any]]:
    """Readings of posts at random weekdays and hours 09-21 (shop time) in the `weeks` before `until`; the `best`
    cell (Tuesday 20:00) gets 3x the engagement."""
    rng = np.random.default_rng(seed)
    rows = []
    start = (until - timedelta(weeks=weeks)).astimezone(ZONE).replace(hour=0, minute=0, second=0, microsecond=0)
    for i in range(n):
        local = start + timedelta(days=int(rng.integers(0, weeks * 7)), hours=int(rng.integers(9, 22)), minutes=5)
        if local >= until:
            continue
        appeal = 3.0 if (local.weekday(), local.hour) == best else 1.0
        impressions = int(rng.integers(800, 1500))
        rows.append(
            {
                "account": "shop",
                "platform": "sandbox",
                "kind": "post",
                "post_id": f"p{seed}-{i}",
                "campaign": "weekly",
                "variant": "0",
                "posted_at": local.astimezone(UTC),
                "age": "24h",
                "read_at": local.astimezone(UTC) + timedelta(hours=24),
                "likes": int(rng.poisson(impressions * 0.02 * appeal)),
                "reposts": 0,
                "replies": 0,
                "quotes": 0,
                "impressions": impressions,
            }
        )
    return rows


def insert(store: Store, rows: list[dict[str, Any]]) -> None:
    with store.db.tx("test readings") as conn:
        conn.execute(post_metric_t.insert(), rows)


def local(moment: datetime) -> str:
    return moment.astimezone(ZONE).strftime("%a %H:%M")


# ---- config -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "says"),
    [
        ("{best_times: 0}", "best_times must be a whole number of slots, at least 1"),
        ("{best_times: 2, per: month}", "per must be 'day' or 'week'"),
        ('{best_times: 2, within: "9-22"}', 'within must be a time range such as "09:00-22:00"'),
        ('{best_times: 2, within: "22:00-09:00"}', "the start must be before the end"),
        ('{best_times: 2, within: "09:00-25:00"}', "does not exist"),
        ('{best_times: 3, within: "09:00-11:00"}', "do not fit in 09:00-11:00"),
        ("{best_times: 2, cron: '0 9 * * *'}", "exactly one of 'cron', 'interval', 'times' or 'best_times'"),
    ],
)
def test_config_errors_name_the_file_and_field(tmp_path: Path, schedule: str, says: str) -> None:
    braced = schedule.replace("{", "{{").replace("}", "}}")  # write_project formats the text
    text = CONFIG.replace("schedule:\n      best_times: 2", f"schedule: {braced}")
    path = write_project(tmp_path, "sqlite:///var/x.db", text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={}, require_credentials=False)
    message = str(info.value)
    assert says in message, message
    assert "config.yaml" in message and "daily" in message


def test_defaults_and_a_week_fits_more_than_a_day(tmp_path: Path) -> None:
    text = CONFIG.replace("best_times: 2\n", 'best_times: 10\n      per: week\n      within: "09:00-11:00"\n')
    settings = load_config(write_project(tmp_path, "sqlite:///var/x.db", text), environ={}, require_credentials=False)
    schedule = settings.campaigns["daily"].schedule
    assert isinstance(schedule, BestTimesSchedule) and schedule.hours == (9, 10) and schedule.per == "week"
    assert settings.campaigns["daily"].variants == "rotate"


# ---- slots --------------------------------------------------------------------------------------------------------


def test_without_readings_the_slots_spread_evenly_and_say_so(settings: Settings, store: Store) -> None:
    spec = service(settings, store).spec("daily")
    slots = next_slots(spec.trigger(), None, spec.window, NOW, 4)
    assert [s.astimezone(ZONE).strftime("%d %H:%M") for s in slots] == ["20 12:00", "20 18:00", "21 12:00", "21 18:00"]
    [first, _] = spec.planned(period_start(spec.schedule, zone(spec.tz), slots[2]))  # type: ignore[arg-type]
    assert "spread evenly inside 09:00-22:00" in first.why and "no post readings or audience activity" in first.why
    sequences = [slot_sequence(spec, s) for s in slots]
    assert sequences == list(range(sequences[0], sequences[0] + 4))  # consecutive: the rotation still rotates


def test_a_planted_better_hour_is_chosen_and_the_reason_says_why(settings: Settings, store: Store) -> None:
    insert(store, planted(until=CUTOFF))
    spec = service(settings, store).spec("weekly")
    [slot] = spec.planned(NEXT_WEEK)
    assert local(slot.at) == "Tue 20:00"
    assert "your usual engagement over" in slot.why and "posts" in slot.why
    assert slot.why.startswith(("2", "3"))  # about 3x


def test_slots_are_fixed_before_the_period_and_two_daemons_agree(settings: Settings, store: Store) -> None:
    insert(store, planted(until=CUTOFF))
    first = service(settings, store).spec("weekly").planned(NEXT_WEEK)
    # readings that arrive after the cutoff (a stronger Wednesday 10:00) do not move the period's slots
    insert(store, planted(until=NOW - timedelta(days=1), weeks=1, best=(2, 10), seed=9, n=400))
    other = service(settings, store)  # a second daemon, or this one after a restart
    assert other.spec("weekly").planned(NEXT_WEEK) == first
    spec = other.spec("weekly")
    upcoming = next_slots(spec.trigger(), None, spec.window, NOW, 2)
    assert upcoming[0] == first[0].at  # the next week's slot (this week's Tuesday has passed)


def test_the_daemon_fires_planned_slots_only_and_misses_old_ones(settings: Settings, store: Store) -> None:
    insert(store, planted(until=CUTOFF))
    one = service(settings, store, NOW + timedelta(days=4, hours=8))
    [slot] = one.spec("weekly").planned(NEXT_WEEK)
    assert one.fire("weekly", slot.at, now=slot.at).state == "queued"
    assert service(settings, store).fire("weekly", slot.at, now=slot.at).state in ("duplicate", "skipped")
    assert one.fire("weekly", slot.at + timedelta(hours=1), now=slot.at).state == "outside"
    [item] = [i for i in store.outbox.items() if i.campaign == "weekly"]
    assert item.key == f"campaign:weekly:{slot.at.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    # the daemon was down over a daily slot: catch-up marks it missed, as for any schedule
    daily = service(settings, store)
    friday = daily.spec("daily").planned(datetime(2026, 11, 20))[0].at  # its Friday slot, then the daemon is down
    assert daily.fire("daily", friday, now=friday).state == "queued"
    later = service(settings, store, datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    report = later.catch_up()
    assert report.missed >= 1
    assert any(s.state == "missed" for s in store.slots.find("daily"))


# ---- socialbot schedule -------------------------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "220"})
    return result.exit_code, result.output


def test_schedule_without_a_database_explains_the_fallback(tmp_path: Path, url: str) -> None:
    path = write_project(tmp_path, url)
    code, out = run("schedule", "--campaign", "daily", "--from", "2026-11-20 13:00", "-n", "3", "--config", str(path))
    assert code == 0, out
    assert "does not exist" in out and "spread evenly" in out
    assert "Fri 18:00: spread evenly inside 09:00-22:00" in out
    assert not (tmp_path / "var" / "socialbot.db").exists()  # nothing created


def test_schedule_says_why_each_best_time_was_chosen(tmp_path: Path, url: str, store: Store) -> None:
    insert(store, planted(until=CUTOFF))
    path = write_project(tmp_path, url)
    code, out = run("schedule", "--campaign", "weekly", "--from", "2026-11-23 00:00", "-n", "1", "--config", str(path))
    assert code == 0, out
    assert "Tue 20:00: " in out and "your usual engagement over" in out
