"""A real daemon with a small monthly cap: its campaign posts stop near the cap and wait (pending, with the reason),
/metrics gives socialbot_spend_usd equal to what the sandbox billed, /healthz warns without failing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bot.app.daemon import Daemon
from tests.test_daemon import ledger, running, wait_for, write_setup
from tests.test_metrics import health, scrape

__all__ = ["running"]  # the fixture, re-used

COSTS = """\
graph:
  enabled: false
costs:
  monthly_cap_usd: 0.05
  warn_at: 0.5
"""


def priced_usd(sandbox: Any) -> float:
    with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5) as http:
        return float(http.get("/_sandbox/stats").json()["priced"]["usd"])


def test_the_daemon_stops_promotions_near_the_cap_and_reports_the_spend(
    sandbox: Any, tmp_path: Path, running: Callable[..., Daemon]
) -> None:
    config = write_setup(tmp_path, sandbox.url, interval="0.2s")
    config.write_text(config.read_text(encoding="utf-8") + COSTS, encoding="utf-8")
    daemon = running(config, metrics_port=0)
    assert daemon.store is not None

    def held_back() -> bool:
        items = daemon.store.outbox.items(state="pending", limit=50)  # type: ignore[union-attr]
        return any("spending cap: promotion stopped" in (i.last_error or "") for i in items)

    wait_for(held_back, what="a campaign post held back by the cap", timeout=20)
    posts = len(ledger(sandbox))
    # $0.015 a post until 95% of $0.05 is reached: four posts
    assert posts == 4
    samples = scrape(daemon)
    spent = samples[("socialbot_spend_usd", (("account", "shop"),))]
    assert abs(spent - priced_usd(sandbox)) < 1e-9 and abs(spent - 4 * 0.015) < 1e-9
    status, body = health(daemon)
    assert status == 200 and body["status"] == "ok", body
    assert body["spending_stopped"] == {"shop": ["metrics", "engagement", "promotion", "reply", "complaint", "opt_out"]}
    assert any("of the $0.05 monthly cap spent" in warning for warning in body["warnings"]), body
    assert len(ledger(sandbox)) == posts  # nothing more went out
