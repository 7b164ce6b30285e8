"""What the shop's own data says, gathered once per config: the products of every campaign (CSV and inline, one
entry per product however many campaigns list it), the sales (enabled campaigns with `extra.sale_name`, their
windows in the campaign's timezone) and the team's FAQ entries."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.settings.faq import FaqConfig, topic_of
from bot.settings.products import Product
from bot.settings.root import Settings

logger = logging.getLogger(__name__)

_HAN = re.compile("[\u3400-\u9fff\uf900-\ufaff]")
_ALIAS_SPLIT = re.compile(r"[|;,，、]")
# columns that are not facts a customer asks about
_KNOWN = frozenset({"name", "price", "url", "aliases"})


def has_han(text: str) -> bool:
    return bool(_HAN.search(text))


@dataclass(frozen=True, slots=True)
class Sale:
    """A running or coming sale: names and discounts per language ("en", "zh"), a window (aware; end exclusive)."""

    key: str
    names: Mapping[str, str]
    discounts: Mapping[str, str]
    start: datetime | None
    end: datetime | None
    url: str | None
    timezone: ZoneInfo

    def name(self, language: str) -> str:
        return self.names.get(language) or next(iter(self.names.values()))

    def discount(self, language: str) -> str | None:
        return self.discounts.get(language) or next(iter(self.discounts.values()), None)

    def running(self, now: datetime) -> bool:
        return (self.start is None or self.start <= now) and (self.end is None or now < self.end)

    def upcoming(self, now: datetime) -> bool:
        return self.start is not None and now < self.start

    def last_day(self) -> datetime | None:
        """The last moment of the window (its exclusive end minus a second), for "until 11 Nov"."""
        return None if self.end is None else (self.end - timedelta(seconds=1)).astimezone(self.timezone)


@dataclass(frozen=True, slots=True)
class Offer:
    sale: Sale
    price: float


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """One product as customers ask about it: `fields` holds every column (material, material_zh, colour,
    size, stock, sale_price, was, ...), `aliases` the team's other words for it (the `aliases` column)."""

    name: str
    name_zh: str | None
    price: float | None
    url: str | None
    currency: str
    fields: Mapping[str, Any]
    aliases: tuple[str, ...]
    offers: tuple[Offer, ...] = ()

    def field(self, name: str, language: str = "en") -> Any:
        """A column in the customer's language (`material_zh` for Chinese, when there is one)."""
        if language == "zh":
            value = self.fields.get(f"{name}_zh")
            if value not in (None, ""):
                return value
        value = self.fields.get(name)
        return None if value == "" else value

    def display_name(self, language: str) -> str:
        return self.name_zh if language == "zh" and self.name_zh else self.name

    def offer(self, now: datetime) -> Offer | None:
        return next((o for o in self.offers if o.sale.running(now)), None)

    def next_offer(self, now: datetime) -> Offer | None:
        coming = [o for o in self.offers if o.sale.upcoming(now)]
        return min(coming, key=lambda o: o.sale.start or now) if coming else None

    def as_context(self) -> dict[str, Any]:
        return {**self.fields, "name": self.name, "name_zh": self.name_zh, "price": self.price, "url": self.url}


@dataclass(frozen=True, slots=True)
class FaqItem:
    name: str
    topic: str
    keywords: Mapping[str, tuple[str, ...]]
    answers: Mapping[str, str]

    def answer(self, language: str) -> str:
        return self.answers.get(language) or self.answers["en"]


@dataclass(frozen=True)
class Knowledge:
    products: tuple[ProductFacts, ...] = ()
    sales: tuple[Sale, ...] = ()
    faq: tuple[FaqItem, ...] = ()
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    @classmethod
    def from_settings(cls, settings: Settings) -> Knowledge:
        sales = _sales(settings)
        products = _products(settings, sales)
        faq = faq_items(settings.faq)
        logger.debug("knowledge: %d products, %d sales, %d faq entries", len(products), len(sales), len(faq))
        unique = tuple({id(sale): sale for sale in sales.values()}.values())
        return cls(tuple(products), unique, tuple(faq), settings.tz)


def faq_items(faq: FaqConfig) -> list[FaqItem]:
    return [
        FaqItem(
            name,
            topic_of(name),
            {"en": tuple(entry.keywords.en), "zh": tuple(entry.keywords.zh)},
            {"en": entry.answer.en, "zh": entry.answer.zh},
        )
        for name, entry in faq.entries.items()
    ]


def _sales(settings: Settings) -> dict[str, Sale]:
    """Campaign name -> its sale. Campaigns sharing a window and landing page are one sale in two languages."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for name, campaign in settings.campaigns.items():
        if campaign.enabled and str(campaign.extra.get("sale_name") or "").strip():
            start, end = settings.campaign_window(name)
            groups.setdefault((start, end, campaign.extra.get("landing_url")), []).append(name)
    by_campaign: dict[str, Sale] = {}
    for (start, end, url), names in groups.items():
        titles: dict[str, str] = {}
        discounts: dict[str, str] = {}
        for name in names:
            extra = settings.campaigns[name].extra
            title = str(extra["sale_name"]).strip()
            language = "zh" if has_han(title) else "en"
            titles.setdefault(language, title)
            if str(extra.get("discount") or "").strip():
                discounts.setdefault(language, str(extra["discount"]).strip())
        sale = Sale("+".join(names), titles, discounts, start, end, url, settings.campaign_timezone(names[0]))
        by_campaign.update(dict.fromkeys(names, sale))
    return by_campaign


def split_aliases(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items: Iterable[Any] = value if isinstance(value, list | tuple) else _ALIAS_SPLIT.split(str(value))
    return tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))


def _products(settings: Settings, sales: Mapping[str, Sale]) -> list[ProductFacts]:
    merged: dict[str, dict[str, Any]] = {}
    for name, campaign in settings.campaigns.items():
        sale = sales.get(name)
        for product in campaign.products:
            key = (product.url or product.name).strip().casefold()
            entry = merged.setdefault(
                key, {"product": product, "fields": {}, "aliases": [], "offers": [], "currency": None}
            )
            _merge(entry, product)
            entry["currency"] = entry["currency"] or settings.campaign_currency(name)
            sale_price = (product.model_extra or {}).get("sale_price")
            priced = isinstance(sale_price, int | float) and not isinstance(sale_price, bool)
            if sale is not None and priced and all(o.sale is not sale for o in entry["offers"]):
                entry["offers"].append(Offer(sale, float(sale_price)))
    facts = []
    for entry in merged.values():
        product: Product = entry["product"]
        fields = entry["fields"]
        name_zh = fields.get("name_zh")
        facts.append(
            ProductFacts(
                name=product.name.strip(),
                name_zh=str(name_zh).strip() if name_zh else None,
                price=fields.get("price"),
                url=fields.get("url"),
                currency=entry["currency"] or settings.currency,
                fields=dict(fields),
                aliases=tuple(dict.fromkeys(entry["aliases"])),
                offers=tuple(entry["offers"]),
            )
        )
    return facts


def _merge(entry: dict[str, Any], product: Product) -> None:
    """The first campaign to give a field keeps it; aliases add up."""
    values = {"price": product.price, "url": product.url, **(product.model_extra or {})}
    for column, value in values.items():
        if column == "aliases":
            entry["aliases"].extend(split_aliases(value))
        elif column not in _KNOWN - {"price", "url"} and value not in (None, "") and column not in entry["fields"]:
            entry["fields"][column] = value
