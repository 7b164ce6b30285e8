"""The one XRPC client for Bluesky, over httpx: the adapter and the local-network test world both use it.

Every failure is mapped to bot.core.errors here, once: transport exceptions by the table below (as httpx maps
httpcore's), HTTP answers by their status and XRPC error name. A 429 blocks its endpoint until the reset the
server announced; every answer's ratelimit-* headers are kept for `rate_limits()`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from bot.adapters.platforms.base import RateLimitBlocks, limit_status, retry_at
from bot.core.clock import Clock, SystemClock
from bot.core.errors import AuthError, PlatformError, RateLimited, Rejected, TransientError
from bot.core.models import RateLimitStatus

logger = logging.getLogger(__name__)
# httpcore logs response headers at DEBUG; keep it quiet like every transport logger.
logging.getLogger("httpcore").setLevel(logging.WARNING)

PLATFORM = "bluesky"
RATE_WINDOW = timedelta(minutes=5)  # Bluesky's usual window, for a 429 that does not say when it resets
AUTH_ERRORS = ("AuthenticationRequired", "AccountTakedown", "AccountDeactivated", "AuthFactorTokenRequired")
NOT_PROCESSED = (502, 503, 504)  # a gateway answered: the server did not take the request

# httpx's exception -> what the message says, and whether a write may have been processed. First match wins.
TRANSPORT_ERRORS: tuple[tuple[type[httpx.TransportError], str, bool], ...] = (
    (httpx.ConnectError, "cannot connect: {exc}", False),
    (httpx.ConnectTimeout, "cannot connect: {exc}", False),
    (httpx.PoolTimeout, "cannot connect: {exc}", False),
    (httpx.TimeoutException, "timeout", True),
    (httpx.TransportError, "{kind}: {exc}", True),  # RemoteProtocolError, ReadError, WriteError...
)


class XrpcError(Rejected):
    """A 4xx (or 501) XRPC answer, its error name in `error`; a plain Rejected to everyone else."""

    def __init__(self, reason: str, error: str, status: int) -> None:
        self.error = error
        self.status = status
        super().__init__(PLATFORM, reason)


class XrpcServerError(TransientError):
    """A 5xx answer (status in `status`); a plain TransientError to everyone else."""

    def __init__(self, message: str, status: int, *, maybe_sent: bool) -> None:
        self.status = status
        super().__init__(PLATFORM, message, maybe_sent=maybe_sent)


class SessionExpired(AuthError):
    """The bearer token has run out or cannot be verified (`error`): a new session can fix it."""

    def __init__(self, message: str, error: str) -> None:
        self.error = error
        super().__init__(PLATFORM, message)


class XrpcClient:
    """XRPC requests to one server (`base_url`, e.g. https://bsky.social). Thread-safe."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, clock: Clock | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._clock = clock or SystemClock()
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, trust_env=False, headers={"user-agent": "socialbot"}
        )
        self._limits: dict[str, RateLimitStatus] = {}
        self.blocks = RateLimitBlocks(PLATFORM, self._clock)

    def call(
        self,
        method: str,
        nsid: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        write: bool = False,
        headers: dict[str, str] | None = None,
        token: str | Callable[[], str] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """One request; the answer's JSON object, or a bot.core.errors exception. `token` is the bearer, or what
        gives it once the endpoint is known not to be blocked (a session is made only for a request that leaves)."""
        endpoint = f"{method} {nsid}"
        self.blocks.check(endpoint)
        request_headers = dict(headers or {})
        bearer = token() if callable(token) else token
        if bearer:
            request_headers["authorization"] = f"Bearer {bearer}"
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            response = self._http.request(
                method, f"/xrpc/{nsid}", params=params, json=body, headers=request_headers, **extra
            )
        except httpx.TransportError as exc:
            raise _transport_error(endpoint, exc, write) from exc
        limits = limit_status(endpoint, response.headers, "ratelimit-")
        if limits is not None:
            self._limits[endpoint] = limits
        status = response.status_code
        if status >= 400:
            raise self._status_error(endpoint, response, write)
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError as exc:
            raise PlatformError(PLATFORM, f"{endpoint}: HTTP {status} without JSON") from exc
        return data if isinstance(data, dict) else {}

    def _status_error(self, endpoint: str, response: httpx.Response, write: bool) -> PlatformError:
        status = response.status_code
        if status == 429:
            reset_at = self._retry_at(response)
            self.blocks.block(endpoint, reset_at)
            return RateLimited(PLATFORM, f"{endpoint} rate limited", reset_at, endpoint)
        error, message = _error_body(response)
        detail = f"{endpoint}: {error or f'HTTP {status}'}: {message}" if message else f"{endpoint}: HTTP {status}"
        if renewable(status, error, message):
            return SessionExpired(detail, error)
        if status == 401 or error in AUTH_ERRORS:
            return AuthError(PLATFORM, detail)
        if status == 501:
            return XrpcError(detail, error or "MethodNotImplemented", status)
        if status >= 500:  # a 500 on a write may have been processed
            return XrpcServerError(detail, status, maybe_sent=write and status not in NOT_PROCESSED)
        return XrpcError(detail, error, status)

    def _retry_at(self, response: httpx.Response) -> datetime:
        try:
            reset = int(response.headers.get("ratelimit-reset", "0") or 0)
        except ValueError:
            reset = 0
        return retry_at(PLATFORM, reset, self._clock.now(), RATE_WINDOW)

    def rate_limits(self) -> list[RateLimitStatus]:
        return sorted(self._limits.values(), key=lambda s: s.endpoint)

    def close(self) -> None:
        self._http.close()


def renewable(status: int, error: str, message: str) -> bool:
    """A session problem a new session can fix: an expired access token, or one the server cannot verify (not
    'Bad token method'/'scope': that token is fine, it just may not call this method)."""
    if error == "ExpiredToken":
        return True
    return error == "InvalidToken" and status in (400, 401) and "method" not in message and "scope" not in message


def _transport_error(endpoint: str, exc: httpx.TransportError, write: bool) -> TransientError:
    for kind, text, maybe_sent in TRANSPORT_ERRORS:
        if isinstance(exc, kind):
            reason = text.format(exc=exc, kind=type(exc).__name__)
            return TransientError(PLATFORM, f"{endpoint}: {reason}", maybe_sent=write and maybe_sent)
    raise AssertionError("TRANSPORT_ERRORS ends with httpx.TransportError")  # pragma: no cover


def _error_body(response: httpx.Response) -> tuple[str, str]:
    """(XRPC error name, message) of a failed answer."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200]
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or ""), str(body.get("message") or "")
