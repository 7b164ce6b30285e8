"""Answers from the shop's own data: `Answerer(Knowledge.from_settings(settings)).answer(text, language, now)`.

knowledge.py gathers the products, sales and FAQ entries; products.py finds the product a question names;
vocabulary.py holds the words that ask for each fact; wording.py says the answer in English or Chinese;
answerer.py decides (answered, handed over with a reason, or not a question it handles); samples.py gives the
longest answers the data can produce, to check an `answer` template's length before anyone asks.
"""

from __future__ import annotations

from bot.domains.conversations.answers.answerer import Answerer
from bot.domains.conversations.answers.knowledge import Knowledge, ProductFacts, Sale
from bot.domains.conversations.answers.model import (
    ANSWERED,
    HANDOVER,
    NO_DATA,
    NOT_HANDLED,
    NOT_SOLD,
    REASONS,
    WHICH_PRODUCT,
    Answer,
)
from bot.domains.conversations.answers.samples import sample_answers

__all__ = [
    "ANSWERED",
    "HANDOVER",
    "NOT_HANDLED",
    "NOT_SOLD",
    "NO_DATA",
    "REASONS",
    "WHICH_PRODUCT",
    "Answer",
    "Answerer",
    "Knowledge",
    "ProductFacts",
    "Sale",
    "sample_answers",
]
