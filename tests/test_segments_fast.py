"""The segments' fast paths give what the plain paths give: the orders CSV read into columns (same orders, same
problems), RFM matched by one dict lookup per handle, members stored from the arrays, on a small seeded store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from bot.adapters.orders import Order, OrderColumns, read_order_columns, read_orders_csv
from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.core.records import InteractionRecord, MentionRecord, UserRecord
from bot.domains.audience.features import DAY, FeatureTable, add_orders, load_features
from bot.domains.audience.segments import SegmentService
from bot.settings.config import AccountConfig, Settings
from bot.settings.segments import SegmentsConfig

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SHOP = "1"
MESSY_CSV = (
    "Handle, order_id ,amount,time,landing_url,product\n"
    "@a,o1,10,2026-11-01T10:00:00Z,,tea\n\n\n"
    " b ,o2,$1,200.5,2026-11-02 10:00,https://x.test/?utm_campaign=c,\n"
    ",o3,5,2026-11-01,,\nc,,5,2026-11-01,,\nc,o1,5,2026-11-01,,\nc,o4,abc,2026-11-01,,\nc,o5,-1,2026-11-01,,\n"
    "c,o6,3,yesterday,,\nc,o7,3,2026-11-01,http://[bad,\nc,o8,3,2026-11-01,,,extra\n,,,,,\n"
    'd,o9,"7",2026-11-03T01:02:03+02:00\n"e\nx",o10,1,2026-11-01,,\n＠F,o11,"¥1,200",2026-11-01z,,\nA,o12,2.5,2026-11-19\n'
)


def test_order_columns_keep_the_same_orders_and_report_the_same_problems(tmp_path: Path) -> None:
    for name, text in [
        ("messy.csv", MESSY_CSV),
        ("bom.csv", "\ufeffhandle,order_id,amount,time\nx,1,2,2026-01-01\n"),
        ("header.csv", "handle,amount\nx,2\n"),
        ("empty.csv", ""),
        ("repeated.csv", "handle,order_id,amount,time,Handle\nx,1,2,2026-01-01,y\n"),
    ]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        orders, problems = read_orders_csv(path)
        columns, fast_problems = read_order_columns(path)
        assert columns == OrderColumns.of(orders), name
        assert fast_problems == problems, name
    columns, problems = read_order_columns(tmp_path / "missing.csv")
    assert len(columns) == 0 and problems == read_orders_csv(tmp_path / "missing.csv")[1]
    assert [p.line for p in read_order_columns(tmp_path / "messy.csv")[1]] == [3, 6, 7, 8, 9, 10, 11, 12, 13]


def _rfm_reference(table: FeatureTable, orders: list[Order], now: datetime) -> dict[str, np.ndarray]:
    """add_orders as it was: a dict of (count, total, last) per lower-case handle, a loop over the usernames."""
    by_handle: dict[str, tuple[int, float, float]] = {}
    for order in orders:
        c, total, last = by_handle.get(order.handle.lower(), (0, 0.0, -np.inf))
        by_handle[order.handle.lower()] = (c + 1, total + order.amount, max(last, order.time.timestamp()))
    n = len(table)
    count, spent = np.zeros(n), np.zeros(n)
    recency = np.full(n, max(365.0, float(table.columns["tenure_days"].max())) if n else 365.0)
    for i, name in enumerate(table.username):
        hit = by_handle.get(name.lower()) if name is not None else None
        if hit is not None:
            count[i], spent[i] = hit[0], hit[1]
            recency[i] = max(0.0, (now.timestamp() - hit[2]) / DAY)
    return {"orders": count, "spent": spent, "order_recency_days": recency}


def _seed(store: Store, rng: np.random.Generator, users: int = 300) -> None:
    kinds = ["mention", "reply", "quote", "dm", "like", "retweet"]
    interactions, mentions = [], []
    for i in range(users * 3):
        source = str(100 + int(rng.integers(users)))
        target = SHOP if rng.random() < 0.6 else str(100 + int(rng.integers(users)))
        kind = kinds[int(rng.integers(len(kinds)))]
        at = NOW - timedelta(days=float(rng.uniform(0, 200)))
        interactions.append(InteractionRecord("x", source, target, kind, f"p{i}", at))
        if target == SHOP and kind in ("mention", "dm"):
            mentions.append(
                MentionRecord("shop", "x", kind, f"p{i}", "hi @shop", "not_answered", author_id=source,
                              sentiment=float(rng.uniform(-1, 1)), created_at=at,
                              intent="complaint" if rng.random() < 0.2 else "other")
            )  # fmt: skip
    people = [UserRecord("x", SHOP, "shop", None, 1000)]
    people += [
        UserRecord("x", str(100 + u), f"User{u}" if u % 7 else None, None, int(rng.integers(0, 500)))
        for u in range(users)
    ]
    with store.mentions.unit("shop") as unit:
        unit.write(users=people, mentions=mentions, interactions=interactions)
    store.accounts.set_platform_user_id("shop", SHOP)


def test_fast_paths_store_what_the_plain_paths_give(db_url: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    csv_path = tmp_path / "orders.csv"
    lines = ["handle,order_id,amount,time"]
    for n in range(400):
        who = f"@user{int(rng.integers(0, 330))}" if n % 3 else f"USER{int(rng.integers(0, 30))}"
        when = NOW - timedelta(days=float(rng.uniform(0, 400)))
        lines.append(f"{who},o{n},{rng.lognormal(3, 1):.2f},{when:%Y-%m-%dT%H:%M:%SZ}")
    lines.append("nobody,o1,3,2026-01-01")  # a repeated order id: reported the same way on both paths
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        database_url=db_url,
        segments=SegmentsConfig(orders_csv=csv_path, k=3, sample=200),
        config_path=tmp_path / "config.yaml",
    )
    clock = ManualClock(NOW)
    with Store.open(db_url, clock=clock) as store:
        store.upgrade()
        _seed(store, rng)
        fast = load_features(settings, store, NOW)
        orders, problems = read_orders_csv(csv_path)
        plain = load_features(settings, store, NOW, orders=(orders, problems))
        assert fast.order_problems == plain.order_problems == problems and len(problems) == 1
        assert 0 < fast.orders_matched == plain.orders_matched
        reference = _rfm_reference(fast, orders, NOW)
        for name in fast.columns:
            np.testing.assert_array_equal(fast.columns[name], plain.columns[name], err_msg=name)
        for name, values in reference.items():
            np.testing.assert_array_equal(fast.columns[name], values, err_msg=name)
        bare = FeatureTable(fast.platform, fast.user_id, fast.username, dict(fast.columns), fast.community)
        add_orders(bare, [], NOW)
        assert bare.orders_matched == 0 and not bare.columns["orders"].any()

        service = SegmentService(settings, store, clock, owner="test")
        table = service.features(NOW)
        seg = service.segment(table)
        result = service.save(NOW, table, seg)
        stored = [row for chunk in store.segments.member_rows(result.run_id) for row in chunk]
        expected = {
            (str(p), str(u)): (int(s), float(d))
            for p, u, s, d in zip(table.platform, table.user_id, seg.assignment, seg.distance, strict=True)
        }
        assert len(stored) == len(expected) == len(table) > 200
        assert {(p, u): (s, d) for p, u, _name, s, d in stored} == expected
        assert store.segments.latest_run().n_users == len(table)  # type: ignore[union-attr]
        assert sorted(info.size for info in store.segments.of_run(result.run_id)) == sorted(seg.sizes)
