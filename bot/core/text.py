"""Text rules of the platforms: X weighted length, Bluesky graphemes, per-platform length rules, safe truncation,
duplicate hashes, handle sanitising."""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import regex
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
_GRAPHEME = regex.compile(r"\X")
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


def has_cjk(text: str) -> bool:
    """Whether the text holds a Chinese, Japanese or Korean character (CJK radicals to ideographs, Hangul
    syllables, compatibility ideographs, the supplementary ideograph planes)."""
    return any(
        0x2E80 <= ord(c) <= 0x9FFF or 0xAC00 <= ord(c) <= 0xD7AF or 0xF900 <= ord(c) <= 0xFAFF or ord(c) >= 0x20000
        for c in text
    )


def graphemes(text: str) -> list[str]:
    """User-perceived characters: extended grapheme clusters (UAX #29), as the `regex` module's \\X finds them."""
    return _GRAPHEME.findall(text)


def grapheme_length(text: str) -> int:
    """Length as Bluesky counts it: graphemes of the text (limit 300)."""
    if text.isascii():
        return len(text) - text.count("\r\n")
    return sum(1 for _ in _GRAPHEME.finditer(text))


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


def has_url(text: str) -> bool:
    """Whether X finds a URL in the text (a bare domain such as example.com counts): such a post costs more."""
    return bool(extract_urls_with_indices(text))


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


# the link parameters socialbot adds per variant and slot (attribution): two posts that differ only in them are
# the same text to a reader, and X's rules forbid substantially similar posts
_SLOT_UTM = re.compile(r"[?&]utm_(?:content|term)=[^&\s#]*")


def text_hash(text: str) -> str:
    """sha256 hex of the NFC-normalised text with line endings unified and the per-variant and per-slot UTM
    parameters (utm_content, utm_term) left out: the 'never twice' key."""
    normal = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").strip()
    normal = _SLOT_UTM.sub("", normal)
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


def sanitize_handles(text: str) -> str:
    """Neutralise @handles in echoed customer text: '@bob' -> '@\\u2060bob' (looks the same, mentions no one);
    also Bluesky's domain handles ('@someone-with-a-long-name.bsky.social'), which X's 15-character rule misses."""
    return _HANDLE.sub(lambda m: m.group(1) + WORD_JOINER, text)


# Neutralising what a customer controls (display name, text) before a reply template sees it. Detection runs on
# the folded text: NFKC (fullwidth letters and dots, small and fullwidth @), the ideographic full stops that
# browsers read as a domain's dot, and without invisible characters (zero-width, bidi marks, soft hyphen).
_DOT_LIKE = str.maketrans({"\u3002": ".", "\uff61": ".", "\u2024": ".", "\ufe52": ".", "\uff0e": "."})
# a link, domain (any script, punycode), handle, e-mail address, hashtag or cashtag: a dot between two word
# characters (up to two marks or signs between), a scheme, or @ # $ before a word character
_LINKISH = regex.compile(r"\w[^\w\s]{0,2}\.[^\w\s]{0,2}\w|\w:/|@|[#$]\w|\bwww\b", regex.IGNORECASE)
_INVISIBLE = regex.compile(r"[\p{Cf}\p{Cs}\p{Co}\p{Cn}]")
_CONTROLS = regex.compile(r"\p{Cc}")
_QUOTES = str.maketrans({c: "'" for c in '"“”„‟«»「」『』〝〞‘’`'})
_NAME_PUNCTUATION = frozenset("'-.·・")
NAME_MAX_WEIGHT = 20
NAME_MAX_WORDS = 3
NAME_MAX_WIDE = 6  # characters of weight 2 (Chinese, Japanese, Korean): a personal name, not a sentence
EXCERPT_MAX_WEIGHT = 40


def fold(text: str) -> str:
    """The text as a reader (and a linkifier) sees it: NFKC, every dot look-alike a '.', controls made spaces,
    invisible format characters (zero-width, bidi marks) removed."""
    if (text or "").isascii():
        return _CONTROLS.sub(" ", text or "")
    normal = unicodedata.normalize("NFKC", text).translate(_DOT_LIKE)
    return _CONTROLS.sub(" ", _INVISIBLE.sub("", normal))


