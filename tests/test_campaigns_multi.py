"""Campaigns on several accounts (issue 7): one slot -> one outbox row per account, each from its platform's
template and measured by its platform's rule, each delivered once. Real SQLite, real templates, the X sandbox
over HTTP with two sandbox accounts, the real outbox, the real daemon and CLI."""

from __future__ import annotations

import random
import re
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.adapters.templating import TemplateRenderer
from bot.app.checking import run_checks
from bot.app.cli import app
from bot.app.daemon import Daemon, DaemonOptions
from bot.core.clock import ManualClock
from bot.domains.publishing.campaigns import CampaignService
from bot.domains.publishing.outbox import Outbox
from bot.settings.config import Settings, load_config
from tests.helpers import delivery, wait_for

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)

CONFIG = """\
timezone: UTC
database_url: {database_url}
templates_dir: templates
accounts:
  shop_a:
    platform: sandbox
    handle: shopa
    base_url: {base_url}
  shop_b:
    platform: sandbox
    handle: shopb
    base_url: {base_url}
  shop_bsky:
    platform: bluesky
    handle: shop.test
    base_url: http://127.0.0.1:9
campaigns:
  both:
    accounts: [shop_a, shop_b]
    template: promo.j2
    schedule:
      interval: {interval}
  mixed:
    accounts: [shop_a, shop_bsky]
    template: promo.j2
    schedule:
      interval: 1h
  hearts:
    accounts: [shop_a, shop_bsky]
    template: hearts.j2
    schedule:
      interval: 1h
  solo:
    account: shop_a
    template: promo.j2
    schedule:
      interval: 1h
delivery:
  min_spacing_seconds: 0
  per_account_per_day: 0
  poll_seconds: 0.1
  grace_minutes: 0.05
"""

TEMPLATES = {
    "promo.j2": "Slot {{ sequence }} of {{ campaign.name }} for @{{ account.handle }}\n"
    "{{ 'https://shop.example/p' | utm }}\n"
    "{# variant #}\n"
    "Second take, slot {{ sequence }} of {{ campaign.name }} for @{{ account.handle }}\n",
    "promo.bluesky.j2": "On Bluesky: slot {{ sequence }} of {{ campaign.name }} {{ 'https://shop.example/p' | utm }}\n",
    # 150 hearts (one emoji sequence each) and a letter: 302 weighted characters on X (over 280), 152 graphemes
    "hearts.j2": "{{ '\u2764\ufe0f' * 150 }} {{ 'ab'[sequence % 2] }}\n",
}


def write_project(root: Path, *, database_url: str, base_url: str = "http://127.0.0.1:9", interval: str = "1h") -> Path:
    (root / "templates").mkdir(parents=True, exist_ok=True)
    for name, body in TEMPLATES.items():
        (root / "templates" / name).write_text(body, encoding="utf-8")
    path = root / "config.yaml"
    text = CONFIG.format(database_url=database_url, base_url=base_url, interval=interval)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return load_config(write_project(tmp_path, database_url=sqlite_url), environ={}, require_credentials=False)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def service(settings: Settings, store: Store, clock: ManualClock) -> CampaignService:
    return CampaignService(settings, store, TemplateRenderer(settings, clock=clock), clock)


def rows(store: Store, campaign: str) -> dict[str, Any]:
    return {item.account: item for item in store.outbox.items(limit=None) if item.campaign == campaign}


def test_one_slot_is_one_row_per_account_each_with_its_own_key(service: CampaignService, store: Store) -> None:
    woken: list[bool] = []
    service.on_enqueue = lambda: woken.append(True)
    first = service.fire("both", T0)
    assert first.state == "queued" and first.reason is None
    assert [(p.account, p.state) for p in first.posts] == [("shop_a", "queued"), ("shop_b", "queued")]
    assert service.fire("both", T0).state == "duplicate"
    assert woken == [True]

    queued = rows(store, "both")
    assert {a: i.key for a, i in queued.items()} == {
        "shop_a": "campaign:both:shop_a:2026-11-02T10:00:00Z",
        "shop_b": "campaign:both:shop_b:2026-11-02T10:00:00Z",
    }
    assert re.fullmatch(r"Slot \d+ of both for @shopa\nhttps://shop.example/p\?utm_source=x&.*", queued["shop_a"].text)
    assert "for @shopb" in queued["shop_b"].text  # each account renders with its own `account`
    [slot] = store.slots.find("both")
    assert (slot.state, slot.outbox_key, slot.variant) == ("queued", None, "shop_a:0 shop_b:0")

    # a single-account campaign keeps the key format existing databases hold
    assert service.fire("solo", T0).state == "queued"
    [solo] = rows(store, "solo").values()
    assert solo.key == "campaign:solo:2026-11-02T10:00:00Z"
    assert store.slots.find("solo")[0].outbox_key == solo.key


