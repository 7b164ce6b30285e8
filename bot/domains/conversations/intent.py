"""Intent of a customer's mention or DM: config rules (keywords, patterns, sentiment bounds) in order.

Matching rules (the choices, in one place):

* The text is normalised with NFKC and casefold ("ＳＴＯＰ" is "stop", "？" is "?"); zero-width characters
  are dropped ("s\\u200btop" is "stop"); @handles and URLs are removed first, so no handle (the shop's own
  included) and no link can trigger a rule. The shop's bare handle (`account_handle`) is removed as a word too.
* Keywords that hold a CJK character match as substrings ("退订" anywhere). Other keywords match as whole
  words, where "word" means Latin letters and digits, so "stop" matches "Stop!", "please stop", "请stop",
  but not "nonstop". Ordinary keywords also match their common English inflections (+s, +es, +d, +ed,
  +ing): "thank" matches "thanks", "coupon" "coupons", "refund" "refunded".
* Opt-out words are stricter: the exact word only ("stopped", "stops", "unstoppable" never opt out), and
  not right after a negation ("don't stop", "never stop", "can't stop"). A "stop" as the whole message
  or as a command anywhere else ("pls stop", "STOP tweeting me", "stop.") always opts out: a false
  opt-out only makes the shop go quiet (the team can `socialbot optout remove`), a missed one is spam.
* `patterns` are regular expressions searched case-insensitively in the same normalised text.
* `sentiment_below` / `sentiment_above` compare the text's sentiment (bot.adapters.sentiment) with the bound.
* Rules are tried in config order; the first that matches wins. A rule without any condition matches
  everything. When nothing matches the intent is "other".
* Opt-out words (stop, unsubscribe, 退订 and `replies.optout_words`) always belong to the opt_out rule; if
  the config has no opt_out rule, one is put first.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from bot.adapters import sentiment
from bot.core.text import has_cjk
from bot.domains.conversations.decide import OPT_OUT
from bot.settings.replies import DEFAULT_OPTOUT_WORDS, IntentRule, RepliesConfig, default_intents

logger = logging.getLogger(__name__)

FALLBACK_INTENT = "other"
MAX_MATCH_CHARS = 20_000  # rules see at most this much of a text (X DMs hold 10,000 characters)

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"))
_URL = re.compile(
    r"(?:https?://|www\.)\S+|(?<![\w.@])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|co|cn|me|ly|shop)\b(?:/\S*)?",
    re.IGNORECASE,
)
_HANDLE = re.compile(r"@[A-Za-z0-9_]{1,15}(?![A-Za-z0-9_])")
_WORD_CHAR = r"0-9a-z_\u00c0-\u024f"  # "letters" for word boundaries (CJK neighbours are boundaries)
_INFLECTIONS = r"(?:s|es|d|ed|ing)?"
_NEGATIONS = r"(?<!\bdon't )(?<!\bdont )(?<!\bnever )(?<!\bcan't )(?<!\bcant )(?<!\bnot )(?<!\bdo not )"


@dataclass(frozen=True, slots=True)
class Intent:
    name: str
    sentiment: float  # -1 .. 1
    language: str  # "en" | "zh" | "other"
    matched: str | None  # the keyword, pattern or bound ("sentiment<-0.5") that decided; None: catch-all
    escalate: bool
    rule: IntentRule


@lru_cache(maxsize=64)
def _bare_handle(account_handle: str) -> re.Pattern[str]:
    """The shop's bare handle as a word (compiled once per handle)."""
    bare = re.escape(account_handle.lstrip("@＠"))
    return re.compile(rf"(?<![{_WORD_CHAR}]){bare}(?![{_WORD_CHAR}])", re.IGNORECASE)


def fold(text: str) -> str:
    """NFKC + casefold, zero-width characters removed (for keywords and texts alike)."""
    return unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH).casefold()


def _keyword_regex(word: str, *, exact: bool) -> str:
    folded = fold(word).strip()
    if has_cjk(folded):
        return re.escape(folded)
    body = r"\s+".join(re.escape(part) for part in folded.split())
    tail = "" if exact else _INFLECTIONS
    guard = _NEGATIONS if exact else ""
    return rf"{guard}(?<![{_WORD_CHAR}]){body}{tail}(?![{_WORD_CHAR}])"


