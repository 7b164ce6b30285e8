"""Which product a question is about, or that it is not sure.

The evidence for a product, from its own data only:
* its model name, the first word of its English name ("Kumo", typos corrected), or in Chinese that name's first
  part followed by the start of the rest ("云 亚麻…");
* its kind, strong: two or more words of its English name ("table lamp", "bath set"), its Chinese name or the
  kind part of it ("陶瓷台灯", or close to it: "陶瓷台登"), or one of the team's `aliases` ("blanket", "毯子");
* its kind, weak: the last word of its English name alone ("table", "light").

Levels: 3 = name and kind (or the whole name), 2 = name alone or a strong kind alone, 1 = a weak kind alone. One
product at the highest level of 2 or more is the one; several at that level, or only a weak kind: not sure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.adapters import fuzzy
from bot.domains.conversations.answers.knowledge import ProductFacts, has_han
from bot.domains.conversations.answers.text import Match, Parsed, PhraseSet, fold, phrase_words, strongest

FUZZY_ZH_MIN = 75  # partial similarity of a Chinese name of 4+ characters inside the text
_PARENS = re.compile(r"[(（][^)）]*[)）]")
_SPACES = re.compile(r"\s+")

BRAND, STRONG, WEAK, FULL = "brand", "strong", "weak", "full"


@dataclass(frozen=True, slots=True)
class Found:
    """The products a question names: `sure` (one product) or `candidates` (not sure between them), with the
    matches that named them (`matches`, for what else the text says)."""

    sure: int | None
    candidates: tuple[int, ...]
    level: int
    matches: tuple[Match, ...]

    @property
    def named(self) -> bool:
        return self.level > 0


def _words(text: str) -> list[str]:
    return [w for w in phrase_words(_PARENS.sub(" ", text)) if w != "..."]


class ProductIndex:
    def __init__(self, products: Sequence[ProductFacts]) -> None:
        self.products = tuple(products)
        self.phrases = PhraseSet()
        self._zh_names: list[tuple[int, str]] = []
        self._materials: list[tuple[set[str], str]] = []
        for index, product in enumerate(self.products):
            self._index(index, product)

    def _index(self, index: int, product: ProductFacts) -> None:
        add = self.phrases.add
        words = _words(product.name)
        if len(words) >= 2:
            add(f"{index}:{BRAND}", [words[0]])
            add(f"{index}:{FULL}", [" ".join(words)])
            kind = words[1:]
            if len(kind) >= 2:
                add(f"{index}:{STRONG}", [" ".join(kind), " ".join(kind[-2:])])
            else:
                add(f"{index}:{WEAK}", kind)
            add(f"{index}:{WEAK}", [kind[-1]])
        for alias in product.aliases:
            add(f"{index}:{STRONG}", [alias])
        if product.name_zh:
            name_zh = _PARENS.sub("", fold(product.name_zh)).strip()
            parts = name_zh.split()
            add(f"{index}:{FULL}", [_SPACES.sub("", name_zh)])
            rest = [p for p in parts if has_han(p)]
            if len(parts) >= 2 and len(parts[0]) <= 2 and has_han(parts[0]):
                add(f"{index}:{BRAND}", [parts[0] + parts[1][:2]])
                rest = parts[1:]
            for part in rest:
                if len(part) >= 2:
                    add(f"{index}:{STRONG}", [part])
                    if len(part) >= 4:
                        self._zh_names.append((index, part))
        materials = {w for w in _words(str(product.field("material") or "")) + words}
        zh = fold(f"{product.field('material', 'zh') or ''} {product.name_zh or ''}")
        self._materials.append((materials, zh))

    def words(self) -> set[str]:
        return self.phrases.words()

    def pairs(self) -> set[tuple[str, str]]:
        return self.phrases.pairs()

    def matches(self, parsed: Parsed) -> list[Match]:
        found = self.phrases.find(parsed)
        named = {int(m.kind.split(":")[0]) for m in found if m.space == "zh"}
        for index, part in self._zh_names:
            if index in named or part in parsed.compact:
                continue
            if fuzzy.partial_similarity(part, parsed.compact) >= FUZZY_ZH_MIN:
                start = _fuzzy_start(part, parsed.compact)
                found.append(Match(f"{index}:{STRONG}", "zh", start, start + len(part), part))
        return found

    def resolve(self, matches: Iterable[Match]) -> Found:
        """The product the (overlap-resolved) product matches name, or the candidates when not sure."""
        kinds: dict[int, set[str]] = {}
        used: list[Match] = []
        for match in matches:
            index, _, kind = match.kind.partition(":")
            if kind in (BRAND, STRONG, WEAK, FULL) and index.isdigit():
                kinds.setdefault(int(index), set()).add(kind)
                used.append(match)
        levels = {index: _level(found) for index, found in kinds.items()}
        if not levels:
            return Found(None, (), 0, ())
        top = max(levels.values())
        best = tuple(sorted(i for i, level in levels.items() if level == top))
        sure = best[0] if top >= 2 and len(best) == 1 else None
        return Found(sure, best, top, tuple(used))

    def material_conflict(self, index: int, product_matches: Sequence[Match], materials: Sequence[Match]) -> bool:
        """A material written next to the product's words that is not the product's own ("wool blanket" for a
        linen throw): another product."""
        own_en, own_zh = self._materials[index]
        for material in materials:
            if not any(material.near(m) for m in product_matches if m.kind.startswith(f"{index}:")):
                continue
            word = material.phrase.casefold()
            if material.space == "en" and word not in own_en:
                return True
            if material.space == "zh" and word not in own_zh:
                return True
        return False


def _level(kinds: set[str]) -> int:
    if FULL in kinds or (BRAND in kinds and (STRONG in kinds or WEAK in kinds)):
        return 3
    if BRAND in kinds or STRONG in kinds:
        return 2
    return 1


def _fuzzy_start(part: str, text: str) -> int:
    """Where in `text` the window most like `part` starts (for the match's span)."""
    best, where = -1.0, 0
    for start in range(max(1, len(text) - len(part) + 1)):
        score = fuzzy.similarity(part, text[start : start + len(part)])
        if score > best:
            best, where = score, start
    return where


def product_matches(matches: Sequence[Match]) -> list[Match]:
    return [m for m in matches if m.kind.split(":")[0].isdigit()]


def resolved(matches: Sequence[Match]) -> list[Match]:
    return strongest(matches)
