"""The shop's webhooks (inbox escalations, coupon exports) over real HTTP: answers and failures never raise."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from bot.adapters.webhooks import post_json


class _Shop(BaseHTTPRequestHandler):
    received: ClassVar[list[object]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(500 if self.path == "/broken" else 204)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def shop() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_post_that_lands_is_ok_and_carries_the_payload(shop: str) -> None:
    answer = post_json(f"{shop}/hook", {"campaign": "vip", "coupons": [{"code": "A1"}]}, timeout=5, trust_env=False)
    assert answer.ok and answer.status == 204
    assert _Shop.received[-1] == {"campaign": "vip", "coupons": [{"code": "A1"}]}


def test_a_server_error_is_an_answer_not_an_exception(shop: str) -> None:
    answer = post_json(f"{shop}/broken", {}, timeout=5, trust_env=False)
    assert not answer.ok and answer.status == 500 and answer.error_type is None


def test_nobody_listening_is_a_failure_with_its_kind() -> None:
    with socket.socket() as held:  # a bound port that does not listen: the connection is refused
        held.bind(("127.0.0.1", 0))
        answer = post_json(f"http://127.0.0.1:{held.getsockname()[1]}/hook", {}, timeout=5, trust_env=False)
    assert not answer.ok and answer.status is None and answer.error_type == "ConnectError"
