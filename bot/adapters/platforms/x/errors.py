"""The one error boundary of the X adapter: what tweepy and requests raise, and answers without a field the adapter
needs (records.Malformed), as bot.core.errors, by a table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import requests
import tweepy

from bot.adapters.platforms.base import retry_at
from bot.adapters.platforms.x.records import Malformed
from bot.adapters.platforms.x.transport import never_connected
from bot.core.errors import (
    AuthError,
    DuplicateContent,
    NotAllowed,
    PlatformError,
    RateLimited,
    Rejected,
    TransientError,
)

PLATFORM = "x"
RATE_WINDOW = timedelta(minutes=15)
NOT_PROCESSED = (502, 503, 504)  # a gateway answered: X did not take the request
_NOT_ALLOWED_HINTS = (
    "not been mentioned",
    "otherwise engaged",
    "messaged you first",
    "not allowed to reply",
    "cannot send",
    "not-authorized",
)

# (endpoint, write, the exception, now) -> the error to raise
Mapper = Callable[[str, bool, Any, datetime], PlatformError]


def _rate_limited(endpoint: str, write: bool, exc: tweepy.TooManyRequests, now: datetime) -> PlatformError:
    reset = exc.reset_time
    if reset is None:
        try:
            reset = int(exc.response.headers.get("x-rate-limit-reset", "0") or 0)
        except ValueError:
            reset = 0
    return RateLimited(PLATFORM, f"{endpoint} rate limited", retry_at(PLATFORM, reset, now, RATE_WINDOW), endpoint)


def _forbidden(endpoint: str, write: bool, exc: tweepy.Forbidden, now: datetime) -> PlatformError:
    message = api_message(exc)
    lowered = message.lower()
    if "duplicate content" in lowered:
        return DuplicateContent(PLATFORM, message)
    if any(hint in lowered for hint in _NOT_ALLOWED_HINTS):
        return NotAllowed(PLATFORM, message)
    return Rejected(PLATFORM, message)


def _server_error(endpoint: str, write: bool, exc: tweepy.TwitterServerError, now: datetime) -> PlatformError:
    status = exc.response.status_code
    maybe = write and status not in NOT_PROCESSED  # a 500 on a write may have been processed
    return TransientError(PLATFORM, f"{endpoint}: HTTP {status}", maybe_sent=maybe)


def _connection_error(endpoint: str, write: bool, exc: requests.ConnectionError, now: datetime) -> PlatformError:
    sent = not never_connected(exc)
    return TransientError(PLATFORM, f"{endpoint}: connection error: {exc}", maybe_sent=write and sent)


def _malformed(endpoint: str, write: bool, exc: Malformed, now: datetime) -> PlatformError:
    # X took a write it answered oddly: it may well be done, so the outbox looks it up before sending again
    if write:
        return TransientError(PLATFORM, f"{endpoint}: the answer is malformed: {exc}", maybe_sent=True)
    return PlatformError(PLATFORM, f"{endpoint}: the answer is malformed: {exc}")


# First match wins: every class stands before its bases.
ERRORS: tuple[tuple[type[Exception], Mapper], ...] = (
    (Malformed, _malformed),
    (tweepy.TooManyRequests, _rate_limited),
    (tweepy.Unauthorized, lambda endpoint, write, exc, now: AuthError(PLATFORM, f"{endpoint}: {api_message(exc)}")),
    (tweepy.Forbidden, _forbidden),
    (tweepy.BadRequest, lambda endpoint, write, exc, now: Rejected(PLATFORM, api_message(exc))),
    (tweepy.NotFound, lambda endpoint, write, exc, now: Rejected(PLATFORM, api_message(exc))),
    (tweepy.TwitterServerError, _server_error),
    (
        tweepy.HTTPException,
        lambda endpoint, write, exc, now: PlatformError(PLATFORM, f"{endpoint}: {api_message(exc)}"),
    ),
    (tweepy.TweepyException, lambda endpoint, write, exc, now: PlatformError(PLATFORM, f"{endpoint}: {exc}")),
    (
        requests.exceptions.ConnectTimeout,
        lambda endpoint, write, exc, now: TransientError(PLATFORM, f"{endpoint}: connect timeout", maybe_sent=False),
    ),
    (
        requests.exceptions.ReadTimeout,
        lambda endpoint, write, exc, now: TransientError(PLATFORM, f"{endpoint}: read timeout", maybe_sent=write),
    ),
    (requests.exceptions.ConnectionError, _connection_error),
    (
        requests.exceptions.RequestException,
        lambda endpoint, write, exc, now: TransientError(PLATFORM, f"{endpoint}: {exc}", maybe_sent=write),
    ),
)
VENDOR_ERRORS = (tweepy.TweepyException, requests.exceptions.RequestException, Malformed)


def platform_error(endpoint: str, write: bool, exc: Exception, now: datetime) -> PlatformError:
    """`exc` (one of VENDOR_ERRORS) from a request to `endpoint` as a bot.core.errors exception."""
    for kind, mapper in ERRORS:
        if isinstance(exc, kind):
            return mapper(endpoint, write, exc, now)
    return PlatformError(PLATFORM, f"{endpoint}: {exc}")


def api_message(exc: tweepy.HTTPException) -> str:
    messages = list(exc.api_messages)
    if not messages:
        try:
            body = exc.response.json()
            messages = [str(body.get("detail") or body.get("title") or "")]
        except ValueError:
            messages = []
    return "; ".join(m for m in messages if m) or f"HTTP {exc.response.status_code}"
