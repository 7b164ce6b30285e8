"""What the answerer says about one question: answered (topic, text, facts), handed over (why), or not its kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ANSWERED = "answered"
HANDOVER = "handover"
NOT_HANDLED = "not_handled"

# handover kinds and the reason a person reads in the inbox
NOT_SOLD = "not_sold"
WHICH_PRODUCT = "which_product"
NO_DATA = "no_data"
REASONS = {
    NOT_SOLD: "a question about a product we do not sell",
    WHICH_PRODUCT: "not sure which product",
    NO_DATA: "a question the shop's data does not answer",
}

PRODUCT_TOPICS = ("price", "stock", "size", "material", "colour", "link")
SALE_TOPIC = "sale"


@dataclass(frozen=True, slots=True)
class Answer:
    """One question's outcome. Templates see `answer.text`, `answer.topic`, `answer.product` (the product's
    facts: name, name_zh, price, url, ... or None) and `answer.facts` (what the text was made from)."""

    outcome: str  # ANSWERED | HANDOVER | NOT_HANDLED
    language: str  # the language the text is in: "en" | "zh"
    topic: str | None = None  # price|stock|size|material|colour|link|sale|delivery|...|faq:<name>
    text: str | None = None  # the answer, in the customer's language
    facts: Mapping[str, Any] = field(default_factory=dict)
    product: Mapping[str, Any] | None = None
    handover: str | None = None  # NOT_SOLD | WHICH_PRODUCT | NO_DATA

    @property
    def answered(self) -> bool:
        return self.outcome == ANSWERED

    @property
    def handed_over(self) -> bool:
        return self.outcome == HANDOVER

    @property
    def reason(self) -> str | None:
        """Why a person must answer, in plain words (None unless handed over)."""
        return REASONS.get(self.handover or "")

    def as_context(self) -> dict[str, Any]:
        """Plain data for a template or a log line."""
        return {
            "outcome": self.outcome,
            "language": self.language,
            "topic": self.topic,
            "text": self.text,
            "facts": dict(self.facts),
            "product": None if self.product is None else dict(self.product),
            "reason": self.reason,
        }


def answered(
    language: str, topic: str, text: str, facts: Mapping[str, Any], product: Mapping[str, Any] | None = None
) -> Answer:
    return Answer(ANSWERED, language, topic, text, dict(facts), None if product is None else dict(product))


def handover(language: str, kind: str, topic: str | None = None, facts: Mapping[str, Any] | None = None) -> Answer:
    return Answer(HANDOVER, language, topic, None, dict(facts or {}), None, kind)


def not_handled(language: str) -> Answer:
    return Answer(NOT_HANDLED, language)
