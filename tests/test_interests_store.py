"""Community interests on a real store: a seeded audience's graph snapshot, mentions and orders CSV -> names and
products; `pick: interest` for a segment and a community; the daemon's wiring naming the community's favourite."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.core.records import MentionRecord, UserRecord
from bot.domains.audience.interests import InterestPicker, interests_from_store
from bot.domains.publishing.campaigns import slot_seed
from bot.settings.config import Settings, load_config

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PRODUCTS = ["Yuki candle", "Aki table lamp", "Mori tea set", "Kaze doormat"]
CONFIG = """\
timezone: UTC
accounts:
  shop: {platform: sandbox, handle: lumenhome}
campaigns:
  tea_push:
    account: shop
    template: push.j2
    schedule: {cron: "0 10 * * *"}
    pick: interest
    community: tea
    products:
      - {name: Yuki candle, name_zh: 雪 香薰蜡烛, price: 79}
      - {name: Aki table lamp, name_zh: 秋 陶瓷台灯, price: 359}
      - {name: Mori tea set, name_zh: 森 茶具套装, price: 259}
      - {name: Kaze doormat, price: 149}
segments:
  orders_csv: orders.csv
  window: null
"""
# per community: its people, what they write, what they order
AUDIENCE = {
    0: (10, "@lumenhome the Yuki candle smells so cosy, scented evenings by candlelight", "Yuki candle"),
    1: (8, "@lumenhome need bright reading light: is the Aki table lamp dimmable for reading?", "Aki table lamp"),
    2: (6, "@lumenhome 森 茶具套装 泡茶 好看, 喝茶 的 时候 用", "Mori tea set"),
}


def person(community: int, i: int) -> tuple[str, str]:
    """(user id, handle)."""
    return f"c{community}u{i}", f"fan{community}_{i}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "push.j2").write_text("Today ({{ slot.strftime('%d %b') }}): {{ product.name }}\n", encoding="utf-8")
    (templates / "probe.j2").write_text(
        "{% for p in recommend(user, 1) %}{{ p.name }} | {{ p.reason }}{% endfor %}\n", encoding="utf-8"
    )
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    rows = ["handle,order_id,amount,time,product"]
    for community, (size, _, favourite) in AUDIENCE.items():
        for i in range(size - 1):  # the last of each community has no order (a thin history)
            _, handle = person(community, i)
            rows.append(f"{handle},{community}-{i},10,2026-10-2{i % 9}T10:00:00Z,{favourite}")
            if i % 4 == 0:
                rows.append(f"{handle},{community}-{i}-d,10,2026-10-20T11:00:00Z,Kaze doormat")
    (tmp_path / "orders.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return load_config(tmp_path / "config.yaml", environ={}, require_credentials=False)


def seed(store: Store) -> None:
    """The audience's snapshot (communities 0, 1, 2 by size), their mentions, our own reply, two segments."""
    scores, users, mentions = [], [UserRecord("x", "shop", "lumenhome")], []
    for community, (size, text, _) in AUDIENCE.items():
        for i in range(size):
            user_id, handle = person(community, i)
            users.append(UserRecord("x", user_id, handle))
            mentions.append(message(f"m{user_id}", user_id, text))
            scores.append(
                {"platform": "x", "user_id": user_id, "pagerank": 0.0, "in_strength": 0.0, "hub": 0.0,
                 "authority": 0.0, "betweenness": 0.0, "score": 0.5, "rank": len(scores) + 1, "community": community}
            )  # fmt: skip
    mentions.append(message("own", "shop", "@fan0_1 our Kaze doormat doormat doormat is back in stock"))
    with store.mentions.unit("shop") as unit:
        unit.write(users=users, mentions=mentions)
    figures = {"n_users": len(scores), "n_edges": 0, "n_interactions": 0, "n_communities": 3, "modularity": 0.5,
               "reciprocity": 0.0}  # fmt: skip
    communities = [
        {"community": c, "size": size, "internal_share": 0.9, "top_members": [person(c, 0)[0]], "top_terms": []}
        for c, (size, _, _) in AUDIENCE.items()
    ]
    store.graphs.save_snapshot(
        created_at=START, figures=figures, params={}, stats={}, scores=scores, communities=communities
    )
    members = [("x", person(0, i)[0], 0, 0.1) for i in range(10)] + [("x", person(2, i)[0], 1, 0.1) for i in range(6)]
    store.segments.save_run(
        created_at=START, k=2, silhouette=0.5, graph_snapshot_id=None, params={}, stats={},
        segments=[(0, "candle crowd", 10, {}), (1, "tea drinkers", 6, {})], members=members,
    )  # fmt: skip


