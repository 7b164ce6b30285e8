"""What a paid platform call is for: the caller names it around the call, the platform adapter records it with
the call's price in the cost ledger, and the spending cap decides by it which calls stop first.

    with spending(METRICS):
        platform.post_metrics(ids)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

# purposes, in the order spending stops as the month's cap comes near (the first stops first)
METRICS = "metrics"  # reading how our posts did
ENGAGEMENT = "engagement"  # reading who liked, reposted, quoted our posts
PROMOTION = "promotion"  # campaign posts
REPLY = "reply"  # answers to customers (mentions and DMs), and reading the mentions and DMs they answer
COMPLAINT = "complaint"  # answers to complaints
OPT_OUT = "opt_out"  # opt-out confirmations
OTHER = "other"  # anything not named (the account's own identity, look-ups)

STOP_ORDER = (METRICS, ENGAGEMENT, PROMOTION, REPLY, COMPLAINT, OPT_OUT)

_purpose: ContextVar[str] = ContextVar("socialbot_spending_purpose", default=OTHER)


@contextmanager
def spending(purpose: str) -> Iterator[None]:
    """Calls made inside are for `purpose` (one of the names above)."""
    token = _purpose.set(purpose)
    try:
        yield
    finally:
        _purpose.reset(token)


def current_purpose() -> str:
    return _purpose.get()


@dataclass(frozen=True, slots=True)
class PaidCall:
    """One paid platform call as the cost ledger keeps it."""

    at: datetime
    account: str
    platform: str
    endpoint: str
    purpose: str
    items: int
    usd: float
