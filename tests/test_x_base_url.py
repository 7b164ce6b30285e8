"""`platform: x` with `base_url` (X's emulator, a proxy): real credentials, every request to base_url, none to X."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.store import Store
from bot.app.daemon import Daemon, DaemonOptions
from bot.core.errors import ConfigError
from bot.settings.config import credential_variables, load_config
from tests.helpers import wait_for
from tests.test_daemon import ledger, write_setup


def _x_account(config: Path, base_url: str) -> None:
    text = config.read_text(encoding="utf-8").replace("platform: sandbox", "platform: x")
    config.write_text(text.replace(f"base_url: {base_url}", f"base_url: {base_url}/"), encoding="utf-8")


def _credentials(sandbox_url: str, handle: str) -> dict[str, str]:
    """OAuth 1.0a keys of a sandbox user, in the variables an X account reads (the sandbox knows the user by the
    access token)."""
    with httpx.Client(base_url=sandbox_url, trust_env=False, timeout=5) as http:
        uid = http.post("/_sandbox/users", json={"username": handle, "name": handle}).json()["id"]
    values = ["key-from-env", "consumer-secret-from-env", f"{uid}-from-env", "token-secret-from-env"]
    return dict(zip(credential_variables("shop"), values, strict=True))


def test_x_account_with_base_url_sends_there_and_never_to_the_real_host(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    config = write_setup(tmp_path, sandbox.url)
    _x_account(config, sandbox.url)
    hosts: list[str] = []
    resolve = socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        hosts.append(str(host))
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)  # observes name look-ups; the requests are real
    daemon = Daemon(DaemonOptions(config_path=config, environ=_credentials(sandbox.url, "shop")))
    daemon.start()
    try:
        assert daemon.settings is not None and daemon.settings.accounts["shop"].platform == "x"
        wait_for(lambda: len(ledger(sandbox)) >= 2, timeout=20, what="posts through the X account's base_url")
    finally:
        daemon.stop()
    assert not any("twitter.com" in host or host.endswith("x.com") for host in hosts), hosts
    with Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as store:
        sent = store.outbox.items(state="sent", limit=None)
    assert {item.remote_id for item in sent} >= {t["id"] for t in ledger(sandbox)}
    assert any(f"X API requests go to {sandbox.url}" in r.getMessage() for r in caplog.records)
    assert "consumer-secret-from-env" not in caplog.text and "token-secret-from-env" not in caplog.text


@pytest.mark.parametrize(
    ("base_url", "accepted"),
    [
        ("https://x-proxy.shop.example", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080/", True),
        ("http://x-proxy.shop.example", False),
    ],
)
def test_check_refuses_plain_http_to_another_host_for_an_x_account(
    tmp_path: Path, base_url: str, accepted: bool
) -> None:
    config = write_setup(tmp_path, base_url.rstrip("/"))
    _x_account(config, base_url.rstrip("/"))
    if accepted:
        settings = load_config(config, require_credentials=False)
        assert settings.accounts["shop"].base_url == base_url.rstrip("/")
        return
    with pytest.raises(ConfigError) as caught:
        load_config(config, require_credentials=False)
    [problem] = caught.value.problems
    assert problem.line == 8 and "accounts.shop.base_url" in str(problem), problem
    assert "https://" in problem.message


def test_x_account_without_base_url_still_means_the_real_api(tmp_path: Path) -> None:
    config = write_setup(tmp_path, "http://127.0.0.1:9")
    text = config.read_text(encoding="utf-8").replace("platform: sandbox", "platform: x")
    config.write_text(text.replace("    base_url: http://127.0.0.1:9\n", ""), encoding="utf-8")
    settings = load_config(config, require_credentials=False)
    assert settings.accounts["shop"].base_url is None
