"""`variants: learn` on revenue: the bandit follows the orders each variant's UTM links brought (the shop's orders
CSV attributed to the sent posts), not the likes, once enough orders are attributed (`learn_on: auto`), or always
(`learn_on: revenue`); without orders it learns on engagement as before (real SQLite, real templates, real CSV)."""

from __future__ import annotations

import csv
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.adapters.store import Store
from bot.adapters.store.keys import campaign_key
from bot.adapters.store.tables import post_metric_t
from bot.adapters.templating import TemplateRenderer
from bot.adapters.templating.filters import slot_term
from bot.core.clock import ManualClock
from bot.core.errors import ConfigError
from bot.domains.outcomes.attributed import AttributedOrders
from bot.domains.outcomes.attribution import Money
from bot.domains.outcomes.bandit import (
    ATTRIBUTED_ENOUGH,
    FLOOR,
    RevenueStats,
    rank_variants_by_revenue,
    revenue_stats,
)
from bot.domains.publishing.campaigns import CampaignService
from bot.settings.config import Settings, load_config

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
PAST = [T0 - timedelta(days=4) + timedelta(hours=3 * i) for i in range(20)]  # 10 earlier slots per variant

CONFIG = """\
timezone: UTC
database_url: {database_url}
templates_dir: templates
accounts:
  shop: {{platform: sandbox, handle: shop, base_url: "http://127.0.0.1:9"}}
campaigns:
  sale:
    account: shop
    template: sale.j2
    variants: learn
    {learn_on}
    schedule: {{interval: 3h}}
    {utm}
    products:
      - {{name: Lamp, price: 100, url: "https://shop.example.com/lamp"}}
{segments}"""
TEMPLATE = "Liked a lot {{ product.url | utm }}\n{# variant #}\nBought a lot {{ product.url | utm }}\n"


def project(tmp_path: Path, *, learn_on: str = "", orders: bool = True, utm: str = "") -> Settings:
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "sale.j2").write_text(TEMPLATE, encoding="utf-8")
    path = tmp_path / "config.yaml"
    text = CONFIG.format(
        database_url=f"sqlite:///{tmp_path / 'socialbot.db'}",
        learn_on=f"learn_on: {learn_on}" if learn_on else "",
        utm=f"utm: {{campaign: {utm}}}" if utm else "",
        segments="segments:\n  orders_csv: orders.csv\n" if orders else "",
    )
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path, environ={}, require_credentials=False)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'socialbot.db'}")
    s.upgrade()
    try:
        yield s
    finally:
        s.close()


def history(store: Store, tmp_path: Path, *, orders_per_post: int, utm_campaign: str = "sale") -> None:
    """Ten sent posts per variant: variant 0 liked 5x more; each variant 1 post brought `orders_per_post` orders of
    100 through its link, variant 0's none."""
    rows: list[dict[str, Any]] = []
    orders: list[list[str]] = []
    for i, slot in enumerate(PAST):
        variant = str(i % 2)
        assert store.slots.enqueue_campaign_slot("sale", slot, account="shop", text=f"post {i}", variant=variant)
        key = campaign_key("sale", slot)
        item = store.outbox.item(key=key)
        assert item is not None
        store.outbox.mark_sent(item, f"remote-{i}", now=slot + timedelta(seconds=5))
        rows.append(
            {
                "account": "shop",
                "platform": "sandbox",
                "kind": "post",
                "post_id": f"remote-{i}",
                "outbox_key": key,
                "campaign": "sale",
                "variant": variant,
                "slot_at": slot,
                "posted_at": slot + timedelta(seconds=5),
                "age": "24h",
                "read_at": slot + timedelta(hours=24),
                "likes": 50 if variant == "0" else 10,
                "reposts": 0,
                "replies": 0,
                "quotes": 0,
                "impressions": 1000,
            }
        )
        if variant == "1":
            for n in range(orders_per_post):
                when = (slot + timedelta(hours=2 + n)).strftime("%Y-%m-%dT%H:%M:%SZ")
                orders.append([f"buyer{i}{n}", f"o{i}-{n}", "100", when, "x", utm_campaign, "v1", slot_term(slot)])
    with store.db.tx("test readings") as conn:
        conn.execute(post_metric_t.insert(), rows)
    with (tmp_path / "orders.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["handle", "order_id", "amount", "time", "utm_source", "utm_campaign", "utm_content", "utm_term"]
        )
        writer.writerows(orders)


def picks(settings: Settings, store: Store) -> list[int]:
    clock = ManualClock(T0)
    service = CampaignService(settings, store, TemplateRenderer(settings, clock=clock), clock)
    return [service.variant_order("sale", "shop", T0 + timedelta(hours=3 * k), k, 2)[0] for k in range(200)]


# ---- the campaign path -------------------------------------------------------------------------------------------


def test_auto_learns_on_revenue_once_enough_orders_name_the_posts(tmp_path: Path, store: Store) -> None:
    settings = project(tmp_path)
    history(store, tmp_path, orders_per_post=2)  # 20 orders >= ATTRIBUTED_ENOUGH
    assert ATTRIBUTED_ENOUGH <= 10 * 2
    chosen = picks(settings, store)
    assert chosen.count(1) / len(chosen) > 0.85  # the variant that sells, though liked less


def test_auto_learns_on_engagement_while_few_orders_are_attributed(tmp_path: Path, store: Store) -> None:
    settings = project(tmp_path)
    history(store, tmp_path, orders_per_post=0)
    chosen = picks(settings, store)
    assert chosen.count(0) / len(chosen) > 0.85  # the liked one


