"""Text rules of the platforms: X weighted length, Bluesky graphemes, per-platform length rules, safe truncation,
duplicate hashes, handle sanitising."""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from twitter_text import parse_tweet
from twitter_text.extract_emojis import extract_emojis_with_indices
from twitter_text.extract_urls import extract_urls_with_indices

logger = logging.getLogger(__name__)

X_MAX_WEIGHTED_LENGTH = 280
BLUESKY_MAX_GRAPHEMES = 300
BLUESKY_MAX_BYTES = 3000  # the post record's text, in UTF-8
ELLIPSIS = "…"
WORD_JOINER = "\u2060"

# code points that always attach to the character before them
_ZWJ = "\u200d"
_EXTENDERS = {"\ufe0e", "\ufe0f", "\u20e3", _ZWJ}
# an X username (1-15 word characters), or a domain handle as Bluesky links them (any label length)
_HANDLE = re.compile(
    r"(?<![A-Za-z0-9_!#$%&*@＠])([@＠])"
    r"(?=[A-Za-z0-9_]{1,15}(?![A-Za-z0-9_@＠])|[A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)+)"
)


# twitter-text v3 gives weight 1 to U+0000..U+10FF. A text made only of those, without '.', '©' and '®',
# holds no URL (every URL, bare domains included, has a dot) and no emoji: its weight is its length.
_NOT_LIGHT = re.compile("[.\u00a9\u00ae\u1100-\U0010ffff]")


def weighted_length(text: str) -> int:
    """Length as X counts it (twitter-text v3: URLs 23, CJK and emoji 2, NFC-normalised)."""
    normal = unicodedata.normalize("NFC", text)  # composing may leave the weight-1 range: check after it
    if not _NOT_LIGHT.search(normal):
        return len(normal)
    return int(parse_tweet(text).weightedLength)


def _control(char: str) -> bool:
    """Grapheme_Cluster_Break=Control (or CR, LF): never part of a cluster with anything else."""
    category = unicodedata.category(char)
    if category in ("Cc", "Zl", "Zp"):
        return True
    return category == "Cf" and char not in (_ZWJ, "\u200c") and not 0xE0020 <= ord(char) <= 0xE007F


def _pictographic(char: str) -> bool:
    """Roughly Extended_Pictographic: what a ZWJ joins into one emoji (a ZWJ before anything else joins nothing)."""
    code = ord(char)
    return code >= 0x1F000 or 0x2190 <= code <= 0x2BFF or code in (0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x3030)


def _hangul(char: str) -> str:
    """The Hangul syllable type of a character for grapheme clustering: L, V, T, LV, LVT or ''."""
    code = ord(char)
    if 0x1100 <= code <= 0x115F or 0xA960 <= code <= 0xA97C:
        return "L"
    if 0x1160 <= code <= 0x11A7 or 0xD7B0 <= code <= 0xD7C6:
        return "V"
    if 0x11A8 <= code <= 0x11FF or 0xD7CB <= code <= 0xD7FB:
        return "T"
    if 0xAC00 <= code <= 0xD7A3:
        return "LV" if (code - 0xAC00) % 28 == 0 else "LVT"
    return ""


_HANGUL_JOINS = {
    *(("L", kind) for kind in ("L", "V", "LV", "LVT")),
    *((kind, "V") for kind in ("LV", "V")),
    *((kind, "T") for kind in ("LV", "LVT", "V", "T")),
}


def graphemes(text: str) -> list[str]:
    """User-perceived characters (extended grapheme clusters, UAX #29 as far as text in posts needs it):
    a letter with its marks, an emoji with its modifiers and ZWJ joins, a flag, a Hangul syllable, CR LF."""
    units: list[str] = []
    index = 0
    while index < len(text):
        end = index + 1
        if text[index] == "\r" and end < len(text) and text[end] == "\n":
            units.append("\r\n")
            index = end + 1
            continue
        if _control(text[index]):  # a control stands alone
            units.append(text[index])
            index = end
            continue
        if _regional(text[index]) and end < len(text) and _regional(text[end]):
            end += 1
        while end < len(text):
            char = text[end]
            if _control(char):
                break
            joins = _extends(char) or (text[end - 1] == _ZWJ and _pictographic(char))
            if not joins and (_hangul(text[end - 1]), _hangul(char)) not in _HANGUL_JOINS:
                break
            end += 1
        units.append(text[index:end])
        index = end
    return units


def grapheme_length(text: str) -> int:
    """Length as Bluesky counts it: graphemes of the text (limit 300)."""
    if text.isascii():
        return len(text) - text.count("\r\n")
    return len(graphemes(text))


