"""The filters post and reply templates use: hashtags, UTM parameters, prices, rotation, weighted truncation."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
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


# Attribution (docs/outcomes.md "Attribution"): a campaign post's links name its variant in utm_content and its slot
# in utm_term, the two standard UTM fields every shop analytics tool and order export keeps (a custom parameter
# such as sb_slot is dropped by most of them). utm_content "v1" is variant 1 as `socialbot posts report` names it;
# utm_term "20261111T0200Z" is the slot's time in UTC (ISO 8601 basic format: no ':' to percent-encode, so it
# reads the same in a landing URL as in a CSV column; seconds only when the slot has them).
VARIANT_PREFIX = "v"
_SLOT_TERM = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})[T ]?(\d{2}):?(\d{2})(?::?(\d{2}))?(?:Z|\+00:?00)?$", re.IGNORECASE)


def variant_content(variant: int | str) -> str:
    """utm_content of a variant: 0 -> 'v0' (the label the report shows: 'Variant 0')."""
    return f"{VARIANT_PREFIX}{variant}"


def parse_variant_content(value: str | None) -> str | None:
    """The variant label a utm_content names ('v1' -> '1'), None when it is not one of ours (a template's own)."""
    text = (value or "").strip().lower()
    if text.startswith(VARIANT_PREFIX) and text[1:].isdigit():
        return str(int(text[1:]))
    return None


def slot_term(slot_at: datetime) -> str:
    """utm_term of a slot: its UTC time as '20261111T0200Z' ('20261111T020030Z' when it has seconds)."""
    moment = slot_at.astimezone(UTC) if slot_at.tzinfo is not None else slot_at
    return moment.strftime("%Y%m%dT%H%M%SZ" if moment.second else "%Y%m%dT%H%MZ")


def parse_slot_term(value: str | None) -> datetime | None:
    """The slot (aware, UTC) a utm_term names ('20261111T0200Z', also '2026-11-11T02:00Z'); None when it is not
    a slot time (a template's own term)."""
    match = _SLOT_TERM.match((value or "").strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None


def utm_of_url(url: str) -> dict[str, str]:
    """The utm_* parameters of a URL (a landing URL in an orders or visits CSV), without the prefix; the first
    value of a repeated one. Raises ValueError for a URL that cannot be parsed."""
    found: dict[str, str] = {}
    for key, value in parse_qsl(urlsplit(str(url).strip()).query, keep_blank_values=False):
        name = key.strip().lower()
        if name.startswith("utm_") and value.strip():
            found.setdefault(name.removeprefix("utm_"), value.strip())
    return found


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