def linkish(text: str) -> bool:
    """Whether the text holds anything a platform or a reader would follow: a URL, a domain (evil.example,
    evil。example, punycode), an @handle or e-mail address, a #hashtag or $cashtag, once folded."""
    return bool(_LINKISH.search(fold(text)))


@lru_cache(maxsize=4096)  # a pure function of the name; the same people write again and again
def safe_name(name: str) -> str:
    """A display name the brand can say: letters of a short name (at most 3 words, 20 weighted characters, 6
    Chinese/Japanese/Korean characters), emoji and symbols dropped, cut at other punctuation; '' (a neutral
    greeting) when it holds a link, domain, handle or e-mail address, digits, or is longer."""
    folded = fold(name)
    if _LINKISH.search(folded):
        return ""
    kept: list[str] = []
    for char in folded:
        category = unicodedata.category(char)
        if category[0] in "LM" or char in _NAME_PUNCTUATION:
            kept.append(char)
        elif char.isspace() or category in ("So", "Sk"):  # emoji and other decorations
            kept.append(" ")
        elif category[0] == "N":
            return ""
        else:  # punctuation or a separator: a name ends there ("Mia | shop owner", "Mia (she/her)")
            break
    words = " ".join("".join(kept).split()).strip("".join(_NAME_PUNCTUATION) + " ").split()
    short = " ".join(words)
    if short.isascii():  # weight 1 a character
        wide, weight = 0, len(short)
    else:
        wide, weight = sum(1 for char in short if weighted_length(char) > 1), weighted_length(short)
    if not short or len(words) > NAME_MAX_WORDS or wide > NAME_MAX_WIDE or weight > NAME_MAX_WEIGHT:
        return ""
    return short


def safe_excerpt(text: str, limit: int = EXCERPT_MAX_WEIGHT) -> str:
    """A short excerpt of the customer's words the brand can quote: folded, every word that holds a link,
    domain, handle, e-mail address, hashtag or cashtag replaced by '…', quote marks made plain, cut to `limit`
    weighted characters."""
    words = fold(text[: limit * 8]).split()
    if len(text) > limit * 8:
        words = words[:-1]  # maybe cut: "evil.example" must not become "evil."
    kept: list[str] = []
    for word in words:
        if _LINKISH.search(word):
            if not kept or kept[-1] != ELLIPSIS:
                kept.append(ELLIPSIS)
        else:
            kept.append(word.translate(_QUOTES))
    return _cut(" ".join(kept), limit)


# X's weight 1 (twitter-text v3); anything else weighs 2
_ALL_LIGHT = re.compile("[\u0000-\u10ff\u2000-\u200d\u2010-\u201f\u2032-\u2037]*")


def _cut(text: str, limit: int) -> str:
    """Text without URLs cut to `limit` weighted characters, ellipsis included, between graphemes (at a space in
    the last third when there is one): each grapheme weighs 1 when all light, else 2 (never less than X counts),
    without twitter-text's full parse."""
    if len(text) <= limit and _ALL_LIGHT.fullmatch(text):
        return text.strip()
    pieces: list[str] = []
    total = kept = 0
    for match in _GRAPHEME.finditer(text):
        pieces.append(match.group())
        total += 1 if _ALL_LIGHT.fullmatch(pieces[-1]) else 2
        if total <= limit - 2:  # room for the ellipsis (weight 2)
            kept = len(pieces)
        elif total > limit:
            break
    if total <= limit:
        return text.strip()
    space = next((i for i in range(kept - 1, (kept * 2) // 3 - 1, -1) if pieces[i].isspace()), None)
    body = "".join(pieces[: space if space is not None and not pieces[kept].isspace() else kept]).rstrip()
    body = re.sub(r"[\s,;:、，；：-]+$", "", body)
    return body + ELLIPSIS if body else ""


def normalize_whitespace(text: str) -> str:
    """Strip each line's trailing spaces, collapse runs of spaces, keep at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[ \t]{2,}", " ", line).strip() for line in text.split("\n")]
    joined = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", joined).strip()
