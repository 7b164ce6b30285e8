"""`socialbot demo`: the shipped config against the built-in sandbox, as a real process and in process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from bot.demo import DemoOptions, run_demo
from tests.conftest import REPO_ROOT
from tests.test_daemon import write_setup


@pytest.mark.slow
def test_demo_process_writes_a_json_summary(tmp_path: Path) -> None:
    summary_file = tmp_path / "out" / "summary.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALBOT_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "demo",
            "--seconds",
            "5",
            "--json-summary",
            str(summary_file),
            "--graph-html",
            str(tmp_path / "graph.html"),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    assert isinstance(summary["posts_published"], int) and summary["posts_published"] > 0
    assert isinstance(summary["posts_failed"], int) and summary["posts_failed"] == 0
    assert summary["slots"].get("published", 0) >= summary["posts_published"], summary["slots"]
    assert summary["sandbox_requests"].get("POST /2/tweets", 0) >= summary["posts_published"]
    for key in ("mentions_seen", "replies_sent", "escalations", "optouts"):
        assert isinstance(summary[key], int), key
    assert summary["mentions_seen"] > 0 and summary["replies_sent"] > 0
    texts = [post["text"] for post in summary["recent_posts"]]
    assert texts and len(texts) == len(set(texts))
    assert "what happened" in result.stdout
    assert summary["users_ranked"] > 0 and summary["communities"] > 0, summary
    assert summary["top_influencers"] and all(h.startswith("@") for h in summary["top_influencers"])
    page = (tmp_path / "graph.html").read_text(encoding="utf-8")
    assert summary["graph_html"] == str(tmp_path / "graph.html") and "<svg" in page


def test_demo_in_process_with_a_small_config(tmp_path: Path) -> None:
    config = write_setup(tmp_path, "http://127.0.0.1:9")  # the demo points the account at its own sandbox
    console = Console(file=open(os.devnull, "w"), width=200)  # noqa: SIM115
    try:
        summary = run_demo(
            DemoOptions(
                config_path=config, seconds=2, slot_seconds=1, json_summary=tmp_path / "s.json", audience_history=20
            ),
            console=console,
        )
    finally:
        console.file.close()
    assert summary["posts_published"] > 0 and summary["posts_failed"] == 0
    assert (
        json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))["posts_published"] == summary["posts_published"]
    )
    assert not (tmp_path / "bot.db").exists(), "the demo uses a temporary database, not the config's"
