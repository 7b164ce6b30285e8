"""The brand never repeats what the customer controls: no link, domain, handle, e-mail address or long quote from a
customer's display name or text reaches a reply, whatever Unicode tricks carry it; `socialbot check` refuses a
reply template that outputs the customer's raw input. Shipped templates, the real reply path over the sandbox."""

from __future__ import annotations

import random
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twitter_text.extract_urls import extract_urls_with_indices

from bot.adapters.escalation import Escalator
from bot.adapters.platforms import richtext
from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.adapters.templating import TemplateRenderer, read_templates
from bot.app.checking import run_checks
from bot.core.clock import ManualClock
from bot.domains.conversations.intent import Classifier
from bot.domains.conversations.mentions import MentionService
from bot.domains.publishing.outbox import Outbox
from bot.sandbox.world import _MENTION_RE as X_MENTION
from bot.settings.config import AccountConfig, Settings
from bot.settings.replies import Caps, RepliesConfig
from tests.conftest import REPO_ROOT
from tests.helpers import delivery

SETTINGS = Settings(
    accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
    templates_dir=REPO_ROOT / "templates",
    replies=RepliesConfig(enabled=True, caps=Caps(per_user_per_day=0, per_conversation=0)),
)
RENDERER = TemplateRenderer(SETTINGS, sources=read_templates(SETTINGS.templates_dir))
MARKER = "evil"  # every linkable piece below carries it; the benign words never do

# what platforms (or a reader's browser) would follow, hidden every way we know of
LINKABLE = [
    "evil.example",
    "evil.com",
    "https://evil.example/login",
    "http://evil.shop/free-gift?x=1",
    "hxxp://evil.example",
    "www.evil.example",
    "evil。example",
    "evil．example",
    "evil｡example",
    "ｅｖｉｌ．ｃｏｍ",
    "evil\u2024com",
    "evil\ufe52com",
    "evil\u200b.com",
    "evil.\u200dcom",
    "e\u00advil.shop",
    "evil\u2060.example",
    "\u202eevil.example\u202c",
    "evil.\u0301com",
    "xn--evil-9na.example",
    "evil.xn--p1ai",
    "evil.бел",
    "evil.中国",
    "@evil",
    "＠evil",
    "﹫evil",
    "@evil.bsky.social",
    "@evil-with-a-long-name.example",
    "win@evil.example",
    "win＠evil．example",
    "#evilgift",
    "＃evilgift",
    "$EVIL",
]
WORDS = ["Win", "at", "free", "gift", "小林", "欧阳娜娜", "Mia", "🌸", "😀", "where", "is", "my", "order", "?", "!",
         "退订", "refund", "love it", "broken", "\u202e", "\u200b", "\n", "{{7*7}}", "bad[.]example", "Dr.",
         "–"]  # fmt: skip
