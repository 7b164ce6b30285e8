"""Chinese sentiment, -1 .. 1: character n-grams and a polarity lexicon, stacked and calibrated across domains.

The model (zh_model.json.gz beside this file, written by scripts/train_sentiment.py; docs/sentiment.md) has
two parts, both read with the standard library only:

* a linear model over the text's character 1-3-grams (NFKC, lower case, every digit run read as "0", white
  space dropped): counts, L2-normalised, dot the weights, plus a bias -> `margin`. Only n-grams that occur in at
  least two of the training domains are in its vocabulary, so a domain's topic words ("酒店", "屏幕") carry no
  sentiment of their own;
* a polarity lexicon (HowNet and DUTIR words, two characters or more), matched longest-first; a word right
  after a negation ("不", "没有", "不太", ...) counts the other way -> `lexicon` = (positive - negative) /
  sqrt(positive + negative), 0 without a hit.

They are stacked: P(happy) = sigmoid(a * margin + b * lexicon + c), with a, b, c fitted on the n-gram model's
predictions for a domain it was not trained on (leave-one-domain-out), classes weighted equally. So the score
2 * P - 1 is calibrated for text from an unseen domain: -0.5 means P(unhappy) = 0.75.

A review model has no "neutral": a question such as "请问有优惠券吗" would get some sign. When a text holds no
opinion cue (no lexicon word and none of ZH_OPINION_CUES) its score is damped to +-NEUTRAL_DAMPING at most,
below every default rule bound.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).with_name("zh_model.json.gz")
MODEL_FORMAT = 1
NEUTRAL_DAMPING = 0.3
CACHE_SIZE = 16_384
MAX_SENTIMENT_CHARS = 2_000

# Evaluative words of shop reviews; their presence says "this text holds an opinion" (besides the lexicon).
# negative cues, then positive ones ("好" alone is not one: 你好, 好的)
ZH_OPINION_CUES = re.compile(
    r"差|坏|烂|破|慢|假|垃圾|失望|生气|气死|投诉|退款|退货|退钱|骗|坑|难用|难看|难闻|不好|不行|不满|不值|毛病|瑕疵|粗糙|后悔|糟|恶心|无语|太贵|"
    r"没到|没收到|丢|漏|碎|裂|臭|脏|怒|讨厌|差评|很好|真好|太好|挺好|非常好|好用|好看|好评|好闻|喜欢|爱|棒|赞|满意|漂亮|舒服|值得|推荐|谢|开心|"
    r"惊喜|完美|优秀|精致|实惠|划算|可爱|不错|靠谱|给力|超值|物美价廉"
)

CONTRASTS = ("但", "可是", "不过", "就是", "只是", "然而", "却")
CONTRAST_WEIGHT = 2.0
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


class ModelError(Exception):
    """The model file is missing or not one this code reads."""


def normalise(text: str) -> str:
    """The text the model sees: NFKC (full-width -> half-width), lower case, digit runs -> "0", no white space."""
    text = unicodedata.normalize("NFKC", text[:MAX_SENTIMENT_CHARS]).lower()
    return _SPACE.sub("", _DIGITS.sub("0", text))


def char_ngrams(normalised: str, n_max: int) -> Iterator[str]:
    """Every character n-gram of `normalised`, n = 1 .. n_max."""
    for n in range(1, n_max + 1):
        for i in range(len(normalised) - n + 1):
            yield normalised[i : i + n]


def ngram_counts(normalised: str, n_max: int, vocabulary: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Counts of the n-grams of `normalised` (only those in `vocabulary` when given)."""
    counts: dict[str, int] = {}
    for gram in char_ngrams(normalised, n_max):
        if vocabulary is None or gram in vocabulary:
            counts[gram] = counts.get(gram, 0) + 1
    return counts


class Lexicon:
    """Polarity words matched longest-first in normalised text, flipped after a negation."""

    def __init__(self, positive: Iterable[str], negative: Iterable[str], negators: Iterable[str]) -> None:
        pos, neg = set(positive), set(negative)
        self.words: dict[str, int] = {w: 1 for w in pos - neg} | {w: -1 for w in neg - pos}
        self.negators = tuple(sorted(set(negators), key=lambda n: (-len(n), n)))
        self.max_len = max((len(w) for w in self.words), default=0)
        self.min_len = min((len(w) for w in self.words), default=1)

    def _negated(self, text: str, start: int) -> bool:
        # a negation right before the word, or one character before it ("不太好" is caught by the negator "不太")
        for end in (start, start - 1):
            head = text[max(0, end - 4) : end]
            if head and any(head.endswith(n) for n in self.negators):
                return True
        return False

    def hits(self, normalised: str) -> tuple[float, float]:
        """(positive, negative) word hits in `normalised`; a hit after a contrast ("但是", "就是", ...) counts
        CONTRAST_WEIGHT times (reviews put what decides after the "but")."""
        positive = negative = 0.0
        weight = 1.0
        i, n, words = 0, len(normalised), self.words
        while i < n:
            if normalised.startswith(CONTRASTS, i):
                weight = CONTRAST_WEIGHT
            for length in range(min(self.max_len, n - i), self.min_len - 1, -1):
                polarity = words.get(normalised[i : i + length])
                if polarity is not None:
                    break
            else:
                i += 1
                continue
            if self._negated(normalised, i):
                polarity = -polarity
            if polarity > 0:
                positive += weight
            else:
                negative += weight
            i += length
        return positive, negative

    @staticmethod
    def feature(positive: float, negative: float) -> float:
        total = positive + negative
        return (positive - negative) / math.sqrt(total) if total else 0.0


