"""Recommendations: collaborative filtering on hand-built data, the popularity fallback, product names in
mentions (English, Chinese, full-width), the store's mention texts, the template function, and scale."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bot.adapters.orders import Order
from bot.adapters.store import Store
from bot.adapters.templating import TemplateRenderer
from bot.core.errors import TemplateError
from bot.core.records import MentionRecord, UserRecord
from bot.domains.audience.recommend import (
    Catalogue,
    RecommendConfig,
    Recommender,
    Signal,
    catalogue_from,
    template_function,
    user_key,
)
from bot.sandbox import phrases
from bot.settings.config import Settings, load_config

NOW = datetime(2026, 11, 30, tzinfo=UTC)

CONFIG = """\
accounts:
  shop: {platform: sandbox, handle: lumenhome}
campaigns:
  sale:
    account: shop
    template: sale.j2
    schedule: {cron: "0 10 * * *"}
    products:
      - {name: Aki table lamp, name_zh: 秋 陶瓷台灯, price: 359, url: "https://lumenhome.example.com/p/aki"}
      - {name: Yuki candle, name_zh: 雪 香薰蜡烛, price: 79, url: "https://lumenhome.example.com/p/yuki"}
      - {name: Mori tea set, price: 259}
      - {name: Kaze doormat, price: 149}
segments:
  orders_csv: orders.csv
