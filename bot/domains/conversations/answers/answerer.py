"""Answers a customer's question from the shop's own data, or says why a person should (pure: no store, no platform).

The order of the checks, each stopping at the first that decides:

1. chit-chat that only looks like a question ("who else loves this lamp?", "在吗") and no product fact or FAQ
   asked: not a question it handles; a text with no question in it either;
2. a question the data cannot answer though it sounds close ("where is my order", "back in stock", "student
   discount", "货到付款"): handed over;
3. a FAQ entry (its keywords; where a keyword and a product cue overlap, the longer phrase counts, so "how much
   is shipping" is shipping and "how long is the cord" is a size), unless the question is about a sale's dates;
4. a product fact (price, stock, size, material, colour, link): a kind of product no product is ("sofa", "floor
   lamp", a "wool blanket" when the blanket is linen) is handed over as not sold; one product for sure: the fact,
   or handed over when the data lacks it; several or only a vague word ("the lamp"): handed over, not sure which;
5. a sale: the running one (until when, the discount), else the next, else the last that ended;
6. any other question: handed over, the data does not answer it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime

from bot.domains.conversations.answers import vocabulary as vocab
from bot.domains.conversations.answers import wording
from bot.domains.conversations.answers.knowledge import Knowledge
from bot.domains.conversations.answers.model import (
    NO_DATA,
    NOT_SOLD,
    PRODUCT_TOPICS,
    SALE_TOPIC,
    WHICH_PRODUCT,
    Answer,
    answered,
    handover,
    not_handled,
)
from bot.domains.conversations.answers.products import Found, ProductIndex
from bot.domains.conversations.answers.text import Match, Parsed, PhraseSet, Speller, leftovers, parse, strongest

logger = logging.getLogger(__name__)

_ORDER_NUMBER = re.compile(r"#\s?\d{3,}|\b\d{6,}\b")
_ZH_FILLER = re.compile(
    r"[的了吗呢么呀啊吧是有还个一请想问下求它这那款件们你我您和在多少什么几哪怎样呢，。？！?!,.~\s\d]|这个|那个|现在|一下"
)
# kinds of the answerer's own phrases ("@" keeps them apart from topics and FAQ names)
CHITCHAT, NO_DATA_CUE, UNSOLD, MATERIAL, SALE, TIMING, QUESTION, COLOUR = (
    "@chitchat", "@nodata", "@unsold", "@material", "@sale", "@timing", "@question", "@colour",
)  # fmt: skip


class Answerer:
    """`Answerer(knowledge).answer(text, language, now)`. Build one per config (it indexes the data once)."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.products = ProductIndex(knowledge.products)
        self.cues = PhraseSet()
        for topic, phrases in vocab.PRODUCT_CUES.items():
            self.cues.add(topic, [*phrases["en"], *phrases["zh"]])
        for item in knowledge.faq:
            self.cues.add(f"faq={item.name}", [*item.keywords.get("en", ()), *item.keywords.get("zh", ())])
        for kind, table in (
            (SALE, vocab.SALE_CUES),
            (TIMING, vocab.SALE_TIMING),
            (NO_DATA_CUE, vocab.NO_DATA_CUES),
            (UNSOLD, vocab.UNSOLD),
            (MATERIAL, vocab.MATERIALS),
            (CHITCHAT, vocab.CHITCHAT),
            (QUESTION, vocab.QUESTION_WORDS),
            (COLOUR, vocab.COLOURS),
        ):
            self.cues.add(kind, [*table["en"], *table["zh"]])
        words = self.cues.words() | self.products.words()
        self.speller = Speller(words, self.cues.pairs() | self.products.pairs(), keep=vocab.STOPWORDS)
        self._faq = {item.name: item for item in knowledge.faq}

    def answer(self, text: str, language: str, now: datetime) -> Answer:
        lang = "zh" if language == "zh" else "en"
        parsed = parse(text or "", self.speller)
        found = self.cues.find(parsed) + self.products.matches(parsed)
        timing = [m for m in found if m.kind == TIMING]
        asking = [m for m in found if m.kind == QUESTION]
        # two pools: the cues weigh against each other, the product words against the kinds of products and
        # materials around them ("floor lamp" over "lamp"), so a long cue ("how much ... hold") hides no product
        products = [m for m in found if m.kind[0].isdigit() or m.kind in (UNSOLD, MATERIAL)]
        cues = [m for m in found if not (m.kind[0].isdigit() or m.kind in (UNSOLD, MATERIAL, TIMING, QUESTION))]
        matches = strongest(cues) + strongest(products)
        kinds = {m.kind for m in matches}
        faq = [m for m in matches if m.kind.startswith("faq=")]
        facts_asked = [m for m in matches if m.kind in PRODUCT_TOPICS]
        sale = [m for m in matches if m.kind == SALE]
        asked = [*faq, *facts_asked, *sale]
        if lang == "en" and asked and all(m.space == "zh" for m in asked):
            lang = "zh"  # "Mizu carafe 什么材质": the question is asked in Chinese, whatever the letters
        if CHITCHAT in kinds and not faq and not facts_asked and not (sale and timing):
            return not_handled(lang)
        if not (parsed.asks or asking or faq or facts_asked or sale):
            return not_handled(lang)
        if any(m.kind == NO_DATA_CUE for m in found) or _ORDER_NUMBER.search(parsed.folded):
            return handover(lang, NO_DATA)
        if faq and not (sale and timing and not facts_asked):
            return self._faq_answer(faq, lang)
        if facts_asked:
            return self._product_answer(parsed, matches, facts_asked, lang, now)
        if sale:
            return self._sale_answer(lang, now)
        if UNSOLD in kinds:
            return handover(lang, NOT_SOLD)
        return handover(lang, NO_DATA)

    # -------------------------------------------------------------------------------------------- topics

    def _faq_answer(self, faq: Sequence[Match], language: str) -> Answer:
        """The entry with the longest matched phrase (the first in the config on a tie)."""
        order = {name: n for n, name in enumerate(self._faq)}
        best = max(faq, key=lambda m: (len(m.phrase), -order[m.kind.removeprefix("faq=")]))
        item = self._faq[best.kind.removeprefix("faq=")]
        return answered(language, item.topic, item.answer(language), {"faq": item.name, "matched": best.phrase})

    def _sale_answer(self, language: str, now: datetime) -> Answer:
        text, facts = wording.sale(self.knowledge.sales, language, now)
        return answered(language, SALE_TOPIC, text, facts)

    def _product_answer(
        self, parsed: Parsed, matches: Sequence[Match], asked: Sequence[Match], language: str, now: datetime
    ) -> Answer:
        topic = _main_topic(asked)
        if any(m.kind == UNSOLD for m in matches):
            return handover(language, NOT_SOLD, topic)
        found = self.products.resolve(matches)
        if found.sure is None:
            return self._unsure(parsed, matches, found, language, topic)
        materials = [m for m in matches if m.kind == MATERIAL]
        if self.products.material_conflict(found.sure, found.matches, materials):
            return handover(language, NOT_SOLD, topic)
        product = self.products.products[found.sure]
        colours = [m.phrase for m in matches if m.kind == COLOUR]
        if topic == "stock" and colours and _counts(product.field("stock")):
            # in stock, but in that colour? the data counts the product, not each colour
            offered = f"{product.field('colour') or ''} {product.field('colour', 'zh') or ''}".casefold()
            if all(colour.casefold() in offered for colour in colours):
                return handover(language, NO_DATA, topic, {"product": product.name, "colour": colours[0]})
            topic = "colour"  # a colour it does not come in: say the ones it does
        if topic == "price":
            worded = wording.price(product, language, now)
        elif topic == "stock":
            worded = wording.stock(product, language)
        elif topic == "link":
            worded = wording.link(product, language)
        else:
            worded = wording.field(topic, product, language)
        if worded is None:
            return handover(language, NO_DATA, topic, {"product": product.name})
        text, facts = worded
        return answered(language, topic, text, facts, product.as_context())

    def _unsure(self, parsed: Parsed, matches: Sequence[Match], found: Found, language: str, topic: str) -> Answer:
        if found.named:
            return handover(
                language,
                WHICH_PRODUCT,
                topic,
                {"candidates": [self.products.products[i].name for i in found.candidates]},
            )
        if any(True for _ in leftovers(parsed, matches, vocab.STOPWORDS)) or _zh_leftover(parsed, matches):
            return handover(language, NOT_SOLD, topic)
        return handover(language, WHICH_PRODUCT, topic)


def _counts(stock: object) -> bool:
    """A stock count above zero (sold out is sold out in every colour)."""
    return isinstance(stock, int | float) and not isinstance(stock, bool) and stock > 0


_TOPIC_ORDER = ("size", "material", "colour", "stock", "link", "price")


def _main_topic(asked: Sequence[Match]) -> str:
    """Several facts asked: the more specific one ("is it expensive, what size is it" is a size)."""
    kinds = {m.kind for m in asked}
    return next(topic for topic in _TOPIC_ORDER if topic in kinds)


def _zh_leftover(parsed: Parsed, matches: Sequence[Match]) -> bool:
    """Two or more Chinese characters besides the matched phrases and filler words: something else is named."""
    chars = list(parsed.compact)
    for match in matches:
        if match.space == "zh":
            for i in range(match.start, min(match.end, len(chars))):
                chars[i] = " "
    rest = _ZH_FILLER.sub("", "".join(chars).replace(" ", ""))
    return sum(1 for c in rest if "\u4e00" <= c <= "\u9fff") >= 2
