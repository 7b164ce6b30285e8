"""`variants: learn`: the Thompson-sampling bandit converges to the planted best variant and keeps its floor, the same
slot picks the same variant in any daemon, and the duplicate-text rule still holds (real SQLite, real templates)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.store import Store
from bot.adapters.store.tables import post_metric_t
from bot.adapters.templating import TemplateRenderer
from bot.core.clock import ManualClock
from bot.domains.outcomes.bandit import FLOOR, choose_variant, rank_variants, simulate, slot_seed
from bot.domains.publishing.campaigns import CampaignService
from bot.settings.config import Settings, load_config

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)

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
  learned:
    account: shop
    template: numbered.j2
    variants: learn
    schedule:
      interval: 1h
  fixed:
    account: shop
    template: fixed.j2
    variants: learn
    schedule:
      interval: 1h
"""
TEMPLATES = {
    "numbered.j2": "Plain offer {{ sequence }}\n{# variant #}\nBold offer {{ sequence }}\n",
    "fixed.j2": "The plain words.\n{# variant #}\nThe bold words.\n",
}


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'socialbot.db'}"


@pytest.fixture
def settings(tmp_path: Path, url: str) -> Settings:
    (tmp_path / "templates").mkdir()
    for name, body in TEMPLATES.items():
        (tmp_path / "templates" / name).write_text(body, encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG).format(database_url=url), encoding="utf-8")
    return load_config(path, environ={}, require_credentials=False)


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = Store.open(url)
    s.upgrade()
    try:
        yield s
    finally:
        s.close()


def service(settings: Settings, store: Store) -> CampaignService:
    clock = ManualClock(T0)
    return CampaignService(settings, store, TemplateRenderer(settings, clock=clock), clock)


def readings(campaign: str, likes: dict[str, int], posts: int = 10) -> list[dict[str, Any]]:
    """`posts` earlier posts per variant, each seen 1,000 times and liked likes[variant] times."""
    rows = []
    for variant, liked in likes.items():
        for i in range(posts):
            at = T0 - timedelta(days=3, hours=i)
            rows.append(
                {
                    "account": "shop",
                    "platform": "sandbox",
                    "kind": "post",
                    "post_id": f"{campaign}-{variant}-{i}",
                    "campaign": campaign,
                    "variant": variant,
                    "posted_at": at,
                    "age": "24h",
                    "read_at": at + timedelta(hours=24),
                    "likes": liked,
                    "reposts": 0,
                    "replies": 0,
                    "quotes": 0,
                    "impressions": 1000,
                }
            )
    return rows


def insert(store: Store, rows: list[dict[str, Any]]) -> None:
    with store.db.tx("test readings") as conn:
        conn.execute(post_metric_t.insert(), rows)


# ---- the pure bandit ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_converges_to_the_planted_best_variant_with_less_regret_than_rotation(seed: int) -> None:
    result = simulate([0.02, 0.025, 0.03], 300, seed=seed)
    assert result.shares[2] > 0.75
    assert result.ratio < 0.5  # the eval's goal: bandit regret <= half of rotation's
    assert result.bandit_regret < result.rotation_regret


def test_keeps_the_exploration_floor() -> None:
    stats = {0: (300.0, 10_000.0), 1: (100.0, 10_000.0)}  # variant 0 clearly better
    picks = [choose_variant(stats, seed) for seed in range(4000)]
    share = picks.count(1) / len(picks)
    assert FLOOR / 2 * 0.8 < share < FLOOR / 2 * 1.3  # each of 2 variants keeps at least FLOOR / 2 of the slots
    assert [choose_variant(stats, seed, floor=0.0) for seed in range(200)].count(1) == 0


def test_same_seed_same_variant_and_every_variant_ranked() -> None:
    stats = {0: (10.0, 1000.0), 1: (12.0, 1000.0), 2: (0.0, 0.0)}
    seed = slot_seed("sale", T0)
    assert seed == slot_seed("sale", T0.astimezone())  # the same instant in any zone
    assert seed != slot_seed("sale", T0 + timedelta(hours=1)) and seed != slot_seed("other", T0)
    assert {choose_variant(stats, seed) for _ in range(5)} == {choose_variant(stats, seed)}
    assert sorted(rank_variants(stats, seed)) == [0, 1, 2]
    with pytest.raises(ValueError):
        choose_variant({}, seed)


# ---- in the campaign service --------------------------------------------------------------------------------------


def test_learned_campaign_sends_the_better_variant_and_records_it(settings: Settings, store: Store) -> None:
    insert(store, readings("learned", {"0": 10, "1": 40}))
    one = service(settings, store)
    results = [one.fire("learned", T0 + timedelta(hours=h), now=T0 + timedelta(hours=h)) for h in range(30)]
    assert all(r.state == "queued" for r in results)
    variants = [r.variant for r in results]
    assert variants.count(1) >= 24  # 4x the engagement: nearly every slot, the floor aside
    slots = {s.slot_at: s for s in store.slots.find("learned")}
    assert all(slots[r.slot_at].variant == str(r.variant) for r in results)  # readings will carry it


def test_same_slot_same_variant_in_a_second_daemon(settings: Settings, store: Store) -> None:
    insert(store, readings("learned", {"0": 20, "1": 22}))  # close: the draw decides, so it must be seeded
    one, two = service(settings, store), service(settings, store)
    slots = [T0 + timedelta(hours=h) for h in range(40)]
    first = [one.variant_order("learned", "shop", slot, 0, 2) for slot in slots]
    assert first == [two.variant_order("learned", "shop", slot, 0, 2) for slot in slots]
    assert {order[0] for order in first} == {0, 1}  # and not the same for every slot


def test_a_text_already_posted_falls_to_the_next_best(settings: Settings, store: Store) -> None:
    insert(store, readings("fixed", {"0": 5, "1": 60}))  # the bold words win
    store.slots.enqueue_campaign_slot(
        "earlier", T0 - timedelta(days=1), account="shop", text="The bold words.", variant="1"
    )
    result = service(settings, store).fire("fixed", T0, now=T0)
    assert result.state == "queued" and result.variant == 0 and result.text == "The plain words."
    again = service(settings, store).fire("fixed", T0 + timedelta(hours=1), now=T0 + timedelta(hours=1))
    assert again.state == "skipped" and "every variant already posted" in (again.reason or "")
