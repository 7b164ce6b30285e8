"""Sentiment of short customer texts, -1 (angry) .. 1 (delighted), and a script-based language guess.

* English (and emoji, and anything not Chinese): VADER's compound score, numbers replaced by a neutral token,
  emoticons with digits (":3", "<3", "8)") kept as VADER's lexicon scores them (english.py).
* Chinese: our own model (chinese.py, zh_model.json.gz): character n-grams, a polarity lexicon and a scored
  lexicon, stacked and calibrated on domains the n-gram part was not trained on, so 2 * P(happy) - 1 means the
  same on a shop's messages as on the reviews it learnt from; damped to +-NEUTRAL_DAMPING without an opinion
  cue. Trained by scripts/train_sentiment.py, measured by scripts/eval_sentiment.py (docs/sentiment.md).

vaderSentiment is imported, and the Chinese model file read, on first use: `socialbot --help` never pays for them.
Both scores are cached per text (LRU), so repeated texts cost a dict look-up.
"""

from __future__ import annotations

import logging
import threading

from bot.adapters.sentiment.chinese import NEUTRAL_DAMPING, ZH_OPINION_CUES, ModelError, chinese_score
from bot.adapters.sentiment.chinese import model as chinese_model
from bot.adapters.sentiment.english import CACHE_SIZE, MAX_SENTIMENT_CHARS, english_score
from bot.adapters.sentiment.language import detect_language

__all__ = [
    "CACHE_SIZE",
    "MAX_SENTIMENT_CHARS",
    "NEUTRAL_DAMPING",
    "ZH_OPINION_CUES",
    "ModelError",
    "chinese_score",
    "chinese_words",
    "detect_language",
    "english_score",
    "score",
    "warm_up",
]


def score(text: str, language: str | None = None) -> float:
    """Sentiment of `text` in [-1, 1] by the engine for its language (detected when not given)."""
    language = language or detect_language(text)
    if language == "zh":
        return chinese_score(text)
    return english_score(text)


def warm_up() -> None:
    """Load both engines and run each once, so the first mention a daemon sees does not wait for them."""
    english_score("warming up: great, thanks")
    chinese_model().score("预热一下，很好")


_jieba_lock = threading.Lock()


def chinese_words(text: str) -> list[str]:
    """The words of a Chinese text (jieba's segmentation), for topics; jieba loads its dictionary once."""
    with _jieba_lock:
        logging.getLogger("jieba").setLevel(logging.ERROR)
        import jieba

        jieba.setLogLevel(logging.ERROR)
        return [w for w in jieba.lcut(text) if w.strip()]
