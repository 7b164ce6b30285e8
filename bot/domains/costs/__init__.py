"""What paid platform calls cost, and the monthly cap that stops them purpose by purpose (bot.domains.costs.cap)."""

from __future__ import annotations

from bot.domains.costs.cap import (
    LABELS,
    STOP_AT,
    CapStatus,
    SpendingCap,
    month_of,
    month_range,
    purpose_of,
    spend_by_account,
    status,
    usd,
)

__all__ = [
    "LABELS",
    "STOP_AT",
    "CapStatus",
    "SpendingCap",
    "month_of",
    "month_range",
    "purpose_of",
    "spend_by_account",
    "status",
    "usd",
]
