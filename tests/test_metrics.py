"""/metrics and /healthz of a real daemon: sandbox over HTTP, SQLite file, APScheduler, scraped over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.adapters.store import Store
from bot.app.daemon import Daemon
from tests.test_daemon import ledger, running, wait_for, write_setup

__all__ = ["running"]  # the fixture, re-used

REPLIES = """\
replies:
  poll_seconds: 0.5
  direct_messages: false
  intents:
    - name: other
"""


def scrape(daemon: Daemon) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, keyed by (name, sorted labels)."""
    assert daemon.metrics is not None
    response = httpx.get(f"{daemon.metrics.url}/metrics", trust_env=False, timeout=5)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def health(daemon: Daemon) -> tuple[int, dict[str, Any]]:
    assert daemon.metrics is not None
    response = httpx.get(f"{daemon.metrics.url}/healthz", trust_env=False, timeout=5)
    return response.status_code, response.json()


def test_metrics_count_what_the_sandbox_received_and_healthz_is_ok(
    sandbox: Any, tmp_path: Path, running: Callable[..., Daemon]
) -> None:
    daemon = running(write_setup(tmp_path, sandbox.url), metrics_port=0)
    wait_for(lambda: len(ledger(sandbox)) >= 3, what="three posts")
    for job_id in daemon.scheduler.job_ids():  # stop producing posts so the counts settle
        if job_id.startswith("campaign"):
            daemon.scheduler.remove_job(job_id)

    def settled() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        samples = scrape(daemon)
        published = samples.get(("socialbot_published", (("account", "shop"),)))
        pending = samples.get(("socialbot_pending", (("account", "shop"),)))
        return samples if pending == 0 and published == len(ledger(sandbox)) else None

    samples = wait_for(settled, what="published == the sandbox's ledger")
    assert samples[("socialbot_dead_letters", (("account", "shop"),))] == 0
    assert samples[("socialbot_outbox_items", (("account", "shop"), ("state", "sent")))] == len(ledger(sandbox))
    assert samples[("socialbot_overdue", (("account", "shop"),))] == 0
    assert samples[("socialbot_account_paused", (("account", "shop"),))] == 0
    assert samples[("socialbot_healthy", ())] == 1
    assert any(name == "socialbot_rate_limit_remaining" for name, _labels in samples)
    status, body = health(daemon)
    assert status == 200, body
    assert body["status"] == "ok"


def test_healthz_fails_when_a_due_row_is_overdue(sandbox: Any, tmp_path: Path, running: Callable[..., Daemon]) -> None:
    config = write_setup(tmp_path, sandbox.url, interval="1h")
    daemon = running(config, metrics_port=0)
    assert health(daemon)[0] == 200
    store = daemon.store
    assert isinstance(store, Store)
    # the account's posting endpoint is blocked (as after a 429), and a row fell due long ago
    store.rate_limits.block("shop", "tweets", datetime.now(UTC) + timedelta(hours=1))
    store.outbox.enqueue(
        "manual:late", account="shop", kind="post", text="late", not_before=datetime.now(UTC) - timedelta(hours=1)
    )
    status, body = health(daemon)
    assert status == 503
    assert body["status"] == "failing"
    assert any("account shop: 1 outbox row(s) overdue" in reason for reason in body["reasons"]), body
    samples = scrape(daemon)
    assert samples[("socialbot_overdue", (("account", "shop"),))] == 1
    assert samples[("socialbot_overdue_seconds", (("account", "shop"),))] >= 3000
    assert samples[("socialbot_healthy", ())] == 0
    assert samples[("socialbot_rate_limit_remaining", (("account", "shop"), ("endpoint", "tweets")))] == 0


def test_healthz_fails_when_an_account_is_paused(sandbox: Any, tmp_path: Path, running: Callable[..., Daemon]) -> None:
    daemon = running(write_setup(tmp_path, sandbox.url, interval="1h"), metrics_port=0)
    assert daemon.store is not None
    daemon.store.accounts.pause("shop", "authentication failed: 401")
    status, body = health(daemon)
    assert status == 503
    assert "account shop: paused (authentication failed: 401)" in body["reasons"]
    assert scrape(daemon)[("socialbot_account_paused", (("account", "shop"),))] == 1


def test_healthz_fails_when_the_mentions_poll_is_stale(
    sandbox: Any, tmp_path: Path, running: Callable[..., Daemon]
) -> None:
    config = write_setup(tmp_path, sandbox.url, interval="1h")
    config.write_text(config.read_text(encoding="utf-8") + REPLIES, encoding="utf-8")
    daemon = running(config, metrics_port=0)
    wait_for(lambda: "shop" in daemon.poll_times, what="a first mentions poll")
    assert health(daemon)[0] == 200
    daemon.scheduler.remove_job("mentions:shop")  # the poller stops (as if stuck)
    _status, body = wait_for(lambda: (r := health(daemon))[0] == 503 and r, what="/healthz to fail")
    assert any(reason.startswith("account shop: mentions poll overdue") for reason in body["reasons"]), body
    assert scrape(daemon)[("socialbot_last_poll_age_seconds", (("account", "shop"),))] > 1.5
