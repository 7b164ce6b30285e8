"""Attribution: campaign links carry their variant and slot; the shop's orders (UTM columns, landing URLs, or a visits
CSV) are attributed to the post, variant and campaign they name, on real databases; the report shows orders and
revenue; the simulated audience's orders are attributed to the planted campaign and variant."""

from __future__ import annotations

import csv
import json
import random
import textwrap
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from typer.testing import CliRunner

from bot.adapters.orders import read_orders_csv, read_visits_csv
from bot.adapters.store import Store
from bot.adapters.store.keys import campaign_account_key, campaign_key
from bot.adapters.store.tables import post_metric_t
from bot.adapters.templating import TemplateRenderer
from bot.adapters.templating.filters import parse_slot_term, parse_variant_content, slot_term
from bot.app.cli import app
from bot.core.clock import ManualClock
from bot.domains.outcomes import attribution as attr
from bot.domains.outcomes.attribution import attribute, money, store_posts
from bot.sandbox.audience.orders import write_orders_csv
from bot.sandbox.audience.outcomes import PlantedOutcomes
from bot.sandbox.audience.population import make_communities, make_users
from bot.settings.config import load_config

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
T0 = NOW - timedelta(days=3)  # the slots: within the report's 16 weeks, before real now
S1, S2, S3, S4 = (T0 + timedelta(hours=h) for h in (0, 5, 10, 20))

CONFIG = """\
timezone: Asia/Shanghai
database_url: {url}
currency: "¥"
accounts:
  shop: {{platform: sandbox, handle: lumenhome}}
  shop_x: {{platform: x, handle: lumenx}}
  shop_bsky: {{platform: bluesky, handle: lumen.bsky.social}}
campaigns:
  spring-sale:
    account: shop
    template: spring.j2
    schedule: {{cron: "0 10 * * *"}}
    {utm}
    products:
      - {{name: Lamp, price: 1299, url: "https://lumenhome.example.com/p/lamp?ref=a"}}
  launch:
    accounts: [shop_x, shop_bsky]
    template: spring.j2
    schedule: {{cron: "0 12 * * *"}}
    products:
      - {{name: Vase, price: 99, url: "https://lumenhome.example.com/p/vase"}}
segments:
  orders_csv: orders.csv
"""

