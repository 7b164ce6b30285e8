"""A local X API v2 server (the subset socialbot uses) with an admin API under /_sandbox/.

SandboxServer(host, port, clock=, seed=) serves from a background thread; see bot/sandbox/__init__.py for the API.
The HTTP side lives here; what is answered comes from bot.sandbox.api (X's endpoints) and bot.sandbox.admin.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.core.clock import Clock, SystemClock
from bot.sandbox import admin, api
from bot.sandbox.responses import Response, problem_response
from bot.sandbox.state import Faults, SandboxState, Stats
from bot.sandbox.world import World

logger = logging.getLogger(__name__)

_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


class SandboxServer:
    """The sandbox X API. Thread-safe; state lives in memory and is guarded by one lock.

    `clock` is the sandbox's time of day (tweet times, ids, rate-limit windows); tests pass a ManualClock.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> None:
        self.host = host
        self.clock: Clock = clock or SystemClock()
        self.seed = seed
        self.lock = threading.Lock()
        self.state = SandboxState(self.clock, seed)
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.sandbox = self
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="sandbox-x", daemon=True
            )
            self._thread.start()
            logger.info("sandbox X API listening on %s", self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (used by `socialbot sandbox`)."""
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.close_all()
        self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Empty world, faults off, default limits, zeroed stats (ids keep increasing)."""
        with self.lock:
            self.state.reset()

    # ---- state, for in-process callers (tests, demo) -------------------------------------------------
    @property
    def world(self) -> World:
        return self.state.world

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def stats(self) -> Stats:
        return self.state.stats

    def add_user(self, username: str, name: str | None = None, *, followers: int | None = None) -> str:
        with self.lock:
            return self.world.add_user(username, name, followers).id

    def add_tweet(
        self, author_id: str, text: str, *, in_reply_to_tweet_id: str | None = None, quote_tweet_id: str | None = None
    ) -> str:
        with self.lock:
            return self.world.add_tweet(
                author_id, text, in_reply_to_tweet_id=in_reply_to_tweet_id, quote_tweet_id=quote_tweet_id, enforce=False
            ).id

    def edit_tweet(self, tweet_id: str, text: str) -> str:
        """The post's author edits it (X's rules skipped): the new version's id."""
        with self.lock:
            return self.world.edit_tweet(tweet_id, text, enforce=False).id

    def add_dm(self, from_user_id: str, to_user_id: str, text: str) -> str:
        with self.lock:
            return self.world.add_dm(from_user_id, to_user_id, text, enforce=False).id

    def configure_faults(self, conf: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self.state.configure_faults(conf)

    def stats_snapshot(self) -> dict[str, Any]:
        with self.lock:
            return self.state.stats_body()

    # ---- request handling ----------------------------------------------------------------------
    def handle_api(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: Any
    ) -> tuple[Response | None, str | None, float]:
        """Returns (response or None for a dropped connection, fault kind, seconds to hold before drop)."""
        with self.lock:
            return api.handle(self.state, method, path, query, headers, body)

    def handle_admin(self, method: str, path: str, query: dict[str, str], body: Any) -> Response:
        with self.lock:
            return admin.handle(self.state, method, path, query, body)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: SandboxServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sandbox-x/1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        sandbox = self.server.sandbox
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(problem_response(400, "Invalid Request", "Request body is not valid JSON"))
                return
        path = parts.path
        if path.startswith("/_sandbox/") or path == "/_sandbox":
            self._send(sandbox.handle_admin(method, path, query, body))
            return
        resp, fault, hold = sandbox.handle_api(method, path, query, self.headers, body)
        if resp is None:
            if fault == "timeout" and hold > 0:
                time.sleep(hold)
            if fault == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if hold > 0:
            time.sleep(hold)
        self._send(resp)

    def _send(self, resp: Response) -> None:
        payload = json.dumps(resp.body, separators=(",", ":"), ensure_ascii=False).encode()
        lines = [
            f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, 'Error')}",
            "content-type: application/json; charset=utf-8",
            f"content-length: {len(payload)}",
            "x-access-level: read-write-directmessages",
        ]
        lines.extend(f"{k}: {v}" for k, v in resp.headers.items())
        if self.close_connection:
            lines.append("connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(head + payload)
