"""The filters post and reply templates use: hashtags, UTM parameters, prices, rotation, weighted truncation."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jinja2
from jinja2 import pass_context
from jinja2.runtime import Context

from bot.core import text as textrules


def hashtag(word: Any) -> str:
    """'Double 11' -> '#Double11', 'new arrivals' -> '#NewArrivals', '双十一 好价' -> '#双十一好价'."""
    text = unicodedata.normalize("NFC", str(word)).strip().lstrip("#＃")
    words = [w for w in re.split(r"[^\w]+", text) if w]
    if len(words) > 1:
        words = [w[:1].upper() + w[1:] if w[:1].isascii() else w for w in words]
    tag = "".join(words)
    return "#" + tag if tag else ""


def hashtags(words: Sequence[Any] | str) -> str:
    if isinstance(words, str):
        words = [words]
    seen: list[str] = []
    for word in words:
        tag = hashtag(word)
        if tag and tag.lower() not in (s.lower() for s in seen):
            seen.append(tag)
    return " ".join(seen)


def add_utm(url: str, params: Mapping[str, Any]) -> str:
    """Add utm_* parameters to `url`, keeping its query and any utm_* value it already has."""
    parts = urlsplit(str(url))
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    for key, value in params.items():
        if value is None or value == "":
            continue
        full = key if key.startswith("utm_") else f"utm_{key}"
        if full not in present:
            query.append((full, str(value)))
            present.add(full)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


@pass_context
def _utm_filter(context: Context, url: str, **overrides: Any) -> str:
    params = dict(context.get("utm") or {})
    for key, value in overrides.items():
        params[key.removeprefix("utm_")] = value
    return add_utm(url, params)


def format_price(value: Any, currency: str = "$", decimals: int = 2) -> str:
    if value is None or isinstance(value, jinja2.Undefined):
        raise ValueError("price filter got no value (the product has no price)")
    amount = float(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}{currency}{abs(amount):,.{int(decimals)}f}"


@pass_context
def _price_filter(context: Context, value: Any, currency: str | None = None, decimals: int = 2) -> str:
    return format_price(value, currency if currency is not None else context.get("currency", "$"), decimals)


@pass_context
def _pick_filter(context: Context, items: Sequence[Any]) -> Any:
    """items[sequence % len(items)]: rotate openers, emojis, calls to action with the slot sequence."""
    if not items:
        raise ValueError("pick got an empty list")
    return items[int(context.get("sequence", 0)) % len(items)]


def _truncate_filter(value: Any, limit: int = textrules.X_MAX_WEIGHTED_LENGTH, ellipsis: str = "…") -> str:
    return textrules.truncate_weighted(str(value), int(limit), ellipsis)


FILTERS: dict[str, Callable[..., Any]] = {
    "utm": _utm_filter,
    "price": _price_filter,
    "hashtag": hashtag,
    "hashtags": hashtags,
    "truncate_weighted": _truncate_filter,
    "pick": _pick_filter,
}
