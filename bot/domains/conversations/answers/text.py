"""A customer's question as the answerer reads it: folded (NFKC, case, no @handles or links), English words
typo-corrected against the words the answerer knows, Chinese kept as one string without spaces; and phrase
matching over both, with spans so that overlapping matches can be weighed."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

from bot.adapters import fuzzy
from bot.core.text import has_cjk
from bot.domains.conversations.intent import fold as fold_rules

GAP = "..."
MAX_GAP = 6  # words a `...` in a phrase may stand for
MAX_CHARS = 2_000  # longer texts are read up to here (a DM may hold 10,000 characters)

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@[a-z0-9_.]{1,30}", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+(?:['.][a-z0-9]+)*")
_SPACE = re.compile(r"\s+")
_ENDINGS = ("s", "es", "d", "ed", "ing")


def fold(text: str) -> str:
    """As the intent rules fold (NFKC, zero-width characters dropped, casefolded), curly apostrophes straight."""
    return fold_rules(text[:MAX_CHARS]).replace("\u2019", "'").replace("\u2018", "'")


@dataclass(frozen=True, slots=True)
class Parsed:
    folded: str  # the whole text, folded, handles and links removed
    words: tuple[str, ...]  # its Latin words, typo-corrected
    compact: str  # the folded text without whitespace (Chinese phrases are found here)

    @property
    def asks(self) -> bool:
        return "?" in self.folded


@dataclass(frozen=True, slots=True)
class Match:
    """A phrase found in a text: `space` "en" (start/end in words) or "zh" (in characters of `compact`)."""

    kind: str
    space: str
    start: int
    end: int
    phrase: str

    @property
    def size(self) -> int:
        return self.end - self.start

    def overlaps(self, other: Match) -> bool:
        return self.space == other.space and self.start < other.end and other.start < self.end

    def near(self, other: Match, distance: int = 1) -> bool:
        """Overlapping, or at most `distance` words/characters apart."""
        return (
            self.space == other.space
            and self.start <= other.end + distance - 1
            and other.start <= self.end + distance - 1
        )


class Speller:
    """Corrects a word that is not in `vocabulary` to the closest one that is, and splits known pairs written as
    one word ("bathset"). The first letter must be the same; a word of five letters or more may be one letter
    off or have two swapped ("pirce", "stok", "pendent"); a shorter one only two swapped letters ("mcuh"), since
    a letter more or less makes another real word of a short one ("smell" is not "sell")."""

    def __init__(
        self, vocabulary: Iterable[str], pairs: Iterable[tuple[str, str]] = (), keep: Iterable[str] = ()
    ) -> None:
        targets = frozenset(vocabulary)
        self.vocabulary = targets | frozenset(keep)  # `keep`: words left as they are, never corrected into
        self._by_letter: dict[str, list[str]] = {}
        self._short: dict[str, str] = {}  # sorted letters -> a short word (swapped letters only)
        for word in sorted(targets):
            if len(word) >= 5 and word.isalpha():
                self._by_letter.setdefault(word[0], []).append(word)
            elif len(word) >= 3 and word.isalpha():
                self._short.setdefault(word[0] + "".join(sorted(word)), word)
        self._joined = {a + b: (a, b) for a, b in pairs if (a + b) not in self.vocabulary}
        self._cache: dict[str, tuple[str, ...]] = {}

    def correct(self, word: str) -> tuple[str, ...]:
        if word in self.vocabulary or len(word) < 4 or not word.isalpha():
            return (word,)
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        result: tuple[str, ...] = (word,)
        if word in self._joined:
            result = self._joined[word]
        elif (short := self._short.get(word[0] + "".join(sorted(word)))) is not None:
            result = (short,)
        else:
            choices = [w for w in self._by_letter.get(word[0], ()) if abs(len(w) - len(word)) <= 1]
            found = fuzzy.closest(word, choices, 80) if choices else None
            if found is not None:
                result = (found[0],)
        if len(self._cache) < 50_000:
            self._cache[word] = result
        return result


def parse(text: str, speller: Speller) -> Parsed:
    folded = fold(text)
    folded = _HANDLE.sub(" ", _URL.sub(" ", folded))
    words: list[str] = []
    for raw in _WORD.findall(folded):
        words.extend(speller.correct(raw))
    return Parsed(folded, tuple(words), _SPACE.sub("", folded))


def phrase_words(phrase: str) -> list[str]:
    """An English phrase as the words (and `...` gaps) it is matched by."""
    return [
        GAP if part == GAP else part
        for part in (_WORD.findall(fold(phrase)) if GAP not in phrase else _split_gap(phrase))
    ]


def _split_gap(phrase: str) -> list[str]:
    parts: list[str] = []
    for index, chunk in enumerate(phrase.split(GAP)):
        if index:
            parts.append(GAP)
        parts.extend(_WORD.findall(fold(chunk)))
    return parts


def _same(word: str, wanted: str) -> bool:
    if word == wanted:
        return True
    if len(wanted) < 3 or not word.startswith(wanted[:-1]):
        return False
    if any(word == wanted + ending for ending in _ENDINGS):
        return True
    if wanted.endswith("e") and word in (wanted[:-1] + "ing", wanted + "d"):
        return True
    return wanted.endswith("y") and word == wanted[:-1] + "ies"


class PhraseSet:
    """Phrases of one or more kinds, found in Parsed texts. English phrases on word boundaries (with endings and
    `...` gaps), Chinese ones (any phrase holding a CJK character) as substrings of the compact text."""

    def __init__(self) -> None:
        self._en: list[tuple[str, str, list[str]]] = []
        self._zh: list[tuple[str, str, str]] = []
        self._zh_first: dict[str, list[int]] = {}  # a Chinese phrase's first character -> the phrases
        self._first: dict[str, list[int]] = {}

    def add(self, kind: str, phrases: Iterable[str]) -> None:
        for phrase in phrases:
            text = fold(phrase).strip()
            if not text:
                continue
            if has_cjk(text):
                needle = _SPACE.sub("", text)
                self._zh_first.setdefault(needle[0], []).append(len(self._zh))
                self._zh.append((kind, phrase, needle))
                continue
            parts = phrase_words(text)
            if parts and parts[0] != GAP:
                self._first.setdefault(parts[0][:3], []).append(len(self._en))
                self._en.append((kind, phrase, parts))

    def words(self) -> set[str]:
        return {part for _, _, parts in self._en for part in parts if part != GAP}

    def pairs(self) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for _, _, parts in self._en:
            found.update((a, b) for a, b in pairwise(parts) if GAP not in (a, b))
        return found

    def find(self, parsed: Parsed) -> list[Match]:
        found: list[Match] = []
        words = parsed.words
        for start, word in enumerate(words):
            for index in self._first.get(word[:3], ()):
                kind, phrase, parts = self._en[index]
                end = _match_at(words, start, parts)
                if end is not None:
                    found.append(Match(kind, "en", start, end, phrase))
        if not self._zh or not has_cjk(parsed.compact):  # no Chinese phrase can be in it
            return found
        compact = parsed.compact
        starts: list[tuple[int, int]] = []  # (index of the phrase, where it starts): every occurrence
        for begin, char in enumerate(compact):
            for index in self._zh_first.get(char, ()):
                if compact.startswith(self._zh[index][2], begin):
                    starts.append((index, begin))
        for index, begin in sorted(starts):  # phrase by phrase, as they were added
            kind, phrase, needle = self._zh[index]
            found.append(Match(kind, "zh", begin, begin + len(needle), phrase))
        return found


def _match_at(words: Sequence[str], start: int, parts: Sequence[str]) -> int | None:
    """The end (exclusive) of `parts` matched from words[start], or None."""
    position = start
    index = 0
    while index < len(parts):
        part = parts[index]
        if part == GAP:
            following = parts[index + 1]
            for skip in range(MAX_GAP + 1):
                if position + skip < len(words) and _same(words[position + skip], following):
                    position += skip + 1
                    break
            else:
                return None
            index += 2
            continue
        if position >= len(words) or not _same(words[position], part):
            return None
        position += 1
        index += 1
    return position


def strongest(matches: Sequence[Match]) -> list[Match]:
    """The matches left once every match overlapped by a longer one is dropped (equal lengths both stay)."""
    return [m for m in matches if not any(o is not m and o.overlaps(m) and o.size > m.size for o in matches)]


def leftovers(parsed: Parsed, used: Iterable[Match], stopwords: frozenset[str]) -> Iterator[str]:
    """English words no match covers that are not stopwords or numbers: what else the customer named."""
    covered = {i for m in used if m.space == "en" for i in range(m.start, m.end)}
    for index, word in enumerate(parsed.words):
        if index not in covered and word not in stopwords and not word.isdigit() and len(word) > 2:
            yield word
