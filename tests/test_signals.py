"""Real signals to a real `socialbot run` process during start-up: never a silent death, one reload when ready."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import REPO_ROOT
from tests.helpers import wait_for
from tests.test_daemon import ledger, write_setup
from tests.test_run_cli import _env

UNREACHABLE_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/x"
READY = "started:"
HUP_APPLIED = "applying the SIGHUP received during start-up"


class Daemon:
    """`socialbot run` as a child process, its output in a file."""

    def __init__(self, config: Path, *args: str) -> None:
        self.log_path = config.parent / "daemon.log"
        self._log = self.log_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(config), *args],
            cwd=REPO_ROOT,
            env=_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def catches(self, sig: signal.Signals) -> bool:
        """Whether the process has a handler for `sig` yet (Linux: the SigCgt mask in /proc/<pid>/status)."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text(encoding="utf-8")
        except OSError:
            return False
        mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
        return bool(int(mask, 16) & (1 << (sig - 1)))

    def signal(self, sig: signal.Signals) -> None:
        assert self.process.poll() is None, f"the daemon died (exit {self.process.returncode}):\n{self.log()}"
        self.process.send_signal(sig)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture
def spawn() -> Iterator[Any]:
    daemons: list[Daemon] = []

    def start(config: Path, *args: str) -> Daemon:
        daemons.append(Daemon(config, *args))
        return daemons[-1]

    yield start
    for daemon in daemons:
        daemon.close()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the signal mask from /proc")
def test_sighup_right_after_spawn_is_applied_once_when_ready(tmp_path: Path, sandbox: Any, spawn: Any) -> None:
    config = write_setup(tmp_path, sandbox.url)
    daemon = spawn(config)
    # the first moment the process can catch SIGHUP at all (the interpreter itself starts without handlers)
    wait_for(lambda: daemon.catches(signal.SIGHUP), timeout=10, what="a SIGHUP handler", interval=0.001)
    for _ in range(3):
        daemon.signal(signal.SIGHUP)
        time.sleep(0.02)
    assert READY not in daemon.log(), "start-up is over already: the test proves nothing"
    wait_for(lambda: HUP_APPLIED in daemon.log(), timeout=30, what="the remembered SIGHUP applied")
    wait_for(lambda: ledger(sandbox), timeout=20, what="a post from the daemon")
    daemon.signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=30) == 0
    log = daemon.log()
    assert log.count(HUP_APPLIED) == 1 and log.count("config reloaded") == 1, log
    assert log.index(READY) < log.index(HUP_APPLIED) < log.index("config reloaded"), log
    assert "Traceback" not in log


def test_sighup_then_sigterm_while_waiting_for_the_database(tmp_path: Path, spawn: Any) -> None:
    config = write_setup(tmp_path, "http://127.0.0.1:9", database_url=UNREACHABLE_POSTGRES)
    daemon = spawn(config, "--wait-for-database", "120")
    wait_for(lambda: "waiting for the database" in daemon.log(), timeout=30, what="the wait for the database")
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: daemon.log().count("waiting for the database") >= 2, timeout=30, what="the next attempt")
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: daemon.log().count("waiting for the database") >= 3, timeout=30, what="the wait going on")
    daemon.signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=20) == 0, daemon.log()
    log = daemon.log()
    assert "received SIGTERM during start-up, while waiting for the database; stopped" in log, log
    assert "Traceback" not in log and "config reloaded" not in log


def test_sigint_before_the_config_is_read_stops_cleanly(tmp_path: Path, spawn: Any) -> None:
    config = write_setup(tmp_path, "http://127.0.0.1:9", database_url=UNREACHABLE_POSTGRES)
    daemon = spawn(config, "--wait-for-database", "120")
    # SIGHUP: Python catches SIGINT itself from the start (KeyboardInterrupt); ours come in one go
    wait_for(lambda: daemon.catches(signal.SIGHUP), timeout=10, what="the daemon's handlers", interval=0.001)
    daemon.signal(signal.SIGINT)
    assert daemon.process.wait(timeout=20) == 0, daemon.log()
    assert "received SIGINT during start-up" in daemon.log()
    assert "Traceback" not in daemon.log()


class _Forwarder:
    """A TCP port that starts forwarding to PostgreSQL only when opened: a database that comes up late."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))  # bound and not listening: refused until open(), and kept for us
        self.port = self._server.getsockname()[1]

    def open(self) -> None:
        self._server.listen()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


@pytest.mark.postgres
def test_sighup_during_the_database_wait_reloads_once_the_database_answers(
    tmp_path: Path, sandbox: Any, spawn: Any, postgres_url: str
) -> None:
    real = sa.make_url(postgres_url)
    forwarder = _Forwarder((real.host or "127.0.0.1", real.port or 5432))
    late = real.set(port=forwarder.port).render_as_string(hide_password=False)
    daemon = spawn(write_setup(tmp_path, sandbox.url, database_url=late), "--wait-for-database", "120")
    try:
        wait_for(lambda: "waiting for the database" in daemon.log(), timeout=30, what="the wait for the database")
        daemon.signal(signal.SIGHUP)
        daemon.signal(signal.SIGHUP)
        forwarder.open()
        wait_for(lambda: ledger(sandbox), timeout=30, what="a post once the database answers")
        wait_for(lambda: "config reloaded" in daemon.log(), timeout=10, what="the reload")
        daemon.signal(signal.SIGTERM)
        assert daemon.process.wait(timeout=30) == 0
    finally:
        daemon.close()
        forwarder.close()
    log = daemon.log()
    assert log.count(HUP_APPLIED) == 1 and log.count("config reloaded") == 1, log


def test_systemd_unit_restarts_after_any_exit_it_did_not_ask_for() -> None:
    """on-failure treats a death by SIGHUP/SIGINT/SIGTERM/SIGPIPE as clean and would leave the daemon down."""
    unit = (REPO_ROOT / "scripts" / "deploy" / "socialbot.service").read_text(encoding="utf-8")
    service = unit.split("[Service]", 1)[1].split("\n[", 1)[0]
    settings = dict(
        line.split("=", 1) for line in service.splitlines() if "=" in line and not line.lstrip().startswith("#")
    )
    forced = settings.get("RestartForceExitStatus", "").split()
    assert settings["Restart"] == "always" or {"SIGHUP", "SIGTERM", "SIGINT"} <= set(forced), settings
    assert settings["ExecReload"].endswith("kill -HUP $MAINPID")
