"""Intent rules and sentiment over real config models and the real sentiment engines."""

from __future__ import annotations

import pytest

from bot.adapters import sentiment
from bot.domains.conversations.intent import Classifier
from bot.settings.replies import IntentRule, RepliesConfig

SHOP = "lumenhome"


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(RepliesConfig())


def name_of(classifier: Classifier, text: str) -> str:
    return classifier.classify(text, account_handle=SHOP).name


@pytest.mark.parametrize(
    ("text", "intent", "language"),
    [
        ("@lumenhome stop", "opt_out", "en"),
        ("please unsubscribe me", "opt_out", "en"),
        ("@lumenhome 退订", "opt_out", "zh"),
        ("My lamp arrived broken", "complaint", "en"),
        ("台灯坏了，我要退款", "complaint", "zh"),
        ("Do you have a discount code for the sale", "coupon_request", "en"),
        ("请问有优惠券吗", "coupon_request", "zh"),
        ("When is the oak table back in stock?", "question", "en"),
        ("这个台灯多久能到", "question", "zh"),
        ("Thanks, the throw is lovely", "praise", "en"),
        ("谢谢，很喜欢这个抱枕", "praise", "zh"),
        ("just saw your new collection", "other", "en"),
        ("我在逛你们的店铺", "other", "zh"),
    ],
)
def test_each_intent_in_english_and_chinese(classifier: Classifier, text: str, intent: str, language: str) -> None:
    result = classifier.classify(text, account_handle=SHOP)
    assert (result.name, result.language) == (intent, language)
    assert result.rule.name == intent


def test_full_width_case_and_zero_width_match(classifier: Classifier) -> None:
    assert name_of(classifier, "ＳＴＯＰ") == "opt_out"
    assert name_of(classifier, "STOP!!!") == "opt_out"
    assert name_of(classifier, "s\u200btop") == "opt_out"
    assert name_of(classifier, "ＣＯＵＰＯＮ please") == "coupon_request"
    assert name_of(classifier, "尺寸是多少？") == "question"  # full-width question mark via the pattern


def test_stop_word_boundaries_and_commands(classifier: Classifier) -> None:
    for text in ("stop", "Stop.", "please stop", "pls STOP tweeting me", "请stop", "stop sending me deals"):
        assert name_of(classifier, text) == "opt_out", text
    for text in ("nonstop deals this week", "my lamp stopped working", "don't stop the sale!", "unstoppable"):
        assert name_of(classifier, text) != "opt_out", text


def test_inflections_of_ordinary_keywords(classifier: Classifier) -> None:
    assert name_of(classifier, "any coupons going") == "coupon_request"
    assert name_of(classifier, "thanks a lot") == "praise"
    assert classifier.classify("thanks a lot").matched == "thank"


def test_precedence_opt_out_beats_complaint(classifier: Classifier) -> None:
    result = classifier.classify("This is the worst, my order is broken. STOP messaging me")
    assert result.name == "opt_out"
    assert not result.escalate


def test_precedence_follows_config_order() -> None:
    text = "can i get a coupon?"
    default = Classifier(RepliesConfig())
    assert default.classify(text).name == "coupon_request"  # coupon_request comes before question
    rules = RepliesConfig().intents
    swapped = [rules[0], rules[1], rules[3], rules[2], *rules[4:]]
    assert Classifier(RepliesConfig(intents=swapped)).classify(text).name == "question"


def test_complaint_escalates_and_says_what_matched(classifier: Classifier) -> None:
    result = classifier.classify("Still waiting, my parcel never arrived")
    assert (result.name, result.escalate, result.matched) == ("complaint", True, "never arrived")
    angry = classifier.classify("This is terrible, horrible and disgusting. So angry!")
    assert angry.name == "complaint"
    assert angry.matched == "sentiment<-0.5"


