"""Chinese sentiment, -1 .. 1: character n-grams and two polarity lexicons, stacked and calibrated across domains.

The model (zh_model.json.gz beside this file, written by scripts/train_sentiment.py; docs/sentiment.md) has
three parts, all read with the standard library only:

* a linear model over the text's character 1-3-grams (NFKC, lower case, every digit run read as "0", white
  space dropped): counts, L2-normalised, dot the weights, plus a bias -> `margin`. Only n-grams that occur in at
  least two of the training domains are in its vocabulary, so a domain's topic words ("酒店", "屏幕") carry no
  sentiment of their own;
* a polarity lexicon (HowNet's words of two characters or more, plus shop words, Weibo emoticon codes and emoji
  written for this project), matched longest-first; a word right after a negation ("不", "没有", "不太", ...)
  counts the other way, a complaint softened by "有点" / "稍微" counts half -> `lexicon` = (positive - negative) /
  sqrt(positive + negative), 0 without a hit;
* a scored lexicon (BosonNLP's word weights, learnt from Weibo posts, news and forums; words of two to four
  characters), matched the same way -> `scored` = the sum of the weights / sqrt(number of hits).

They are stacked: P(happy) = sigmoid(a * margin + b * lexicon + s * scored + c), with a, b, s, c fitted on the
n-gram model's predictions for a domain it was not trained on (leave-one-domain-out), classes weighted equally.
So the score 2 * P - 1 is calibrated for text from an unseen domain: -0.5 means P(unhappy) = 0.75.

A review model has no "neutral": a question such as "请问有优惠券吗" would get some sign. When a text holds no
opinion cue (no polarity-lexicon word and none of ZH_OPINION_CUES) its score is damped to +-NEUTRAL_DAMPING at
most, below every default rule bound.
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
MODEL_FORMAT = 2
READABLE_FORMATS = (1, 2)  # format 1: no scored lexicon
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
_CONTRAST_STARTS = frozenset(c[0] for c in CONTRASTS)
# a complaint softened by one of these ("有点慢", "稍微贵了点") counts MILD_WEIGHT times
MITIGATORS = ("有点", "有一点", "有些", "稍微", "稍", "略", "略微")
MILD_WEIGHT = 0.5
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


def _ends_with_any(text: str, end: int, suffixes: frozenset[str], lengths: tuple[int, ...]) -> bool:
    """Whether text[:end] ends with one of `suffixes` (whose lengths are `lengths`)."""
    return end > 0 and any(length <= end and text[end - length : end] in suffixes for length in lengths)


def _lengths_of(words: Iterable[str]) -> tuple[int, ...]:
    return tuple(sorted({len(w) for w in words if w}))


_MITIGATOR_LENGTHS = _lengths_of(MITIGATORS)
_MITIGATOR_SET = frozenset(MITIGATORS)


class _Matcher:
    """Words with a value, matched longest-first in normalised text: a value is turned round after a negation,
    halved (MILD_WEIGHT) when negative after a mitigator ("有点"), and counted CONTRAST_WEIGHT times after a
    contrast ("但是", "就是", ...: reviews put what decides after the "but")."""

    def __init__(self, values: Mapping[str, float], negators: Iterable[str]) -> None:
        self.values = dict(values)
        self.negators = tuple(sorted(set(negators), key=lambda n: (-len(n), n)))
        self._negator_set = frozenset(n for n in self.negators if n)
        self._negator_lengths = _lengths_of(self._negator_set)
        # the lengths of the words that start with each character, longest first: most positions start no word
        lengths: dict[str, set[int]] = {}
        for word in self.values:
            if word:
                lengths.setdefault(word[0], set()).add(len(word))
        self._lengths = {first: sorted(found, reverse=True) for first, found in lengths.items()}

    def _negated(self, text: str, start: int) -> bool:
        # a negation right before the word, or one character before it ("不太好" is caught by the negator "不太")
        found, lengths = self._negator_set, self._negator_lengths
        return _ends_with_any(text, start, found, lengths) or _ends_with_any(text, start - 1, found, lengths)

    def scan(self, normalised: str) -> Iterator[tuple[float, float]]:
        """(value, weight) of every word found in `normalised`, left to right."""
        weight = 1.0
        i, n, values, starts = 0, len(normalised), self.values, self._lengths
        while i < n:
            char = normalised[i]
            if char in _CONTRAST_STARTS and normalised.startswith(CONTRASTS, i):
                weight = CONTRAST_WEIGHT
            value = None
            for length in starts.get(char, ()):
                if i + length <= n:
                    value = values.get(normalised[i : i + length])
                    if value is not None:
                        break
            if value is None:
                i += 1
                continue
            if self._negated(normalised, i):
                value = -value
            mild = value < 0 and _ends_with_any(normalised, i, _MITIGATOR_SET, _MITIGATOR_LENGTHS)
            yield value, weight * (MILD_WEIGHT if mild else 1.0)
            i += length


class Lexicon(_Matcher):
    """Positive and negative words (see _Matcher for negation, mitigators and contrasts)."""

    def __init__(self, positive: Iterable[str], negative: Iterable[str], negators: Iterable[str]) -> None:
        pos, neg = set(positive), set(negative)
        super().__init__({w: 1 for w in pos - neg} | {w: -1 for w in neg - pos}, negators)
        self.words: dict[str, int] = {w: int(v) for w, v in self.values.items()}

    def hits(self, normalised: str) -> tuple[float, float]:
        """(positive, negative) word hits in `normalised`, each counted with its weight."""
        positive = negative = 0.0
        for value, weight in self.scan(normalised):
            if value > 0:
                positive += weight
            else:
                negative += weight
        return positive, negative

    @staticmethod
    def feature(positive: float, negative: float) -> float:
        total = positive + negative
        return (positive - negative) / math.sqrt(total) if total else 0.0


class ScoredLexicon(_Matcher):
    """Words with a learnt weight (BosonNLP's); the feature is the sum of the weights over sqrt(hits)."""

    def feature(self, normalised: str) -> float:
        total = count = 0.0
        for value, weight in self.scan(normalised):
            total += weight * value
            count += weight
        return total / math.sqrt(count) if count else 0.0


@dataclass(frozen=True)
class Stack:
    ngram: float
    lexicon: float
    intercept: float
    scored: float = 0.0

    def logit(self, margin: float, lexicon: float, scored: float = 0.0) -> float:
        return self.ngram * margin + self.lexicon * lexicon + self.scored * scored + self.intercept


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
    scored: float = 0.0


class ZhModel:
    """The n-gram model, the lexicons and the stack read from one model file."""

    def __init__(
        self,
        ngrams: NgramModel,
        lexicon: Lexicon,
        stack: Stack,
        info: Mapping[str, Any],
        scored: ScoredLexicon | None = None,
    ) -> None:
        self.ngrams = ngrams
        self.lexicon = lexicon
        self.stack = stack
        self.info = dict(info)
        self.scored = scored

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ZhModel:
        if data.get("format") not in READABLE_FORMATS:
            raise ModelError(f"model format {data.get('format')!r}, this code reads formats {READABLE_FORMATS}")
        try:
            ngrams = NgramModel(data["ngrams"], data["bias"], data["ngram_max"])
            lexicon = Lexicon(data["lexicon_positive"], data["lexicon_negative"], data["negators"])
            stack = Stack(**data["stack"])
            scored = ScoredLexicon(data["scored_lexicon"], data["negators"]) if "scored_lexicon" in data else None
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model file lacks or mistypes a field: {exc}") from exc
        return cls(ngrams, lexicon, stack, data.get("info", {}), scored)

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
        stack = {"ngram": self.stack.ngram, "lexicon": self.stack.lexicon, "intercept": self.stack.intercept}
        data: dict[str, Any] = {
            "format": MODEL_FORMAT,
            "ngram_max": self.ngrams.n_max,
            "bias": self.ngrams.bias,
            "stack": stack | {"scored": self.stack.scored},
            "negators": list(self.lexicon.negators),
            "lexicon_positive": sorted(w for w, p in self.lexicon.words.items() if p > 0),
            "lexicon_negative": sorted(w for w, p in self.lexicon.words.items() if p < 0),
            "info": self.info,
            "ngrams": self.ngrams.weights,
        }
        if self.scored is not None:
            data["scored_lexicon"] = self.scored.values
        return data

    def features(self, text: str) -> Features:
        normalised = normalise(text)
        positive, negative = self.lexicon.hits(normalised)
        scored = self.scored.feature(normalised) if self.scored is not None else 0.0
        margin = self.ngrams.margin(normalised)
        return Features(margin, Lexicon.feature(positive, negative), positive + negative, scored)

    def logit(self, found: Features) -> float:
        return self.stack.logit(found.margin, found.lexicon, found.scored)

    def probability(self, text: str) -> float:
        """P(the writer is happy), calibrated for text from a domain the model was not trained on."""
        logit = self.logit(self.features(text))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))

    def score(self, text: str) -> float:
        """2 * P(happy) - 1, damped to +-NEUTRAL_DAMPING when the text holds no opinion cue."""
        if not normalise(text):
            return 0.0
        found = self.features(text)
        logit = self.logit(found)
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