class _CompiledRule:
    __slots__ = ("bounds", "catch_all", "keywords", "literals", "patterns", "rule", "words")

    def __init__(self, rule: IntentRule, extra_exact: Iterable[str] = ()) -> None:
        self.rule = rule
        exact_words = list(dict.fromkeys(extra_exact))
        words = [w for w in rule.keywords if fold(w).strip() not in {fold(e).strip() for e in exact_words}]
        if rule.name == OPT_OUT:  # the opt_out rule's own keywords are opt-out words too
            exact_words = list(dict.fromkeys([*words, *exact_words]))
            words = []
        self.words: list[str] = [*words, *exact_words]
        parts = [f"(?P<k{i}>{_keyword_regex(w, exact=False)})" for i, w in enumerate(words)]
        parts += [f"(?P<k{len(words) + i}>{_keyword_regex(w, exact=True)})" for i, w in enumerate(exact_words)]
        self.keywords = re.compile("|".join(parts)) if parts else None
        # A keyword can only match where its longest part occurs as written: the regex (slow, with its
        # lookbehinds tried at every position) runs only on texts holding one of them.
        self.literals = tuple(dict.fromkeys(max(fold(w).split(), key=len) for w in self.words if fold(w).strip()))
        self.patterns = [(p, re.compile(p, re.IGNORECASE)) for p in rule.patterns]
        self.bounds = (rule.sentiment_below, rule.sentiment_above)
        self.catch_all = (
            not parts and not self.patterns and rule.sentiment_below is None and (rule.sentiment_above is None)
        )

    def match(self, folded: str, score: float) -> tuple[bool, str | None]:
        if self.catch_all:
            return True, None
        if self.keywords is not None and any(literal in folded for literal in self.literals):
            found = self.keywords.search(folded)
            if found is not None and found.lastgroup is not None:
                return True, self.words[int(found.lastgroup[1:])]
        for source, pattern in self.patterns:
            if pattern.search(folded):
                return True, source
        below, above = self.bounds
        if below is not None and score < below:
            return True, f"sentiment<{below:g}"
        if above is not None and score > above:
            return True, f"sentiment>{above:g}"
        return False, None


class Classifier:
    """Classifies texts by a RepliesConfig. Build a new one when the config changes."""

    def __init__(self, replies: RepliesConfig | None = None) -> None:
        replies = replies or RepliesConfig()
        optout_words = [*DEFAULT_OPTOUT_WORDS, *replies.optout_words]
        rules = list(replies.intents)
        if not any(rule.name == OPT_OUT for rule in rules):
            template = next(r for r in default_intents() if r.name == OPT_OUT)
            rules.insert(0, template)
        self._rules = [_CompiledRule(rule, optout_words if rule.name == OPT_OUT else ()) for rule in rules]
        fallback = next((r for r in rules if r.name == FALLBACK_INTENT), None)
        self._fallback = fallback or IntentRule(name=FALLBACK_INTENT)

    @property
    def rules(self) -> list[IntentRule]:
        return [compiled.rule for compiled in self._rules]

    @staticmethod
    def clean(text: str, account_handle: str | None = None) -> str:
        """The text the rules and sentiment see: NFKC, zero-width characters, @handles and URLs removed
        (case kept, for VADER's emphasis)."""
        text = text[:MAX_MATCH_CHARS]
        if not text.isascii():  # (NFKC leaves ASCII as it is, and zero-width characters are not ASCII)
            text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
        if "." in text or "://" in text:  # every URL _URL finds has one of them
            text = _URL.sub(" ", text)
        text = _HANDLE.sub(" ", text)
        if account_handle:
            text = _bare_handle(account_handle).sub(" ", text)
        return text.strip()

    def classify(self, text: str, *, account_handle: str | None = None) -> Intent:
        cleaned = self.clean(text or "", account_handle)
        folded = cleaned.casefold()
        language = sentiment.detect_language(cleaned)
        score = sentiment.score(cleaned, language)
        for compiled in self._rules:
            hit, matched = compiled.match(folded, score)
            if hit:
                rule = compiled.rule
                return Intent(rule.name, score, language, matched, rule.escalate, rule)
        rule = self._fallback
        return Intent(rule.name, score, language, None, rule.escalate, rule)

    def classify_many(self, texts: Iterable[str], *, account_handle: str | None = None) -> list[Intent]:
        return [self.classify(text, account_handle=account_handle) for text in texts]
