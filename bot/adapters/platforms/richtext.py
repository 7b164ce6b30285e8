"""Bluesky text rules, pure functions: grapheme length, rich-text facets with UTF-8 byte offsets, TID record keys.

Used by bot.adapters.platforms.bluesky; nothing here talks to a network (handle resolution is passed in).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import regex

from bot.core.text import BLUESKY_MAX_BYTES, BLUESKY_MAX_GRAPHEMES, grapheme_length

MAX_GRAPHEMES = BLUESKY_MAX_GRAPHEMES
MAX_BYTES = BLUESKY_MAX_BYTES

MAX_TAG_LENGTH = 64

MENTION = "app.bsky.richtext.facet#mention"
LINK = "app.bsky.richtext.facet#link"
TAG = "app.bsky.richtext.facet#tag"

# The detection rules of Bluesky's own clients (@atproto/api RichText.detectFacets), in Python's regex dialect.
_MENTION_RE = regex.compile(r"(?:^|(?<=[\s(]))@([a-zA-Z0-9.-]+)\b")
_HANDLE_RE = regex.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
_URL_RE = regex.compile(
    r"(?:^|(?<=[\s(]))(?:(https?://\S+)|(?P<domain>[a-z][a-z0-9]*(?:\.[a-z0-9]+)+)\S*)", regex.IGNORECASE
)
_INVISIBLE = "\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2"
_TAG_RE = regex.compile(
    rf"(?:^|(?<=\s))[#＃]((?!\ufe0f)[^\s{_INVISIBLE}]*[^\d\s\p{{P}}{_INVISIBLE}]+[^\s{_INVISIBLE}]*)"
)
_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+$")
# Bare domains become links only with a TLD people use in shop posts (Bluesky's clients check a full TLD list;
# "file.txt" or "e.g." must stay text).
_LINK_TLDS = frozenset(
    {
        *("com", "net", "org", "io", "co", "shop", "store", "app", "dev", "social", "me", "info", "biz", "online"),
        *("site", "xyz", "ai", "us", "uk", "de", "fr", "es", "it", "nl", "be", "ch", "at", "se", "no", "dk", "fi"),
        *("pl", "cz", "pt", "ie", "ca", "au", "nz", "jp", "cn", "kr", "tw", "hk", "sg", "in", "br", "mx", "ar"),
        *("eu", "ru", "tv", "fm"),
    }
)

_B32 = "234567abcdefghijklmnopqrstuvwxyz"
_B32_INDEX = {c: i for i, c in enumerate(_B32)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
# Record keys of messages without a creation time: a fixed, harmless span of time (2023-01-01 + ~12 days).
_HASH_BASE_MICROS = 1_672_531_200_000_000
_HASH_SPAN_MICROS = 1 << 40


def utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


def byte_range(text: str, start: int, end: int) -> tuple[int, int]:
    """(byteStart, byteEnd) of text[start:end] in UTF-8, as facets index text."""
    byte_start = utf8_length(text[:start])
    return byte_start, byte_start + utf8_length(text[start:end])


@dataclass(frozen=True)
class Segment:
    """Something a facet can decorate: text[start:end] (str indices) is a 'mention', 'link' or 'tag' with `value`
    (the handle without '@', the full URI, the tag without '#')."""

    kind: str
    start: int
    end: int
    value: str


def is_handle(value: str) -> bool:
    return len(value) <= 253 and bool(_HANDLE_RE.match(value))


def detect(text: str) -> list[Segment]:
    """Mentions, links and tags in `text`, in order, none overlapping (the first one found wins)."""
    found: list[Segment] = []
    for match in _MENTION_RE.finditer(text):
        handle = match.group(1).rstrip(".")
        if is_handle(handle):
            found.append(Segment("mention", match.start(), match.start(1) + len(handle), handle.lower()))
    for match in _URL_RE.finditer(text):
        uri = match.group(0)
        if match.group("domain") is not None:
            tld = match.group("domain").rsplit(".", 1)[-1].lower()
            if tld not in _LINK_TLDS:
                continue
        uri = _trim_url(uri)
        if match.group("domain") is not None:
            value = "https://" + uri
        else:
            value = uri
            if len(uri) <= len("https://"):
                continue
        found.append(Segment("link", match.start(), match.start() + len(uri), value))
    for match in _TAG_RE.finditer(text):
        tag = _TRAILING_PUNCTUATION.sub("", match.group(1).strip())
        if not tag or grapheme_length(tag) > MAX_TAG_LENGTH:
            continue
        found.append(Segment("tag", match.start(), match.start(1) + len(tag), tag))
    found.sort(key=lambda s: (s.start, -(s.end - s.start)))
    kept: list[Segment] = []
    for segment in found:
        if kept and segment.start < kept[-1].end:
            continue
        kept.append(segment)
    return kept


def _trim_url(uri: str) -> str:
    if uri[-1:] in ".,;:!?":
        uri = uri[:-1]
    if uri.endswith(")") and "(" not in uri:
        uri = uri[:-1]
    return uri


def facets(text: str, resolve: Callable[[str], str | None]) -> list[dict[str, Any]]:
    """app.bsky.richtext.facet objects for `text`. `resolve(handle)` gives a DID, or None: that mention stays
    plain text."""
    out: list[dict[str, Any]] = []
    for segment in detect(text):
        if segment.kind == "mention":
            did = resolve(segment.value)
            if not did:
                continue
            feature: dict[str, Any] = {"$type": MENTION, "did": did}
        elif segment.kind == "link":
            feature = {"$type": LINK, "uri": segment.value}
        else:
            feature = {"$type": TAG, "tag": segment.value}
        byte_start, byte_end = byte_range(text, segment.start, segment.end)
        out.append({"index": {"byteStart": byte_start, "byteEnd": byte_end}, "features": [feature]})
    return out


def mention_handles(text: str) -> list[str]:
    """The handles `text` mentions (lower case, without '@'), in order, each once."""
    seen: dict[str, None] = {}
    for segment in detect(text):
        if segment.kind == "mention":
            seen.setdefault(segment.value, None)
    return list(seen)


def facet_features(record: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(mentioned DIDs, tags, link URIs) of a post record's facets, in order, without repeats."""
    dids: dict[str, None] = {}
    tags: dict[str, None] = {}
    links: dict[str, None] = {}
    for facet in record.get("facets") or []:
        if not isinstance(facet, dict):
            continue
        for feature in facet.get("features") or []:
            if not isinstance(feature, dict):
                continue
            kind = feature.get("$type")
            if kind == MENTION and isinstance(feature.get("did"), str):
                dids.setdefault(feature["did"], None)
            elif kind == TAG and isinstance(feature.get("tag"), str):
                tags.setdefault(feature["tag"], None)
            elif kind == LINK and isinstance(feature.get("uri"), str):
                links.setdefault(feature["uri"], None)
    return list(dids), list(tags), list(links)


