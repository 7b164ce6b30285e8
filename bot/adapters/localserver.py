"""Small HTTP servers on 127.0.0.1 (the metrics endpoints, the redemption webhook): the only uvicorn and starlette
user. Each runs uvicorn in a daemon thread (no signal handlers) with its own event loop.

Guarantees, whatever a client does (Limits):
- at most `max_connections` open connections: a new one beyond that closes the one idle the longest (one that
  has not sent a complete request), or is closed itself when every connection is busy;
- a connection that has not sent complete request headers within `request_timeout` of opening (or of its
  previous answer) is closed; a body not complete within `request_timeout` gets 408 and a close;
- a body over the route's `max_body` gets 413 before it is read; headers over `max_header_bytes` get 431 (or
  400 while they are still arriving);
- handlers run in at most `workers` threads; idle connections cost a file descriptor, never a thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    import uvicorn

logger = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Limits:
    request_timeout: float = 10.0  # seconds for complete headers after connecting, and for the whole body
    keep_alive: float = 5.0  # an idle keep-alive connection is closed after this
    max_connections: int = 64
    workers: int = 8  # threads running handlers
    backlog: int = 64  # the kernel's queue of connections not yet accepted
    max_header_bytes: int = 16 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    client: str


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload).encode(), "application/json", headers or {})


class TokenBucket:
    """`rate` requests a second on average, bursts of up to `burst` (elapsed time: time.monotonic)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self._tokens, self._at = float(burst), time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0.0 when admitted, else the seconds until a request would be."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate


@dataclass(frozen=True)
class Route:
    """`handler` runs in a worker thread with the complete body. `content_types`: the accepted media types (415
    otherwise; empty: any); `limiter`: 429 with Retry-After when empty; both checked before the body is read."""

    path: str
    handler: Callable[[Request], Response]
    methods: tuple[str, ...] = ("GET",)
    max_body: int = 0
    content_types: tuple[str, ...] = ()
    limiter: TokenBucket | None = None