def test_each_platform_renders_its_own_template_and_utm_source(service: CampaignService, store: Store) -> None:
    result = service.fire("mixed", T0)
    assert result.state == "queued"
    queued = rows(store, "mixed")
    assert re.match(r"Slot \d+ of mixed", queued["shop_a"].text)  # promo.j2 (the sandbox speaks X)
    assert re.match(r"On Bluesky: slot \d+ of mixed", queued["shop_bsky"].text)  # promo.bluesky.j2
    assert "utm_source=bluesky" in queued["shop_bsky"].text and "utm_source=x" in queued["shop_a"].text
    posts = {p.account: p for p in result.posts}
    assert posts["shop_bsky"].rendered is not None and posts["shop_bsky"].rendered.template == "promo.bluesky.j2"
    assert posts["shop_a"].rendered is not None and posts["shop_a"].rendered.limit == 280
    assert posts["shop_bsky"].rendered.limit == 300


def test_length_is_checked_by_each_platform_rule(service: CampaignService, store: Store) -> None:
    """150 emoji and a letter: 302 weighted characters on X (over 280), 152 graphemes on Bluesky (within 300). The
    X post is never queued, the Bluesky one is, and the slot says which account got nothing and why."""
    result = service.fire("hearts", T0)
    assert result.state == "queued"
    posts = {p.account: p for p in result.posts}
    assert posts["shop_a"].state == "failed" and "(302/280)" in str(posts["shop_a"].reason)
    assert posts["shop_bsky"].state == "queued"
    assert posts["shop_bsky"].rendered is not None and posts["shop_bsky"].rendered.length == 152
    assert set(rows(store, "hearts")) == {"shop_bsky"}
    [slot] = store.slots.find("hearts")
    assert slot.state == "queued"
    assert slot.reason is not None and slot.reason.startswith("shop_a: failed: variant 0: text is 302 weighted")


def test_a_slot_with_no_valid_text_for_any_account_fails(tmp_path: Path, sqlite_url: str, clock: ManualClock) -> None:
    path = write_project(tmp_path, database_url=sqlite_url)
    (tmp_path / "templates" / "hearts.j2").write_text("{{ '\u2764\ufe0f' * 310 }}\n", encoding="utf-8")
    settings = load_config(path, environ={}, require_credentials=False)
    with Store.open(sqlite_url, clock=clock) as store:
        store.upgrade()
        result = CampaignService(settings, store, TemplateRenderer(settings), clock).fire("hearts", T0)
        assert result.state == "failed"
        [slot] = store.slots.find("hearts")
        assert slot.state == "failed" and slot.reason is not None
        assert "shop_a: failed" in slot.reason and "shop_bsky: failed" in slot.reason
        assert "310 graphemes, on bluesky limit 300" in slot.reason
        assert rows(store, "hearts") == {}
        assert store.outbox.summary()["posts_failed"] == 1


def test_variants_rotate_per_account_and_skip_what_that_account_posted(service: CampaignService, store: Store) -> None:
    """shop_b already posted the slot's preferred text (by hand): it moves on to its next variant, shop_a does not."""
    from bot.adapters.scheduling import slot_sequence

    for hour in range(2):
        slot = T0 + timedelta(hours=hour)
        sequence = slot_sequence(service.spec("both"), slot)
        preferred = sequence % 2
        taken = service.renderer.render_campaign(
            "both", slot_at=slot, sequence=sequence, variant=preferred, account="shop_b"
        )
        store.outbox.enqueue(f"manual:{hour}", account="shop_b", kind="post", text=taken.text)
        posts = {p.account: p for p in service.fire("both", slot, now=slot).posts}
        assert (posts["shop_a"].variant, posts["shop_b"].variant) == (preferred, 1 - preferred)
        assert posts["shop_b"].text != taken.text


