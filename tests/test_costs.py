"""The monthly spending cap (bot.domains.costs), `socialbot costs`, and the `costs:` config section, on real
databases (and the real sandbox for the outbox)."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.app.cli import app
from bot.core.clock import ManualClock
from bot.core.costs import COMPLAINT, ENGAGEMENT, METRICS, OPT_OUT, OTHER, PROMOTION, REPLY, STOP_ORDER
from bot.core.errors import ConfigError
from bot.domains.costs import STOP_AT, SpendingCap
from bot.domains.costs.cap import FLUSH_ROWS
from bot.domains.publishing.outbox import CAP_RECHECK, Outbox
from bot.sandbox.server import SandboxServer
from bot.settings.config import load_config
from bot.settings.costs import CostsConfig
from tests.helpers import delivery

T0 = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def spend(cap: SpendingCap, usd: float, account: str = "shop") -> None:
    cap.record(account, "x", "POST /2/tweets", PROMOTION, 1, usd)


def test_purposes_stop_in_the_declared_order_each_logged_once(
    store: Store, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.domains.costs.cap")
    cap = SpendingCap(store.costs, CostsConfig(monthly_cap_usd=10.0, warn_at=0.8), SHANGHAI, clock)
    assert [STOP_AT[p] for p in STOP_ORDER] == sorted(STOP_AT[p] for p in STOP_ORDER)  # the order is the shares'
    stopped_at: dict[str, float] = {}
    spent = 0.0
    while spent < 10.2:
        for purpose in STOP_ORDER:
            for _ in range(2):  # asked again: said once
                if not cap.may_spend("shop", purpose):
                    stopped_at.setdefault(purpose, spent)
        spend(cap, 0.1)
        spent += 0.1
    assert list(stopped_at) == list(STOP_ORDER)
    for purpose in STOP_ORDER:
        assert stopped_at[purpose] == pytest.approx(STOP_AT[purpose] * 10, abs=0.11)
    assert stopped_at[METRICS] < stopped_at[ENGAGEMENT] < stopped_at[PROMOTION] < stopped_at[REPLY]
    assert stopped_at[REPLY] < stopped_at[COMPLAINT] <= stopped_at[OPT_OUT]
    assert cap.may_spend("shop", OTHER)  # never stopped
    assert cap.may_spend("other_shop", PROMOTION)  # the cap is per account
    stops = [r.getMessage() for r in caplog.records if "stopped for account shop" in r.getMessage()]
    assert len(stops) == len(STOP_ORDER)
    assert stops[0].startswith("spending: post metric reads stopped for account shop at 85% of the monthly cap")
    warnings = [r.getMessage() for r in caplog.records if "(warning at 80%)" in r.getMessage()]
    assert len(warnings) == 1 and "of the $10.00 monthly cap spent" in warnings[0]
    assert cap.status("shop").stopped == STOP_ORDER

    caplog.clear()
    cap.use(CostsConfig(monthly_cap_usd=100.0), SHANGHAI)  # the cap raised: everything resumes, said once each
    assert all(cap.may_spend("shop", p) for p in STOP_ORDER)
    assert len([r for r in caplog.records if " resume " in r.getMessage()]) == len(STOP_ORDER)

    cap.use(CostsConfig(monthly_cap_usd=10.0), SHANGHAI)
    assert not cap.may_spend("shop", METRICS)
    clock.set(datetime(2026, 11, 30, 16, 0, tzinfo=UTC))  # 2026-12-01 00:00 in Shanghai: a new month
    assert cap.spent("shop") == 0.0 and all(cap.may_spend("shop", p) for p in STOP_ORDER)
    cap.close()


def test_recorded_calls_are_written_together_and_none_is_lost(store: Store, clock: ManualClock) -> None:
    """The cap writes its calls in one transaction every half second (or 200 at a time), and the rest at close."""
    cap = SpendingCap(store.costs, CostsConfig(), SHANGHAI, clock)
    far = timedelta(days=40)
    for _ in range(FLUSH_ROWS + 5):
        cap.record("shop", "x", "GET /2/users/:id/mentions", REPLY, 1, 0.001)
    written = list(store.costs.calls(clock.now() - far, clock.now() + far))
    assert len(written) >= FLUSH_ROWS  # the first 200 at once; 5 wait for the timer or the close
    assert cap.spent("shop") == pytest.approx(0.001 * (FLUSH_ROWS + 5))  # a question sees them all
    cap.record("shop", "x", "GET /2/users/:id/mentions", REPLY, 1, 0.001)
    cap.close()
    assert len(list(store.costs.calls(clock.now() - far, clock.now() + far))) == FLUSH_ROWS + 6


@pytest.fixture
def server(clock: ManualClock) -> Iterator[SandboxServer]:
    s = SandboxServer(clock=clock).start()
    yield s
    s.stop()


def test_a_stopped_post_stays_pending_and_goes_out_when_the_cap_is_raised_or_next_month(
    store: Store, server: SandboxServer, clock: ManualClock
) -> None:
    clock.set(datetime.now(UTC).replace(microsecond=0))  # the adapter's rate-limit memory reads real time
    shop = XPlatform.for_sandbox(server.url, "shop", account="shop", clock=clock)
    cap = SpendingCap(store.costs, CostsConfig(monthly_cap_usd=1.0), SHANGHAI, clock)
    shop.use_cost_ledger(cap)
    outbox = Outbox(
        store, {"shop": shop}, delivery=delivery(), owner="t", clock=clock, rng=random.Random(1), spending=cap
    )
    try:
        spend(cap, 0.95)  # promotions stop at 95%
        assert store.outbox.enqueue("campaign:sale:1", account="shop", kind="post", text="Lamps at 20% off")
        report = outbox.deliver_due()
        assert report.sent == 0 and report.deferred == 1
        item = store.outbox.item(key="campaign:sale:1")
        assert item is not None and item.state == "pending" and item.attempts == 0
        assert item.last_error is not None and "spending cap: promotion stopped" in item.last_error
        assert outbox.deliver_due().sent == 0  # not due again before CAP_RECHECK

        cap.use(CostsConfig(monthly_cap_usd=2.0), SHANGHAI)  # raised
        clock.advance(CAP_RECHECK)
        assert outbox.deliver_due().sent == 1
        assert store.outbox.item(key="campaign:sale:1").state == "sent"

        cap.use(CostsConfig(monthly_cap_usd=1.0), SHANGHAI)
        assert store.outbox.enqueue("campaign:sale:2", account="shop", kind="post", text="Lamps, last day")
        assert outbox.deliver_due().sent == 0
        local = clock.now().astimezone(SHANGHAI)
        following = datetime(local.year + (local.month == 12), local.month % 12 + 1, 1, tzinfo=SHANGHAI)
        clock.set(following.astimezone(UTC) + timedelta(minutes=1))  # a new month: the spend starts again at 0
        assert outbox.deliver_due().sent == 1
    finally:
        cap.close()
        shop.close()


def test_costs_command_says_the_month_per_day_and_purpose(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    (tmp_path / "templates").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""\
timezone: Asia/Shanghai
database_url: sqlite:///{db}
accounts:
  shop:
    platform: sandbox
    handle: shop
costs:
  monthly_cap_usd: 10
""",
        encoding="utf-8",
    )
    now = datetime.now(UTC)
    clock = ManualClock(datetime(2026, 3, 31, 17, 30, tzinfo=UTC))  # 2026-04-01 01:30 in Shanghai
    with Store.open(f"sqlite:///{db}", clock=clock) as store:
        store.upgrade()
        store.costs.record("shop", "x", "GET /2/users/:id/mentions", REPLY, 40, 0.04)
        clock.set(now)
        store.costs.record("shop", "x", "GET /2/tweets/:id/liking_users", ENGAGEMENT, 100, 1.0)
        store.costs.record("shop", "x", "POST /2/tweets", PROMOTION, 1, 8.2)
    runner = CliRunner()
    result = runner.invoke(app, ["costs", "--config", str(config)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "account shop: $9.20 of the $10.00 monthly cap spent (92%)" in out
    assert "stopped until the cap is raised or the month ends: post metric reads, engagement reads" in out
    assert "campaign posts and coupon DMs" in out and "$8.20" in out and "stopped" in out
    assert "days in Asia/Shanghai" in out

    april = runner.invoke(app, ["costs", "--month", "2026-04", "--config", str(config)], env={"COLUMNS": "200"})
    assert april.exit_code == 0, april.output
    assert "account shop: $0.04 spent in April 2026" in april.output and "Wed 01 Apr" in april.output
    march = runner.invoke(app, ["costs", "--month", "2026-03", "--config", str(config)], env={"COLUMNS": "200"})
    assert "no paid calls recorded" in march.output
    bad = runner.invoke(app, ["costs", "--month", "March", "--config", str(config)])
    assert bad.exit_code == 2 and "--month" in bad.output


@pytest.mark.parametrize(
    ("section", "field", "words"),
    [
        ("costs:\n  monthly_cap_usd: -5\n", "costs.monthly_cap_usd", "greater than or equal to 0"),
        ("costs:\n  prices:\n    mastodon: {post_create: 1}\n", "costs.prices", "unknown platform(s) mastodon"),
        ("costs:\n  prices:\n    x: {post_creat: 1}\n", "costs.prices.x.post_creat", "unknown key"),
        ("costs:\n  warn_at: 1.5\n", "costs.warn_at", "less than or equal to 1"),
    ],
)
def test_bad_costs_config_names_the_field(tmp_path: Path, section: str, field: str, words: str) -> None:
    (tmp_path / "templates").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text("accounts:\n  shop:\n    platform: sandbox\n    handle: shop\n" + section, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config, require_credentials=False)
    problems = [str(p) for p in caught.value.problems]
    assert any(field in p and words in p and "config.yaml" in p for p in problems), problems


def test_default_prices_are_x_pay_per_use(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text("accounts:\n  shop:\n    platform: sandbox\n    handle: shop\n", encoding="utf-8")
    settings = load_config(config, require_credentials=False)
    x = settings.costs.prices.x
    assert (x.post_read, x.user_read, x.dm_event_read, x.owned_read) == (0.005, 0.01, 0.01, 0.001)
    assert (x.post_create, x.post_with_url, x.summoned_reply, x.dm_create) == (0.015, 0.20, 0.01, 0.015)
    assert settings.costs.monthly_cap_usd is None and settings.costs.warn_at == 0.8
    assert OPT_OUT in STOP_AT and COMPLAINT in STOP_AT
