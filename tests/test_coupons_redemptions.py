"""Redemptions: CSV import (bad rows with line numbers, idempotent on order_id; unknown, expired and reused
codes recorded and reported, never counted) and the webhook over real HTTP."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.domains.coupons.issuing import CouponService
from bot.domains.coupons.redemptions import SIGNATURE_HEADER, import_redemptions, serve_redemptions, sign
from tests.test_coupons import START, make_settings, seed_segments

SECRET = "test-webhook-secret"
Answer = httpx.Response


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def issued(store: Store, clock: ManualClock, tmp_path: Path) -> list[str]:
    seed_segments(store, 5)
    settings = make_settings(tmp_path, d11={"holdout": 0, "expires_after": "10d"})
    CouponService(settings, store, clock).issue("d11")
    return [c.code or "" for c in store.coupons.find(campaign="d11")]


def test_import_counts_valid_and_reports_the_rest(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    codes = issued(store, clock, tmp_path)
    path = tmp_path / "redemptions.csv"
    path.write_text(
        "code,order_id,amount,time\n"
        f"{codes[0]},A1,120.50,2026-11-03T10:00:00Z\n"
        f"{codes[1].lower()},A2,80,2026-11-04 12:00\n"  # typed in lower case: still the code
        "NOPE-CODE,A3,10,2026-11-04\n"  # unknown
        f"{codes[2]},A4,55,2026-11-20T00:00:00Z\n"  # after expiry (11-11)
        f"{codes[0]},A5,99,2026-11-05T00:00:00Z\n"  # reused in another order
        f"{codes[3]},,12,2026-11-05\n"  # bad: no order id (line 7)
        f"{codes[3]},A6,lots,2026-11-05\n"  # bad amount (line 8)
        f"{codes[3]},A7,12,yesterday\n"  # bad time (line 9)
        "\n"
        f"{codes[4]},A8,30,2026-11-05T00:00:00Z\n",
        encoding="utf-8",
    )
    report = import_redemptions(store, path)
    assert report.counts == {
        "counted": 3,
        "unknown": 1,
        "expired": 1,
        "reused": 1,
        "duplicate": 0,
        "bad_rows": 3,
    }
    assert [(p.line, p.path) for p in report.problems] == [(7, "order_id"), (8, "amount"), (9, "time")]
    assert {r.line.order_id: r.status for r in report.rejected()} == {"A3": "unknown", "A4": "expired", "A5": "reused"}
    by_code = {c.code: c for c in store.coupons.find(campaign="d11")}
    assert by_code[codes[0]].state == "redeemed" and by_code[codes[0]].order_id == "A1"
    assert by_code[codes[0]].amount == 120.5
    assert by_code[codes[2]].state == "issued"  # the expired attempt changed nothing
    assert {r.order_id: r.status for r in store.redemptions.find()} == {
        "A1": "counted",
        "A2": "counted",
        "A3": "unknown",
        "A4": "expired",
        "A5": "reused",
        "A8": "counted",
    }
    again = import_redemptions(store, path)  # idempotent on order_id
    assert again.counts["duplicate"] == 6 and again.counts["counted"] == 0
    assert len(store.redemptions.find()) == 6
    assert [r for r in store.coupons.find(campaign="d11") if r.state == "redeemed"].__len__() == 3


def test_import_file_problems(store: Store, tmp_path: Path) -> None:
    missing = import_redemptions(store, tmp_path / "none.csv")
    assert missing.problems[0].line is None and not missing.results
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("code,order\nX,1\n", encoding="utf-8")
    assert "needs the columns" in import_redemptions(store, wrong).problems[0].message


def signed_post(client: httpx.Client, body: object, *, secret: str = SECRET, path: str = "/redemptions") -> Answer:
    raw = json.dumps(body).encode()
    signature = sign(secret, raw, int(time.time()))
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
    return client.post(path, content=raw, headers=headers)


def test_webhook_over_http(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    codes = issued(store, clock, tmp_path)
    server = serve_redemptions(0, store, secret=SECRET)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=server.url, trust_env=False, timeout=5) as client:
            body = {"code": codes[0], "order_id": "W1", "amount": 42.0, "time": "2026-11-02T08:00:00Z"}
            answer = signed_post(client, body)
            assert answer.status_code == 200 and answer.json()["status"] == "counted"
            assert answer.json()["campaign"] == "d11"
            assert signed_post(client, {**body, "amount": 42}).json()["status"] == "duplicate"
            again = signed_post(client, {**body, "order_id": "W2"})
            assert again.json()["status"] == "reused"
            unknown = signed_post(client, {**body, "code": "ZZZ", "order_id": "W3"})
            assert unknown.json()["status"] == "unknown"
            bad = signed_post(client, {"code": codes[1], "order_id": "W4", "time": "soon"})
            assert bad.status_code == 400 and "time" in bad.json()["error"]
            assert signed_post(client, [1, 2]).status_code == 400
            assert signed_post(client, body, path="/other").status_code == 404
    finally:
        server.stop()
    assert store.coupons.by_code(codes[0]).state == "redeemed"  # type: ignore[union-attr]
    assert {r.order_id: r.status for r in store.redemptions.find()} == {
        "W1": "counted",
        "W2": "reused",
        "W3": "unknown",
    }
