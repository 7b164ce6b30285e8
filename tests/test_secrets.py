"""Secrets never leak: the demo with DEBUG logging and known fake credentials in the environment, then every
line it printed and every file it wrote searched for them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

FAKE = {
    "SOCIALBOT_SHOP_CONSUMER_KEY": "fakeConsumerKey-7Qz1wXy",
    "SOCIALBOT_SHOP_CONSUMER_SECRET": "fakeConsumerSecret-Lp0vR3m",
    "SOCIALBOT_SHOP_ACCESS_TOKEN": "123456-fakeAccessToken-Hh2kd",
    "SOCIALBOT_SHOP_ACCESS_TOKEN_SECRET": "fakeTokenSecret-Uu9sQ4e",
    "SOCIALBOT_ESCALATION_WEBHOOK_URL": "http://127.0.0.1:9/fakeWebhookSecretPath-Zx3",
}


def test_debug_demo_leaks_no_credentials(tmp_path: Path) -> None:
    for folder in ("templates", "data"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    shutil.copy(REPO_ROOT / "config.yaml", tmp_path / "config.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALBOT_")} | FAKE
    result = subprocess.run(
        [
            sys.executable, "-m", "bot", "demo", "--seconds", "6", "--log-level", "DEBUG",
            "--config", str(tmp_path / "config.yaml"), "--json-summary", str(tmp_path / "out" / "summary.json"),
            "--graph-html", str(tmp_path / "out" / "graph.html"),
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "DEBUG" in output, "the demo ran with DEBUG logging"
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(tmp_path / "templates")]
    assert any(p.name == "summary.json" for p in written) and any(p.suffix == ".html" for p in written)
    hits = []
    for secret in FAKE.values():
        token = secret.rsplit("-", 1)[-1] if "://" not in secret else "fakeWebhookSecretPath"
        for needle in (secret, token):
            if needle in output:
                hits.append(f"output: {needle}")
            hits.extend(f"{p}: {needle}" for p in written if needle.encode() in p.read_bytes())
    assert not hits, hits