@pytest.fixture
def platforms(sandbox: Any) -> Iterator[dict[str, XPlatform]]:
    made = {
        name: XPlatform.for_sandbox(sandbox.url, handle) for name, handle in (("shop_a", "shopa"), ("shop_b", "shopb"))
    }
    yield made
    for platform in made.values():
        platform.close()


def ledger(sandbox: Any, handle: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5) as http:
        user = http.get("/_sandbox/users", params={"username": handle})
        if user.status_code == 404:
            return []
        return list(http.get("/_sandbox/tweets", params={"author_id": user.json()["id"]}).json()["tweets"])


def test_each_account_gets_its_post_once_and_the_slot_is_published_when_all_are_sent(
    sandbox: Any, platforms: dict[str, XPlatform], service: CampaignService, store: Store, clock: ManualClock
) -> None:
    outbox = Outbox(store, platforms, delivery=delivery(), owner="test", clock=clock, rng=random.Random(7))
    assert service.fire("both", T0).state == "queued"
    assert outbox.deliver_due(limit=1).sent == 1  # one of the two went out
    assert store.slots.find("both")[0].state == "queued"  # the slot waits for the other
    assert outbox.deliver_due().sent == 1
    assert outbox.deliver_due().sent == 0  # nothing twice
    [slot] = store.slots.find("both")
    assert slot.state == "published"
    a, b = ledger(sandbox, "shopa"), ledger(sandbox, "shopb")
    assert [t["text"] for t in a] == [rows(store, "both")["shop_a"].text]
    assert [t["text"] for t in b] == [rows(store, "both")["shop_b"].text]
    assert {i.remote_id for i in rows(store, "both").values()} == {a[0]["id"], b[0]["id"]}
    assert store.outbox.summary()["posts_published"] == 2


def test_a_dead_post_fails_the_slot_naming_the_account_and_a_retry_requeues_it(
    sandbox: Any, platforms: dict[str, XPlatform], store: Store, clock: ManualClock
) -> None:
    outbox = Outbox(store, platforms, delivery=delivery(), owner="test", clock=clock, rng=random.Random(7))
    too_long = "x" * 300  # the sandbox refuses it, as X would: dead-lettered at once
    assert store.slots.enqueue_campaign_posts("both", T0, [("shop_a", "fine words", "0"), ("shop_b", too_long, "0")])
    assert not store.slots.enqueue_campaign_posts("both", T0, [("shop_a", "other words", "1")])  # the slot exists
    outbox.deliver_due()
    [slot] = store.slots.find("both")
    assert slot.state == "failed" and slot.reason is not None and slot.reason.startswith("shop_b: ")
    summary = store.outbox.summary()
    assert (summary["posts_published"], summary["posts_failed"]) == (1, 1)  # the dead row, not the slot again
    dead = rows(store, "both")["shop_b"]
    assert store.outbox.retry(dead.id)
    assert store.slots.find("both")[0].state == "queued" and store.slots.find("both")[0].reason is None
    assert store.outbox.cancel(dead.id, "not this one")
    assert store.slots.find("both")[0].state == "published"  # the other one was sent, this one will not be