def test_own_handle_and_other_handles_and_urls_never_match() -> None:
    config = RepliesConfig(optout_words=["lumenhome"])  # even a handle that is an opt-out word
    classifier = Classifier(config)
    assert classifier.classify("@lumenhome hello", account_handle=SHOP).name == "other"
    assert classifier.classify("lumenhome hello", account_handle="@lumenhome").name == "other"
    assert classifier.classify("@stop_shop @CouponKing hi there").name == "other"
    assert classifier.classify("look https://example.com/stop/coupon?x=refund").name == "other"
    assert classifier.classify("look lumenhome.com/coupon").name == "other"


def test_config_patterns_and_optout_words() -> None:
    config = RepliesConfig(
        optout_words=["leave me alone", "别烦我"],
        intents=[
            IntentRule(name="opt_out", keywords=["go away"], reply="replies/opt_out.j2"),
            IntentRule(
                name="order_status", patterns=[r"\border\s*#?\d{5,}\b", r"订单号\d+"], reply="replies/question.j2"
            ),
            IntentRule(name="other"),
        ],
    )
    classifier = Classifier(config)
    assert classifier.classify("Leave me ALONE").name == "opt_out"
    assert classifier.classify("别烦我了").name == "opt_out"
    assert classifier.classify("go away bot").name == "opt_out"
    assert classifier.classify("stop").name == "opt_out"  # the built-in words stay
    status = classifier.classify("where is ORDER #123456")
    assert (status.name, status.matched) == ("order_status", r"\border\s*#?\d{5,}\b")
    assert classifier.classify("订单号889900到哪了").name == "order_status"
    assert classifier.classify("love it").name == "other"


def test_missing_opt_out_and_catch_all_rules_fall_back() -> None:
    classifier = Classifier(RepliesConfig(intents=[IntentRule(name="praise", keywords=["love"])]))
    assert classifier.classify("unsubscribe").name == "opt_out"
    assert classifier.classify("love it").name == "praise"
    fallback = classifier.classify("hello")
    assert (fallback.name, fallback.matched, fallback.escalate) == ("other", None, False)


def test_sentiment_sign_in_both_languages() -> None:
    assert sentiment.score("I love this lamp, it's beautiful!") > 0.5
    assert sentiment.score("Terrible quality, it broke on day one. Awful.") < -0.5
    assert sentiment.score("质量很好，非常喜欢，下次还会买") > 0.5
    assert sentiment.score("质量太差了，等了两周，太失望了") < -0.5
    # a neutral Chinese question stays near zero (no opinion cue): it must not look like a complaint
    assert abs(sentiment.score("请问有优惠券吗")) < 0.5
    assert sentiment.detect_language("你好 hello 台灯") == "zh"
    assert sentiment.detect_language("I like the 台灯 a lot") == "en"
    assert sentiment.detect_language("مرحبا بكم") == "other"
    assert sentiment.detect_language("") == "other"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "@lumenhome",
        "😀" * 280,
        "مرحبا، هل لديكم خصم؟",
        "{{7*7}}",
        "\u200b\u200d\u2060\ufeff",
        "x" * 10_000,
        "台" * 10_000,
    ],
)
def test_odd_texts_do_not_crash(classifier: Classifier, text: str) -> None:
    result = classifier.classify(text, account_handle=SHOP)
    assert result.name in {r.name for r in classifier.rules} | {"other"}
    assert -1 <= result.sentiment <= 1
    assert result.language in ("en", "zh", "other")


def test_classify_many_matches_classify(classifier: Classifier) -> None:
    texts = ["stop", "coupon?", "谢谢"]
    assert [i.name for i in classifier.classify_many(texts)] == [classifier.classify(t).name for t in texts]


def test_order_numbers_carry_no_sentiment() -> None:
    # VADER's lexicon reads "182", "187", "143", "86" as internet slang; in a shop they are order ids
    from bot.adapters.sentiment import english_score

    assert english_score("where is order 182?") == 0.0
    assert english_score("order 187, 143 and 86") == 0.0
    assert english_score("order 182 arrived broken, terrible") < -0.3