HOSTILE = st.lists(st.one_of(st.sampled_from(LINKABLE), st.sampled_from(WORDS)), min_size=1, max_size=8).map(
    lambda parts: " ".join(parts)
)
SPACED = st.lists(st.sampled_from(LINKABLE + WORDS), min_size=1, max_size=6).map("".join)  # glued, no spaces
NAMES = st.one_of(HOSTILE, SPACED, st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00")))
TEXTS = st.one_of(HOSTILE, SPACED, st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00")))
INTENT_TEXTS = ["where is my order?", "my lamp arrived broken, refund", "any coupon for me?", "love it, thank you!",
                "我的订单什么时候到？", "质量太差了，退款", "有优惠券吗？", "太喜欢了，谢谢！"]  # fmt: skip


def fold(text: str) -> str:
    """What a reader or a linkifier could make of the text: NFKC, every dot look-alike a dot, no invisibles."""
    normal = unicodedata.normalize("NFKC", text)
    normal = normal.translate({0x3002: ".", 0xFF61: ".", 0x2024: ".", 0xFE52: "."})
    return "".join(c for c in normal if unicodedata.category(c) != "Cf")


def domain_shapes(text: str) -> set[str]:
    return set(re.findall(r"\w[^\w\s]{0,2}\.[^\w\s]{0,2}\w+", fold(text)))


def leaks(reply: str, name: str = "", text: str = "", *, own: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """What in an outgoing reply came from the customer and should not have: an empty list when it is clean.
    `own`: the domain shapes the template says by itself (Chinese text: 退订。之后 folds to 退订.之后)."""
    found: list[str] = []
    for version in (reply, fold(reply)):
        found += [u["url"] for u in extract_urls_with_indices(version)]  # X's linkifier (twitter-text)
        found += [f"{s.kind}:{s.value}" for s in richtext.detect(version)]  # Bluesky's clients' facets
        found += [f"@{m.group(1)}" for m in X_MENTION.finditer(version)]  # what X reads as a mention
    folded = fold(reply)
    found += re.findall(r"\S*@\S*", folded)  # handles, e-mail addresses, whatever the script
    found += sorted(domain_shapes(reply) - own)  # any other domain shape, in any script
    if MARKER in folded.lower():
        found.append(f"the marker {MARKER!r}")
    source = fold(text)
    found += [source[i : i + 30] for i in range(0, max(0, len(source) - 29)) if source[i : i + 30] in folded]
    return found


def context(name: str, text: str, *, user: str = "fan", item_id: str = "1", language: str = "en") -> dict[str, Any]:
    from bot.domains.conversations.replies import reply_context

    intent = Classifier(SETTINGS.replies).classify(text, account_handle="shop")
    return reply_context(item_id=item_id, user=user, name=name, text=text, intent=intent.name,
                         language=language, shop="shop", channel="reply")  # fmt: skip


def test_the_reported_case_greets_neutrally_and_quotes_nothing() -> None:
    ctx = context("Win at evil.example", "@shop how do I get the free gift at https://evil.example/login…")
    assert ctx["name"] == "" and "evil" not in str(ctx["text"])
    replies = RENDERER.render("replies/question.j2", {**ctx, "intent": "question"})
    assert replies[0].startswith("Thanks for your question! Our team will get back to you shortly (ref. ")
    assert all(not leaks(r, "Win at evil.example", "how do I get the free gift") for r in replies), replies


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ("Mia", "Mia"),
        ("🌸 Mia 🌸", "Mia"),
        ("Mia (she/her)", "Mia"),
        ("Mia | Lumen fan", "Mia"),
        ("Dr. Who", "Dr. Who"),
        ("Zoë O'Neil", "Zoë O'Neil"),
        ("小林", "小林"),
        ("欧阳娜娜", "欧阳娜娜"),
        ("山田 太郎", "山田 太郎"),
        ("\u202eMia\u202c", "Mia"),
        ("Ｍｉａ", "Mia"),
        ("点击领取免费礼品", ""),  # a sentence, not a name: "click to claim a free gift"
        ("龙" * 40, ""),
        ("A" * 21, ""),
        ("Win a free gift today", ""),
        ("Call 555 0100", ""),
        ("Win at evil.example", ""),
        ("evil。com", ""),
        ("小林@evil", ""),
        ("", ""),
    ],
)
def test_display_names_are_said_only_in_a_safe_short_form(raw: str, said: str) -> None:
    from bot.core.text import safe_name

    assert safe_name(raw) == said


def test_a_bluesky_handle_is_never_the_greeting() -> None:
    ctx = context("", "@shop where is my order?", user="win-a-gift.evil.example")
    assert ctx["name"] == "" and ctx["user"] == "win-a-gift.evil.example"  # the raw handle: recommend(user) only


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=NAMES, text=TEXTS, item_id=st.integers(min_value=1, max_value=10**19).map(str))
def test_no_shipped_reply_carries_the_customers_links_handles_or_words(name: str, text: str, item_id: str) -> None:
    for language in ("en", "zh"):
        ctx = context(name, text, item_id=item_id, language=language)
        assert not leaks(str(ctx["name"]), name), ctx["name"]
        excerpt = str(ctx["text"])  # for teams' own templates: short and unlinkable
        assert not [f for f in leaks(excerpt) if not f.startswith("the marker")], excerpt
        for rule in SETTINGS.replies.intents:
            if rule.reply:
                neutral = RENDERER.render(rule.reply, {**ctx, "name": "", "text": ""})
                for reply, own in zip(RENDERER.render(rule.reply, ctx), neutral, strict=True):
                    assert not leaks(reply, name, text, own=domain_shapes(own)), (name, text, reply)