# ---- TIDs ------------------------------------------------------------------------------------------------------
def tid(micros: int, clock_id: int) -> str:
    """A TID: 13 characters of base32-sortable over 64 bits (0, 53 bits of microseconds since the epoch, a
    10-bit clock id). TIDs sort as text in the order of their times."""
    if not 0 <= micros < 1 << 53:
        raise ValueError(f"TID time out of range: {micros}")
    value = (micros << 10) | (clock_id & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(_B32[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def parse_tid(value: str) -> tuple[int, int]:
    """(microseconds since the epoch, clock id) of a TID; ValueError when `value` is not one."""
    if len(value) != 13 or value[0] not in _B32[:16] or any(c not in _B32_INDEX for c in value):
        raise ValueError(f"not a TID: {value!r}")
    number = 0
    for char in value:
        number = number * 32 + _B32_INDEX[char]
    return number >> 10, number & 0x3FF


def is_tid(value: str) -> bool:
    try:
        parse_tid(value)
    except ValueError:
        return False
    return True


def tid_time(value: str) -> datetime | None:
    """When a TID says it was made, or None when `value` is not a TID."""
    try:
        micros, _ = parse_tid(value)
    except ValueError:
        return None
    return _EPOCH + micros * _MICRO


def micros_since_epoch(moment: datetime) -> int:
    """Whole microseconds since the epoch (a naive datetime is UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICRO


def message_rkey(key: str, created_at: datetime | None, attempt: int = 0) -> str:
    """The record key of one outbox message, the same on every retry: a TID whose time is `created_at` to the
    millisecond, and whose sub-millisecond digits and clock id come from a hash of (`key`, `attempt`). A later
    `attempt` gives another key for the rare clash of two messages (same millisecond, same 20 hash bits)."""
    digest = hashlib.sha256(f"{key}\x00{attempt}".encode()).digest()
    bits = int.from_bytes(digest[:8], "big")
    if created_at is None:
        micros = _HASH_BASE_MICROS + (bits >> 20) % _HASH_SPAN_MICROS
    else:
        micros = micros_since_epoch(created_at) // 1000 * 1000 + (bits >> 10) % 1000
    return tid(micros, bits & 0x3FF)
