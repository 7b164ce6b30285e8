"""The local HTTP servers (metrics, redemption webhook) against abusive clients, over real sockets: idle and
half-sent connections are bounded and closed, short bodies time out, and /healthz still answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.localserver import Limits, LocalServer, Request, Response, Route, json_response
from bot.app.daemon import Daemon
from tests.test_daemon import running, write_setup

__all__ = ["running"]  # the fixture, re-used

ROOT = Path(__file__).resolve().parent.parent
LIMITS = Limits(request_timeout=1.0, keep_alive=1.0, max_connections=16, workers=2, backlog=16)

SERVER = """
import sys, time
from bot.adapters.localserver import Limits, LocalServer, Route, json_response
limits = Limits(request_timeout=1.0, keep_alive=1.0, max_connections=16, workers=2, backlog=16)
routes = [Route("/healthz", lambda r: json_response(200, {"status": "ok"})),
          Route("/echo", lambda r: json_response(200, {"size": len(r.body)}), methods=("POST",), max_body=1024)]
server = LocalServer("test server", routes, limits=limits).start()
print(server.port, flush=True)
sys.stdin.read()
server.stop()
"""


def wait_until(check: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.fixture
def server_process() -> Iterator[tuple[subprocess.Popen[str], int]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    yield proc, port
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def threads_and_fds(pid: int) -> tuple[int, int]:
    return len(os.listdir(f"/proc/{pid}/task")), len(os.listdir(f"/proc/{pid}/fd"))


def closed_by_peer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1024) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def healthz(port: int) -> int:
    return httpx.get(f"http://127.0.0.1:{port}/healthz", trust_env=False, timeout=10).status_code


def test_idle_connections_are_bounded_closed_and_do_not_block_healthz(
    server_process: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = server_process
    assert healthz(port) == 200
    threads, fds = threads_and_fds(proc.pid)
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(100)]
    try:
        for _ in range(3):  # while 100 connections sit idle, the server answers
            assert healthz(port) == 200
        held_threads, held_fds = threads_and_fds(proc.pid)
        assert held_threads <= threads + LIMITS.workers
        assert held_fds <= fds + LIMITS.max_connections + 2
        assert wait_until(lambda: all(closed_by_peer(s) for s in idle)), "idle connections left open"
        assert threads_and_fds(proc.pid)[1] <= fds + 2
    finally:
        for sock in idle:
            sock.close()


def test_half_sent_requests_time_out(server_process: tuple[subprocess.Popen[str], int]) -> None:
    _proc, port = server_process
    with socket.create_connection(("127.0.0.1", port), timeout=10) as short_body:
        short_body.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        answer = short_body.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert wait_until(lambda: closed_by_peer(short_body))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as slow_headers:
        slow_headers.sendall(b"GET /healthz HTTP/1.1\r\n")
        dripped = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # a header byte now and then never completes the request
            try:
                slow_headers.sendall(b"X")
                dripped += 1
            except OSError:
                break
            if closed_by_peer(slow_headers):
                break
            slow_headers.setblocking(True)
            time.sleep(0.2)
        assert closed_by_peer(slow_headers), "a dripping request was held open"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as huge_headers:
        huge_headers.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Junk: " + b"a" * 64_000 + b"\r\n\r\n")
        assert huge_headers.recv(4096).startswith(b"HTTP/1.1 431")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=10) as client:
        assert client.post("/echo", content=b"x" * 10).json() == {"size": 10}
        assert client.post("/echo", content=b"x" * 2000).status_code == 413
        assert client.get("/echo").status_code == 405
        assert client.get("/nothing").status_code == 404


def test_handlers_run_in_a_bounded_pool_without_signal_handlers() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    running_now: list[int] = []
    most: list[int] = [0]

    def slow(request: Request) -> Response:
        running_now.append(1)
        most[0] = max(most[0], len(running_now))
        time.sleep(0.3)
        running_now.pop()
        return json_response(200, {"ok": True})

    server = LocalServer("pool test", [Route("/slow", slow)], limits=LIMITS).start()
    try:
        assert {sig: signal.getsignal(sig) for sig in before} == before
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(lambda _: httpx.get(f"{server.url}/slow", trust_env=False, timeout=10).status_code, range(8))
            )
        assert statuses == [200] * 8
        assert most[0] == LIMITS.workers
    finally:
        server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)


def test_the_daemons_healthz_answers_under_idle_connections(
    sandbox: Any, tmp_path: Path, running: Callable[..., Daemon]
) -> None:
    daemon = running(write_setup(tmp_path, sandbox.url, interval="1h"), metrics_port=0)
    assert daemon.metrics is not None
    idle = [socket.create_connection(("127.0.0.1", daemon.metrics.port), timeout=10) for _ in range(300)]
    try:
        answer = httpx.get(f"{daemon.metrics.url}/healthz", trust_env=False, timeout=10)
        assert answer.status_code == 200 and answer.json()["status"] == "ok"
        metrics = httpx.get(f"{daemon.metrics.url}/metrics", trust_env=False, timeout=10)
        assert "socialbot_healthy 1.0" in metrics.text
    finally:
        for sock in idle:
            sock.close()


def test_the_cli_does_not_import_the_http_server() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import bot.app.cli"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert not [line for line in result.stderr.splitlines() if "uvicorn" in line or "starlette" in line]