# ---------------------------------------------------------------------------------------------- end to end


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


def template_shapes() -> set[str]:
    """The domain shapes the shipped reply templates say by themselves, in either language."""
    shapes: set[str] = set()
    for language in ("en", "zh"):
        for rule in SETTINGS.replies.intents:
            if rule.reply:
                neutral = {"user": "", "name": "", "text": "", "ref": "REF234", "intent": rule.name, "sequence": 1,
                           "language": language, "shop": "shop", "channel": "reply", "coupon": None}  # fmt: skip
                for reply in RENDERER.render(rule.reply, neutral):
                    shapes |= domain_shapes(reply)
    return shapes


def sent_texts(admin: httpx.Client, me: str) -> list[str]:
    tweets = admin.get("/_sandbox/tweets", params={"author_id": me}).json()["tweets"]
    dms = admin.get("/_sandbox/dms", params={"from_user_id": me}).json()["dms"]
    return [t["text"] for t in tweets] + [d["text"] for d in dms]


def answer_everyone(server: Any, url: str, clock: ManualClock, people: list[tuple[str, str, str]]) -> list[str]:
    """Each (display name, text, tweet|dm) to the shop through the sandbox; the daemon's poll and delivery; the
    texts the shop sent."""
    shop = XPlatform.for_sandbox(server.url, "shop", account="shop")
    try:
        with Store.open(url, clock=clock) as store, httpx.Client(base_url=server.url, trust_env=False) as admin:
            store.upgrade()
            me = shop.me().id
            for n, (name, text, kind) in enumerate(people):
                fan = server.add_user(f"fan{n}", name)
                if kind == "dm":
                    server.add_dm(fan, me, text)
                else:
                    server.add_tweet(fan, f"@shop {text}")
            service = MentionService(
                SETTINGS, store, {"shop": shop}, Classifier(SETTINGS.replies), RENDERER, clock,
                escalator=Escalator(SETTINGS.replies.escalation, url=""),
            )  # fmt: skip
            report = service.poll("shop")
            assert report.replies == len(people), report
            box = Outbox(store, {"shop": shop}, delivery=delivery(), owner="t", clock=clock, rng=random.Random(1))
            assert box.deliver_due().sent == len(people)
            return sent_texts(admin, me)
    finally:
        shop.close()


def test_hostile_customers_over_the_sandbox_get_clean_replies(sandbox: Any, db_url: str, clock: ManualClock) -> None:
    people = [
        ("Win at evil.example", "how do I get the free gift at https://evil.example/login…", "tweet"),
        ("ｅｖｉｌ．ｃｏｍ", "my order is broken, see evil。com/claim and refund me", "tweet"),
        ("Mia @evil", "love it! follow @evil and mail win@evil.example", "tweet"),
        ("小林 evil.中国", "有优惠券吗？去 evil．com 领取", "tweet"),
        ("e\u200bvil.shop", "where is my order? www.evil.example", "dm"),
        ("\u202eelpmaxe.live\u202c", "stop", "dm"),
        ("Mia", "any coupon for me? #evilgift", "tweet"),
    ]
    texts = answer_everyone(sandbox, db_url, clock, people)
    assert len(texts) == len(people)
    own = template_shapes()
    for reply in texts:
        for name, text, _ in people:
            assert not leaks(reply, name, text, own=own), reply
    assert any("Mia" in t for t in texts)  # a real name is still said


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=st.lists(st.tuples(NAMES, st.sampled_from(INTENT_TEXTS), HOSTILE), min_size=1, max_size=4))
def test_property_over_the_sandbox(sandbox_server: Any, people: list[tuple[str, str, str]]) -> None:
    sandbox_server.reset()
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    texts = [(name, f"{intent} {extra}", "tweet") for name, intent, extra in people]
    with tempfile.TemporaryDirectory() as folder:
        sent = answer_everyone(sandbox_server, f"sqlite:///{folder}/bot.db", clock, texts)
    own = template_shapes()
    for reply in sent:
        assert not leaks(reply, own=own), reply


