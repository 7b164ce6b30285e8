"""The daemon end to end, in process: real sandbox over HTTP, real SQLite file, real APScheduler, real templates."""

from __future__ import annotations

import itertools
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.store import Store
from bot.app.checking import check_all
from bot.app.daemon import Daemon, DaemonOptions
from tests.helpers import wait_for

CONFIG = """\
timezone: UTC
database_url: {database_url}
templates_dir: templates
accounts:
  shop:
    platform: sandbox
    handle: shop
    base_url: {base_url}
campaigns:
  tick:
    account: shop
    template: tick.j2
    schedule:
      interval: {interval}
delivery:
  min_spacing_seconds: 0
  per_account_per_day: 0
  poll_seconds: 0.1
  grace_minutes: {grace_minutes}
"""

TICK = "Tick {{ sequence }} from {{ campaign.name }}\n"


def ledger(sandbox: Any, handle: str = "shop") -> list[dict[str, Any]]:
    """Every tweet the sandbox holds for `handle`, in creation order."""
    with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5) as http:
        user = http.get("/_sandbox/users", params={"username": handle})
        if user.status_code == 404:
            return []
        uid = user.json()["id"]
        return list(http.get("/_sandbox/tweets", params={"author_id": uid}).json()["tweets"])


def write_setup(
    root: Path,
    sandbox_url: str,
    *,
    template: str = TICK,
    interval: str = "1s",
    grace_minutes: float = 0.05,
    database_url: str | None = None,
) -> Path:
    (root / "templates").mkdir(exist_ok=True)
    (root / "templates" / "tick.j2").write_text(template, encoding="utf-8")
    config = root / "config.yaml"
    config.write_text(
        CONFIG.format(
            database_url=database_url or f"sqlite:///{root / 'bot.db'}",
            base_url=sandbox_url,
            interval=interval,
            grace_minutes=grace_minutes,
        ),
        encoding="utf-8",
    )
    return config


def rewrite(path: Path, text: str) -> None:
    """Write `text` and make sure the modification time moves (coarse file-system clocks)."""
    before = path.stat().st_mtime if path.exists() else 0.0
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime <= before:
        os.utime(path, (before + 1, before + 1))


@pytest.fixture
def running() -> Iterator[Callable[[Path], Daemon]]:
    """Start daemons for a test and always stop them."""
    started: list[Daemon] = []

    def start(config: Path, **options: Any) -> Daemon:
        daemon = Daemon(DaemonOptions(config_path=config, environ={}, **options))
        daemon.start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