def test_the_daemon_posts_a_multi_account_campaign_once_per_account(sandbox: Any, tmp_path: Path) -> None:
    config = write_project(
        tmp_path, database_url=f"sqlite:///{tmp_path / 'bot.db'}", base_url=sandbox.url, interval="1s"
    )
    text = config.read_text(encoding="utf-8")
    # only the campaign on the two sandbox accounts: the Bluesky account needs a server of its own
    text = re.sub(r"  shop_bsky:\n(    .*\n)+", "", text)
    text = re.sub(r"  (mixed|hearts):\n(    .*\n)+", "", text)
    config.write_text(text, encoding="utf-8")
    daemon = Daemon(DaemonOptions(config_path=config, environ={}))
    daemon.start()
    try:
        wait_for(lambda: len(ledger(sandbox, "shopa")) >= 3 and len(ledger(sandbox, "shopb")) >= 3, timeout=15)
    finally:
        daemon.stop()
    with Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as store:
        slots = {s.slot_at: s for s in store.slots.find("both")}
        items = [i for i in store.outbox.items(limit=None) if i.campaign == "both"]
    for handle, account in (("shopa", "shop_a"), ("shopb", "shop_b")):
        texts = [t["text"] for t in ledger(sandbox, handle)]
        assert len(texts) == len(set(texts)), f"{account} posted a slot twice"
        sent = [i for i in items if i.account == account and i.state == "sent"]
        assert {i.remote_id for i in sent} == {t["id"] for t in ledger(sandbox, handle)}
        assert all(i.key == f"campaign:both:{account}:{i.slot_at:%Y-%m-%dT%H:%M:%SZ}" for i in sent)
    published = [s for s in slots.values() if s.state == "published"]
    assert published and all(
        {i.account for i in items if i.slot_at == s.slot_at and i.state == "sent"} == {"shop_a", "shop_b"}
        for s in published
    )


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_preview_and_check_show_each_account(tmp_path: Path) -> None:
    config = write_project(tmp_path, database_url="sqlite:///var/never.db")
    code, out = run_cli("preview", "mixed", "--at", "2026-11-02 10:00", "--config", str(config))
    assert code == 0, out
    assert "accounts shop_a, shop_bsky" in out
    assert "shop_bsky (@shop.test, bluesky) · template promo.bluesky.j2" in out
    assert "On Bluesky: slot" in out and "Slot " in out
    assert re.search(r"length \d+/280 weighted valid", out) and re.search(r"length \d+/300 graphemes valid", out)

    code, out = run_cli("preview", "hearts", "--account", "shop_bsky", "--config", str(config))
    assert code == 0, out
    assert "length 152/300 graphemes valid" in out and "/280" not in out
    code, out = run_cli("preview", "hearts", "--config", str(config))
    assert code == 2 and "length 302/280 weighted invalid" in out
    code, out = run_cli("preview", "hearts", "--account", "shop_b", "--config", str(config))
    assert code == 2 and "does not post to 'shop_b'" in out

    code, out = run_cli("check", "--config", str(config))
    assert code == 2
    assert "campaigns.hearts.template: account shop_a: variant 1/1" in out and "text is 302 weighted" in out
    assert not [line for line in out.splitlines() if "error" in line and "shop_bsky" in line]  # 152 graphemes: fine
    assert "SOCIALBOT_SHOP_BSKY_APP_PASSWORD" in out and "warning" in out

    (tmp_path / "templates" / "hearts.x.j2").write_text("{{ '\u2764\ufe0f' * 10 }} {{ sequence }}\n", encoding="utf-8")
    report = run_checks(config, environ={})
    assert report.ok, report.problems
    seen = {(r.campaign, r.account): r for r in report.renderings}
    assert (seen["hearts", "shop_a"].template, seen["hearts", "shop_a"].limit) == ("hearts.x.j2", 280)
    assert (seen["hearts", "shop_bsky"].template, seen["hearts", "shop_bsky"].longest) == ("hearts.j2", 152)
    assert seen["mixed", "shop_bsky"].template == "promo.bluesky.j2" and seen["mixed", "shop_a"].template == "promo.j2"
    code, out = run_cli("check", "--config", str(config))
    assert code == 0, out
    assert "hearts → shop_bsky (bluesky): hearts.j2" in out and "longest 152/300 graphemes" in out


SAMPLES = [
    "plain words",
    "👨\u200d👩\u200d👧\u200d👦 family",
    "🇨🇳🇯🇵 flags",
    "e\u0301 combining",
    "한국어 and \u1100\u1161\u11a8",
    "a\r\nb",
    "双十一 好价",
    "👍🏽 ❤️ 🏳️\u200d🌈 🕯️",
    "a\u200db",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_the_bluesky_length_rule_counts_as_the_adapter_does(text: str) -> None:
    """check/preview/the campaign service measure with bot.core.text; the adapter refuses by its own count at send."""
    from bot.adapters.platforms.richtext import grapheme_length as adapter_count
    from bot.core.text import length_rule

    assert length_rule("bluesky").count(text) == adapter_count(text)


@hypothesis_settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_the_bluesky_length_rule_never_counts_less_than_the_adapter(text: str) -> None:
    """Where the two could differ (scripts whose clusters need Unicode data, e.g. Devanagari conjuncts), the
    renderer's count is the larger: a text it passes is never refused as too long at send time."""
    from bot.adapters.platforms.richtext import grapheme_length as adapter_count
    from bot.core.text import grapheme_length

    assert grapheme_length(text) >= adapter_count(text)