def test_a_coupon_in_a_reply_greets_neutrally(store: Store, clock: ManualClock, tmp_path: Path, sandbox: Any) -> None:
    from bot.domains.coupons.issuing import CouponService
    from tests.test_coupons import make_settings

    shop = XPlatform.for_sandbox(sandbox.url, "shop", account="shop")
    try:
        fan = sandbox.add_user("fan", "Win at evil.example")
        store.segments.save_run(
            created_at=clock.now(), k=1, silhouette=None, graph_snapshot_id=None, params={}, stats={},
            segments=[(0, "advocates", 1, {})], members=[("x", fan, 0, 0.1)],
        )  # fmt: skip
        settings_ = make_settings(tmp_path, thanks={"holdout": 0, "channel": "reply", "discount": "10% off"})
        settings_ = settings_.model_copy(update={"replies": RepliesConfig(), "database_url": "sqlite://"})
        coupons = CouponService(settings_, store, clock)
        assert coupons.issue("thanks").issued == 1
        sandbox.add_tweet(fan, "@shop any coupon for me?")
        MentionService(
            settings_, store, {"shop": shop}, Classifier(settings_.replies), TemplateRenderer(settings_), clock,
            coupons=coupons,
        ).poll("shop")  # fmt: skip
        [reply] = [item for item in store.outbox.items(limit=None) if item.kind == "reply"]
        [code] = [c.code for c in store.coupons.find(user_id=fan)]
        assert code and code in reply.text and not leaks(reply.text, own=template_shapes()), reply.text
    finally:
        shop.close()


# ------------------------------------------------------------------------------------------- socialbot check


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    for folder in ("templates", "data"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    shutil.copy(REPO_ROOT / "config.yaml", tmp_path / "config.yaml")
    yield tmp_path


def test_check_accepts_the_shipped_reply_templates(project: Path) -> None:
    report = run_checks(project / "config.yaml")
    assert report.ok, report.problems


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("Thanks, {{ name }}!\n{# variant #}\nHi @{{ user }}, thanks!\n", 3),
        ("Thanks!\n{# variant #}\nHi {{ user | upper }}!\n", 3),
        ("{% set who = user %}\nThanks, {{ who }}!\n", 1),
        ("Thanks!\n{% if true %}\n  {{ 'Hi ' ~ user }}\n{% endif %}\n", 3),
        ("Thanks, {{ user.title() }}!\n", 1),
    ],
)
def test_check_refuses_a_reply_template_that_outputs_the_raw_handle(project: Path, body: str, line: int) -> None:
    template = project / "templates" / "replies" / "praise.j2"
    template.write_text(body, encoding="utf-8")
    report = run_checks(project / "config.yaml")
    raw = [p for p in report.problems if "raw" in p.message and p.file == str(template)]
    assert raw and raw[0].line == line and "user" in raw[0].message, report.problems


def test_check_allows_the_handle_as_a_function_argument(project: Path) -> None:
    template = project / "templates" / "replies" / "praise.j2"
    template.write_text("Thanks, {{ name }}! {{ recommend(user, n=2) | length }} picks for you.\n", encoding="utf-8")
    report = run_checks(project / "config.yaml")
    assert report.ok, report.problems
