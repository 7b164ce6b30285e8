"""Reply composition for mentions: customer text as sanitised data, variants, length, quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.templating import TemplateRenderer, read_templates
from bot.core.models import User
from bot.core.text import weighted_length
from bot.domains.conversations.intent import Classifier
from bot.domains.conversations.replies import (
    ReplyComposer,
    customer_text,
    quiet_until,
    reference,
    reply_context,
    sequence_of,
)
from bot.sandbox.world import _MENTION_RE as LIVE_HANDLE
from bot.settings.config import AccountConfig, Settings
from bot.settings.replies import QuietHours, RepliesConfig
from tests.conftest import REPO_ROOT

SETTINGS = Settings(
    accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
    templates_dir=REPO_ROOT / "templates",
    replies=RepliesConfig(enabled=True),
)
RENDERER = TemplateRenderer(SETTINGS, sources=read_templates(SETTINGS.templates_dir))
CLASSIFIER = Classifier(SETTINGS.replies)
COMPOSER = ReplyComposer(RENDERER)
TEXTS = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=400),
    st.lists(
        st.sampled_from(["@shop ", "@bob", "{{7*7}}", "{%", "stop", "退订", "refund", "😀", "\u202e", "？", "\n"]),
        max_size=60,
    ).map("".join),
)


def context_for(text: str, name: str = "Ann", item_id: str = "1") -> dict[str, object]:
    intent = CLASSIFIER.classify(text, account_handle="shop")
    return reply_context(
        item_id=item_id,
        user="ann",
        name=name,
        text=text,
        intent=intent.name,
        language=intent.language,
        shop="shop",
        channel="reply",
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, name=st.text(max_size=60), item_id=st.integers(min_value=1, max_value=10**19).map(str))
def test_replies_fit_and_never_mention_or_evaluate(text: str, name: str, item_id: str) -> None:
    context = context_for(text, name, item_id)
    assert not LIVE_HANDLE.search(str(context["text"]))  # what X (the sandbox) would read as a mention
    rule = SETTINGS.replies.rule(str(context["intent"]))
    if rule is None or rule.reply is None:
        return
    for dm in (False, True):
        composed = COMPOSER.first(rule.reply, context, dm=dm)
        assert composed.text is not None, composed.reason
        assert weighted_length(composed.text) <= 280 or dm
        assert len(composed.text) <= 10_000
        if "{{7*7}}" in text and "49" not in text + name:
            assert "49" not in composed.text.replace(reference(item_id), "")  # the ref may spell 49 by chance


def test_customer_text_drops_leading_handles_and_neutralises_the_rest() -> None:
    assert customer_text("@shop @bob where is it? ask @carol") == "where is it? ask …"
    assert customer_text("") == ""
    assert sequence_of("42") == 42 and sequence_of("abc") == sequence_of("abc")


def test_variants_rotate_by_sequence_and_skip_used_texts() -> None:
    texts = {
        COMPOSER.first("replies/praise.j2", {**context_for("love it"), "sequence": s}, dm=False).text for s in range(3)
    }
    assert len(texts) == 3
    context = {**context_for("love it"), "sequence": 0}
    preferred = COMPOSER.first("replies/praise.j2", context, dm=False).text
    chosen = COMPOSER.choose("replies/praise.j2", context, lambda ts: {preferred}, dm=False)
    assert chosen.text not in (None, preferred)
    none_left = COMPOSER.choose("replies/praise.j2", context, lambda ts: set(ts), dm=False)
    assert none_left.text is None and "already sent" in (none_left.reason or "")


def test_too_long_quotes_are_cut_before_the_reply_is_dropped() -> None:
    long = "@shop my parcel arrived damaged " + "very " * 200
    context = {**context_for(long), "sequence": 1}
    composed = COMPOSER.first("replies/complaint.j2", context, dm=False)
    assert composed.text is not None and weighted_length(composed.text) <= 280
    tiny = ReplyComposer(RENDERER, max_length=20)
    assert tiny.first("replies/complaint.j2", context, dm=False).reason.startswith("too long")
    missing = COMPOSER.first("replies/nope.j2", context, dm=False)
    assert missing.text is None and missing.reason.startswith("template error")


@pytest.mark.parametrize(
    ("now", "start", "end", "zone", "expected"),
    [
        (datetime(2026, 11, 27, 23, 30, tzinfo=UTC), time(22), time(7), "UTC", datetime(2026, 11, 28, 7, tzinfo=UTC)),
        (datetime(2026, 11, 28, 3, 0, tzinfo=UTC), time(22), time(7), "UTC", datetime(2026, 11, 28, 7, tzinfo=UTC)),
        (datetime(2026, 11, 28, 12, 0, tzinfo=UTC), time(22), time(7), "UTC", None),
        (datetime(2026, 11, 28, 7, 0, tzinfo=UTC), time(22), time(7), "UTC", None),
        (datetime(2026, 11, 28, 13, 0, tzinfo=UTC), time(12), time(14), "UTC", datetime(2026, 11, 28, 14, tzinfo=UTC)),
        # 23:30 in New York (UTC-5) is quiet until 08:00 local = 13:00 UTC
        (
            datetime(2026, 11, 28, 4, 30, tzinfo=UTC),
            time(22),
            time(8),
            "America/New_York",
            datetime(2026, 11, 28, 13, tzinfo=UTC),
        ),
    ],
)
def test_quiet_until(now: datetime, start: time, end: time, zone: str, expected: datetime | None) -> None:
    found = quiet_until(now, QuietHours(start=start, end=end, timezone=zone), "UTC")
    assert found == expected
    assert quiet_until(now, None, "UTC") is None


def test_summons_rules() -> None:
    from bot.domains.conversations.incoming import Incoming, summons

    me = User("1", "Shop")
    assert summons(Incoming("mention", "9", "@SHOP hi", "5", mentions=("shop",)), me)
    assert summons(Incoming("mention", "9", "nice", "5", in_reply_to_user_id="1"), me)
    assert summons(Incoming("mention", "9", "look", "5", quoted_id="77"), me, {"77"})
    assert not summons(Incoming("mention", "9", "look", "5", quoted_id="78"), me, {"77"})
    assert not summons(Incoming("mention", "9", "@carol see", "5", in_reply_to_user_id="6", mentions=("carol",)), me)
    assert summons(Incoming("dm", "9", "hi", "5"), me)


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(st.characters(exclude_categories=("Cs",)), max_size=300),
        st.lists(
            st.sampled_from(
                ["a", "é", "台", "😀", "👩🏽‍💻", "🇨🇳", "\u200d", "\ufe0f", "a.co", "https://x.com/a", "。", " "]
            ),
            max_size=80,
        ).map("".join),
    )
)
def test_weight_bound_never_under_counts(text: str) -> None:
    from bot.domains.conversations.replies import weight_bound

    assert weight_bound(text) >= weighted_length(text)


def test_a_dm_fits_the_platforms_own_dm_limit() -> None:
    renderer = TemplateRenderer(SETTINGS, sources={"echo.j2": "You wrote: {{ text }}"})
    long_message = "a" * 1500
    roomy = ReplyComposer(renderer).first("echo.j2", {"text": long_message}, dm=True)
    tight = ReplyComposer(renderer, dm_max_length=1000).first("echo.j2", {"text": long_message}, dm=True)
    assert roomy.text is not None and long_message in roomy.text  # X: 10,000 characters
    assert tight.text is not None and len(tight.text) <= 1000  # Bluesky chat: the quote is cut, the DM still goes