class LocalServer:
    """`start()` serves `routes` from a daemon thread named `name`; `stop()` closes every connection and the socket.
    Refusals (404, 405, 408, 411, 413, 415, 429, 431) answer JSON {"error": reason} and log one line at
    `refusal_level` (429s: one line per 10 s with their count)."""

    def __init__(
        self,
        name: str,
        routes: list[Route],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: Limits | None = None,
        refusal_level: int = logging.WARNING,
    ) -> None:
        if host not in LOOPBACK:
            raise ValueError(f"{name} listens on 127.0.0.1 only, not {host}")
        self.name, self.host = name, host
        self.limits = limits or Limits()
        self.refusal_level = refusal_level
        self._routes = {route.path: route for route in routes}
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.guard = _Guard(self)
        self._throttled, self._throttled_logged = 0, 0.0

    @property
    def port(self) -> int:
        assert self._socket is not None, "start() first"
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = "[::1]" if self.host == "::1" else "127.0.0.1"
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        """Bind (OSError when the port is taken) and serve; returns once the server accepts connections."""
        import uvicorn

        family = socket.AF_INET6 if self.host == "::1" else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY for TCP
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("::1" if self.host == "::1" else "127.0.0.1", self._requested_port))
            sock.listen(self.limits.backlog)
        except OSError:
            sock.close()
            raise
        self._socket = sock
        config = uvicorn.Config(
            _App(self),
            http=_protocol_class(self.guard),
            lifespan="off",
            loop="asyncio",
            ws="none",
            interface="asgi3",
            log_config=None,
            log_level="warning",
            access_log=False,
            server_header=False,
            proxy_headers=False,
            backlog=self.limits.backlog,
            timeout_keep_alive=max(1, round(self.limits.keep_alive)),
            limit_concurrency=2 * self.limits.max_connections,
            h11_max_incomplete_event_size=self.limits.max_header_bytes,
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            self.stop()
            raise OSError(f"{self.name}: the HTTP server did not start")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()

    def refused(self, request: str, client: str, status: int, reason: str) -> None:
        if status == 429:
            self._throttled += 1
            now = time.monotonic()
            if now - self._throttled_logged < 10:
                return
            count, self._throttled, self._throttled_logged = self._throttled, 0, now
            logger.log(self.refusal_level, "%s: refused %d request(s) over the rate limit", self.name, count)
            return
        logger.log(self.refusal_level, "%s: refused %s from %s: %d %s", self.name, request, client, status, reason)


class _Guard:
    """Connection bookkeeping of one server, used from its event loop only."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.limits = server.limits
        self.open: set[Any] = set()
        self.idle: dict[Any, None] = {}  # connections without a request in progress, the longest idle first
        self.evicted = 0
        self._logged = 0.0

    def admit(self, connection: Any) -> bool:
        self.open.add(connection)
        if len(self.open) <= self.limits.max_connections:
            return True
        victim = next(iter(self.idle), None)
        self._note_eviction()
        if victim is None:
            return False
        self.idle.pop(victim, None)
        victim.transport.close()
        return True

    def _note_eviction(self) -> None:
        self.evicted += 1
        now = time.monotonic()
        if now - self._logged >= 10:
            self._logged = now
            logger.warning(
                "%s: %d connection(s) closed so far to stay within %d open connections (idle ones first)",
                self.server.name,
                self.evicted,
                self.limits.max_connections,
            )


def _protocol_class(guard: _Guard) -> type[Any]:
    """uvicorn's h11 protocol with the connection cap and the request-header deadline of `guard`."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if not guard.admit(self):
                transport.close()
                return
            self._wait_for_request()

        def _wait_for_request(self) -> None:
            self._cancel_deadline()
            guard.idle.pop(self, None)
            guard.idle[self] = None
            self._deadline = self.loop.call_later(guard.limits.request_timeout, self._too_slow)

        def _cancel_deadline(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._cancel_deadline()
                guard.idle.pop(self, None)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._wait_for_request()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_deadline()
            guard.open.discard(self)
            guard.idle.pop(self, None)
            super().connection_lost(exc)

    return GuardedProtocol


class _App:
    """The ASGI application: route, refuse early, read the body within the limits, run the handler in a worker."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self._workers: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from starlette.requests import ClientDisconnect
        from starlette.requests import Request as StarletteRequest
        from starlette.responses import Response as StarletteResponse

        if scope["type"] != "http":
            return
        request = StarletteRequest(scope, receive)
        answer = await self._answer(request, ClientDisconnect)
        if answer is None:
            return
        headers = dict(answer.headers)
        await StarletteResponse(answer.body, answer.status, headers, media_type=answer.content_type)(
            scope, receive, send
        )

    async def _answer(self, request: Any, disconnect: type[Exception]) -> Response | None:
        server = self.server
        started = time.monotonic()
        client = f"{request.client.host}:{request.client.port}" if request.client else "?"
        what = f"{request.method} {request.url.path}"

        def refuse(status: int, reason: str, headers: Mapping[str, str] | None = None) -> Response:
            server.refused(what, client, status, reason)
            return json_response(status, {"error": reason}, {"Connection": "close", **(headers or {})})

        header_bytes = sum(len(k) + len(v) + 4 for k, v in request.scope["headers"])
        if header_bytes > server.limits.max_header_bytes:
            return refuse(431, f"the headers may have at most {server.limits.max_header_bytes} bytes")
        route = server._routes.get(request.url.path.rstrip("/") or "/")
        if route is None:
            return refuse(404, f"not found: try {' or '.join(sorted(server._routes))}")
        if request.method not in route.methods:
            allow = ", ".join(route.methods)
            return refuse(405, f"{request.url.path} takes {allow}", {"Allow": allow})
        if route.limiter is not None and (wait := route.limiter.take()) > 0:
            return refuse(429, "too many requests; retry later", {"Retry-After": str(max(1, round(wait + 0.5)))})
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = b""
        if route.max_body > 0:
            media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if route.content_types and media not in route.content_types:
                return refuse(415, f"Content-Type must be {' or '.join(route.content_types)}, not {media or 'none'}")
            declared = headers.get("content-length")
            if declared is None and "chunked" not in headers.get("transfer-encoding", "").lower():
                return refuse(411, "a Content-Length is needed")
            if declared is not None and (not declared.isdigit() or int(declared) > route.max_body):
                return refuse(413, f"the body may have at most {route.max_body} bytes (Content-Length {declared})")
            chunks: list[bytes] = []
            size = 0
            try:
                async with asyncio.timeout(server.limits.request_timeout - (time.monotonic() - started)):
                    async for chunk in request.stream():
                        size += len(chunk)
                        if size > route.max_body:
                            return refuse(413, f"the body may have at most {route.max_body} bytes")
                        chunks.append(chunk)
            except TimeoutError:
                return refuse(408, f"the body did not arrive within {server.limits.request_timeout:g} s")
            except disconnect:
                return None
            body = b"".join(chunks)
        call = Request(request.method, request.url.path, headers, body, client)
        try:
            return await self._run(route.handler, call)
        except Exception:
            logger.exception("%s: answering %s failed", server.name, what)
            return json_response(500, {"error": "internal error; see the daemon's log"})

    async def _run(self, handler: Callable[[Request], Response], request: Request) -> Response:
        import anyio
        import anyio.to_thread

        if self._workers is None:
            self._workers = anyio.CapacityLimiter(self.server.limits.workers)
        return await anyio.to_thread.run_sync(handler, request, limiter=self._workers)
