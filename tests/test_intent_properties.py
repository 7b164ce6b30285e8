"""Properties over arbitrary Unicode customer text: classify never fails, replies never evaluate it and fit."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.templating import TemplateRenderer
from bot.core.text import X_MAX_WEIGHTED_LENGTH, weighted_length
from bot.domains.conversations.intent import Classifier
from bot.domains.conversations.replies import reference, reply_context
from bot.settings.config import load_config
from bot.settings.replies import RepliesConfig

ROOT = Path(__file__).resolve().parent.parent
REPLY_TEMPLATES = ["opt_out", "complaint", "coupon_request", "question", "praise"]
CLASSIFIER = Classifier(RepliesConfig())
KNOWN = {rule.name for rule in CLASSIFIER.rules} | {"other"}

PIECES = st.sampled_from(
    [
        "{{7*7}}",
        "{% if 1 %}x{% endif %}",
        "{#",
        "#}",
        "@lumenhome",
        "@bob",
        "stop",
        "退订",
        "坏了",
        "😀",
        "👩🏽‍💻",
        "🇨🇳",
        "\u200b",
        "\u200d",
        "\u202e",
        "مرحبا",
        "שלום",
        "？",
        "ＳＴＯＰ",
        "https://t.co/abc",
        "\n",
        "\x00",
    ]
)
TEXTS = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=300),
    st.lists(st.one_of(PIECES, st.text(max_size=5)), max_size=40).map("".join),
    st.text(st.characters(exclude_categories=("Cs",)), min_size=500, max_size=3000),
)
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer(load_config(ROOT / "config.yaml", require_credentials=False))


@PROPERTY
@given(text=TEXTS)
def test_classify_never_raises(text: str) -> None:
    result = CLASSIFIER.classify(text, account_handle="lumenhome")
    assert result.name in KNOWN
    assert -1.0 <= result.sentiment <= 1.0
    assert result.language in ("en", "zh", "other")


@PROPERTY
@given(text=TEXTS, name=TEXTS, sequence=st.integers(min_value=0, max_value=10**6))
def test_replies_never_evaluate_customer_text_and_always_fit(
    renderer: TemplateRenderer, text: str, name: str, sequence: int
) -> None:
    intent = CLASSIFIER.classify(text, account_handle="lumenhome")
    for language in {intent.language, "zh" if intent.language == "en" else "en"}:
        context = reply_context(
            item_id=str(sequence),
            user="someone_1",
            name=name[:50],
            text=text,
            intent=intent.name,
            language=language,
            shop="lumenhome",
            channel="reply",
        )
        for template in REPLY_TEMPLATES:
            for reply in renderer.render(f"replies/{template}.j2", context):
                assert reply.strip()
                assert weighted_length(reply) <= X_MAX_WEIGHTED_LENGTH, (template, reply)
                if "{{7*7}}" in text and "{{" not in name and "49" not in text + name:
                    assert "49" not in reply.replace(reference(str(sequence)), "")  # the ref may spell 49 by chance


def test_template_syntax_in_text_stays_literal(renderer: TemplateRenderer) -> None:
    context = reply_context(
        item_id="0",
        user="ann",
        name="{{ 7*7 }}",
        text="{{7*7}} {% for x in range(3) %}x{% endfor %}",
        intent="question",
        language="en",
        shop="lumenhome",
        channel="dm",
    )
    assert str(context["text"]).startswith("{{7*7}} {% for x in range(3) %}")
    for reply in renderer.render("replies/question.j2", context):
        assert "49" not in reply and "xxx" not in reply


def test_long_quotes_fit_in_every_language(renderer: TemplateRenderer) -> None:
    for text in ("台灯" * 500, "word " * 2000, "😀" * 280, "https://example.com/" + "a" * 500):
        for language in ("en", "zh"):
            context = reply_context(
                item_id="3",
                user="u",
                name="長い名前の人" * 10,
                text=text,
                intent="complaint",
                language=language,
                shop="lumenhome",
                channel="reply",
            )
            for template in REPLY_TEMPLATES:
                replies = renderer.render(f"replies/{template}.j2", context)
                assert len(replies) >= 3
                assert len(set(replies)) == len(replies)
                assert all(weighted_length(r) <= X_MAX_WEIGHTED_LENGTH for r in replies)


def test_chinese_customers_get_chinese_confirmations(renderer: TemplateRenderer) -> None:
    base = {"user": "u", "name": "小明", "intent": "opt_out", "text": "退订", "shop": "lumenhome", "sequence": 0}
    zh = renderer.render("replies/opt_out.j2", {**base, "language": "zh", "channel": "reply"})
    en = renderer.render("replies/opt_out.j2", {**base, "language": "en", "channel": "reply"})
    assert all("退订" in reply for reply in zh)
    assert all("You won't hear from us again" in reply for reply in en)
    hostile = reply_context(item_id="0", user="u", name="Bob @elonmusk", text="love it", intent="praise",
                            language="en", shop="lumenhome", channel="dm")  # fmt: skip
    names = renderer.render("replies/praise.j2", hostile)
    assert not any("@" in reply for reply in names)


KEYWORD_PIECES = st.sampled_from(
    [
        "stop",
        "don't stop",
        "Stopped",
        "refund",
        "refunded",
        "never  arrived",
        "never\narrived",
        "discount code",
        "COUPONS",
        "can i",
        "thanks",
        "amazing!",
        "nonstop",
        "优惠券",
        "坏了",
        "吗",
        "ｃｏｕｐｏｎ",
        "s\u200btop",
        " ",
        "?",
    ]
)
KEYWORD_TEXTS = st.lists(st.one_of(KEYWORD_PIECES, st.text(max_size=4)), max_size=12).map(" ".join)


@PROPERTY
@given(text=st.one_of(TEXTS, KEYWORD_TEXTS))
def test_keyword_prefilter_never_changes_the_intent(text: str) -> None:
    """The literal prefilter only skips texts where no keyword regex could match: same intent and same matched
    keyword as with every rule's regex tried on every text."""
    plain = Classifier(RepliesConfig())
    for compiled in plain._rules:
        compiled.literals = ("",)  # "" occurs in every text: the regex always runs
    filtered, unfiltered = CLASSIFIER.classify(text), plain.classify(text)
    assert (filtered.name, filtered.matched) == (unfiltered.name, unfiltered.matched)
