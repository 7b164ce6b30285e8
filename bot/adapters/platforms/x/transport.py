"""X's HTTP transport under tweepy: requests to `base_url` instead of api.twitter.com (a sandbox or a proxy), a
default timeout, reads retried, and the endpoint names rate limits are kept under."""

from __future__ import annotations

import logging
import re
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

for _name in ("tweepy", "requests_oauthlib", "oauthlib", "urllib3"):
    # tweepy logs request headers (tokens) at DEBUG.
    logging.getLogger(_name).setLevel(logging.WARNING)
logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # one line per transport retry of a read

X_HOST = "https://api.twitter.com"
_NUMERIC_SEGMENT = re.compile(r"/\d+(?:-\d+)?(?=/|$)")

# Reads are safe to repeat: a GET that failed with a 5xx, a reset or a timeout is tried twice more at once, so a
# lookup over several pages survives a flaky API. Writes are never repeated here (their outcome may be unknown:
# the outbox reconciles them), and a 429 is never retried (no request before the reset it announces).
READ_RETRY = Retry(
    total=2,
    connect=2,
    read=2,
    status=2,
    other=0,
    allowed_methods=frozenset({"GET"}),
    status_forcelist=(500, 502, 503, 504),
    backoff_factor=0.1,
    raise_on_status=False,
    respect_retry_after_header=False,
)


class RoutingAdapter(HTTPAdapter):
    """Rewrites https://api.twitter.com to `base_url` (sandbox), applies a default timeout, retries reads."""

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(max_retries=READ_RETRY)
        self._base = base_url.rstrip("/") if base_url else None
        self._timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        if self._base is not None and request.url and request.url.startswith(X_HOST):
            request.url = self._base + request.url[len(X_HOST) :]
            proxies = {}
        return super().send(
            request, stream=stream, timeout=timeout or self._timeout, verify=verify, cert=cert, proxies=proxies
        )


def endpoint_of(method: str, url: str) -> str:
    """'POST https://api.twitter.com/2/users/123/tweets?x=1' -> 'POST /2/users/:id/tweets'."""
    path = url.split("://", 1)[-1]
    path = path[path.find("/") :] if "/" in path else "/"
    path = path.split("?", 1)[0]
    version, _, rest = path.lstrip("/").partition("/")
    return f"{method} /{version}{_NUMERIC_SEGMENT.sub('/:id', '/' + rest) if rest else ''}"


def never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the connection was never established (refused, DNS, connect timeout): nothing was sent."""
    from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (NewConnectionError, ConnectTimeoutError, NameResolutionError, ConnectionRefusedError)):
            return True
        todo.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        todo.extend(a for a in current.args if isinstance(a, BaseException))
    return False