@dataclass(frozen=True)
class LengthRule:
    """How one platform measures a post: `count(text)` against `limit`, in `unit` (for messages); some also cap
    the UTF-8 size."""

    platform: str
    limit: int
    count: Callable[[str], int]
    unit: str
    max_bytes: int | None = None


X_RULE = LengthRule("x", X_MAX_WEIGHTED_LENGTH, weighted_length, "weighted characters")
BLUESKY_RULE = LengthRule("bluesky", BLUESKY_MAX_GRAPHEMES, grapheme_length, "graphemes", BLUESKY_MAX_BYTES)
_RULES = {"x": X_RULE, "sandbox": X_RULE, "bluesky": BLUESKY_RULE}


def length_rule(platform: str) -> LengthRule:
    """The length rule of a platform by name ('x', 'sandbox' -- which speaks X -- or 'bluesky'); X's otherwise."""
    return _RULES.get(platform, X_RULE)


def fits(text: str, limit: int = X_MAX_WEIGHTED_LENGTH) -> bool:
    """True when the text is non-empty and within `limit` weighted characters."""
    return bool(text.strip()) and weighted_length(text) <= limit


def _extends(char: str) -> bool:
    return (
        char in _EXTENDERS
        or unicodedata.category(char) in ("Mn", "Me", "Mc")
        or 0x1F3FB <= ord(char) <= 0x1F3FF  # skin tones
        or 0xE0020 <= ord(char) <= 0xE007F  # tag sequences (flags of regions)
    )


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def clusters(text: str) -> list[str]:
    """Split into units that must never be cut: URLs, emoji sequences, a character with its marks."""
    protected: dict[int, int] = {}
    for entity in extract_urls_with_indices(text):
        start, end = entity["indices"]
        protected[start] = end
    for entity in extract_emojis_with_indices(text):
        start, end = entity["indices"]
        if not any(s <= start < e for s, e in protected.items()):
            protected[start] = max(end, protected.get(start, end))
    units: list[str] = []
    index = 0
    while index < len(text):
        end = protected.get(index, index + 1)
        # absorb combining marks, variation selectors, ZWJ joins and skin tones
        while end < len(text) and (_extends(text[end]) or text[end - 1] == _ZWJ):
            end = protected.get(end, end + 1) if text[end - 1] == _ZWJ else end + 1
        # a regional-indicator pair is one flag
        if end == index + 1 and end < len(text) and _regional(text[index]) and _regional(text[end]):
            end += 1
        units.append(text[index:end])
        index = end
    return units


def truncate_weighted(text: str, limit: int = X_MAX_WEIGHTED_LENGTH, ellipsis: str = ELLIPSIS) -> str:
    """Shorten `text` to at most `limit` weighted characters, ellipsis included.

    Cuts at a word boundary when there is one in the last third of the kept text (CJK text, which has no
    spaces, is cut between characters); never splits a URL, an emoji sequence or a letter from its marks.
    """
    text = unicodedata.normalize("NFC", text)
    if weighted_length(text) <= limit:
        return text
    budget = limit - weighted_length(ellipsis)
    if budget <= 0:
        return ""
    units = clusters(text)
    kept: list[str] = []
    used = 0
    for unit in units:  # each unit (a URL, an emoji sequence, a letter with its marks) weighs the same alone
        used += weighted_length(unit)
        if used > budget:
            break
        kept.append(unit)
    while kept and weighted_length("".join(kept)) > budget:  # never trust the sum blindly
        kept.pop()
    # back up to the last whitespace when it is not too far away
    for back in range(len(kept) - 1, max(0, (len(kept) * 2) // 3) - 1, -1):
        if kept[back].isspace():
            if len(kept) < len(units) and not units[len(kept)].isspace():
                kept = kept[:back]
            break
    body = "".join(kept).rstrip()
    body = re.sub(r"[\s,;:、，；：-]+$", "", body)
    return body + ellipsis if body else ""


def text_hash(text: str) -> str:
    """sha256 hex of the NFC-normalised text with line endings unified: the 'never twice' key."""
    normal = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").strip()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


def sanitize_handles(text: str) -> str:
    """Neutralise @handles in echoed customer text: '@bob' -> '@\\u2060bob' (looks the same, mentions no one);
    also Bluesky's domain handles ('@someone-with-a-long-name.bsky.social'), which X's 15-character rule misses."""
    return _HANDLE.sub(lambda m: m.group(1) + WORD_JOINER, text)


def normalize_whitespace(text: str) -> str:
    """Strip each line's trailing spaces, collapse runs of spaces, keep at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[ \t]{2,}", " ", line).strip() for line in text.split("\n")]
    joined = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", joined).strip()
