"""X text rules: weighted length, safe truncation, hashes, handle sanitising."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.text import (
    WORD_JOINER,
    clusters,
    fits,
    normalize_whitespace,
    sanitize_handles,
    text_hash,
    truncate_weighted,
    weighted_length,
)

FAMILY = "👨\u200d👩\u200d👧\u200d👦"


def test_weighted_length_rules() -> None:
    assert weighted_length("hello") == 5
    assert weighted_length("双十一") == 6  # CJK counts 2
    assert weighted_length(FAMILY) == 2  # one emoji sequence counts 2
    assert weighted_length("see https://example.com/a/very/long/path?with=query") == 4 + 23
    assert weighted_length("e\u0301") == 1  # NFC: é
    assert weighted_length("مرحبا") == 5  # RTL letters count 1


def test_fits() -> None:
    assert fits("a" * 280)
    assert not fits("a" * 281)
    assert not fits("字" * 141)
    assert fits("字" * 140)
    assert not fits("   ")


def test_clusters_keep_emoji_urls_and_marks_whole() -> None:
    text = f"hi {FAMILY} 👍🏽 🇨🇳 x\u0301 https://lumenhome.example.com/p?a=1 1\ufe0f\u20e3"
    units = clusters(text)
    for whole in (FAMILY, "👍🏽", "🇨🇳", "x\u0301", "https://lumenhome.example.com/p?a=1", "1\ufe0f\u20e3"):
        assert whole in units
    assert "".join(units) == text


@pytest.mark.parametrize(
    "text",
    [
        "word " * 100,
        "双十一好物推荐" * 40,
        (FAMILY + " ") * 200,
        "sale " * 40 + "https://lumenhome.example.com/sale/double11?utm_source=x " * 10,
        "مرحبا بكم في متجرنا " * 30,
        ("e\u0301" * 50 + " ") * 10,
    ],
)
def test_truncate_weighted_fits_and_never_splits(text: str) -> None:
    for limit in (20, 50, 100, 280):
        cut = truncate_weighted(text, limit)
        assert weighted_length(cut) <= limit
        assert cut.endswith("…")
        body = cut[:-1]
        assert unicodedata.normalize("NFC", text).startswith(body)
        # the body is made of whole clusters of the original
        units = clusters(unicodedata.normalize("NFC", text))
        assert body in {"".join(units[:i]).rstrip(" ,") for i in range(len(units) + 1)} or body == "".join(
            clusters(body)
        )
        assert not body.endswith("\u200d")


def test_truncate_cuts_at_word_boundary_and_keeps_short_text() -> None:
    assert truncate_weighted("short text", 280) == "short text"
    cut = truncate_weighted("the quick brown fox jumps over the lazy dog", 21)  # "…" weighs 2
    assert cut == "the quick brown fox…"
    url = "https://lumenhome.example.com/a-rather-long-product-page"
    cut = truncate_weighted(f"look {url} now please", 27)
    assert url not in cut or cut.endswith(url + "…")
    assert "https://lumenhome" not in cut.replace(url, "")  # never half a URL


def test_text_hash_is_normalisation_stable() -> None:
    assert text_hash("caf\u00e9") == text_hash("cafe\u0301")
    assert text_hash("a\r\nb") == text_hash("a\nb")
    assert text_hash("a") != text_hash("b")
    assert len(text_hash("x")) == 64


def test_sanitize_handles() -> None:
    out = sanitize_handles("thanks @bob and ＠alice! mail me at a@b.com")
    assert out == f"thanks @{WORD_JOINER}bob and ＠{WORD_JOINER}alice! mail me at a@b.com"
    assert sanitize_handles("no handles, 双十一") == "no handles, 双十一"


def test_normalize_whitespace() -> None:
    assert normalize_whitespace("  a   b  \n\n\n\nc \r\n") == "a b\n\nc"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x10FF, exclude_categories=("Cs",)), max_size=300))
def test_fast_path_agrees_with_twitter_text(text: str) -> None:
    from twitter_text import parse_tweet

    assert weighted_length(text) == parse_tweet(text).weightedLength


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.integers(min_value=1, max_value=280))
def test_truncation_always_fits(text: str, limit: int) -> None:
    assert weighted_length(truncate_weighted(text, limit)) <= limit


def test_the_never_twice_key_ignores_the_variant_and_slot_in_links() -> None:
    """Links carry the variant and slot (utm_content, utm_term) for attribution; the same words with the same link
    are still the same post, and a different campaign or landing page is not."""
    from bot.adapters.store.keys import text_hash as stored_hash
    from bot.core.text import text_hash

    link = "https://shop.example/w?utm_source=x&utm_medium=social&utm_campaign=launch"
    monday = f"Winter lamps {link}&utm_content=v0&utm_term=20261111T0200Z"
    tuesday = f"Winter lamps {link}&utm_content=v0&utm_term=20261112T0200Z"
    assert text_hash(monday) == text_hash(tuesday) == stored_hash(tuesday)
    assert text_hash(monday) != text_hash(monday.replace("launch", "sale"))
    assert text_hash("a\r\nb") == stored_hash("a\r\nb") == text_hash("a\nb")  # one key for the store and the campaigns
