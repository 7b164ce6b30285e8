"""The redemption webhook refuses what it cannot trust, over real HTTP on real databases: unsigned, wrongly signed,
stale and replayed requests, web pages' requests, big, deep or non-JSON bodies and floods. Each refusal answers a
clear status and JSON reason, logs one line and stores nothing."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.store import Store
from bot.app.daemon import Daemon
from bot.core.clock import ManualClock
from bot.domains.coupons.redemptions import MAX_BODY, SIGNATURE_HEADER, RedemptionServer, sign, verify
from tests.test_coupons_redemptions import issued
from tests.test_daemon import running, write_setup

__all__ = ["running"]  # the fixture, re-used

SECRET = "whsec-test-3f9a1c"


@pytest.fixture
def clock() -> ManualClock:
    from tests.test_coupons import START

    return ManualClock(START)


@pytest.fixture
def codes(store: Store, clock: ManualClock, tmp_path: Path) -> list[str]:
    return issued(store, clock, tmp_path)


@pytest.fixture
def webhook(store: Store) -> Iterator[Callable[..., RedemptionServer]]:
    servers: list[RedemptionServer] = []

    def start(**options: Any) -> RedemptionServer:
        server = RedemptionServer(store, secret=SECRET, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def body_for(code: str, order_id: str = "W1", amount: float = 42.0) -> bytes:
    return json.dumps({"code": code, "order_id": order_id, "amount": amount, "time": "2026-11-02T08:00:00Z"}).encode()


def post(server: RedemptionServer, body: bytes, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=server.url, trust_env=False, timeout=10) as client:
        return client.post("/redemptions", content=body, headers=headers)


def signed(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    stamp = int(time.time() if at is None else at)
    return {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body, stamp)}


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]


def test_a_signed_redemption_is_counted(
    webhook: Callable[..., RedemptionServer], codes: list[str], store: Store
) -> None:
    server = webhook()
    body = body_for(codes[0])
    answer = post(server, body, signed(body))
    assert answer.status_code == 200 and answer.json()["status"] == "counted"
    assert store.coupons.by_code(codes[0]).state == "redeemed"  # type: ignore[union-attr]


def test_forgeries_are_refused_with_a_reason_one_log_line_and_nothing_stored(
    webhook: Callable[..., RedemptionServer],
    codes: list[str],
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = webhook()
    body = body_for(codes[0], amount=99999)
    now = time.time()
    attempts: list[tuple[str, bytes, dict[str, str], int, str]] = [
        # what any web page the staff opens can send: text/plain with an Origin
        ("web page", body, {"Content-Type": "text/plain", "Origin": "http://evil.example"}, 415, "Content-Type"),
        ("unsigned", body, {"Content-Type": "application/json"}, 401, "unsigned"),
        ("wrong secret", body, signed(body, secret="guessed"), 401, "does not match"),
        ("changed body", body_for(codes[0], amount=1), signed(body), 401, "does not match"),
        ("stale", body, signed(body, at=now - 400), 401, "stale"),
        ("from the future", body, signed(body, at=now + 400), 401, "stale"),
        ("garbled header", body, {"Content-Type": "application/json", SIGNATURE_HEADER: "sha256=abc"}, 401, "t="),
        ("signed, from a page", body, {**signed(body), "Origin": "http://evil.example"}, 403, "web pages"),
    ]
    for what, raw, headers, status, reason in attempts:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="bot"):
            answer = post(server, raw, headers)
        assert answer.status_code == status, (what, answer.text)
        assert reason in answer.json()["error"], (what, answer.json())
        assert len(refusal_lines(caplog)) == 1, (what, refusal_lines(caplog))
        assert SECRET not in caplog.text
    assert store.redemptions.find() == []
    assert store.coupons.by_code(codes[0]).state != "redeemed"  # type: ignore[union-attr]


def test_a_replayed_request_is_refused_and_counted_once(
    webhook: Callable[..., RedemptionServer], codes: list[str], store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    server = webhook()
    body = body_for(codes[0])
    headers = signed(body)
    assert post(server, body, headers).json()["status"] == "counted"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bot"):
        replay = post(server, body, headers)
    assert replay.status_code == 409 and "replayed" in replay.json()["error"]
    assert len(refusal_lines(caplog)) == 1
    # the shop's own retry signs anew: recorded as the duplicate it is
    assert post(server, body, signed(body, at=time.time() + 1)).json()["status"] == "duplicate"
    assert [r.order_id for r in store.redemptions.find()] == ["W1"]


def test_a_body_over_the_cap_is_refused_before_it_is_read(
    webhook: Callable[..., RedemptionServer], store: Store
) -> None:
    server = webhook()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /redemptions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n{"
        )  # the other 50 MB never come: the answer cannot wait for them
        answer = b""
        while chunk := sock.recv(4096):  # the server closes after its answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert f"at most {MAX_BODY} bytes".encode() in answer
    chunked = {"Content-Type": "application/json", "Transfer-Encoding": "chunked", **signed(b"{}")}
    with httpx.Client(base_url=server.url, trust_env=False, timeout=10) as client:
        big = client.post("/redemptions", content=iter([b"[" * 1024] * 100), headers=chunked)
    assert big.status_code == 413
    assert store.redemptions.find() == []


def test_deep_json_is_refused_without_recursion(
    webhook: Callable[..., RedemptionServer], codes: list[str], store: Store
) -> None:
    server = webhook()
    deep = b"[" * 30_000 + b"]" * 30_000
    answer = post(server, deep, signed(deep))
    assert answer.status_code == 400 and "deeper than 20" in answer.json()["error"]
    nested = json.dumps({"code": codes[0], "order_id": "W9", "time": "2026-11-02T08:00:00Z", "x": [[[1]]]}).encode()
    assert post(server, nested, signed(nested)).json()["status"] == "counted"  # shallow nesting is fine
    brackets_in_text = json.dumps({"code": "[" * 100, "order_id": "W10", "time": "2026-11-02T08:00:00Z"}).encode()
    assert post(server, brackets_in_text, signed(brackets_in_text)).status_code == 400  # a bad code, not "deep"
    assert "deeper" not in post(server, brackets_in_text, signed(brackets_in_text, at=time.time() - 1)).text
    assert [r.order_id for r in store.redemptions.find()] == ["W9"]


def test_a_flood_gets_429_with_retry_after(
    webhook: Callable[..., RedemptionServer], store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    server = webhook(rate=1.0, burst=3)
    body = b"{}"
    with caplog.at_level(logging.INFO, logger="bot"):
        statuses = [post(server, body, {"Content-Type": "application/json"}) for _ in range(20)]
    assert [a.status_code for a in statuses[:3]] == [401, 401, 401]
    throttled = [a for a in statuses if a.status_code == 429]
    assert len(throttled) >= 15
    assert int(throttled[0].headers["Retry-After"]) >= 1
    assert "too many requests" in throttled[0].json()["error"]
    assert len([line for line in refusal_lines(caplog) if "rate limit" in line]) == 1  # a flood is one line
    assert store.redemptions.find() == []


def test_the_documented_openssl_signature_is_accepted() -> None:
    body = '{"code":"LH-7KQ4M9XW3","order_id":"1001","amount":42.0,"time":"2026-11-02T08:00:00Z"}'
    stamp = int(time.time())
    command = (
        'printf \'%s.%s\' "$t" "$body" | openssl dgst -sha256 -hmac "$SOCIALBOT_REDEMPTION_WEBHOOK_SECRET" '
        "| sed 's/^.*= //'"
    )
    env = {"t": str(stamp), "body": body, "SOCIALBOT_REDEMPTION_WEBHOOK_SECRET": SECRET, "PATH": "/usr/bin:/bin"}
    digest = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert verify(SECRET, f"t={stamp},v1={digest}", body.encode(), time.time()) == (None, digest)


def test_the_daemon_serves_the_webhook_only_with_a_secret(
    sandbox: Any, tmp_path: Path, running: Callable[..., Daemon], caplog: pytest.LogCaptureFixture
) -> None:
    config = write_setup(tmp_path, sandbox.url, interval="1h")
    config.write_text(config.read_text(encoding="utf-8") + "coupons:\n  redemption_webhook_port: 0\n", encoding="utf-8")
    with caplog.at_level(logging.INFO):
        daemon = running(config)
    assert getattr(daemon, "redemptions", None) is None
    assert "redemption webhook not started" in caplog.text and "SOCIALBOT_REDEMPTION_WEBHOOK_SECRET" in caplog.text
    daemon.stop()

    (tmp_path / ".env").write_text(f"SOCIALBOT_REDEMPTION_WEBHOOK_SECRET={SECRET}\n", encoding="utf-8")
    daemon = running(config)
    server = daemon.redemptions
    assert isinstance(server, RedemptionServer)
    unsigned = post(server, b"{}", {"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    body = body_for("ZZZ")
    assert post(server, body, signed(body)).json()["status"] == "unknown"
