"""`target: uplift` coupon campaigns: config, the ranking with its exploration slice and holdout on real databases
(SQLite, PostgreSQL when configured) from an earlier campaign's random holdout, the fallback to the segments
without history, once per person across a rerun, the report's words, and the planted uplift types."""

from __future__ import annotations

import csv
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.domains.coupons.issuing import CouponService
from bot.domains.coupons.uplift import EXPLORE_SHARE
from bot.domains.coupons.uplift_report import uplift_rows
from bot.sandbox.audience.offers import LOST, PERSUADABLE, SURE, PlantedOffers, Traits, type_chances
from bot.sandbox.audience.population import make_communities, make_users
from bot.settings.config import AccountConfig, Settings
from bot.settings.coupons import CouponCampaignConfig, CouponsConfig
from bot.settings.segments import SegmentsConfig
from tests.conftest import REPO_ROOT
from tests.test_coupons import seed_segments

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PEOPLE = 600


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@dataclass
class Table:
    """The audience's feature table as the app gives it (bot.domains.audience.features.FeatureTable's fields)."""

    platform: np.ndarray
    user_id: np.ndarray
    username: np.ndarray
    columns: dict[str, np.ndarray]


def kind_of(i: int) -> str:
    return (SURE, PERSUADABLE, LOST)[i % 3]


def features(now: datetime) -> Table:
    """Persuadables write often and never complain, lost causes complain; sure things show in their orders."""
    kinds = [kind_of(i) for i in range(PEOPLE)]
    return Table(
        np.array(["x"] * PEOPLE, dtype=object),
        np.array([f"u{i}" for i in range(PEOPLE)], dtype=object),
        np.array([f"user{i}" for i in range(PEOPLE)], dtype=object),
        {
            "per_week": np.array([3.0 if k == PERSUADABLE else 0.5 for k in kinds]),
            "complaints": np.array([2.0 if k == LOST else 0.0 for k in kinds]),
        },
    )


def write_orders(path: Path, rows: list[tuple[str, str, float, datetime]]) -> None:
    new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(["handle", "order_id", "amount", "time"])
        for handle, order_id, amount, when in rows:
            writer.writerow([handle, order_id, f"{amount:.2f}", when.strftime("%Y-%m-%dT%H:%M:%SZ")])


def history(path: Path) -> None:
    """Sure things ordered every month at full price before the campaigns; persuadables once, long ago."""
    rows = []
    for i in range(PEOPLE):
        months = {SURE: 4, PERSUADABLE: 1, LOST: 0}[kind_of(i)]
        for m in range(months):
            rows.append((f"user{i}", f"H{i}-{m}", 100.0, START - timedelta(days=20 + 30 * m + (4 if m else 0) * 30)))
    write_orders(path, rows)


def answer(store: Store, path: Path, campaign: str, seed: int) -> None:
    """The planted answer to a campaign: sure things order anyway, persuadables only with a code, lost causes never."""
    rng = random.Random(seed)
    rows = []
    for c in store.coupons.find(campaign=campaign):
        i = int(c.user_id[1:])
        kind = kind_of(i)
        chance = 0.6 if kind == SURE or (kind == PERSUADABLE and not c.holdout) else 0.0
        if rng.random() < chance:
            rows.append((f"user{i}", f"{campaign}-{i}", 90.0, c.issued_at + timedelta(days=2)))
    write_orders(path, rows)


def settings_with(tmp_path: Path, **campaigns: dict[str, Any]) -> Settings:
    configs = {name: CouponCampaignConfig(**{"discount": "10%", **values}) for name, values in campaigns.items()}
    return Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        templates_dir=REPO_ROOT / "templates",
        segments=SegmentsConfig(orders_csv=tmp_path / "orders.csv"),
        coupons=CouponsConfig(campaigns=configs, margin_rate=0.4, export_dir=tmp_path / "exports", batch_size=100),
        config_path=tmp_path / "config.yaml",
    )


CAMPAIGNS = {
    "winter": {"budget": 10_000, "holdout": 0.5, "expires_after": "7d", "channel": "export"},
    "spring": {
        "budget": 120,
        "holdout": 0.1,
        "expires_after": "7d",
        "channel": "export",
        "target": "uplift",
        "learn_from": ["winter"],
    },
}


