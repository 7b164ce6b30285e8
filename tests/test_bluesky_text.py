"""Bluesky text rules (bot.adapters.platforms.richtext): facet byte offsets, grapheme length, TID record keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.adapters.platforms import richtext
from bot.adapters.platforms.bluesky import AtUri, cursor_of
from bot.adapters.platforms.richtext import (
    MAX_GRAPHEMES,
    byte_range,
    detect,
    facet_features,
    facets,
    grapheme_length,
    message_rkey,
    parse_tid,
    tid,
    tid_time,
)

DIDS = {"alice.bsky.social": "did:plc:alice", "shop.test": "did:plc:shop"}


def resolve(handle: str) -> str | None:
    return DIDS.get(handle)


def covered(text: str, facet: dict) -> str:
    """The text a facet decorates, cut out by its byte offsets, as a Bluesky client does."""
    index = facet["index"]
    return text.encode()[index["byteStart"] : index["byteEnd"]].decode()


# ---- graphemes ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("hello", 5),
        ("", 0),
        ("a\r\nb", 3),  # CR LF is one
        ("e\u0301", 1),  # e + combining acute
        ("Cafe\u0301 ok", 7),
        ("日本語のテキスト", 8),
        ("한국어", 3),
        ("\u1100\u1161\u11a8", 1),  # a Hangul syllable from conjoining jamo
        ("👍🏽", 1),  # skin tone
        ("👨‍👩‍👧‍👦", 1),  # ZWJ family
        ("🐦‍🔥", 1),  # a recent ZWJ sequence
        ("🇯🇵🇺🇸", 2),  # two flags
        ("🏴󠁧󠁢󠁳󠁣󠁴󠁿", 1),  # a tag-sequence flag (Scotland)
        ("1️⃣", 1),  # keycap
        ("क्षि", 1),  # a Devanagari conjunct (Unicode 15.1 rules, as the PDS's Intl.Segmenter counts)
    ],
)
def test_grapheme_length(text: str, length: int) -> None:
    assert grapheme_length(text) == length


def test_the_limit_is_300_graphemes_not_code_points_or_bytes() -> None:
    family = "👨‍👩‍👧‍👦"
    assert len(family) == 7 and len(family.encode()) == 25
    assert grapheme_length(family * MAX_GRAPHEMES) == 300
    assert grapheme_length("a" * 301) == 301


# ---- facets -------------------------------------------------------------------------------------------------
def test_mention_link_and_tag_facets_with_utf8_byte_offsets() -> None:
    text = "✨ @alice.bsky.social 新品 #セール https://shop.example/deals?x=1 ok"
    out = facets(text, resolve)
    assert [covered(text, f) for f in out] == ["@alice.bsky.social", "#セール", "https://shop.example/deals?x=1"]
    mention, tag, link = (f["features"][0] for f in out)
    assert mention == {"$type": richtext.MENTION, "did": "did:plc:alice"}
    assert tag == {"$type": richtext.TAG, "tag": "セール"}
    assert link == {"$type": richtext.LINK, "uri": "https://shop.example/deals?x=1"}
    # the sparkle is 3 bytes, the space 1: the mention starts at byte 4, not at character 2
    assert out[0]["index"] == {"byteStart": 4, "byteEnd": 4 + len("@alice.bsky.social")}


def test_offsets_after_emoji_sequences_and_combining_marks() -> None:
    text = "👨‍👩‍👧‍👦 Cafe\u0301 👍🏽 #deals"
    [tag] = facets(text, resolve)
    start = len("👨‍👩‍👧‍👦 Cafe\u0301 👍🏽 ".encode())
    assert tag["index"] == {"byteStart": start, "byteEnd": start + len(b"#deals")}
    assert covered(text, tag) == "#deals"


def test_byte_range_counts_utf8_bytes() -> None:
    text = "日本 @shop.test"
    assert byte_range(text, 3, len(text)) == (7, 7 + len("@shop.test"))


def test_unresolvable_mentions_stay_plain_text() -> None:
    text = "@nobody.example thanks @shop.test"
    out = facets(text, resolve)
    assert [covered(text, f) for f in out] == ["@shop.test"]


def test_what_is_not_a_mention_link_or_tag() -> None:
    text = "mail bob@shop.com, @alice (no domain), file.txt, e.g. this, #123, a#b, price#1"
    assert detect(text) == []


def test_trailing_punctuation_is_not_part_of_a_link_mention_or_tag() -> None:
    text = "See https://shop.example/sale. Ask @shop.test! Use #deals, (https://x.example/a)"
    assert [(s.kind, s.value) for s in detect(text)] == [
        ("link", "https://shop.example/sale"),
        ("mention", "shop.test"),
        ("tag", "deals"),
        ("link", "https://x.example/a"),
    ]


def test_bare_domains_become_https_links() -> None:
    text = "Visit shop.com/deals today"
    [link] = facets(text, resolve)
    assert link["features"][0]["uri"] == "https://shop.com/deals" and covered(text, link) == "shop.com/deals"


def test_facet_features_read_back() -> None:
    text = "@alice.bsky.social #deals https://shop.example"
    record = {"text": text, "facets": facets(text, resolve)}
    assert facet_features(record) == (["did:plc:alice"], ["deals"], ["https://shop.example"])
    assert facet_features({"facets": [{"features": [{"$type": "x"}]}, "junk"]}) == ([], [], [])


# ---- TIDs ---------------------------------------------------------------------------------------------------
def test_tid_format() -> None:
    value = tid(1_700_000_000_000_000, 5)
    assert len(value) == 13 and set(value) <= set("234567abcdefghijklmnopqrstuvwxyz")
    assert value[0] in "234567ab"  # the top bit is 0
    assert parse_tid(value) == (1_700_000_000_000_000, 5)
    assert tid(0, 0) == "2222222222222"
    with pytest.raises(ValueError):
        parse_tid("not-a-tid")
    with pytest.raises(ValueError):
        parse_tid("zzzzzzzzzzzzz")  # top bit set


def test_tids_sort_as_text_in_time_order() -> None:
    times = [1_600_000_000_000_000 + step for step in (0, 1, 1023, 1024, 10**6, 10**12)]
    values = [tid(t, 1023 - i) for i, t in enumerate(times)]
    assert values == sorted(values)


def test_message_rkey_is_deterministic_and_carries_the_outbox_time() -> None:
    created = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
    key = message_rkey("reply:at://did:plc:x/app.bsky.feed.post/3abc", created)
    assert key == message_rkey("reply:at://did:plc:x/app.bsky.feed.post/3abc", created)  # every retry
    assert key == message_rkey("reply:at://did:plc:x/app.bsky.feed.post/3abc", created.replace(tzinfo=None))
    when = tid_time(key)
    assert when is not None and created.replace(microsecond=123000) <= when < created.replace(microsecond=124000)
    assert message_rkey("other", created) != key
    assert message_rkey("reply:at://did:plc:x/app.bsky.feed.post/3abc", created, attempt=1) != key


def test_message_rkeys_follow_creation_order_and_rarely_clash() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ordered = [message_rkey(f"campaign:{i}", start + timedelta(milliseconds=i)) for i in range(50)]
    assert ordered == sorted(ordered)
    same_moment = {message_rkey(f"coupon:{i}", start) for i in range(500)}
    assert len(same_moment) == 500


def test_message_rkey_without_a_creation_time_is_a_valid_stable_tid() -> None:
    key = message_rkey("legacy", None)
    assert key == message_rkey("legacy", None) and parse_tid(key)
    assert datetime(2023, 1, 1, tzinfo=UTC) <= (tid_time(key) or start_of_time()) < datetime(2023, 2, 1, tzinfo=UTC)


def start_of_time() -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC)


# ---- ids and cursors ----------------------------------------------------------------------------------------
def test_at_uri() -> None:
    uri = AtUri.parse("at://did:plc:abc/app.bsky.feed.post/3kabc")
    assert (
        uri == AtUri("did:plc:abc", "app.bsky.feed.post", "3kabc")
        and str(uri) == "at://did:plc:abc/app.bsky.feed.post/3kabc"
    )
    assert AtUri.parse("1234567") is None and AtUri.parse("at://did:plc:abc") is None


def test_mention_cursors_sort_as_text_in_time_order() -> None:
    times = [
        "2026-11-30T09:00:00Z",
        "2026-11-30T09:00:00.5Z",
        "2026-11-30T09:00:00.123456+00:00",
        "2026-11-30T10:00:00.000Z",
    ]
    cursors = [cursor_of(t) for t in times]
    assert cursors == [
        "2026-11-30T09:00:00.000000Z",
        "2026-11-30T09:00:00.500000Z",
        "2026-11-30T09:00:00.123456Z",
        "2026-11-30T10:00:00.000000Z",
    ]
    assert sorted(cursors) == [cursors[0], cursors[2], cursors[1], cursors[3]]
    assert cursor_of("2026-11-30T11:00:00+02:00") == "2026-11-30T09:00:00.000000Z"