"""

REPLY = """\
Thanks {{ name }}!{% for p in recommend(user, 2) %} {{ p.name }} {{ p.price | price }}{% endfor %}
"""


def order(handle: str, product: str, days_ago: float = 10, number: int = 0) -> Order:
    return Order(handle, f"{handle}-{product}-{days_ago}-{number}", 10.0, NOW - timedelta(days=days_ago), product)


def names(recs: list) -> list[str]:  # type: ignore[type-arg]
    return [r.product for r in recs]


def catalogue() -> Catalogue:
    return catalogue_from(None, [(en, [zh], {"price": price}) for en, zh, price in phrases.PRODUCTS])


def test_people_with_overlapping_tastes_get_each_others_products() -> None:
    orders = [
        order("ann", "Yuki candle"),
        order("ann", "Mori tea set"),
        order("ann", "Kaze doormat"),
        order("bob", "Yuki candle"),
        order("bob", "Mori tea set"),
        order("cat", "Yuki candle"),
        order("cat", "Mori tea set"),
        # a different taste, more popular overall
        *(order(f"d{i}", "Hinoki bath set") for i in range(5)),
        *(order(f"d{i}", "Sora side table") for i in range(5)),
    ]
    rec = Recommender.from_data(orders=orders, catalogue=catalogue(), now=NOW)
    bob = rec.recommend(None, "@Bob", 3)
    assert bob[0].product == "Kaze doormat"
    assert bob[0].reason.startswith("similar customers") and bob[0].score > 0
    assert "Yuki candle" not in names(bob) and "Mori tea set" not in names(bob)  # bought already
    # the rest of the list is filled with popular products, marked as such
    assert [r.reason for r in bob[1:]] == ["popular", "popular"]
    # the other taste: d0 is like d1..d4 and gets nothing they have not got already -> popular fill only
    d0 = rec.recommend(None, "d0", 2)
    assert "Hinoki bath set" not in names(d0) and "Sora side table" not in names(d0)


def test_a_new_person_gets_the_popular_products_recent_orders_counting_more() -> None:
    orders = [
        *(order(f"old{i}", "Umi linen napkins", days_ago=300) for i in range(6)),
        *(order(f"new{i}", "Haru bath towels", days_ago=2) for i in range(3)),
        order("x", "Yuki candle", days_ago=40),
    ]
    rec = Recommender.from_data(orders=orders, catalogue=catalogue(), now=NOW)
    fresh = rec.recommend("x", "somebody_new", 3)
    assert names(fresh) == ["Haru bath towels", "Yuki candle", "Umi linen napkins"]
    assert all(r.reason == "popular" for r in fresh)
    assert fresh[0].info == {"price": 189.0}
    assert rec.recommend("x", "", 0) == []
    assert Recommender.from_data(now=NOW).recommend(None, "anyone", 3) == []  # nothing known: nothing to say
    # no orders at all: what people write about, recent mentions counting more
    talk = [("a", "Mori tea set?", NOW - timedelta(days=1)), ("b", "yuki candle", NOW - timedelta(days=200))]
    talk += [("c", "Yuki candle!", NOW - timedelta(days=200))]
    assert names(Recommender.from_data(mentions=talk, catalogue=catalogue(), now=NOW).recommend(None, "z", 2)) == [
        "Mori tea set",
        "Yuki candle",
    ]


def test_already_bought_products_are_excluded_unless_configured() -> None:
    orders = [order("ann", "Yuki candle"), order("ann", "Mori tea set"), order("bob", "Yuki candle")]
    rec = Recommender.from_data(orders=orders, catalogue=catalogue(), now=NOW, config=RecommendConfig(min_neighbours=1))
    assert "Yuki candle" not in names(rec.recommend(None, "bob", 10))
    assert names(rec.recommend(None, "bob", 1)) == ["Mori tea set"]
    keep = Recommender.from_data(
        orders=orders,
        catalogue=catalogue(),
        now=NOW,
        config=RecommendConfig(min_neighbours=1, exclude_bought=False),
    )
    assert "Yuki candle" in names(keep.recommend(None, "bob", 10))


def test_too_few_neighbours_falls_back_to_popular() -> None:
    orders = [order("ann", "Yuki candle"), order("ann", "Mori tea set"), order("bob", "Yuki candle")]
    rec = Recommender.from_data(orders=orders, catalogue=catalogue(), now=NOW, config=RecommendConfig(min_neighbours=2))
    assert all(r.reason == "popular" for r in rec.recommend(None, "bob", 3))


def test_product_names_are_found_in_english_chinese_and_full_width_text() -> None:
    cat = catalogue()
    assert cat.find("is the HINOKI bath sets back in stock?") == ["Hinoki bath set"]
    assert cat.find("秋陶瓷台灯还有货吗？") == ["Aki table lamp"]  # the catalogue's name has a space
    assert cat.find("请问 秋 陶瓷台灯 的尺寸") == ["Aki table lamp"]
    assert cat.find("ＹＵＫＩ　Ｃａｎｄｌｅ please") == ["Yuki candle"]
    assert cat.find("a yuki candleholder") == []  # whole words only
    assert cat.find("我想买Yuki candle和森 茶具套装") == ["Yuki candle", "Mori tea set"]  # English inside Chinese
    assert cat.find("nothing here") == []
    mentions = [
        ("mei", "@lumenhome 雪 香薰蜡烛有吗"),
        ("mei", "森 茶具套装 好看"),
        ("tom", "Yuki candle and Mori tea set!"),
    ]
    rec = Recommender.from_data(
        orders=[order("tom", "Kaze doormat")],
        mentions=mentions,
        catalogue=cat,
        now=NOW,
        config=RecommendConfig(min_neighbours=1),
    )
    assert rec.recommend(None, "mei", 1)[0].product == "Kaze doormat"  # what tom, who writes like her, bought
    assert rec.values.nnz == 5


def test_orders_of_products_outside_the_catalogue_are_kept() -> None:
    rec = Recommender.from_data(orders=[order("a", "Brand new vase"), order("b", "brand  NEW vase")], now=NOW)
    assert rec.products == ["Brand new vase"]
    assert names(rec.recommend(None, "c", 3)) == ["Brand new vase"]


def test_signal_kinds_have_their_weights() -> None:
    cat = catalogue()
    signals = [
        Signal("a", "Yuki candle", "order"),
        Signal("a", "Mori tea set", "click"),
        Signal("a", "Kaze doormat", "x"),
    ]
    rec = Recommender(signals, cat, NOW)
    row = rec.values[rec.users["a"]].toarray().ravel()
    by_name = {p: row[i] for i, p in enumerate(rec.products) if row[i]}
    assert by_name == pytest.approx({"Yuki candle": np.log1p(3.0), "Mori tea set": np.log1p(2.0)})


# ---- the store, the settings, the template ---------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "sale.j2").write_text("{{ product.name }}", encoding="utf-8")
    (tmp_path / "templates" / "reply.j2").write_text(textwrap.dedent(REPLY), encoding="utf-8")
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    rows = ["handle,order_id,amount,time,product"]
    rows += [f"ann,1{i},10,2026-11-0{i + 1}T10:00:00Z,{p}" for i, p in enumerate(["Aki table lamp", "Mori tea set"])]
    rows += ["bob,20,10,2026-11-05T10:00:00Z,Mori tea set", "cat,30,10,2026-11-05T10:00:00Z,Kaze doormat"]
    (tmp_path / "orders.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return load_config(tmp_path / "config.yaml", environ={})


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    s.upgrade()
    yield s
    s.close()


def mention(mid: str, author: str, text: str) -> MentionRecord:
    return MentionRecord(
        account="shop",
        platform="sandbox",
        kind="mention",
        platform_id=mid,
        text=text,
        outcome="answered",
        author_id=author,
        created_at=NOW - timedelta(days=1),
        seen_at=NOW - timedelta(days=1),
    )


def test_from_store_reads_orders_csv_mentions_and_catalogue(settings: Settings, store: Store) -> None:
    with store.mentions.unit("shop") as unit:
        unit.write(
            users=[UserRecord("sandbox", "7", "Bob"), UserRecord("sandbox", "9", "lumenhome")],
            mentions=[
                mention("1", "7", "@lumenhome 秋陶瓷台灯还有货吗"),
                mention("2", "8", "@lumenhome is the Yuki candle back?"),  # an author without a known handle
                mention("3", "9", "our own Yuki candle post"),  # the shop itself: left out
            ],
        )
    chunks = list(store.signals.iter_mention_texts(chunk=2))
    assert [len(c) for c in chunks] == [2, 1]
    assert chunks[0][0].username == "Bob" and chunks[0][1].username is None
    assert list(store.signals.iter_mention_texts(since=NOW)) == []

    rec = Recommender.from_store(store, settings, NOW, config=RecommendConfig(min_neighbours=1))
    assert set(rec.users) == {"ann", "bob", "cat", user_key("8", "sandbox")}
    assert rec.aliases[("sandbox", "7")] == "bob"
    # bob ordered the tea set and asked about the lamp (in Chinese): like ann, who bought both -> the lamp
    # (asked about, not bought: still recommended); by his platform id or his handle, the same person
    [lamp_for_bob] = rec.recommend("sandbox", "7", 1)
    assert lamp_for_bob.product == "Aki table lamp" and lamp_for_bob.reason.startswith("similar customers")
    assert rec.recommend("sandbox", "7", 3) == rec.recommend(None, "BOB", 3)
    lamp = rec.catalogue.info["Aki table lamp"]
    assert lamp["url"] == "https://lumenhome.example.com/p/aki" and lamp["name_zh"] == "秋 陶瓷台灯"
    # the anonymous author asked about the candle only: nobody like them -> popular, most ordered first
    anonymous = rec.recommend("sandbox", "8", 2)
    assert [r.reason for r in anonymous] == ["popular", "popular"] and anonymous[0].product == "Mori tea set"


def test_reply_template_calls_recommend(settings: Settings) -> None:
    orders = [order("ann", "Aki table lamp"), order("ann", "Mori tea set"), order("bob", "Mori tea set")]
    rec = Recommender.from_data(
        orders=orders, catalogue=catalogue_from(settings), now=NOW, config=RecommendConfig(min_neighbours=1)
    )
    renderer = TemplateRenderer(settings)
    context = {"user": "bob", "name": "Bob"}
    assert renderer.render_variant("reply.j2", 0, context) == "Thanks Bob!"  # no recommender: empty list
    renderer.use_recommender(template_function(rec, "sandbox"))
    text = renderer.render_variant("reply.j2", 0, context)
    assert text == "Thanks Bob! Aki table lamp $359.00"  # the tea set: bought; nothing else was ever ordered
    # a person the recommender has never seen gets the popular products; a broken call gives nothing
    assert renderer.render_variant("reply.j2", 0, {"user": "new_person", "name": "N"}).startswith("Thanks N! Mori")

    def broken(user: object, n: int) -> list[object]:
        raise RuntimeError("boom")

    renderer.use_recommender(broken)
    assert renderer.render_variant("reply.j2", 0, context) == "Thanks Bob!"
    fn = template_function(rec)
    assert fn({"platform": "sandbox", "username": "bob"}, 1)[0]["name"] == "Aki table lamp"
    assert fn("bob", "many") == []  # a bad n from a template: logged, empty
    assert template_function(None)("bob") == []


def test_recommendations_are_plain_data_in_the_sandbox(settings: Settings) -> None:
    rec = Recommender.from_data(orders=[order("ann", "Mori tea set")], catalogue=catalogue_from(settings), now=NOW)
    renderer = TemplateRenderer(settings, recommend=template_function(rec))
    (settings.templates_dir / "probe.j2").write_text(
        "{{ recommend(user, 1)[0].name }} {{ recommend(user, 1)[0].reason }}", encoding="utf-8"
    )
    assert renderer.render_variant("probe.j2", 0, {"user": "zoe"}) == "Mori tea set popular"
    (settings.templates_dir / "escape.j2").write_text("{{ recommend.__self__.settings }}", encoding="utf-8")
    with pytest.raises(TemplateError, match="not allowed"):  # no way from the function to the renderer
        renderer.render_variant("escape.j2", 0, {"user": "zoe"})


# ---- scale ---------------------------------------------------------------------------------------------


def test_ten_thousand_people_in_communities() -> None:
    rng = np.random.default_rng(7)
    products = [f"Product {i}" for i in range(100)]
    cat = Catalogue()
    for p in products:
        cat.add(p)
    signals: list[Signal] = []
    tastes = [rng.choice(100, size=8, replace=False) for _ in range(20)]
    for u in range(10_000):
        taste = tastes[u % 20]
        for p in rng.choice(taste, size=int(rng.integers(1, 5)), replace=False):
            signals.append(
                Signal(f"user{u}", products[int(p)], "order", NOW - timedelta(days=int(rng.integers(0, 90))))
            )
    rec = Recommender(signals, cat, NOW, RecommendConfig(neighbours=50))
    assert rec.values.shape == (10_000, 100)
    keys = [f"user{u}" for u in range(0, 10_000, 37)]
    answers = rec.recommend_many(keys, 5)
    bought: dict[str, set[str]] = {}
    for s in signals:
        bought.setdefault(s.user, set()).add(s.product)
    in_taste = total = 0
    for key, recs in zip(keys, answers, strict=True):
        assert len(recs) == 5 and not {r.product for r in recs} & bought[key]
        taste = {products[int(p)] for p in tastes[int(key[4:]) % 20]}
        cf = [r for r in recs if r.reason != "popular"]
        in_taste += sum(r.product in taste for r in cf)
        total += len(cf)
    assert total > 0 and in_taste / total > 0.9  # neighbours share the taste
