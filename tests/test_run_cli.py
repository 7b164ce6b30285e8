"""`socialbot run` as a real process: refuses bad config and unreachable databases, posts, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT
from tests.test_daemon import ledger, wait_for, write_setup


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALBOT_")}
    env["COLUMNS"] = "60"  # a narrow terminal: problem lines must still not be wrapped
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_bot(*args: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_run_refuses_a_bad_config_with_file_and_line(tmp_path: Path) -> None:
    config = write_setup(tmp_path, "http://127.0.0.1:9")
    config.write_text(config.read_text(encoding="utf-8").replace("interval: 1s", "interval: often"), "utf-8")
    result = run_bot("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    output = result.stdout + result.stderr
    assert re.search(rf"{re.escape(str(config))}:\d+: campaigns\.tick\.schedule", output), output
    assert "Traceback" not in output
    assert not (tmp_path / "bot.db").exists(), "a refused start must not touch the database"


def test_run_refuses_a_bad_template(tmp_path: Path) -> None:
    config = write_setup(tmp_path, "http://127.0.0.1:9", template="Hello {{ nobody }}\n")
    result = run_bot("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "tick.j2:1" in result.stderr and "nobody" in result.stderr
    assert "Traceback" not in result.stderr


def _with_database(config: Path, url: str) -> None:
    text = re.sub(r"^database_url: .*$", f"database_url: {url}", config.read_text(encoding="utf-8"), flags=re.M)
    config.write_text(text, encoding="utf-8")


def test_run_unreachable_postgresql_is_a_clear_message(tmp_path: Path, sandbox: Any) -> None:
    config = write_setup(tmp_path, sandbox.url)
    _with_database(config, "postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    result = run_bot("run", "--config", str(config), "--wait-for-database", "0", cwd=tmp_path)
    assert result.returncode not in (0, 2), result.stderr
    assert "127.0.0.1" in result.stderr and "refused" in result.stderr.lower()
    assert "Traceback" not in result.stderr


def test_run_waits_for_an_unreachable_database_then_says_so(tmp_path: Path, sandbox: Any) -> None:
    config = write_setup(tmp_path, sandbox.url)
    _with_database(config, "postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    result = run_bot("run", "--config", str(config), "--wait-for-database", "1.5", cwd=tmp_path)
    assert result.returncode not in (0, 2), result.stderr
    assert "waiting for the database" in result.stderr
    assert "refused" in result.stderr.lower() and "Traceback" not in result.stderr


def test_run_unwritable_sqlite_path_is_a_clear_message(tmp_path: Path, sandbox: Any) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    config = write_setup(tmp_path, sandbox.url)
    _with_database(config, f"sqlite:///{blocker / 'db.sqlite'}")
    result = run_bot("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode not in (0, 2), result.stderr
    assert "a-file" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_unreachable_sandbox_is_a_clear_message(tmp_path: Path) -> None:
    config = write_setup(tmp_path, "http://127.0.0.1:9")
    result = run_bot("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "cannot reach the X sandbox at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_posts_logs_json_and_stops_on_sigterm(tmp_path: Path, sandbox: Any) -> None:
    config = write_setup(tmp_path, sandbox.url)
    log = (tmp_path / "daemon.log").open("w+", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config), "--log-format", "json"],
        cwd=REPO_ROOT,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: len(ledger(sandbox)) >= 3, timeout=20, what="posts from the daemon process")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()

    lines = [line for line in (tmp_path / "daemon.log").read_text(encoding="utf-8").splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    messages = [r["message"] for r in records]
    assert any("received SIGTERM" in m for m in messages)
    assert any(r["logger"] == "bot.app.daemon.lifecycle" and "stopped" in r["message"] for r in records)
    for tweet in ledger(sandbox):
        assert any(tweet["id"] in m and r["level"] == "info" for r, m in zip(records, messages, strict=True))
    # the sandbox's dummy OAuth secrets are registered as secrets: never logged
    text = "\n".join(lines)
    assert "sandbox-secret" not in text and "sandbox-token-secret" not in text


def test_sighup_reloads_the_running_process(tmp_path: Path, sandbox: Any) -> None:
    config = write_setup(tmp_path, sandbox.url, template="Before {{ sequence }}\n")
    log = (tmp_path / "daemon.log").open("w+", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        cwd=REPO_ROOT,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: ledger(sandbox), timeout=20, what="a first post")
        (tmp_path / "templates" / "tick.j2").write_text("After {{ sequence }}\n", encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: ledger(sandbox)[-1]["text"].startswith("After "), timeout=20, what="a post after SIGHUP")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    assert "config reloaded" in (tmp_path / "daemon.log").read_text(encoding="utf-8")
