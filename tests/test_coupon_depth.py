"""Coupon campaigns with several discount depths: config, the monotone posterior, arm and propensity stored on real
databases (SQLite, PostgreSQL when configured), once per person, the report's words, the planted offers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from pydantic import ValidationError

from bot.adapters.store import Store, migrate
from bot.core.clock import ManualClock
from bot.core.records import ArmCounts, RedemptionLine
from bot.domains.coupons.depth import DepthModel, isotonic
from bot.domains.coupons.depth_report import depth_rows
from bot.domains.coupons.issuing import CouponService
from bot.sandbox.audience.offers import IssuedOffer, PlantedOffers, write_redemptions_csv
from bot.sandbox.audience.population import make_communities, make_users
from bot.settings.config import AccountConfig, Settings
from bot.settings.coupons import CouponCampaignConfig, CouponsConfig, parse_depth
from tests.conftest import REPO_ROOT
from tests.test_coupons import seed_segments

START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
DEPTHS = ["5%", "10%", "15%"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def settings_with(tmp_path: Path, **campaigns: dict[str, Any]) -> Settings:
    configs = {
        name: CouponCampaignConfig(**{"discounts": DEPTHS, "budget": 1000, **values})
        for name, values in campaigns.items()
    }
    return Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        templates_dir=REPO_ROOT / "templates",
        coupons=CouponsConfig(campaigns=configs, margin_rate=0.4, export_dir=tmp_path / "exports", batch_size=100),
        config_path=tmp_path / "config.yaml",
    )


def test_discounts_config_is_validated_with_the_campaign_and_field_named() -> None:
    ok = CouponCampaignConfig(discounts=["15%", "5%", "10% off"], budget=10)
    assert ok.discounts == ["5%", "10% off", "15%"] and [d.value for d in ok.depths] == [0.05, 0.10, 0.15]
    assert parse_depth("¥30").kind == "amount" and parse_depth("¥30").value == 30
    cases = [
        ({"discount": "10%", "discounts": DEPTHS}, "either `discount` or `discounts`, not both"),
        ({}, "give `discount`"),
        ({"discounts": ["10%"]}, "at least two depths"),
        ({"discounts": ["10%", "¥30"]}, "all percentages or all amounts"),
        ({"discounts": ["10%", "cheap"]}, "'cheap' is not a discount depth"),
        ({"discounts": ["10%", "10 %"]}, "the same depth twice"),
        ({"discounts": ["10%", "120%"]}, "between 0% and 100%"),
    ]
    for values, message in cases:
        with pytest.raises(ValidationError) as info:
            CouponsConfig(campaigns={"spring": {"budget": 10, **values}}, margin_rate=0.4)
        text = str(info.value)
        assert message in text and "campaigns.spring" in text, text
    with pytest.raises(ValidationError, match=r"campaigns spring learn from several `discounts`.*margin_rate"):
        CouponsConfig(campaigns={"spring": {"budget": 10, "discounts": DEPTHS}})
    with pytest.raises(ValidationError, match=r"campaigns.spring.learn_from: no coupon campaign winter"):
        CouponsConfig(
            campaigns={"spring": {"budget": 10, "discounts": DEPTHS, "learn_from": ["winter"]}}, margin_rate=0.4
        )


def test_isotonic_makes_every_draw_non_decreasing_and_keeps_ordered_ones() -> None:
    draws = np.array([[0.3, 0.1, 0.2], [0.1, 0.2, 0.3], [0.5, 0.4, 0.1]])
    fit = isotonic(draws, np.array([1.0, 1.0, 1.0]))
    assert np.all(np.diff(fit, axis=1) >= -1e-12)
    assert np.allclose(fit[1], draws[1])
    assert np.allclose(fit[0], [0.2, 0.2, 0.2]) and np.allclose(fit[2], [1 / 3, 1 / 3, 1 / 3])
    weighted = isotonic(np.array([[0.3, 0.1]]), np.array([3.0, 1.0]))
    assert np.allclose(weighted, [[0.25, 0.25]])


def test_posterior_is_monotone_in_depth_and_learns_the_margin_best_depth() -> None:
    depths = [parse_depth(d) for d in DEPTHS]
    model = DepthModel(depths, margin_rate=0.4)
    # the deeper discount converted fewer in this small sample: the fit keeps conversion non-decreasing
    noisy = [ArmCounts(1, "5%", 100, 20, 20 * 95.0), ArmCounts(1, "10%", 100, 12, 12 * 90.0)]
    estimate = model.estimate(1, noisy, seed=1)
    conversions = [d.conversion for d in estimate.depths]
    assert conversions == sorted(conversions)
    # plenty of data: 10% converts enough more than 5% to pay for itself, 15% does not
    counts = [
        ArmCounts(2, "5%", 2000, 200, 200 * 95.0),
        ArmCounts(2, "10%", 2000, 320, 320 * 90.0),
        ArmCounts(2, "15%", 2000, 340, 340 * 85.0),
    ]
    result = model.estimate(2, counts, seed=1)
    assert result.best.depth.label == "10%" and result.best.p_best > 0.9
    assert result.order_value == pytest.approx(100.0)
    assert result.best.low < result.best.margin < result.best.high
    assert sum(d.draw for d in result.depths) == pytest.approx(1.0)
    assert min(d.draw for d in result.depths) >= 0.05 / 3 - 1e-9  # every depth keeps a positive propensity
    assert model.estimate(2, counts, seed=1) == result  # seeded: the same draws


def test_arm_and_propensity_are_stored_once_per_person_and_rendered(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    seed_segments(store, 400, segments=2)
    settings = settings_with(tmp_path, spring={"holdout": 0.2, "budget": 250})
    service = CouponService(settings, store, clock)
    first = service.issue("spring")
    rows = store.coupons.find(campaign="spring")
    treated = [c for c in rows if not c.holdout]
    held = [c for c in rows if c.holdout]
    assert first.issued == len(treated) == 250
    assert {c.arm for c in treated} == set(DEPTHS)  # no data yet: every depth is tried
    assert all(c.propensity is not None and 0 < c.propensity < 0.8 for c in treated)
    assert all(c.arm is None and c.propensity == pytest.approx(0.2) for c in held)
    text = service.render(treated[0])
    assert treated[0].arm in text and treated[0].code in text
    again = service.issue("spring")  # a re-run (a crash and restart): nobody twice
    assert (again.issued, again.held_out) == (0, 0)
    assert len(store.coupons.find(campaign="spring")) == len(rows)
    people = [(c.platform, c.user_id) for c in store.coupons.find(campaign="spring")]
    assert len(people) == len(set(people))
    assert store.coupons.budget("spring")[0] == 250


def test_the_same_data_draws_the_same_depths(tmp_path: Path, clock: ManualClock) -> None:
    arms = []
    for attempt in range(2):
        with Store.open(f"sqlite:///{tmp_path / f'd{attempt}.db'}", clock=clock) as store:
            store.upgrade()
            seed_segments(store, 200, segments=2)
            CouponService(settings_with(tmp_path, spring={"holdout": 0.1}), store, clock).issue("spring")
            arms.append([(c.user_id, c.arm, c.propensity) for c in store.coupons.find(campaign="spring")])
    assert arms[0] == arms[1]


def test_the_report_names_the_best_depth_in_plain_words(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    seed_segments(store, 600, segments=1)
    settings = settings_with(tmp_path, spring={"holdout": 0.1, "expires_after": "7d"})
    CouponService(settings, store, clock).issue("spring")
    rng = random.Random(3)
    lines = []
    chance = {"5%": 0.05, "10%": 0.35, "15%": 0.37}
    for c in store.coupons.find(campaign="spring"):
        if c.code and c.arm and rng.random() < chance[c.arm]:
            paid = 100 * (1 - float(c.arm.rstrip("%")) / 100)
            lines.append(RedemptionLine(c.code, f"o{c.id}", paid, START + timedelta(days=1), "test"))
    store.redemptions.record(lines)
    clock.advance(timedelta(days=8))
    store.coupons.expire(clock.now())
    orders = _holdout_orders(store)
    rows = depth_rows(settings, store, clock.now(), orders)
    assert len(rows) == 1
    row = rows[0]
    assert row.best == "10%" and row.settled > 500 and row.held_out > 0
    text = row.sentence("¥")
    assert "segment 0 (seg0): the best depth so far is 10%" in text
    assert "margin per person (90% interval ¥" in text and "the chance it really is the best:" in text
    assert "held out brought ¥" in text and "By depth: 5%:" in text
    assert "e-" not in text and "σ" not in text and "sigma" not in text
    without = depth_rows(settings, store, clock.now(), None)[0].sentence("¥")
    assert "needs the orders CSV" in without


def _holdout_orders(store: Store) -> list[Any]:
    from bot.adapters.orders import Order

    held = store.coupons.held_out_people("spring")
    return [Order(p.username or "", f"h{p.id}", 100.0, START + timedelta(days=2)) for p in held[::10]]


def test_planted_offers_are_deterministic_and_differ_by_group(tmp_path: Path) -> None:
    rng = random.Random(5)
    communities = make_communities(rng, 6)
    users = make_users(rng, communities, 300, 3, "shop")
    history = {u.username: i % 5 for i, u in enumerate(users)}
    planted = PlantedOffers(5, communities, users, history)
    bests = {planted.best_depth([u.username for u in users if planted.group_of(u.username) == g], DEPTHS)[0]
             for g in range(3)}  # fmt: skip
    assert bests == set(DEPTHS)  # regular buyers, occasional ones and people who never ordered need different depths
    offers = [
        IssuedOffer(
            u.username, f"CODE{i}" if i % 10 else None, DEPTHS[i % 3] if i % 10 else None, START, timedelta(days=7)
        )
        for i, u in enumerate(users)
    ]
    first, second = planted.respond(offers), PlantedOffers(5, communities, users, history).respond(offers[::-1])
    assert sorted(first, key=lambda o: o.order_id) == sorted(second, key=lambda o: o.order_id)
    assert first and all(START <= o.time < START + timedelta(days=7) for o in first)
    assert any(o.code is None for o in first)  # the held-out people's own orders
    path = tmp_path / "redemptions.csv"
    assert write_redemptions_csv(path, first) == sum(1 for o in first if o.code)
    assert path.read_text(encoding="utf-8").splitlines()[0] == "code,order_id,amount,time,handle"


def test_migration_0010_adds_arm_and_propensity_and_goes_back(db_url: str) -> None:
    s = Store.open(db_url)
    try:
        s.upgrade()
        columns = {c["name"] for c in sa.inspect(s.engine).get_columns("coupon")}
        assert {"arm", "propensity"} <= columns
        with s.engine.begin() as conn:
            config = migrate.alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0009")
        assert not {"arm", "propensity"} & {c["name"] for c in sa.inspect(s.engine).get_columns("coupon")}
        s.upgrade()
        assert {"arm", "propensity"} <= {c["name"] for c in sa.inspect(s.engine).get_columns("coupon")}
    finally:
        s.close()


@pytest.mark.slow
def test_eval_targeting_short_run_prints_the_result() -> None:
    import subprocess
    import sys

    args = ["scripts/eval_targeting.py", "--users", "300", "--weeks", "2", "--seed", "5", "--skip-push"]
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT depth_recovered=") and 0 <= float(last.split()[1].split("=")[1]) <= 1
    assert "planted best" in done.stdout and "the best depth so far is" in done.stdout
