"""Answers the data can give, for checking `answer` templates before a customer asks: every product fact, sale
state and FAQ entry in both languages, at moments before, during and after each sale; the longest per language
and topic (what a template must fit within the platform's length with)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from bot.domains.conversations.answers import wording
from bot.domains.conversations.answers.knowledge import Knowledge
from bot.domains.conversations.answers.model import Answer, answered

LANGUAGES = ("en", "zh")


def _moments(knowledge: Knowledge, now: datetime) -> list[datetime]:
    moments = [now]
    for sale in knowledge.sales:
        if sale.start is not None:
            moments += [sale.start - timedelta(days=1), sale.start]
        if sale.end is not None:
            moments.append(sale.end)
    return moments


def all_answers(knowledge: Knowledge, now: datetime) -> Iterator[Answer]:
    moments = _moments(knowledge, now)
    for language in LANGUAGES:
        for item in knowledge.faq:
            yield answered(language, item.topic, item.answer(language), {"faq": item.name})
        for moment in moments:
            text, facts = wording.sale(knowledge.sales, language, moment)
            yield answered(language, "sale", text, facts)
        for product in knowledge.products:
            context = product.as_context()
            worded = [("stock", wording.stock(product, language)), ("link", wording.link(product, language))]
            worded += [(topic, wording.field(topic, product, language)) for topic in ("size", "material", "colour")]
            worded += [("price", wording.price(product, language, moment)) for moment in moments]
            for topic, found in worded:
                if found is not None:
                    yield answered(language, topic, found[0], found[1], context)


def sample_answers(knowledge: Knowledge, now: datetime) -> list[Answer]:
    """The longest answer per (language, topic)."""
    longest: dict[tuple[str, str | None], Answer] = {}
    for answer in all_answers(knowledge, now):
        key = (answer.language, answer.topic)
        if key not in longest or len(answer.text or "") > len(longest[key].text or ""):
            longest[key] = answer
    return list(longest.values())