def message(mid: str, author: str, text: str) -> MentionRecord:
    day = START - timedelta(days=1)
    return MentionRecord("shop", "x", "mention", mid, text, "answered", author_id=author, created_at=day, seen_at=day)


def test_communities_get_names_products_and_terms_from_the_store(store: Store, settings: Settings) -> None:
    assert interests_from_store(store, settings, START) is None  # no graph snapshot yet
    seed(store)
    interests = interests_from_store(store, settings, START)
    assert interests is not None and [c.id for c in interests.communities] == [0, 1, 2]
    candle, lamp, tea = interests.communities
    assert (candle.size, lamp.size, tea.size) == (10, 8, 6)
    assert candle.products[0][0] == "Yuki candle" and lamp.products[0][0] == "Aki table lamp"
    assert tea.products[0][0] == "Mori tea set" and tea.language == "zh"
    assert {"cosy", "scented"} & {t for t, _ in candle.terms} and "reading" in {t for t, _ in lamp.terms}
    assert {"喝茶", "泡茶"} & {t for t, _ in tea.terms}
    assert "lovers (Yuki candle" in candle.name and len({candle.name, lamp.name, tea.name}) == 3
    # our own reply is not the audience's interest
    assert all("doormat" not in {t for t, _ in c.terms} for c in interests.communities)
    assert interests.community("tea") is tea and interests.community("lamp") is lamp
    assert interests.community(0) is candle and interests.community("7") is None
    assert interests.taste("fan2_5") == (tea.name, interests.community_counts(2))


def test_picker_for_a_segment_and_a_community(store: Store, settings: Settings, clock: ManualClock) -> None:
    seed(store)
    picker = InterestPicker(store, settings, clock)

    def picks(target: tuple[str, int | str | None]) -> Counter[str]:
        chosen = [picker.pick("tea_push", target, PRODUCTS, seed) for seed in range(60)]
        return Counter(c.product for c in chosen if c is not None)

    by_label = picks(("segment", "Tea Drinkers"))
    assert by_label.most_common(1)[0][0] == "Mori tea set" and by_label["Mori tea set"] > 40
    assert picks(("segment", 0)).most_common(1)[0][0] == "Yuki candle"
    assert picks(("community", "lamp")).most_common(1)[0][0] == "Aki table lamp"
    assert picks(("community", 2)).most_common(1)[0][0] == "Mori tea set"
    everyone = picks(("everyone", None))
    assert everyone.most_common(1)[0][0] == "Yuki candle"  # the largest community orders most
    choice = picker.pick("tea_push", ("segment", "tea drinkers"), PRODUCTS, slot_seed("tea_push", START))
    assert choice is not None and "segment 'tea drinkers'" in choice.reason and "%" in choice.reason
    # a target that matches nothing: everyone's interests, said once in the log
    unknown = picker.pick("tea_push", ("segment", "nobody"), PRODUCTS, 1)
    assert unknown is not None and "the audience" in unknown.reason


