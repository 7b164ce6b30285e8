"""A fault-injecting HTTP proxy for the contract suite: 127.0.0.1 only, one thread per connection.

It forwards every request to one upstream (a PDS, or the X sandbox) and, when told: answers the next writes with a
503 without forwarding them ('error'); forwards them and then drops the connection without an answer ('timeout':
processed, outcome unknown to the client); answers the next request of any kind with a 429 carrying ratelimit-*
headers; answers the next authenticated one with 400 ExpiredToken (as a PDS does when an access token has run
out); or hands on an upstream answer with its JSON body changed (`rewrite`: a malformed answer after the upstream
did the work).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

# requests that change something on the server (and that a 'fail next writes' fault hits)
WRITE_PREFIXES = ("/xrpc/com.atproto.repo.", "/xrpc/app.bsky.notification.updateSeen", "/xrpc/chat.bsky.convo.send")
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-encoding",
    "accept-encoding",
}


class FaultProxy:
    def __init__(self, upstream: str, *, hold_seconds: float = 2.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.hold_seconds = hold_seconds
        self._lock = threading.Lock()
        self._write_fault: str | None = None  # 'error' | 'timeout', until cleared
        self._rate_limits: list[int] = []  # reset epochs of the next 429s to answer
        self._expire = 0  # authenticated requests still to answer with ExpiredToken
        self._rewrites: list[_Rewrite] = []  # answers to change on their way back
        self._released = threading.Event()
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request seen
        self._client = httpx.Client(base_url=self.upstream, trust_env=False, timeout=30)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="faultproxy", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._client.close()

    # ---- faults --------------------------------------------------------------------------------------
    def fail_writes(self, kind: str) -> None:
        if kind not in ("error", "timeout"):
            raise ValueError(f"unknown write fault {kind!r}")
        with self._lock:
            self._write_fault = kind

    def rate_limit_next(self, reset_epoch: int) -> None:
        with self._lock:
            self._rate_limits.append(reset_epoch)

    def expire_next_session(self) -> None:
        with self._lock:
            self._expire += 1

    def rewrite(self, method: str, path_prefix: str, change: Callable[[Any], Any], *, times: int | None = 1) -> None:
        """The upstream's answers to `method` requests whose path starts with `path_prefix` reach the client with
        their JSON body replaced by change(body): the next `times` of them, or all (None) until `clear`."""
        with self._lock:
            self._rewrites.append(_Rewrite(method, path_prefix, change, times))

    def clear(self) -> None:
        with self._lock:
            self._write_fault = None
            self._rate_limits.clear()
            self._expire = 0
            self._rewrites.clear()

    def count(self, path_prefix: str) -> int:
        """How many requests whose path starts with `path_prefix` reached the proxy."""
        return sum(1 for _, path in list(self.requests) if path.startswith(path_prefix))

    def _take_fault(self, method: str, path: str, authenticated: bool) -> tuple[str, Any] | None:
        with self._lock:
            if self._rate_limits:
                return "429", self._rate_limits.pop(0)
            if self._expire and authenticated and "Session" not in path:
                self._expire -= 1
                return "expired", None
            if self._write_fault and method == "POST" and path.startswith(WRITE_PREFIXES):
                return self._write_fault, None
        return None

    # ---- serving -------------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_GET(self) -> None:
                proxy._handle(self)

            def do_POST(self) -> None:
                proxy._handle(self)

            def do_DELETE(self) -> None:
                proxy._handle(self)

        return Handler

    def _take_rewrite(self, method: str, path: str) -> Callable[[Any], Any] | None:
        with self._lock:
            for rule in self._rewrites:
                if rule.method == method and path.startswith(rule.path_prefix):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rewrites.remove(rule)
                    return rule.change
        return None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        method, path = handler.command, handler.path
        self.requests.append((method, path))
        fault = self._take_fault(method, path, bool(handler.headers.get("authorization")))
        if fault is not None and fault[0] == "429":
            reset = int(fault[1])
            _answer(
                handler,
                429,
                {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                {
                    "ratelimit-limit": "3000",
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": str(reset),
                    "ratelimit-policy": "3000;w=300",
                },
            )
            return
        if fault is not None and fault[0] == "expired":
            _answer(handler, 400, {"error": "ExpiredToken", "message": "Token has expired"})
            return
        if fault is not None and fault[0] == "error":
            _answer(handler, 503, {"error": "ServiceUnavailable", "message": "injected by the fault proxy"})
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            upstream = self._client.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            _answer(handler, 502, {"error": "UpstreamError", "message": str(exc)})
            return
        if fault is not None and fault[0] == "timeout":
            # processed upstream; the client hears nothing until it gives up
            self._released.wait(self.hold_seconds)
            handler.close_connection = True
            return
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
        content = upstream.content
        change = self._take_rewrite(method, path)
        if change is not None:
            content = json.dumps(change(upstream.json())).encode()
        _send(handler, upstream.status_code, content, out_headers)


class _Rewrite:
    def __init__(self, method: str, path_prefix: str, change: Callable[[Any], Any], times: int | None) -> None:
        self.method = method
        self.path_prefix = path_prefix
        self.change = change
        self.times = times


def _answer(
    handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    _send(handler, status, json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})})


def _send(handler: BaseHTTPRequestHandler, status: int, content: bytes, headers: dict[str, str]) -> None:
    try:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("content-length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True
