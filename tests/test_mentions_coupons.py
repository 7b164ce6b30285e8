"""A reply-channel coupon reaches the person with the reply to their next mention (real sandbox over HTTP),
once, and counts as delivered when that reply is sent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.adapters.templating import TemplateRenderer
from bot.core.clock import ManualClock
from bot.domains.conversations.intent import Classifier
from bot.domains.conversations.mentions import MentionService
from bot.domains.coupons.issuing import CouponService
from bot.domains.publishing.outbox import Outbox
from bot.settings.replies import RepliesConfig
from tests.test_coupons import make_settings


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


def test_the_next_reply_carries_the_code_once(store: Store, clock: ManualClock, tmp_path: Path, sandbox: Any) -> None:
    shop = XPlatform.for_sandbox(sandbox.url, "shop", account="shop")
    try:
        with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5) as admin:
            fan = admin.post("/_sandbox/users", json={"username": "fan", "name": "Fan"}).json()["id"]
            other = admin.post("/_sandbox/users", json={"username": "other", "name": "Other"}).json()["id"]
            store.segments.save_run(
                created_at=clock.now(), k=1, silhouette=None, graph_snapshot_id=None, params={}, stats={},
                segments=[(0, "advocates", 1, {})], members=[("x", fan, 0, 0.1)],
            )  # fmt: skip
            settings = make_settings(tmp_path, thanks={"holdout": 0, "channel": "reply", "discount": "10% off"})
            settings = settings.model_copy(update={"replies": RepliesConfig(), "database_url": "sqlite://"})
            coupons = CouponService(settings, store, clock)
            assert coupons.issue("thanks").issued == 1
            [code] = [c.code for c in store.coupons.find(user_id=fan)]
            renderer = TemplateRenderer(settings)
            mentions = MentionService(
                settings, store, {"shop": shop}, Classifier(settings.replies), renderer, clock, coupons=coupons
            )
            for author in (fan, other):
                admin.post("/_sandbox/tweets", json={"author_id": author, "text": "@shop any coupon for me?"})
            mentions.poll("shop")
            admin.post("/_sandbox/tweets", json={"author_id": fan, "text": "@shop I love the lamp, thank you!"})
            mentions.poll("shop")
        replies = [item for item in store.outbox.items(limit=None) if item.kind == "reply"]
        with_code = [r for r in replies if code and code in r.text]
        assert len(replies) == 3 and len(with_code) == 1, [r.text for r in replies]
        [coupon] = store.coupons.find(user_id=fan)
        assert coupon.outbox_key == with_code[0].key
        Outbox(store, {"shop": shop}, delivery=settings.delivery, owner="t", clock=clock).deliver_due()
        assert coupons.mark_delivered_by_outbox() == 1
        [coupon] = store.coupons.find(user_id=fan)
        assert coupon.state == "delivered"
    finally:
        shop.close()
