"""Features per user from a small hand-built store: counts by kind, received, recency, frequency, sentiment,
complaints, influence and community from the graph snapshot, orders (RFM) matched by handle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.core.records import InteractionRecord, MentionRecord, UserRecord
from bot.domains.audience.features import load_features
from bot.settings.config import AccountConfig, Settings
from bot.settings.segments import SegmentsConfig

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SHOP = "1"


def settings(db_url: str, tmp_path: Path | None = None, **segments: object) -> Settings:
    return Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        database_url=db_url,
        segments=SegmentsConfig(**segments),  # type: ignore[arg-type]
        config_path=(tmp_path / "config.yaml") if tmp_path else Path("config.yaml"),
    )


def fill(store: Store) -> None:
    day = timedelta(days=1)
    interactions = [
        # alice: 2 mentions of the shop (2 days), 1 reply to bob, 1 like of the shop
        InteractionRecord("x", "10", SHOP, "mention", "m1", NOW - 3 * day),
        InteractionRecord("x", "10", SHOP, "mention", "m2", NOW - 1 * day),
        InteractionRecord("x", "10", "20", "reply", "r1", NOW - 1 * day),
        InteractionRecord("x", "10", SHOP, "like", "l1", NOW - 1 * day),
        # bob: one DM to the shop 10 days ago; received alice's reply
        InteractionRecord("x", "20", SHOP, "dm", "d1", NOW - 10 * day),
        # the shop replying to carol: the shop is left out, carol received one
        InteractionRecord("x", SHOP, "30", "reply", "s1", NOW - 2 * day),
        # older than the window: left out
        InteractionRecord("x", "20", SHOP, "mention", "old", NOW - 400 * day),
    ]
    mentions = [
        MentionRecord("shop", "x", "mention", "m1", "@shop great", "answered", author_id="10", sentiment=0.8,
                      intent="praise", created_at=NOW - 3 * day),
        MentionRecord("shop", "x", "mention", "m2", "@shop good", "answered", author_id="10", sentiment=0.4,
                      intent="question", created_at=NOW - 1 * day),
        MentionRecord("shop", "x", "dm", "d1", "broken!", "answered", author_id="20", sentiment=-0.6,
                      intent="complaint", created_at=NOW - 10 * day),
    ]  # fmt: skip
    users = [
        UserRecord("x", SHOP, "shop", None, 1000),
        UserRecord("x", "10", "Alice", None, 120),
        UserRecord("x", "20", "bob", None, None),
        UserRecord("x", "30", "carol", None, 5),
    ]
    with store.mentions.unit("shop") as unit:
        unit.write(users=users, mentions=mentions, interactions=interactions)
    store.accounts.set_platform_user_id("shop", SHOP)


def by_user(table: object) -> dict[str, dict[str, float]]:
    return {str(uid): table.row(i) for i, uid in enumerate(table.user_id)}  # type: ignore[attr-defined]


def test_features_on_a_hand_built_store(db_url: str) -> None:
    clock = ManualClock(NOW)
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        fill(store)
        table = load_features(settings(db_url, window="180d"), store, NOW)
    rows = by_user(table)
    assert set(rows) == {"10", "20", "30"}, "own account out"
    alice, bob, carol = rows["10"], rows["20"], rows["30"]
    assert (alice["mention"], alice["reply"], alice["like"], alice["dm"], alice["received"]) == (2, 1, 1, 0, 0)
    assert alice["recency_days"] == pytest.approx(1.0) and alice["tenure_days"] == pytest.approx(3.0)
    assert alice["per_week"] == pytest.approx(4 / (180 / 7))
    assert alice["messages"] == 2 and alice["sentiment"] == pytest.approx(0.6) and alice["complaints"] == 0
    assert alice["followers"] == 120
    assert (bob["dm"], bob["mention"], bob["received"], bob["complaints"]) == (1, 0, 1, 1), "window applies"
    assert bob["sentiment"] == pytest.approx(-0.6) and bob["recency_days"] == pytest.approx(1.0)
    assert bob["followers"] == 0, "unknown followers read as 0"
    assert carol["received"] == 1 and carol["per_week"] == 0 and carol["messages"] == 0
    assert carol["sentiment"] == 0.0 and carol["influence"] == 0.0
    assert table.snapshot_id is None and (table.community == -1).all()
    assert "orders" not in table.columns


def test_influence_and_community_come_from_the_latest_snapshot(db_url: str) -> None:
    from bot.domains.audience.service import AnalysisService
    from bot.settings.graph import GraphConfig

    clock = ManualClock(NOW)
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        fill(store)
        base = settings(db_url)
        graph_settings = Settings(accounts=base.accounts, database_url=db_url, graph=GraphConfig())
        run = AnalysisService(graph_settings, store, clock, owner="t").run(force=True)
        assert run is not None
        table = load_features(base, store, NOW)
        scores = {s.user_id: s for s in store.graphs.snapshot_scores(run.report.snapshot_id or 0)}
    assert table.snapshot_id == run.report.snapshot_id
    for i, uid in enumerate(table.user_id):
        if uid in scores:
            assert table.columns["influence"][i] == pytest.approx(scores[uid].score)
            assert table.community[i] == scores[uid].community
    assert table.columns["influence"].max() > 0


def test_orders_matched_by_handle_with_bad_rows_reported(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(
        "handle,order_id,amount,time\n"
        "@ALICE,o1,10.50,2026-11-10T10:00:00Z\n"
        "alice,o2,20,2026-11-18\n"
        "bob,o3,not-a-number,2026-11-18\n"
        "bob,o4,5,yesterday\n"
        "carol,o5,7,2026-10-21\n"
        "stranger,o6,99,2026-11-01\n",
        encoding="utf-8",
    )
    clock = ManualClock(NOW)
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        fill(store)
        table = load_features(settings(db_url, tmp_path, orders_csv="orders.csv"), store, NOW)
    rows = by_user(table)
    assert rows["10"]["orders"] == 2 and rows["10"]["spent"] == pytest.approx(30.5)
    assert rows["10"]["order_recency_days"] == pytest.approx(2.5)
    assert rows["30"]["orders"] == 1 and rows["30"]["order_recency_days"] == pytest.approx(30.5)
    assert rows["20"]["orders"] == 0 and rows["20"]["spent"] == 0 and rows["20"]["order_recency_days"] >= 365
    assert table.orders_matched == 2
    assert sorted(p.line for p in table.order_problems) == [4, 5]
    assert {p.path for p in table.order_problems} == {"amount", "time"}


def test_one_user(db_url: str) -> None:
    with Store.open(db_url) as store:
        store.upgrade()
        fill(store)
        table = load_features(settings(db_url), store, NOW, user=("x", "10"))
    assert list(table.user_id) == ["10"] and np.isclose(table.columns["mention"][0], 2)


def test_slices_of_the_log_add_up_to_the_whole(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.domains.audience.features as features

    with Store.open(db_url) as store:
        store.upgrade()
        fill(store)
        whole = load_features(settings(db_url), store, NOW)
        monkeypatch.setattr(features, "SLICE_MIN", 1)
        monkeypatch.setattr(features, "INTERACTION_SLICES", 3)
        sliced = load_features(settings(db_url), store, NOW)
    assert by_user(sliced) == by_user(whole)
    assert list(sliced.username) == list(whole.username)
