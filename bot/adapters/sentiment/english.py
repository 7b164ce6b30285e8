"""English (and emoji, and anything not Chinese): VADER's compound score, -1 .. 1.

VADER's lexicon reads some bare numbers as internet slang ("182" = "I hate you", "187", "143", "86"); in a
shop's mentions a number is an order id, a price, a quantity or a time, so each number is replaced by "0" before
scoring (a token VADER gives no valence, so the word positions its negation and booster rules count stay as they
were). Emoticons that hold a digit (":3", "<3", "</3", "8)", "3:)", "o:3") are not numbers: a whitespace-separated
token that VADER's lexicon knows and that is not a plain number or time is kept whole, so it scores as VADER's
lexicon says. vaderSentiment is imported on first use only.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

CACHE_SIZE = 16_384
MAX_SENTIMENT_CHARS = 2_000  # longer texts are scored on their first 2,000 characters (a DM may hold 10,000)

_NUMBERS = re.compile(r"(?<![\w.])\d+(?:[.,:]\d+)*(?![\w.])")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:[.,:]\d+)*")  # 182, 1,200, 3.5, 0:03 (a time)
_TOKEN = re.compile(r"\S+|\s+")
_DIGIT = re.compile(r"\d")

_lock = threading.Lock()
_analyzer: list[Any] = []


def _vader() -> Any:
    if not _analyzer:
        with _lock:
            if not _analyzer:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                _analyzer.append(SentimentIntensityAnalyzer())
    return _analyzer[0]


def _keeps_digits(token: str, lexicon: dict[str, float]) -> bool:
    """An emoticon or slang token with a digit that VADER's lexicon scores, and not a plain number."""
    return token.lower() in lexicon and not _PLAIN_NUMBER.fullmatch(token)


def strip_numbers(text: str, lexicon: dict[str, float] | None = None) -> str:
    """`text` with each number replaced by "0", emoticons with digits kept (see the module's docstring)."""
    if not _DIGIT.search(text):
        return text
    known = lexicon if lexicon is not None else _vader().lexicon
    return "".join(
        part if part.isspace() or _keeps_digits(part, known) else _NUMBERS.sub("0", part)
        for part in _TOKEN.findall(text)
    )


def _clamp(value: float) -> float:
    if value != value:  # NaN
        return 0.0
    return max(-1.0, min(1.0, value))


@lru_cache(maxsize=CACHE_SIZE)
def english_score(text: str) -> float:
    """VADER compound score of `text` (also used for emoji-only and other-language text)."""
    analyzer = _vader()
    text = strip_numbers(text[:MAX_SENTIMENT_CHARS], analyzer.lexicon)
    if not text.strip():
        return 0.0
    return _clamp(float(analyzer.polarity_scores(text)["compound"]))


def vader_engine() -> Callable[[str], float]:
    """VADER's own compound score, numbers and all (for comparisons in scripts/eval_sentiment.py)."""
    analyzer = _vader()
    return lambda text: float(analyzer.polarity_scores(text)["compound"])
