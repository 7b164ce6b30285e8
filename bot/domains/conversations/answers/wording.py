"""The answers' words, in English and Chinese, from the facts (prices in the campaign's currency, dates in the
sale's timezone). Each function returns (text, facts) or None when the data lacks the fact."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domains.conversations.answers.knowledge import ProductFacts, Sale

LOW_STOCK = 10  # at most this many left: say how many


def money(amount: float, currency: str) -> str:
    number = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    return f"{currency}{number}"


def day(moment: datetime, language: str) -> str:
    return f"{moment.month}月{moment.day}日" if language == "zh" else f"{moment.day} {moment.strftime('%b')}"


def _link(product: ProductFacts, language: str) -> str:
    if not product.url:
        return ""
    return f"：{product.url}" if language == "zh" else f": {product.url}"


Worded = tuple[str, dict[str, Any]]


def price(product: ProductFacts, language: str, now: datetime) -> Worded | None:
    if product.price is None:
        return None
    name, cur = product.display_name(language), product.currency
    usual = money(product.price, cur)
    facts: dict[str, Any] = {"product": product.name, "price": product.price, "url": product.url, "currency": cur}
    offer = product.offer(now)
    if offer is not None:
        sale, until = offer.sale, offer.sale.last_day()
        facts.update(price=offer.price, usual_price=product.price, sale=sale.name("en"))
        now_price = money(offer.price, cur)
        if language == "zh":
            end = f"，活动至{day(until, 'zh')}" if until else ""
            return f"{name}{sale.name('zh')}到手价{now_price}（原价{usual}）{end}{_link(product, language)}", facts
        end = f" until {day(until, 'en')}" if until else ""
        text = (
            f"The {name} is {now_price} in our {sale.name('en')} sale{end} (usually {usual}){_link(product, language)}"
        )
        return text, facts
    was = product.field("was")
    if isinstance(was, int | float) and was > product.price:
        facts["was"] = was
        if language == "zh":
            return f"{name}现价{usual}（原价{money(was, cur)}）{_link(product, language)}", facts
        return f"The {name} is {usual} at the moment (was {money(was, cur)}){_link(product, language)}", facts
    coming = product.next_offer(now)
    if coming is not None and coming.sale.start is not None:
        sale, start = coming.sale, coming.sale.start.astimezone(coming.sale.timezone)
        facts.update(next_price=coming.price, next_sale=sale.name("en"))
        if language == "zh":
            return (
                f"{name}现价{usual}，{day(start, 'zh')}起{sale.name('zh')}活动价{money(coming.price, cur)}"
                f"{_link(product, language)}"
            ), facts
        return (
            f"The {name} is {usual}, and {money(coming.price, cur)} in our {sale.name('en')} sale from "
            f"{day(start, 'en')}{_link(product, language)}"
        ), facts
    if language == "zh":
        return f"{name}的价格是{usual}{_link(product, language)}", facts
    return f"The {name} is {usual}{_link(product, language)}", facts


def stock(product: ProductFacts, language: str) -> Worded | None:
    count = product.field("stock")
    if not isinstance(count, int | float) or isinstance(count, bool):
        return None
    name = product.display_name(language)
    facts = {"product": product.name, "stock": count, "in_stock": count > 0, "url": product.url}
    if count <= 0:
        if language == "zh":
            return f"抱歉，{name}目前已售罄。", facts
        return f"Sorry, the {name} is sold out at the moment.", facts
    if count <= LOW_STOCK:
        left = int(count)
        if language == "zh":
            return f"{name}有现货，仅剩{left}件{_link(product, language)}", facts
        return f"Yes, the {name} is in stock, only {left} left{_link(product, language)}", facts
    if language == "zh":
        return f"{name}有现货{_link(product, language)}", facts
    return f"Yes, the {name} is in stock{_link(product, language)}", facts


_FIELD_WORDS = {
    "size": ("The {name} measures {value}.", "{name}的尺寸：{value}。"),
    "material": ("The {name} is made of {value}.", "{name}的材质是{value}。"),
    "colour": ("The {name} comes in {value}.", "{name}的颜色：{value}。"),
}


def field(topic: str, product: ProductFacts, language: str) -> Worded | None:
    value = product.field(topic, language)
    if value in (None, ""):
        return None
    en, zh = _FIELD_WORDS[topic]
    text = (zh if language == "zh" else en).format(name=product.display_name(language), value=value)
    return text, {"product": product.name, topic: value, "url": product.url}


def link(product: ProductFacts, language: str) -> Worded | None:
    if not product.url:
        return None
    name = product.display_name(language)
    text = f"{name}的购买链接：{product.url}" if language == "zh" else f"Here is the {name}: {product.url}"
    return text, {"product": product.name, "url": product.url}


def sale(sales: tuple[Sale, ...], language: str, now: datetime) -> Worded:
    running = [s for s in sales if s.running(now)]
    if running:
        current = min(running, key=lambda s: s.end or datetime.max.replace(tzinfo=now.tzinfo))
        until = current.last_day()
        facts = _sale_facts(current, active=True)
        discount = current.discount(language)
        url = f" {current.url}" if current.url else ""
        if language == "zh":
            end = f"，{day(until, 'zh')}结束" if until else ""
            deal = f"：{discount}" if discount else ""
            return f"{current.name('zh')}活动正在进行中{end}{deal}。{url}".strip(), facts
        end = f" until {day(until, 'en')}" if until else ""
        deal = f": {discount}" if discount else ""
        return f"Our {current.name('en')} sale is on{end}{deal}.{url}", facts
    coming = sorted((s for s in sales if s.upcoming(now)), key=lambda s: s.start or now)
    if coming:
        nxt = coming[0]
        assert nxt.start is not None
        start = nxt.start.astimezone(nxt.timezone)
        until = nxt.last_day()
        facts = _sale_facts(nxt, active=False)
        discount = nxt.discount(language)
        if language == "zh":
            end = f"至{day(until, 'zh')}" if until else ""
            deal = f"：{discount}" if discount else ""
            return f"现在没有活动。{nxt.name('zh')}活动{day(start, 'zh')}开始{end}{deal}。", facts
        end = f" to {day(until, 'en')}" if until else ""
        deal = f": {discount}" if discount else ""
        return f"No sale right now. Our {nxt.name('en')} sale runs from {day(start, 'en')}{end}{deal}.", facts
    ended = sorted((s for s in sales if s.end is not None and s.end <= now), key=lambda s: s.end or now)
    if ended:
        last = ended[-1]
        until = last.last_day()
        assert until is not None
        facts = _sale_facts(last, active=False)
        if language == "zh":
            return f"现在没有活动，{last.name('zh')}活动已于{day(until, 'zh')}结束。", facts
        return f"There is no sale on right now: our {last.name('en')} sale ended on {day(until, 'en')}.", facts
    facts = {"sale": None, "active": False}
    return ("现在没有进行中的活动。" if language == "zh" else "There is no sale on right now."), facts


def _sale_facts(sale: Sale, *, active: bool) -> dict[str, Any]:
    return {
        "sale": sale.name("en"),
        "sale_zh": sale.name("zh"),
        "active": active,
        "start": sale.start.isoformat() if sale.start else None,
        "end": sale.end.isoformat() if sale.end else None,
        "discount": sale.discount("en"),
        "url": sale.url,
    }