def test_daemon_wiring_names_the_communitys_favourite(store: Store, settings: Settings, clock: ManualClock) -> None:
    from bot.app.daemon.config_files import checked_templates
    from bot.app.daemon.jobs import Wiring, build_services

    seed(store)
    wiring = Wiring(
        store=store, platforms={}, clock=clock, owner="test", on_enqueue=lambda: None, on_store_error=lambda: None,
        poll_times={},
    )  # fmt: skip
    services = build_services(settings, checked_templates(settings), wiring)
    assert services.picker is not None and services.campaigns.products is services.picker
    named: list[str] = []
    for day in range(10):
        slot = START.replace(hour=10) + timedelta(days=day)
        clock.set(slot)
        result = services.campaigns.fire("tea_push", slot)
        assert result.state == "queued", result
        choice = services.campaigns.product_choice("tea_push", slot)
        assert choice is not None and result.posts[0].product_reason == choice.reason
        [product] = [p for p in PRODUCTS if p in (result.text or "")]
        assert product == PRODUCTS[choice.index]
        named.append(product)
    assert Counter(named).most_common(1)[0] == ("Mori tea set", Counter(named)["Mori tea set"])
    assert Counter(named)["Mori tea set"] >= 7
    # the recommendations job: a person with no order of their own gets their community's favourite
    [job] = [j for j in services.jobs if j.job_id == "recommend:refresh"]
    job.func()
    text = services.renderer.render_variant("probe.j2", 0, {"user": "fan2_5"})
    assert text.startswith("Mori tea set | liked in your community")
    cheap = build_services(settings.model_copy(update={"campaigns": {}}), checked_templates(settings), wiring)
    assert cheap.picker is None and cheap.campaigns.products is None


def test_the_config_says_what_a_target_needs(tmp_path: Path) -> None:
    from bot.core.errors import ConfigError

    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "push.j2").write_text("{{ product.name }}", encoding="utf-8")
    bad = CONFIG.replace("    pick: interest\n", "")
    (tmp_path / "config.yaml").write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError, match="add 'pick: interest'"):
        load_config(tmp_path / "config.yaml", environ={}, require_credentials=False)
    both = CONFIG.replace("    community: tea\n", "    community: tea\n    segment: 1\n")
    (tmp_path / "config.yaml").write_text(both, encoding="utf-8")
    with pytest.raises(ConfigError, match="not both"):
        load_config(tmp_path / "config.yaml", environ={}, require_credentials=False)


def test_graph_report_schedule_and_preview_say_it(store: Store, settings: Settings, db_url: str) -> None:
    import csv
    import json

    from typer.testing import CliRunner

    from bot.app.cli import app

    seed(store)
    config = settings.config_dir / "config.yaml"
    config.write_text(CONFIG + f"database_url: {db_url}\n", encoding="utf-8")
    out = settings.config_dir / "out"

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(app, [*args, "--config", str(config)], env={"COLUMNS": "240"})
        assert result.exit_code == 0, result.output
        return result.output

    shown = invoke("graph", "report", "--top", "0", "--csv", str(out / "r.csv"), "--json", str(out / "r.json"),
                   "--html", str(out / "r.html"))  # fmt: skip
    interests = interests_from_store(store, settings, START)
    assert interests is not None
    tea = interests.communities[2]
    assert "favourite products" in shown and "Mori tea set (" in shown and "lovers (Yuki candle" in shown
    rows = list(csv.DictReader((out / "r.csv").open(encoding="utf-8")))
    assert {r["community_name"] for r in rows if r["community"] == "2"} == {tea.name}
    data = json.loads((out / "r.json").read_text(encoding="utf-8"))
    [listed] = [c for c in data["communities"] if c["id"] == 2]
    assert listed["name"] == tea.name and listed["products"][0][0] == "Mori tea set" and listed["distinctive_terms"]
    page = (out / "r.html").read_text(encoding="utf-8")
    assert "Favourite products" in page and "Mori tea set" in page and "Distinctive words" in page

    schedule = invoke("schedule", "--from", "2026-11-02 09:00", "--next", "5")
    assert "product and why" in schedule and schedule.count("favourite no.") + schedule.count("tried now") >= 4
    assert "Mori tea set: favourite no. 1 of 4 for the" in schedule
    preview = invoke("preview", "tea_push", "--at", "2026-11-02 09:00")
    [line] = [line for line in preview.splitlines() if line.startswith("product (pick: interest): ")]
    product = line.removeprefix("product (pick: interest): ").split(":")[0]
    assert product in PRODUCTS and f"Today (02 Nov): {product}" in preview