@dataclass(frozen=True)
class Stack:
    ngram: float
    lexicon: float
    intercept: float

    def logit(self, margin: float, lexicon: float) -> float:
        return self.ngram * margin + self.lexicon * lexicon + self.intercept


class NgramModel:
    """A linear model over L2-normalised character n-gram counts."""

    def __init__(self, weights: Mapping[str, float], bias: float, n_max: int) -> None:
        self.weights = dict(weights)
        self.bias = float(bias)
        self.n_max = int(n_max)

    def margin(self, normalised: str) -> float:
        counts = ngram_counts(normalised, self.n_max, self.weights)
        if not counts:
            return self.bias
        norm = math.sqrt(sum(c * c for c in counts.values()))
        return sum(self.weights[g] * c for g, c in counts.items()) / norm + self.bias


@dataclass(frozen=True)
class Features:
    margin: float
    lexicon: float
    lexicon_hits: float


class ZhModel:
    """The n-gram model, the lexicon and the stack read from one model file."""

    def __init__(self, ngrams: NgramModel, lexicon: Lexicon, stack: Stack, info: Mapping[str, Any]) -> None:
        self.ngrams = ngrams
        self.lexicon = lexicon
        self.stack = stack
        self.info = dict(info)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ZhModel:
        if data.get("format") != MODEL_FORMAT:
            raise ModelError(f"model format {data.get('format')!r}, this code reads format {MODEL_FORMAT}")
        try:
            ngrams = NgramModel(data["ngrams"], data["bias"], data["ngram_max"])
            lexicon = Lexicon(data["lexicon_positive"], data["lexicon_negative"], data["negators"])
            stack = Stack(**data["stack"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model file lacks or mistypes a field: {exc}") from exc
        return cls(ngrams, lexicon, stack, data.get("info", {}))

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> ZhModel:
        try:
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError as exc:
            raise ModelError(f"{path}: no Chinese sentiment model (scripts/train_sentiment.py writes it)") from exc
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path}: not a gzipped JSON model file: {exc}") from exc
        model = cls.from_dict(data)
        logger.debug("Chinese sentiment model loaded from %s: %d n-grams", path, len(model.ngrams.weights))
        return model

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "ngram_max": self.ngrams.n_max,
            "bias": self.ngrams.bias,
            "stack": {"ngram": self.stack.ngram, "lexicon": self.stack.lexicon, "intercept": self.stack.intercept},
            "negators": list(self.lexicon.negators),
            "lexicon_positive": sorted(w for w, p in self.lexicon.words.items() if p > 0),
            "lexicon_negative": sorted(w for w, p in self.lexicon.words.items() if p < 0),
            "info": self.info,
            "ngrams": self.ngrams.weights,
        }

    def features(self, text: str) -> Features:
        normalised = normalise(text)
        positive, negative = self.lexicon.hits(normalised)
        return Features(self.ngrams.margin(normalised), Lexicon.feature(positive, negative), positive + negative)

    def probability(self, text: str) -> float:
        """P(the writer is happy), calibrated for text from a domain the model was not trained on."""
        found = self.features(text)
        logit = self.stack.logit(found.margin, found.lexicon)
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))

    def score(self, text: str) -> float:
        """2 * P(happy) - 1, damped to +-NEUTRAL_DAMPING when the text holds no opinion cue."""
        if not normalise(text):
            return 0.0
        found = self.features(text)
        logit = self.stack.logit(found.margin, found.lexicon)
        value = 2.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit)))) - 1.0
        if not found.lexicon_hits and not ZH_OPINION_CUES.search(text[:MAX_SENTIMENT_CHARS]):
            value *= NEUTRAL_DAMPING
        return round(max(-1.0, min(1.0, value)), 4)


_lock = threading.Lock()
_model: list[ZhModel] = []


def model() -> ZhModel:
    """The shipped model, loaded once."""
    if not _model:
        with _lock:
            if not _model:
                _model.append(ZhModel.load())
    return _model[0]


@lru_cache(maxsize=CACHE_SIZE)
def chinese_score(text: str) -> float:
    """Sentiment of Chinese `text` in [-1, 1] (see the module's docstring)."""
    if not text.strip():
        return 0.0
    return model().score(text)