def test_daemon_publishes_each_slot_once_and_stops_cleanly(
    sandbox: Any, tmp_path: Path, running: Callable[..., Daemon], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    config = write_setup(tmp_path, sandbox.url)
    threads_before = set(threading.enumerate())
    daemon = running(config)

    wait_for(lambda: len(ledger(sandbox)) >= 4, what="four posts in the sandbox ledger")
    daemon.stop()

    tweets = ledger(sandbox)
    texts = [t["text"] for t in tweets]
    assert len(texts) == len(set(texts)), "a slot was published twice"
    assert all(re.fullmatch(r"Tick \d+ from tick", text) for text in texts)

    with Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as store:
        summary = store.outbox.summary()
        sent = store.outbox.items(state="sent", limit=None)
    assert summary["posts_published"] == len(tweets)
    assert summary["posts_failed"] == 0
    assert {item.remote_id for item in sent} == {t["id"] for t in tweets}
    assert len({item.key for item in sent}) == len(sent)

    # one INFO line per send, with the outbox key and the remote id
    outbox_logger = "bot.domains.publishing.outbox"
    send_lines = [r.getMessage() for r in caplog.records if r.name == outbox_logger and r.levelno == logging.INFO]
    for tweet in tweets:
        assert any(tweet["id"] in line and "outbox campaign:tick:" in line for line in send_lines), (tweet, send_lines)
    assert any("stopped" in r.getMessage() for r in caplog.records if r.name == "bot.app.daemon.lifecycle")

    # clean stop: the daemon's own threads are gone
    leftovers = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert leftovers == []


def test_stop_is_idempotent_and_a_failed_start_releases_nothing_open(sandbox: Any, tmp_path: Path) -> None:
    config = write_setup(tmp_path, "http://127.0.0.1:9")  # nothing listens there
    daemon = Daemon(DaemonOptions(config_path=config, environ={}))
    from bot.core.errors import BotError

    with pytest.raises(BotError, match="cannot reach the X sandbox"):
        daemon.start()
    daemon.stop()
    daemon.stop()


def test_template_edit_is_picked_up_and_bad_edits_keep_the_last_good_config(
    sandbox: Any, tmp_path: Path, running: Callable[..., Daemon], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    config = write_setup(tmp_path, sandbox.url, template="Old {{ sequence }}\n")
    template = tmp_path / "templates" / "tick.j2"
    running(config, watch_seconds=0.2)

    wait_for(lambda: any(t["text"].startswith("Old ") for t in ledger(sandbox)), what="an 'Old' post")
    rewrite(template, "New {{ sequence }}\n")
    wait_for(lambda: ledger(sandbox)[-1]["text"].startswith("New "), what="a post with the edited template")

    # a template syntax error: logged with the same lines as `socialbot check`, old config kept
    good_config = config.read_text(encoding="utf-8")
    caplog.clear()
    rewrite(template, "Broken {{ sequence \n")
    expected = [str(p) for p in check_all(config, environ={})]
    assert expected, "check should find the syntax error"
    wait_for(lambda: "config reload refused" in caplog.text, what="the refused reload")
    _assert_logged(caplog, expected)
    seen = len(ledger(sandbox))
    wait_for(lambda: len(ledger(sandbox)) >= seen + 2, what="posts after the refused reload")
    assert all(t["text"].startswith("New ") for t in ledger(sandbox)[seen:])

    # an invalid config.yaml (unknown key): same again
    rewrite(template, "New {{ sequence }}\n")
    caplog.clear()
    rewrite(config, good_config + "surprise: 1\n")
    expected = [str(p) for p in check_all(config, environ={})]
    assert any("surprise" in line for line in expected)
    wait_for(lambda: "config reload refused" in caplog.text, what="the refused config reload")
    _assert_logged(caplog, expected)
    seen = len(ledger(sandbox))
    wait_for(lambda: len(ledger(sandbox)) >= seen + 2, what="posts after the refused config")
    assert all(t["text"].startswith("New ") for t in ledger(sandbox)[seen:])
    texts = [t["text"] for t in ledger(sandbox)]
    assert len(texts) == len(set(texts))
    with Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as store:
        assert store.outbox.summary()["posts_failed"] == 0, "a slot was rendered with the refused template"


def test_reload_directly_as_sighup_does(sandbox: Any, tmp_path: Path, running: Callable[..., Daemon]) -> None:
    config = write_setup(tmp_path, sandbox.url, template="First {{ sequence }}\n")
    template = tmp_path / "templates" / "tick.j2"
    daemon = running(config, watch_seconds=3600)  # the watcher stays out of the way: only reload() acts

    wait_for(lambda: ledger(sandbox), what="a first post")
    template.write_text("{% if %}\n", encoding="utf-8")
    assert daemon.reload() is False
    template.write_text("Second {{ sequence }}\n", encoding="utf-8")
    assert daemon.reload() is True
    wait_for(lambda: ledger(sandbox)[-1]["text"].startswith("Second "), what="a post after reload()")


def _assert_logged(caplog: pytest.LogCaptureFixture, lines: list[str]) -> None:
    logged = [r.getMessage().strip() for r in caplog.records if r.levelno >= logging.ERROR]
    for line in lines:
        assert any(line in message for message in logged), f"{line!r} not logged; got {logged}"


def test_slots_missed_while_down_are_recorded_not_burst(
    sandbox: Any, tmp_path: Path, running: Callable[..., Daemon]
) -> None:
    config = write_setup(tmp_path, sandbox.url, interval="1m", grace_minutes=15)
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    last = now - timedelta(minutes=30)
    with Store.open(url) as store:
        store.upgrade()
        store.slots.record("tick", last, "skipped", "before the downtime")

    started_at = datetime.now(UTC)
    daemon = running(config)
    grace = timedelta(minutes=15)

    with Store.open(url) as store:
        slots = [s for s in store.slots.find("tick") if s.slot_at.replace(tzinfo=UTC) > last.replace(tzinfo=UTC)]
    missed = [s for s in slots if s.state == "missed"]
    queued = [s for s in slots if s.state not in ("missed", "skipped")]
    assert missed and queued
    assert all(started_at - _utc(s.slot_at) > grace - timedelta(seconds=61) for s in missed)
    assert all(started_at - _utc(s.slot_at) <= grace + timedelta(seconds=61) for s in queued)
    # every minute after the last recorded slot is accounted for, once
    assert len({_utc(s.slot_at) for s in slots}) == len(slots)
    assert len(missed) + len(queued) >= 29

    wait_for(lambda: len(ledger(sandbox)) >= len(queued), what="the late slots to be published")
    daemon.stop()
    tweets = ledger(sandbox)
    assert len(tweets) <= len(queued) + 1  # +1: a new slot may have fallen due meanwhile
    assert len(tweets) <= 17, "more than the grace window's worth of slots was sent"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def test_reload_can_add_an_account_and_its_campaign(
    sandbox: Any, tmp_path: Path, running: Callable[..., Daemon]
) -> None:
    config = write_setup(tmp_path, sandbox.url)
    daemon = running(config, watch_seconds=3600)
    wait_for(lambda: ledger(sandbox), what="a first post")

    text = config.read_text(encoding="utf-8")
    text = text.replace(
        "campaigns:\n",
        f"  brand:\n    platform: sandbox\n    handle: brand\n    base_url: {sandbox.url}\ncampaigns:\n",
    )
    text = text.replace(
        "delivery:\n",
        "  brand_tick:\n    account: brand\n    template: tick.j2\n    schedule:\n      interval: 1s\ndelivery:\n",
    )
    config.write_text(text, encoding="utf-8")
    assert daemon.reload() is True
    wait_for(lambda: len(ledger(sandbox, "brand")) >= 2, what="posts by the account added on reload")
    with Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as store:
        assert store.outbox.summary()["dead"] == 0


def test_two_daemons_on_one_database_publish_each_slot_once(
    sandbox: Any, tmp_path: Path, db_url: str, running: Callable[..., Daemon]
) -> None:
    config = write_setup(tmp_path, sandbox.url, database_url=db_url)
    first = running(config)
    second = running(config)
    wait_for(lambda: len(ledger(sandbox)) >= 6, what="six posts from two daemons")
    first.stop()
    second.stop()

    texts = [t["text"] for t in ledger(sandbox)]
    assert len(texts) == len(set(texts)), "two daemons published the same slot"
    with Store.open(db_url) as store:
        sent = store.outbox.items(state="sent", limit=None)
        slots = store.slots.find("tick")
    assert len(sent) == len(texts)
    assert all(slot.state in ("published", "queued") for slot in slots)
    assert len({slot.slot_at for slot in slots}) == len(slots)


GRAPH = """\
graph:
  every: 2s
  rerun_when_grown: null  # (likes collected in two turns would rightly be analysed again within the interval)
  engagement:
    every: 1s
"""


def test_two_daemons_collect_likes_and_take_turns_at_the_analysis(
    sandbox: Any, tmp_path: Path, db_url: str, running: Callable[..., Daemon]
) -> None:
    config = write_setup(tmp_path, sandbox.url, database_url=db_url)
    config.write_text(config.read_text(encoding="utf-8") + GRAPH, encoding="utf-8")
    first = running(config)
    second = running(config)
    posts = wait_for(lambda: ledger(sandbox)[:2] if len(ledger(sandbox)) >= 2 else None, what="two posts")
    with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5) as admin:
        fans = [admin.post("/_sandbox/users", json={"username": f"fan{i}"}).json()["id"] for i in range(3)]
        for fan in fans:
            for post in posts:
                admin.post("/_sandbox/likes", json={"user_id": fan, "tweet_id": post["id"]}).raise_for_status()

    def likes() -> int:
        with Store.open(db_url) as store:
            return len(store.people.interactions(kind="like"))

    wait_for(lambda: likes() >= 6, timeout=20, what="the likes of both posts collected")
    with Store.open(db_url) as store:
        wait_for(lambda: len(store.graphs.snapshots()) >= 2, timeout=20, what="two graph snapshots")
    first.stop()
    second.stop()
    with Store.open(db_url) as store:
        snapshots = sorted(store.graphs.snapshots(limit=100), key=lambda s: s.created_at)
        assert likes() == 6  # each like once, however many daemons and collections
        assert store.leases.holder("graph-analysis") is None
    gaps = [(b.created_at - a.created_at).total_seconds() for a, b in itertools.pairwise(snapshots)]
    assert all(gap >= 1.8 for gap in gaps), f"two daemons analysed within one interval: {gaps}"


def refused_slots(caplog: pytest.LogCaptureFixture) -> set[str]:
    """The campaign slots the daemon could not record because the database did not answer."""
    found = (re.match(r"campaign tick: slot (\S+) waits for the database", r.getMessage()) for r in caplog.records)
    return {m.group(1) for m in found if m}


def test_a_locked_database_makes_the_daemon_wait_and_lose_no_slot(
    sandbox: Any,
    tmp_path: Path,
    running: Callable[..., Daemon],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another process holds SQLite's write lock, longer than the daemon's busy timeout, until three slots have
    fallen due and could not be recorded. The daemon keeps running and queues them once the lock is gone."""
    import sqlite3

    import bot.adapters.store.engine as engine_module

    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_SECONDS", 0.3)
    caplog.set_level(logging.INFO)
    config = write_setup(tmp_path, sandbox.url, grace_minutes=0.25)
    daemon = running(config, watch_seconds=0.5)
    wait_for(lambda: len(ledger(sandbox)) >= 2, what="two posts before the lock")

    holder = sqlite3.connect(tmp_path / "bot.db", timeout=10)
    holder.execute("BEGIN EXCLUSIVE")  # no writer but this one
    try:
        wait_for(
            lambda: len(refused_slots(caplog)) >= 3,
            timeout=15,
            what="three slots falling due while the database is locked",
        )
    finally:
        holder.rollback()
        holder.close()
    locked_until = datetime.now(UTC)
    wait_for(
        lambda: any("the database answers again" in r.getMessage() for r in caplog.records),
        what="the daemon noticing the database is back",
    )

    def numbers() -> list[int]:
        return sorted(int(re.fullmatch(r"Tick (\d+) from tick", t["text"]).group(1)) for t in ledger(sandbox))  # type: ignore[union-attr]

    def caught_up() -> bool:
        seen = numbers()
        contiguous = seen == list(range(seen[0], seen[0] + len(seen)))
        newest = max(datetime.fromisoformat(t["created_at"].replace("Z", "+00:00")) for t in ledger(sandbox))
        return contiguous and newest > locked_until + timedelta(seconds=3)

    deadline = time.monotonic() + 30
    while not caught_up():
        if time.monotonic() > deadline:
            pytest.fail(f"not every slot was published (the ones during the lock included): {numbers()}")
        time.sleep(0.1)
    daemon.stop()
    seen = numbers()
    assert len(seen) == len(set(seen)), f"a slot was sent twice: {seen}"
    refused = [r for r in caplog.records if "waits for the database" in r.getMessage()]
    assert refused and all(r.levelno == logging.WARNING for r in refused)
    with Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as store:
        summary = store.outbox.summary()
    assert summary["posts_failed"] == 0
