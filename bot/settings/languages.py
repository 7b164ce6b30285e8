"""Per-language texts in config.yaml: one reply speaks one language.

The rule: a mapping whose keys are all language codes (two or three lowercase letters, optionally a region:
`en`, `zh`, `pt-BR`) is a per-language text, e.g. `discount: {en: "¥30 off ¥200", zh: "满200减30"}`. Where a text
is written for one customer (a coupon, and the reply that carries it), the form in the customer's language is
used: the exact code, else its base language (`zh` for `zh-TW`), else `en`, else the first form. A plain string is
the same for every language.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from bot.core.errors import Problem

logger = logging.getLogger(__name__)

FALLBACK = "en"
_CODE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?")
# `language == "zh"`, `"zh" == language`, `language != 'en'`, `language in ("zh", "ja")` in a template's source
_COMPARED = re.compile(r"""\blanguage\s*[!=]=\s*["']([^"']+)["']|["']([^"']+)["']\s*[!=]=\s*language\b""")
_LISTED = re.compile(r"""\blanguage\s+(?:not\s+)?in\s*[(\[]([^)\]]*)[)\]]""")
_COMMENT = re.compile(r"\{#.*?#\}", re.S)


def is_language_code(key: object) -> bool:
    return isinstance(key, str) and _CODE.fullmatch(key) is not None


def is_per_language(value: object) -> bool:
    """A non-empty mapping whose keys are all language codes."""
    return isinstance(value, Mapping) and bool(value) and all(map(is_language_code, value))


def pick_form(forms: Mapping[str, Any], language: str | None) -> str:
    """The key of `forms` used for `language`: exact, base language, `en`, else the first."""
    if language in forms:
        return str(language)
    base = (language or "").split("-", 1)[0]
    if base in forms:
        return base
    return FALLBACK if FALLBACK in forms else next(iter(forms))


def in_language(value: Any, language: str | None) -> Any:
    """`value` as said to a customer speaking `language`: its form when it is a per-language text, else itself."""
    if is_per_language(value):
        return value[pick_form(value, language)]
    return value


def in_language_all(values: Mapping[str, Any], language: str | None) -> dict[str, Any]:
    """Every value of `values` in `language` (for a template's context)."""
    return {key: in_language(value, language) for key, value in values.items()}


def check_language_text(value: Any, what: str) -> Any:
    """Validate a text that may be per-language: a non-empty string, or a mapping of language codes to them."""
    if isinstance(value, Mapping):
        if not value:
            raise ValueError(f"{what} needs at least one form, e.g. {{en: ..., zh: ...}}")
        for key, form in value.items():
            if not is_language_code(key):
                raise ValueError(
                    f"{what}: {key!r} is not a language code (two or three lowercase letters, e.g. en, zh)"
                )
            if not isinstance(form, str) or not form.strip():
                raise ValueError(f"{what}: the {key} form must be a non-empty text")
    elif isinstance(value, str) and not value.strip():
        raise ValueError(f"{what} must not be empty")
    return value


def template_languages(source: str) -> dict[str, int]:
    """Languages a template's source branches on (`language == "zh"` ...) -> the first line naming each; with any
    branch, `en` is there too (the `else` everyone else reads, who is answered in `en`). Empty: one text for all."""
    text = _COMMENT.sub(lambda match: "\n" * match.group(0).count("\n"), source)
    found: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        codes = [a or b for a, b in _COMPARED.findall(line)]
        for listed in _LISTED.findall(line):
            codes += re.findall(r"""["']([^"']+)["']""", listed)
        for code in codes:
            if is_language_code(code):
                found.setdefault(code, number)
    if found:
        found.setdefault(FALLBACK, 0)
    return found


def missing_forms(value: Any, languages: Mapping[str, int]) -> list[str]:
    """The languages of `languages` a per-language `value` has no form of (it would say another language there)."""
    if not is_per_language(value):
        return []
    return [code for code in languages if pick_form(value, code) not in (code, code.split("-", 1)[0])]


_LETTERS = re.compile(r"[^\W\d_]")


def has_words(text: str) -> bool:
    """Letters in it (a language's words), not only figures and symbols such as "15%" or "¥30"."""
    return _LETTERS.search(text) is not None


def coupon_language_warnings(
    campaigns: Mapping[str, Any], config_file: str, source: Callable[[str], str]
) -> list[Problem]:
    """Coupon campaigns (`coupons.campaigns`) whose template (its text: `source(template)`) speaks several languages
    while the discount, or a per-language `extra` value, has no form for one of them: that customer would read
    another language. A plain discount with words in it is one text for all of them: a warning too."""
    warnings: list[Problem] = []
    for name, campaign in campaigns.items():
        languages = template_languages(source(campaign.template))
        if len(languages) < 2:
            continue  # one text for every language
        key = f"coupons.campaigns.{name}"
        values = [("discount", campaign.discount), *((f"extra.{k}", v) for k, v in campaign.extra.items())]
        for field_name, value in values:
            if is_per_language(value):
                for code in missing_forms(value, languages):
                    line = languages[code]
                    where = f"{campaign.template}:{line} speaks {code}" if line else f"{campaign.template} speaks en"
                    message = (
                        f"no {code} form, but {where}: a {code} customer would read the {pick_form(value, code)} "
                        f"form; add `{code}: ...`"
                    )
                    warnings.append(Problem(config_file, None, f"{key}.{field_name}", message))
            elif field_name == "discount" and isinstance(value, str) and has_words(value):
                message = (
                    f"{value!r} is one text for every language, but {campaign.template} speaks "
                    f"{', '.join(sorted(languages))}: give one form per language, e.g. "
                    'discount: {en: "¥30 off ¥200", zh: "满200减30"}'
                )
                warnings.append(Problem(config_file, None, f"{key}.discount", message))
    return warnings
