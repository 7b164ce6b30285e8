"""The reports' HTML pages: an autoescaping Jinja2 environment over the templates packaged in bot/reports.

One escaping policy for every page. Each value a template prints is first stripped of the characters HTML and
XML cannot carry (C0/C1 controls but tab and newline, lone surrogates, non-characters), then HTML-escaped,
quotes too (safe in text and in attributes). The `bdi` filter also isolates user text from the text around it,
so right-to-left or bidi-override characters cannot reorder the page. Templates print values with ``{{ }}``
only (no ``|safe``); a filter that builds markup escapes what it puts in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

# C0/C1 controls (but tab and newline), lone surrogates and non-characters: neither HTML nor XML carries them.
UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def clean(value: object) -> str:
    """``value`` as text without the characters HTML and XML cannot carry."""
    return UNSAFE.sub("", str(value))


def _finalize(value: Any) -> Any:
    return value if isinstance(value, Markup) else clean(value)


def bdi(value: object) -> Markup:
    """Cleaned, escaped user text isolated from the text around it (right-to-left, bidi overrides)."""
    return Markup("<bdi>{}</bdi>").format(clean(value))


def page_environment(
    package: str = "bot.reports", filters: Mapping[str, Callable[..., Any]] | None = None
) -> Environment:
    """An environment over `package`/templates with the escaping policy above, plus `filters`."""
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(bdi=bdi, **(filters or {}))
    return env


def page_renderer(
    package: str = "bot.reports", filters: Mapping[str, Callable[..., Any]] | None = None
) -> Callable[..., str]:
    """`render(template, **context)` -> the page, over page_environment(package, filters) (built at first use)."""

    @cache
    def environment() -> Environment:
        return page_environment(package, filters)

    def render(template: str, /, **context: Any) -> str:
        return environment().get_template(template).render(context)

    return render