SPRING = """\
Spring deal: {{ product.name }} {{ product.price | price }} {{ product.url | utm }}
{# variant #}
Fresh picks for spring: {{ product.name }} {{ product.url | utm }}
{# variant #}
Last chance, {{ product.name }} {{ product.url | utm }}
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def shop_dir(
    tmp_path: Path, url: str = "sqlite:///unused.db", *, utm: str = "", templates: dict[str, str] | None = None
) -> Path:
    (tmp_path / "templates").mkdir(exist_ok=True)
    for name, body in (templates or {"spring.j2": SPRING}).items():
        (tmp_path / "templates" / name).write_text(textwrap.dedent(body), encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(url=url, utm=utm or "hashtags: []"), encoding="utf-8")
    return path


def query(text: str) -> dict[str, str]:
    url = next(word for word in text.split() if word.startswith("https://"))
    return dict(parse_qsl(urlsplit(url).query))


# ------------------------------------------------------------------------------------------------ UTM


def test_campaign_links_carry_variant_and_slot(tmp_path: Path) -> None:
    renderer = TemplateRenderer(load_config(shop_dir(tmp_path), environ={}, require_credentials=False))
    slot = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
    first = renderer.render_campaign("spring-sale", slot_at=slot, sequence=0)
    second = renderer.render_campaign("spring-sale", slot_at=slot + timedelta(seconds=30), sequence=1)
    assert query(first.text) == {
        "ref": "a",
        "utm_source": "x",
        "utm_medium": "social",
        "utm_campaign": "spring-sale",
        "utm_content": "v0",
        "utm_term": "20261111T0200Z",
    }
    assert first.text.endswith("&utm_content=v0&utm_term=20261111T0200Z")  # readable: nothing percent-encoded
    assert query(second.text)["utm_content"] == "v1" and query(second.text)["utm_term"] == "20261111T020030Z"
    assert parse_slot_term("20261111T0200Z") == slot and parse_slot_term("2026-11-11T02:00Z") == slot
    assert parse_slot_term(slot_term(slot + timedelta(seconds=30))) == slot + timedelta(seconds=30)
    assert parse_slot_term("spring") is None and parse_slot_term("20261341T0200Z") is None
    assert parse_variant_content("v2") == "2" and parse_variant_content("zh") is None
    bsky = renderer.render_campaign("launch", slot_at=slot, sequence=1, account="shop_bsky")
    assert query(bsky.text)["utm_source"] == "bluesky" and query(bsky.text)["utm_content"] == "v1"


def test_a_templates_or_configs_own_utm_wins(tmp_path: Path) -> None:
    body = (
        "A {{ 'https://s.example/a' | utm(content='hero', term='lamps') }} "
        "B {{ 'https://s.example/b?utm_content=mine' | utm }}\n"
    )
    renderer = TemplateRenderer(
        load_config(
            shop_dir(tmp_path, utm="utm: {content: zh}", templates={"spring.j2": body}),
            environ={},
            require_credentials=False,
        )
    )
    text = renderer.render_campaign("spring-sale", slot_at=S1, sequence=0).text
    a, b = (dict(parse_qsl(urlsplit(w).query)) for w in text.split() if w.startswith("https://"))
    assert a["utm_content"] == "hero" and a["utm_term"] == "lamps"  # the filter's arguments
    assert b["utm_content"] == "mine" and b["utm_term"] == slot_term(S1)  # the URL's own, then the slot
    renderer = TemplateRenderer(
        load_config(shop_dir(tmp_path, utm="utm: {content: zh}"), environ={}, require_credentials=False)
    )
    assert query(renderer.render_campaign("spring-sale", slot_at=S1, sequence=0).text)["utm_content"] == "zh"


# ------------------------------------------------------------------------------------------ attribution


def sent(store: Store, clock: ManualClock, key: str, at: datetime) -> None:
    item = store.outbox.item(key=key)
    assert item is not None
    store.outbox.mark_sent(item, f"r-{abs(hash(key))}", now=at)


def seed_posts(store: Store, clock: ManualClock) -> dict[str, str]:
    """spring-sale (one account): S1 variant 0 and S2 variant 1 sent, S3 never sent; launch (x + bluesky): S4."""
    keys = {}
    for name, slot, variant in (("s1", S1, "0"), ("s2", S2, "1"), ("s3", S3, "2")):
        assert store.slots.enqueue_campaign_slot(
            "spring-sale", slot, account="shop", text=f"Spring {name} https://l.example", variant=variant
        )
        keys[name] = campaign_key("spring-sale", slot)
    store.slots.enqueue_campaign_posts(
        "launch", S4, [("shop_x", "Launch on X", "0"), ("shop_bsky", "Launch on Bluesky", "1")]
    )
    keys["x"] = campaign_account_key("launch", "shop_x", S4)
    keys["bsky"] = campaign_account_key("launch", "shop_bsky", S4)
    for name, at in (("s1", S1), ("s2", S2), ("x", S4), ("bsky", S4)):
        sent(store, clock, keys[name], at + timedelta(seconds=5))
    return keys


def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def landing(campaign: str, content: str = "", term: str = "", source: str = "x") -> str:
    url = f"https://lumenhome.example.com/p/lamp?ref=a&utm_source={source}&utm_medium=social&utm_campaign={campaign}"
    return url + (f"&utm_content={content}" if content else "") + (f"&utm_term={term}" if term else "")


def orders_file(tmp_path: Path) -> Path:
    header = [
        "handle",
        "order_id",
        "amount",
        "time",
        "utm_source",
        "utm_campaign",
        "utm_content",
        "utm_term",
        "landing_url",
    ]
    h = timedelta(hours=1)
    rows = [
        ["ann", "o1", "1200", at(S1 + h), "x", "spring-sale", "v0", slot_term(S1), ""],  # line 2: columns
        ["bob", "o2", "1000", at(S2 + h), "", "", "", "", landing("spring-sale", "v1", slot_term(S2))],  # landing URL
        ["cat", "o3", "50", at(S4 + h), "bluesky", "launch", "v1", slot_term(S4), ""],  # the Bluesky post
        ["dan", "o4", "60", at(S4 + h), "x", "launch", "v0", slot_term(S4), ""],  # the X post of the same slot
        ["eve", "o5", "70", at(S1 + h), "", "", "", "", ""],  # no UTM
        ["fay", "o6", "80", at(S1 + h), "newsletter", "winter-mail", "", "", ""],  # not ours
        ["gus", "o7", "90", at(S3 + h), "x", "spring-sale", "v2", slot_term(S3), ""],  # a post never sent
        ["hal", "o8", "99", at(S1 - 2 * h), "x", "spring-sale", "v0", slot_term(S1), ""],  # before its post
        ["ivy", "o9", "1220", at(S2 + h), "x", "spring-sale", "v1", "", ""],  # no slot: the campaign (and variant)
        ["jon", "o10", "abc", at(S1 + h), "x", "spring-sale", "v0", slot_term(S1), ""],  # line 11: bad amount
        ["kim", "o11", "10", at(S1 + h), "", "", "", "", "http://[broken"],  # line 12: bad landing URL
        ["lee", "o12", "40", at(S2 + 2 * h), "", "", "", "", ""],  # its visit names spring-sale S2
    ]
    return write(tmp_path / "orders.csv", header, rows)


def test_orders_are_attributed_to_the_post_variant_and_campaign_their_utm_names(
    tmp_path: Path, store: Store, clock: ManualClock
) -> None:
    keys = seed_posts(store, clock)
    orders, problems = read_orders_csv(orders_file(tmp_path))
    assert [(p.line, p.path) for p in problems] == [(11, "amount"), (12, "landing_url")]
    assert str(problems[0]).endswith("orders.csv:11: amount: amount 'abc' is not a number")
    visits_path = write(
        tmp_path / "visits.csv",
        ["landing_url", "time", "order_id"],
        [
            [landing("spring-sale", "v1", slot_term(S2)), at(S2 + timedelta(minutes=90)), "o12"],
            ["https://x.example/", at(S2), ""],
        ],
    )
    visits, visit_problems = read_visits_csv(visits_path)
    assert not visit_problems and len(visits) == 1  # a visit without UTM is skipped, not an error

    networks = {"shop": "x", "shop_x": "x", "shop_bsky": "bluesky"}
    result = attribute(orders, store_posts(store, networks), ["spring-sale", "launch"], visits=visits)
    found = {a.order_id: a for a in result.orders}
    assert (found["o1"].outbox_key, found["o1"].variant, found["o1"].via) == (keys["s1"], "0", "order")
    assert (found["o2"].outbox_key, found["o2"].variant) == (keys["s2"], "1")
    assert found["o3"].outbox_key == keys["bsky"] and found["o3"].account == "shop_bsky"
    assert found["o4"].outbox_key == keys["x"] and found["o4"].account == "shop_x"
    assert (found["o9"].outbox_key, found["o9"].campaign, found["o9"].variant) == (None, "spring-sale", "1")
    assert (found["o12"].outbox_key, found["o12"].via) == (keys["s2"], "visit")
    assert result.total == 10 and len(result.orders) == 6
    assert result.unattributed == Counter(
        {attr.NO_UTM: 1, attr.OTHER_CAMPAIGN: 1, attr.NEVER_SENT: 1, attr.BEFORE_POST: 1}
    )
    assert result.unattributed_revenue == pytest.approx(70 + 80 + 90 + 99)
    campaigns = result.per_campaign()
    assert campaigns["spring-sale"].orders == 4 and campaigns["spring-sale"].posts == 2
    assert campaigns["spring-sale"].revenue == pytest.approx(1200 + 1000 + 1220 + 40)
    assert result.per_variant()[("spring-sale", "1")].orders == 3
    assert result.per_post()[keys["s1"]].revenue == pytest.approx(1200)
    assert money(3420, "¥") == "¥3,420" and money(12.5, "$") == "$12.50"
    sentence = result.unattributed_sentence("¥")
    assert sentence is not None and sentence.startswith("4 orders (¥339) not attributed: ")
    assert "1 without a UTM campaign, " in sentence


def test_an_orders_csv_without_utm_columns_reads_as_before(tmp_path: Path) -> None:
    path = write(tmp_path / "o.csv", ["handle", "order_id", "amount", "time"], [["ann", "o1", "12.5", "2026-01-02"]])
    orders, problems = read_orders_csv(path)
    assert not problems and orders[0].utm == {} and orders[0].amount == 12.5
    visits, problems = read_visits_csv(path)
    assert not visits and problems[0].line is None and "landing_url" in problems[0].message


# ------------------------------------------------------------------------------------------------ report


def insert_readings(url: str, keys: dict[str, str]) -> None:
    rows: list[dict[str, Any]] = []
    for i, (name, slot, variant, account) in enumerate(
        (("s1", S1, "0", "shop"), ("s2", S2, "1", "shop"), ("x", S4, "shop_x:0 shop_bsky:1", "shop_x"))
    ):
        rows.append(
            {
                "account": account,
                "platform": "x",
                "post_id": f"p{i}",
                "outbox_key": keys[name],
                "kind": "post",
                "campaign": "launch" if name == "x" else "spring-sale",
                "variant": variant,
                "slot_at": slot,
                "posted_at": slot + timedelta(seconds=5),
                "age": "24h",
                "read_at": slot + timedelta(hours=24),
                "likes": 10 + i,
                "reposts": 0,
                "replies": 0,
                "quotes": 0,
                "impressions": 1000,
            }
        )
    with Store.open(url) as s, s.db.tx("test readings") as conn:
        conn.execute(post_metric_t.insert(), rows)


def test_the_report_shows_orders_and_revenue(tmp_path: Path, db_url: str) -> None:
    with Store.open(db_url, clock=ManualClock(T0)) as store:
        store.upgrade()
        keys = seed_posts(store, ManualClock(T0))
    insert_readings(db_url, keys)
    orders_file(tmp_path)
    cfg = shop_dir(tmp_path, db_url)
    out_csv, out_json, out_html = tmp_path / "p.csv", tmp_path / "p.json", tmp_path / "p.html"
    result = CliRunner().invoke(
        app,
        [
            "posts",
            "report",
            "--config",
            str(cfg),
            "--csv",
            str(out_csv),
            "--json",
            str(out_json),
            "--html",
            str(out_html),
        ],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Campaign spring-sale: 3 orders, ¥3,420 from 2 posts" in text  # o12 needs the visits CSV
    assert "Campaign launch: 2 orders, ¥110 from 2 posts" in text
    assert "spring-sale, Variant 1:" in text and "; 2 orders, ¥2,220" in text
    assert "5 orders (¥379) not attributed: 2 without a UTM campaign" in text
    assert "orders.csv:11: amount:" in result.output  # the bad row, named by its line

    rows = {r["post_id"]: r for r in csv.DictReader(out_csv.open(encoding="utf-8"))}
    assert (rows["p0"]["orders"], rows["p0"]["revenue"]) == ("1", "1200.00")
    data = json.loads(out_json.read_text(encoding="utf-8"))
    spring = next(c for c in data["campaigns"] if c["campaign"] == "spring-sale")
    assert (spring["orders"], spring["revenue"], spring["posts_with_orders"], spring["currency"]) == (3, 3420, 2, "¥")
    assert data["attribution"]["unattributed"] == {
        "no UTM campaign": 2, "a campaign socialbot did not post": 1, "names a post that was never sent": 1,
        "ordered before the post went out": 1,
    }  # fmt: skip
    v1 = next(v for v in data["variants"] if v["campaign"] == "spring-sale" and v["variant"] == "1")
    assert (v1["orders"], v1["revenue"]) == (2, 2220)
    page = out_html.read_text(encoding="utf-8")
    assert "¥3,420" in page and '<th class="n">revenue</th>' in page

    with_visits = CliRunner().invoke(
        app,
        ["posts", "report", "--config", str(cfg), "--json", "-", "--visits", str(write(
            tmp_path / "visits.csv", ["landing_url", "time", "order_id"],
            [[landing("spring-sale", "v1", slot_term(S2)), at(S2 + timedelta(minutes=90)), "o12"]],
        ))],
    )  # fmt: skip
    assert with_visits.exit_code == 0, with_visits.output
    data = json.loads(with_visits.stdout[with_visits.stdout.index("{") :])
    assert next(c for c in data["campaigns"] if c["campaign"] == "spring-sale")["orders"] == 4


# --------------------------------------------------------------------------------------- simulated audience

SEED = 14  # the three variants' planted appeals: 0.41, 0.92, 1.41
SIM_T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # fixed: the planted hour weights make the draws


@pytest.mark.parametrize("utm", ["columns", "landing"])
def test_the_simulated_audiences_orders_are_attributed_to_the_planted_campaign_and_variant(
    tmp_path: Path, store: Store, clock: ManualClock, utm: str
) -> None:
    renderer = TemplateRenderer(load_config(shop_dir(tmp_path), environ={}, require_credentials=False))
    rng = random.Random(SEED)
    communities = make_communities(rng, 4)
    users = make_users(rng, communities, 150, 2, "lumenhome")
    planted = PlantedOutcomes(SEED, communities, users)
    posts: list[tuple[str, datetime]] = []
    for sequence in range(60):
        slot = SIM_T0 + timedelta(hours=7 * sequence)
        rendered = renderer.render_campaign("spring-sale", slot_at=slot, sequence=sequence)
        assert store.slots.enqueue_campaign_slot(
            "spring-sale", slot, account="shop", text=rendered.text, variant=str(rendered.variant)
        )
        sent(store, clock, campaign_key("spring-sale", slot), slot)
        posts.append((rendered.text, slot))
    path = tmp_path / f"orders-{utm}.csv"
    total = write_orders_csv(
        users, communities, SEED, path, orders_per_user=(0, 2), until=SIM_T0, posts=posts, planted=planted, utm=utm
    )
    orders, problems = read_orders_csv(path)
    assert not problems and len(orders) == total
    from_posts = [o for o in orders if o.utm.get("campaign")]
    assert len(from_posts) > 60

    result = attribute(orders, store_posts(store, {"shop": "x"}), ["spring-sale"])
    assert result.to_posts == len(from_posts)  # every order that came from a post is attributed to that post
    assert result.unattributed == Counter({attr.NO_UTM: total - len(from_posts)})
    texts = {campaign_key("spring-sale", slot): text for text, slot in posts}
    for a in result.orders:  # the right post: the one whose link the order carries
        link = next(o for o in from_posts if o.order_id == a.order_id).utm
        assert parse_slot_term(link["term"]) is not None
        assert f"utm_term={link['term']}" in texts[a.outbox_key or ""]
    variant_of = {campaign_key("spring-sale", slot): str(n % 3) for n, (_text, slot) in enumerate(posts)}
    appeal = {variant_of[key]: planted.appeal(text) for key, text in texts.items()}  # the planted truth
    per_post = {v: m.orders / 20 for (_c, v), m in result.per_variant().items()}
    assert sorted(per_post, key=lambda v: per_post[v]) == sorted(appeal, key=lambda v: appeal[v])