def test_target_uplift_is_validated_with_the_campaign_and_field_named() -> None:
    assert CouponCampaignConfig(discount="10%", budget=5).target == "segments"
    assert CouponCampaignConfig(discount={"en": "¥30", "zh": "满200减30"}, budget=5, target="uplift").coupon_depth
    cases = [
        ({"discount": "free shipping", "target": "uplift"}, "target: uplift weighs what a coupon costs"),
        ({"discount": "10%", "target": "everyone"}, "'segments' or 'uplift'"),
    ]
    for values, message in cases:
        with pytest.raises(ValidationError) as info:
            CouponsConfig(campaigns={"spring": {"budget": 10, **values}}, margin_rate=0.4)
        assert message in str(info.value) and "campaigns.spring" in str(info.value), str(info.value)
    with pytest.raises(ValidationError, match=r"campaigns spring learn from .*`target: uplift`.*margin_rate"):
        CouponsConfig(campaigns={"spring": {"budget": 10, "discount": "10%", "target": "uplift"}})


def test_without_history_the_campaign_falls_back_to_its_segments_and_says_so(
    store: Store, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seed_segments(store, PEOPLE)
    history(tmp_path / "orders.csv")
    settings = settings_with(tmp_path, **CAMPAIGNS)
    service = CouponService(settings, store, clock, features=features)
    report = service.issue("spring")
    assert report.fallback is not None and "held out in earlier campaigns" in report.fallback
    assert report.issued == 120 and report.target == "segments"
    assert "target: uplift cannot rank people yet, so its segments get the codes" in caplog.text
    rows = store.coupons.find(campaign="spring")
    assert {r.choice for r in rows if not r.holdout} == {"segment"}
    assert all(r.propensity == pytest.approx(0.9) for r in rows if not r.holdout)
    words = uplift_rows(settings, store.coupons, clock.now(), features)[0].sentence()
    assert "120 to its segments as a whole while it could not rank yet" in words
    assert "not measured yet" in words


def test_ranking_learned_from_an_earlier_holdout_gives_the_codes_to_the_persuadable(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    seed_segments(store, PEOPLE)
    orders = tmp_path / "orders.csv"
    history(orders)
    settings = settings_with(tmp_path, **CAMPAIGNS)
    service = CouponService(settings, store, clock, features=features)
    assert service.issue("winter").issued > 250
    answer(store, orders, "winter", seed=1)
    clock.advance(timedelta(days=8))
    report = service.issue("spring")
    assert report.fallback is None and report.target == "uplift"
    explored = round(120 * EXPLORE_SHARE)
    assert (report.issued, report.ranked, report.explored) == (120, 120 - explored, explored)
    rows = store.coupons.find(campaign="spring")
    given = [r for r in rows if not r.holdout]
    ranked = [r for r in given if r.choice == "ranked"]
    kinds = Counter(kind_of(int(r.user_id[1:])) for r in ranked)
    assert kinds[PERSUADABLE] >= 0.9 * len(ranked), kinds
    assert all(r.propensity == pytest.approx(0.9) for r in ranked)
    assert all(0 < (r.propensity or 0) < 0.9 for r in given if r.choice == "explored")
    held = [r for r in rows if r.holdout]
    assert 0.05 * PEOPLE < len(held) < 0.15 * PEOPLE and all(r.propensity == pytest.approx(0.1) for r in held)
    assert not {r.user_id for r in held} & {r.user_id for r in given}

    # a rerun (after a crash, or the next turn of the job) chooses the same people: nobody twice, within budget
    again = service.issue("spring")
    assert again.issued == 0 and again.held_out == 0
    after = store.coupons.find(campaign="spring")
    assert len(after) == len(rows) and len({(r.platform, r.user_id) for r in after}) == len(after)
    assert store.coupons.budget("spring")[0] == 120


def test_a_rerun_after_a_crash_between_batches_completes_the_same_choice(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    seed_segments(store, PEOPLE)
    orders = tmp_path / "orders.csv"
    history(orders)
    settings = settings_with(tmp_path, **CAMPAIGNS)
    CouponService(settings, store, clock, features=features).issue("winter")
    answer(store, orders, "winter", seed=2)
    clock.advance(timedelta(days=8))
    whole = Store.open(f"sqlite:///{tmp_path / 'whole.db'}", clock=clock)
    whole.upgrade()
    try:
        # the same history in a second database, issued in one go: the choice a crash must not change
        seed_segments(whole, PEOPLE)
        for r in store.coupons.find(campaign="winter"):
            assert r.issued_at == START
        clock.set(START)
        CouponService(settings, whole, clock, features=features).issue("winter")
        clock.set(START + timedelta(days=8))
        CouponService(settings, whole, clock, features=features).issue("spring")
        expected = {r.user_id for r in whole.coupons.find(campaign="spring") if not r.holdout}
    finally:
        whole.close()

    class Crash(Exception):
        pass

    service = CouponService(settings, store, clock, features=features)
    real_issue = store.coupons.issue
    calls = 0

    def crash_on_second_batch(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Crash
        return real_issue(*args, **kwargs)

    store.coupons.issue = crash_on_second_batch  # type: ignore[method-assign]  # the daemon dies mid-issuance
    with pytest.raises(Crash):
        service.issue("spring")
    store.coupons.issue = real_issue  # type: ignore[method-assign]
    assert len(store.coupons.find(campaign="spring")) > 0
    service.issue("spring")
    rows = store.coupons.find(campaign="spring")
    assert {r.user_id for r in rows if not r.holdout} == expected
    assert store.coupons.budget("spring")[0] == 120 == len(expected)
    assert len({r.user_id for r in rows}) == len(rows)


def test_report_gives_the_qini_of_the_ranking_on_the_next_random_campaign(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    seed_segments(store, PEOPLE)
    orders = tmp_path / "orders.csv"
    history(orders)
    campaigns = {**CAMPAIGNS, "autumn": dict(CAMPAIGNS["winter"])}
    campaigns["spring"] = {**CAMPAIGNS["spring"], "learn_from": ["autumn", "winter"]}
    settings = settings_with(tmp_path, **campaigns)
    service = CouponService(settings, store, clock, features=features)
    service.issue("autumn")
    answer(store, orders, "autumn", seed=3)
    clock.advance(timedelta(days=8))
    service.issue("winter")
    answer(store, orders, "winter", seed=4)
    clock.advance(timedelta(days=8))
    service.issue("spring")
    row = uplift_rows(settings, store.coupons, clock.now(), features)[0]
    assert row.measured_on == "winter" and row.learned_from == ["autumn"]
    assert row.coefficient is not None and row.coefficient > 0.3
    words = row.sentence()
    assert "the ranking found the people a coupon changes" in words and "Qini coefficient" in words
    assert f"{row.ranked:,} to the people ranked highest" in words and "with what it had learned from autumn" in words


def test_planted_uplift_types_follow_what_the_bot_can_see_and_are_deterministic_per_seed() -> None:
    rng = random.Random(3)
    communities = make_communities(rng, 3)
    users = make_users(rng, communities, 600, 3, "shop")
    traits = {
        u.username.lower(): Traits(
            orders=i % 6, last_order_days=float(i % 200) if i % 6 else None, complaints=(i // 6) % 3, actions=i % 12
        )
        for i, u in enumerate(users)
    }
    history = {h: t.orders for h, t in traits.items()}
    first = PlantedOffers(7, communities, users, history, traits)
    second = PlantedOffers(7, communities, users, history, dict(reversed(list(traits.items()))))
    assert first.kinds == second.kinds
    assert first.kinds != PlantedOffers(8, communities, users, history, traits).kinds
    counts = Counter(first.kinds.values())
    assert all(counts[k] > 50 for k in (SURE, PERSUADABLE, LOST)), counts
    regular = [h for h, t in traits.items() if t.orders >= 3 and (t.last_order_days or 999) <= 120]
    complainers = [h for h, t in traits.items() if t.complaints >= 2]
    assert sum(first.kind_of(h) == SURE for h in regular) > 0.6 * len(regular)
    assert sum(first.kind_of(h) == LOST for h in complainers) > 0.6 * len(complainers)
    assert type_chances(Traits()) == (0.0, 0.5)
    sure = next(h for h, k in first.kinds.items() if k == SURE)
    lost = next(h for h, k in first.kinds.items() if k == LOST)
    persuadable = next(h for h, k in first.kinds.items() if k == PERSUADABLE)
    assert first.incremental(sure, "15%") == 0 and first.incremental(lost, "15%") == 0
    assert first.incremental(persuadable, "15%") > 0.1