def test_engagement_ignores_the_orders_and_revenue_follows_them(tmp_path: Path, store: Store) -> None:
    history(store, tmp_path, orders_per_post=2)
    assert picks(project(tmp_path, learn_on="engagement"), store).count(0) > 170
    assert picks(project(tmp_path, learn_on="revenue"), store).count(1) > 170


def test_a_campaign_whose_links_carry_another_utm_campaign_still_gets_its_orders(tmp_path: Path, store: Store) -> None:
    settings = project(tmp_path, learn_on="revenue", utm="winter-promo")  # utm: {campaign: winter-promo}
    history(store, tmp_path, orders_per_post=2, utm_campaign="winter-promo")
    orders = AttributedOrders.for_settings(settings, store, ManualClock(T0))
    assert orders is not None and orders.current().to_posts == 20
    assert sum(m.orders for m in orders.per_post("sale", T0).values()) == 20
    assert picks(settings, store).count(1) > 170


def test_orders_after_the_slot_do_not_count_for_it(tmp_path: Path, store: Store) -> None:
    settings = project(tmp_path, learn_on="revenue")
    history(store, tmp_path, orders_per_post=2)
    clock = ManualClock(T0)
    orders = AttributedOrders.for_settings(settings, store, clock)
    assert orders is not None
    assert sum(m.orders for m in orders.per_post("sale", T0).values()) == 20
    early = orders.per_post("sale", PAST[1] + timedelta(hours=2, minutes=30))  # only PAST[1]'s first order
    assert early == {campaign_key("sale", PAST[1]): Money(1, 100.0)}
    assert orders.per_post("other", T0) == {}


def test_a_changed_orders_file_is_read_again_and_bad_rows_are_named(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    settings = project(tmp_path, learn_on="revenue")
    history(store, tmp_path, orders_per_post=1)
    orders = AttributedOrders.for_settings(settings, store, ManualClock(T0))
    assert orders is not None and orders.current().to_posts == 10
    with (tmp_path / "orders.csv").open("a", encoding="utf-8") as fh:
        fh.write(f"late,o-late,100,2026-11-02T09:00:00Z,x,sale,v1,{slot_term(PAST[1])}\n")
        fh.write("bad,o-bad,lots,2026-11-02T09:00:00Z,x,sale,v1,\n")
    assert orders.current().to_posts == 11
    assert "1 bad row(s) left out" in caplog.text and "orders.csv:13" in caplog.text


def test_revenue_needs_the_orders_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        project(tmp_path, learn_on="revenue", orders=False)
    assert "campaigns.sale.learn_on" in str(err.value) and "segments.orders_csv" in str(err.value)


# ---- the pure model ----------------------------------------------------------------------------------------------


def posts(rates: list[float], seed: int, each: int = 1000) -> RevenueStats:
    """One post per rate: its revenue drawn around rate x impressions, with a lot of spread between posts."""
    rng = np.random.default_rng(seed)
    stats = RevenueStats()
    for rate in rates:
        stats = stats.add(float(rng.gamma(0.5, 2 * rate * each)), each)
    return stats


def test_revenue_per_impression_decides_with_the_post_as_the_unit() -> None:
    clear = {0: posts([0.1] * 40, 1), 1: posts([0.3] * 40, 2)}
    chosen = [rank_variants_by_revenue(clear, seed, floor=0.0)[0] for seed in range(300)]
    assert chosen.count(1) > 285
    assert sorted(rank_variants_by_revenue(clear, 7)) == [0, 1]
    assert rank_variants_by_revenue(clear, 7) == rank_variants_by_revenue(clear, 7)
    floored = [rank_variants_by_revenue(clear, seed)[0] for seed in range(4000)]
    assert FLOOR / 2 * 0.8 < floored.count(0) / len(floored) < FLOOR / 2 * 1.3
    # two lucky posts of a variant do not settle it against forty steady ones
    lucky = {0: posts([0.2] * 40, 3), 1: RevenueStats().add(600.0, 1000).add(500.0, 1000)}
    early = [rank_variants_by_revenue(lucky, seed, floor=0.0)[0] for seed in range(300)]
    assert 30 < early.count(0) < 270


def test_converges_to_the_variant_that_sells_with_less_regret_than_rotation() -> None:
    rng = np.random.default_rng(5)
    rates = np.array([0.2, 0.3, 0.45])  # revenue per impression, posts selling unevenly (gamma, shape 0.5)
    stats = {i: RevenueStats() for i in range(3)}
    sent = np.zeros(3)
    regret = 0.0
    for k in range(300):
        v = rank_variants_by_revenue(stats, f"sim:{k}")[0]
        sent[v] += 1
        regret += rates.max() - rates[v]
        stats[v] = stats[v].add(float(rng.gamma(0.5, 2 * rates[v] * 1000)), 1000)
    rotation = sum(rates.max() - rates[k % 3] for k in range(300))
    assert sent[2] / 300 > 0.6
    assert regret / rotation < 0.5


def test_revenue_stats_sum_each_variants_posts() -> None:
    money = {"a": (2.0, 150.0), "c": (1.0, 40.0)}
    stats = revenue_stats(["0", "1", "1", "x", "0"], ["a", "b", "c", "d", None], [1000, 500, 500, 10, 0], money, 2)
    assert (stats[0].posts, stats[0].revenue, stats[0].exposure) == (1, 150.0, 1000.0)
    assert (stats[1].posts, stats[1].revenue, stats[1].exposure) == (2, 40.0, 1000.0)
    assert stats[1].post_variance() == pytest.approx(((0 - 0.04 * 500) ** 2 + (40 - 0.04 * 500) ** 2) / 500**2)
