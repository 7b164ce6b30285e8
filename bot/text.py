"""Text rules of the platforms: weighted length, safe truncation. (Owned by the templating helper.)"""

from __future__ import annotations

from twitter_text import parse_tweet

X_MAX_WEIGHTED_LENGTH = 280


def weighted_length(text: str) -> int:
    """Length as X counts it (twitter-text v3: URLs 23, CJK and emoji 2, NFC-normalised)."""
    return int(parse_tweet(text).weightedLength)
