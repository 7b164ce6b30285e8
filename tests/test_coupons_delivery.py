"""Coupon delivery, never unsolicited: with a reply the person summoned (offer + outbox key), by DM only to
people who wrote to the shop first (real sandbox over HTTP), and as a CSV export; delivery recorded when the
outbox row is sent."""

from __future__ import annotations

import csv
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.core.clock import ManualClock
from bot.domains.coupons.issuing import CouponService, coupon_key
from bot.domains.publishing.outbox import Outbox
from bot.settings.replies import Caps, RepliesConfig
from tests.helpers import delivery, mention_service
from tests.test_coupons import START, make_settings, seed_segments

X_BUCKETS = XPlatform.buckets  # the rate-limit bucket names of an X account


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def test_reply_offer_then_delivered_when_the_reply_is_sent(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    seed_segments(store, 10)
    settings = make_settings(tmp_path, thanks={"holdout": 0, "channel": "reply", "discount": "10% off"})
    service = CouponService(settings, store, clock)
    service.issue("thanks")
    offer = service.coupon_for_reply("shop", "sandbox", "u4", name="Ann")
    assert offer is not None and offer.campaign == "thanks" and offer.discount == "10% off"
    assert offer.code in offer.text and "10% off" in offer.text and "2026-11-15" in offer.text
    assert "Ann" in offer.text
    zh = service.coupon_for_reply("shop", "x", "u4", language="zh")
    assert zh is not None and zh.code == offer.code and "优惠码" in zh.text
    assert service.coupon_for_reply("other", "x", "u4") is None  # not this account's campaign
    assert service.coupon_for_reply("shop", "x", "nobody") is None
    # the caller (mentions) enqueues the reply and records its key
    store.outbox.enqueue("reply:m1", account="shop", kind="reply", text=offer.text, in_reply_to_id="m1")
    assert service.mark_delivering(offer.coupon_id, "reply:m1")
    assert service.coupon_for_reply("shop", "x", "u4") is None  # already on its way
    assert service.mark_delivered_by_outbox() == 0  # not sent yet
    item = store.outbox.item(key="reply:m1")
    assert item is not None
    claim = store.outbox.claim("t", now=clock.now(), limit=5, lease_seconds=60, buckets=X_BUCKETS)
    store.outbox.mark_sent(claim.items[0].item, "tw1", now=clock.now())
    assert service.mark_delivered_by_outbox(["reply:m1"]) == 1
    [coupon] = store.coupons.find(user_id="u4")
    assert coupon.state == "delivered" and coupon.delivered_at == clock.now()
    store.mentions.add_optout("x", user_id="u5")
    assert service.coupon_for_reply("shop", "x", "u5") is None  # opted out since issuance
    clock.advance(timedelta(days=15))
    assert service.coupon_for_reply("shop", "x", "u6") is None  # expired
    assert store.coupons.expire() == 10  # issued and delivered ones alike


def test_export_file_and_delivery(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    seed_segments(store, 12)
    settings = make_settings(tmp_path, mail={"holdout": 0, "channel": "export", "discount": "¥50 off"})
    service = CouponService(settings, store, clock)
    service.issue("mail")
    report = service.deliver("mail")
    assert report.exported == 12 and report.file == tmp_path / "exports" / "mail-2026-11-01.csv"
    with report.file.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["user_id"] for r in rows] == [c.user_id for c in store.coupons.find(campaign="mail")]
    assert rows[0].keys() == {"handle", "user_id", "code", "discount", "expires_at"}
    assert rows[0]["handle"].startswith("user") and rows[0]["discount"] == "¥50 off"
    assert {r["code"] for r in rows} == {c.code for c in store.coupons.find(campaign="mail")}
    assert all(c.state == "delivered" and c.delivered_at == START for c in store.coupons.find(campaign="mail"))
    assert service.deliver("mail").exported == 0  # nothing new: no second file
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == ["mail-2026-11-01.csv"]


def test_dm_only_to_people_who_wrote_first(store: Store, clock: ManualClock, tmp_path: Path, sandbox: Any) -> None:
    fan = sandbox.add_user("fan")
    stranger = sandbox.add_user("stranger")
    shop = XPlatform.for_sandbox(sandbox.url, "shop", account="shop")
    try:
        me = shop.me()
        sandbox.add_dm(fan, me.id, "hi! any deals this week?")
        fan_zh = sandbox.add_user("fanzh")
        sandbox.add_dm(fan_zh, me.id, "你好，最近有什么优惠活动吗？")
        base = make_settings(tmp_path, dm={"holdout": 0, "channel": "dm", "discount": "20% off"})
        settings = base.model_copy(
            update={"replies": RepliesConfig(enabled=True, caps=Caps(per_user_per_day=0, per_conversation=0))}
        )
        mentions = mention_service(settings, store, {"shop": shop}, clock)
        mentions.poll("shop")  # stores the fan's DM (and queues the ordinary answer)
        store.segments.save_run(
            created_at=START,
            k=1,
            silhouette=None,
            graph_snapshot_id=None,
            params={},
            stats={},
            segments=[(0, "fans", 3, {})],
            members=[("x", fan, 0, 0.1), ("x", stranger, 0, 0.2), ("x", fan_zh, 0, 0.3)],
        )
        service = CouponService(settings, store, clock)
        assert service.issue("dm").issued == 3
        report = service.deliver("dm")
        assert (report.enqueued, report.waiting) == (2, 1)
        zh = store.outbox.item(key=coupon_key("dm", "x", fan_zh))
        assert zh is not None and "优惠码" in zh.text  # in the language they wrote in
        assert service.deliver("dm").enqueued == 0  # once
        item = store.outbox.item(key=coupon_key("dm", "x", fan))
        assert item is not None and (item.kind, item.recipient_id) == ("dm", fan)
        assert store.outbox.item(key=coupon_key("dm", "x", stranger)) is None
        outbox = Outbox(store, {"shop": shop}, delivery=delivery(), owner="t", clock=clock, rng=random.Random(1))
        outbox.deliver_due()
        with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5) as admin:
            sent = admin.get("/_sandbox/dms", params={"from_user_id": me.id}).json()["dms"]
        to_fan = [d for d in sent if d["to_user_id"] == fan]
        assert any(item.text == d["text"] for d in to_fan)
        assert not [d for d in sent if d["to_user_id"] == stranger]
        service.mark_delivered_by_outbox()
        states = {c.user_id: c.state for c in store.coupons.find(campaign="dm")}
        assert states == {fan: "delivered", stranger: "issued", fan_zh: "delivered"}
        code = next(c.code for c in store.coupons.find(campaign="dm") if c.user_id == fan)
        assert code is not None and code in item.text
    finally:
        shop.close()
