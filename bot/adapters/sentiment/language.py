"""A script-based language guess: 'zh', 'en' or 'other' (no model, no vendor library)."""

from __future__ import annotations

import re

_HAN = re.compile("[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff\U00020000-\U0003134f]")
_LATIN = re.compile("[a-zA-Z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]")
_LETTER = re.compile(r"[^\W\d_]")  # any letter (Unicode word characters that are not digits or '_')


def detect_language(text: str) -> str:
    """'zh' when Han characters are at least 30% of the letters (and outnumber the other non-Latin
    letters), 'en' when Latin letters are the majority, else 'other' (no letters, RTL scripts, Japanese...)."""
    if text.isascii():  # every letter Latin: English as soon as there is one
        return "en" if _LETTER.search(text) else "other"
    letters = len(_LETTER.findall(text))
    if not letters:
        return "other"
    han = len(_HAN.findall(text))
    latin = len(_LATIN.findall(text))
    other = max(0, letters - han - latin)
    if han and han * 10 >= letters * 3 and han >= other:
        return "zh"
    if latin * 2 > letters:
        return "en"
    return "other"
