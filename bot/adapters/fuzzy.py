"""Fuzzy string similarity (RapidFuzz): typo-tolerant matching of customers' words against the shop's own words.

Scores are 0..100. `similarity` is the normalised Indel similarity of two strings (one substitution in a
four-letter word: 75; a swapped pair of letters in "price": 80); `partial_similarity` the best similarity of
the shorter string with any same-length part of the longer one (a product name inside a longer text).
RapidFuzz is imported on first use, so nothing pays for it until a question is answered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cache
from typing import Any

logger = logging.getLogger(__name__)


@cache
def _fuzz() -> Any:
    from rapidfuzz import fuzz

    return fuzz


@cache
def _process() -> Any:
    from rapidfuzz import process

    return process


def similarity(a: str, b: str) -> float:
    return float(_fuzz().ratio(a, b))


def partial_similarity(needle: str, haystack: str) -> float:
    return float(_fuzz().partial_ratio(needle, haystack))


def closest(word: str, choices: Sequence[str], cutoff: float) -> tuple[str, float] | None:
    """The choice most similar to `word` (ties: the earlier one) when at least `cutoff`, else None."""
    found = _process().extractOne(word, choices, scorer=_fuzz().ratio, score_cutoff=cutoff)
    if found is None:
        return None
    choice, score, _ = found
    return str(choice), float(score)
