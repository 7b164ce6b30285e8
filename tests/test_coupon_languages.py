"""One language per reply: a coupon campaign's discount (and its `extra` values) may have one form per language,
and the reply to a customer carries the form in their language (real sandbox over HTTP, real store, real
templates, the real coupon and mention services)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.adapters.templating import TemplateRenderer
from bot.core.clock import ManualClock
from bot.core.errors import ConfigError
from bot.domains.conversations.intent import Classifier
from bot.domains.conversations.mentions import MentionService
from bot.domains.coupons.issuing import CouponService
from bot.settings.config import load_config
from bot.settings.coupons import CouponCampaignConfig
from bot.settings.languages import in_language, is_per_language, template_languages
from bot.settings.replies import RepliesConfig
from tests.test_coupons import make_settings

DISCOUNT = {"en": "¥30 off ¥200", "zh": "满200减30"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


def test_each_reply_carries_the_discount_in_the_customers_language(
    store: Store, clock: ManualClock, tmp_path: Path, sandbox: Any
) -> None:
    shop = XPlatform.for_sandbox(sandbox.url, "shop", account="shop")
    try:
        with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5) as admin:
            people = {
                who: admin.post("/_sandbox/users", json={"username": who, "name": who.title()}).json()["id"]
                for who in ("lin", "mia", "kenji")
            }
            store.segments.save_run(
                created_at=clock.now(), k=1, silhouette=None, graph_snapshot_id=None, params={}, stats={},
                segments=[(0, "fans", 3, {})], members=[("x", uid, 0, 0.1) for uid in people.values()],
            )  # fmt: skip
            settings = make_settings(tmp_path, thanks={"holdout": 0, "channel": "reply", "discount": DISCOUNT})
            settings = settings.model_copy(update={"replies": RepliesConfig(), "database_url": "sqlite://"})
            coupons = CouponService(settings, store, clock)
            assert coupons.issue("thanks").issued == 3
            mentions = MentionService(
                settings, store, {"shop": shop}, Classifier(settings.replies), TemplateRenderer(settings), clock,
                coupons=coupons,
            )  # fmt: skip
            said = {
                "lin": "@shop 请问有优惠券吗？",
                "mia": "@shop any coupon for me?",
                "kenji": "@shop クーポン coupon ありますか",  # neither en nor zh: the en form
            }
            for who, text in said.items():
                admin.post("/_sandbox/tweets", json={"author_id": people[who], "text": text})
            mentions.poll("shop")
        codes = {c.user_id: c.code for c in store.coupons.find()}
        replies = {item.target_user_id: item.text for item in store.outbox.items(limit=None) if item.kind == "reply"}
        assert set(replies) == set(people.values())
        zh, en = replies[people["lin"]], replies[people["mia"]]
        assert codes[people["lin"]] in zh and "满200减30" in zh and "off" not in zh, zh
        assert codes[people["mia"]] in en and "¥30 off ¥200" in en and "满" not in en, en
        assert "¥30 off ¥200" in replies[people["kenji"]] and "满" not in replies[people["kenji"]]
    finally:
        shop.close()


def test_the_coupon_text_renders_discount_and_extra_per_language(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    (tmp_path / "templates" / "coupons").mkdir(parents=True)
    (tmp_path / "templates" / "coupons" / "coupon.j2").write_text(
        '{% if language == "zh" %}{{ code }}：{{ discount }}，{{ shop_name }}{% else %}{{ code }}: {{ discount }} '
        "from {{ extra.shop_name }}{% endif %}\n",
        encoding="utf-8",
    )
    settings = make_settings(
        tmp_path, thanks={"holdout": 0, "discount": DISCOUNT, "extra": {"shop_name": {"en": "Lumen", "zh": "流明"}}}
    )
    settings = settings.model_copy(update={"templates_dir": tmp_path / "templates"})
    [coupon] = _one_coupon(store, clock, settings)
    service = CouponService(settings, store, clock)
    assert service.render(coupon, language="zh") == f"{coupon.code}：满200减30，流明"
    assert service.render(coupon, language="en") == f"{coupon.code}: ¥30 off ¥200 from Lumen"
    assert service.render(coupon, language=None) == f"{coupon.code}: ¥30 off ¥200 from Lumen"


def _one_coupon(store: Store, clock: ManualClock, settings: Any) -> list[Any]:
    store.segments.save_run(
        created_at=clock.now(), k=1, silhouette=None, graph_snapshot_id=None, params={}, stats={},
        segments=[(0, "fans", 1, {})], members=[("x", "u1", 0, 0.1)],
    )  # fmt: skip
    assert CouponService(settings, store, clock).issue("thanks").issued == 1
    return list(store.coupons.find(user_id="u1"))


def test_the_one_rule_for_per_language_texts() -> None:
    assert is_per_language({"en": "a", "zh": "b"}) and is_per_language({"pt-BR": "c"})
    assert not is_per_language({"name": "x"}) and not is_per_language({}) and not is_per_language("text")
    assert in_language(DISCOUNT, "zh") == "满200减30" and in_language(DISCOUNT, "zh-TW") == "满200减30"
    assert in_language(DISCOUNT, "other") == "¥30 off ¥200" and in_language(DISCOUNT, None) == "¥30 off ¥200"
    assert in_language({"zh": "满200减30", "ja": "x"}, "fr") == "满200减30"  # no `en`: the first form
    assert in_language("15% off", "zh") == "15% off"  # a plain string: every language
    assert CouponCampaignConfig(discount="15% off", budget=1).discount_for("zh") == "15% off"
    assert template_languages('{# language == "de" #}\n{% if language == "zh" %}\n{% endif %}') == {"zh": 2, "en": 0}
    assert template_languages("Hello {{ name }}") == {}
    with pytest.raises(ValidationError, match="not a language code"):
        CouponCampaignConfig(discount={"english": "15% off"}, budget=1)


def test_a_bad_per_language_discount_names_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "templates" / "coupons").mkdir(parents=True)
    (tmp_path / "templates" / "coupons" / "coupon.j2").write_text("{{ code }}\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        "accounts:\n  shop: {platform: sandbox, handle: shop}\ncoupons:\n  campaigns:\n    thanks:\n"
        '      budget: 5\n      discount: {en: "¥30 off", chinese: "减30"}\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ={})
    [problem] = caught.value.problems
    assert (problem.line, problem.path) == (7, "coupons.campaigns.thanks.discount")
    assert "'chinese' is not a language code" in problem.message
