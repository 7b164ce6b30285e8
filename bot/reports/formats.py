"""How the report pages print numbers, and `render`: a page from its template (bot/reports/templates)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from bot.adapters.templating.pages import page_renderer
from bot.reports.palette import colour


def finite(value: Any, default: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def num(value: float, digits: int = 3) -> str:
    number = finite(value, math.nan)
    return "—" if math.isnan(number) else f"{number:.{digits}f}"


def pct(value: float) -> str:
    number = finite(value, math.nan)
    return "—" if math.isnan(number) else f"{number * 100:.1f}%"


def coord(value: float) -> str:
    """An SVG coordinate."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def when(moment: datetime) -> str:
    text = moment.isoformat(sep=" ", timespec="seconds")
    return text.replace("+00:00", " UTC")


render = page_renderer(filters={"count": count, "num": num, "pct": pct, "coord": coord, "colour": colour})
