"""`socialbot demo`: the shipped config against the built-in sandbox, as a real process and in process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from bot.app.demo import DemoOptions, run_demo
from tests.conftest import REPO_ROOT
from tests.test_daemon import write_setup


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
    outcomes = summary["mentions_by_outcome"]
    assert set(outcomes) == {"answered", "handed_over", "not_answered"}
    assert sum(outcomes.values()) == summary["mentions_seen"], outcomes
    assert summary["promises_without_inbox"] == 0
    assert summary["spend_usd"] > 0  # posts, replies and mention reads are paid on X: the ledger has them
    assert summary["post_metrics_read"] >= 0 and isinstance(summary["best_hours"], dict)
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


BLUESKY_CONFIG = """\
timezone: UTC
database_url: sqlite:///{root}/bot.db
templates_dir: templates
accounts:
  shop:
    platform: sandbox
    handle: shop
campaigns:
  tick:
    account: shop
    template: tick.j2
    schedule:
      interval: 1s
replies:
  poll_seconds: 1
  direct_messages: false
  caps: {{per_user_per_day: 0, per_conversation: 0}}
  intents:
    - name: other
      reply: reply.j2
delivery:
  min_spacing_seconds: 0
  per_account_per_day: 0
  poll_seconds: 0.1
"""

APP_PASSWORD = re.compile(r"\b[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}\b")


@pytest.mark.timeout(300)  # the first start of the local network installs it (~90 s)
def test_bluesky_demo_publishes_and_answers_every_customer_once(tmp_path: Path, bluesky_devnet: object) -> None:
    """`socialbot demo --platform bluesky` as a process, at DEBUG, on the session's local AT Protocol network: posts
    published (and on the PDS), every customer post to the shop answered exactly once (a config that answers
    everyone), and the shop's app password in no output line."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "tick.j2").write_text("Tick {{ sequence }} from {{ campaign.name }}\n", encoding="utf-8")
    # one text per mention (the bot never sends a text twice; two customers may write the same words)
    reply = "Thanks {{ name }} (ref {{ ref }}), we read: {{ text }}\n"
    (tmp_path / "templates" / "reply.j2").write_text(reply, encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(BLUESKY_CONFIG.format(root=tmp_path), encoding="utf-8")
    summary_file = tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALBOT_")}
    env["SOCIALBOT_BLUESKY_PDS_URL"] = bluesky_devnet.pds_url  # type: ignore[attr-defined]
    args = ["--platform", "bluesky", "--config", str(config), "--seconds", "5", "--slot-seconds", "1"]
    args += ["--log-level", "DEBUG", "--json-summary", str(summary_file), "--graph-html", str(tmp_path / "g.html")]
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    assert summary["platform"] == "bluesky"
    assert summary["posts_published"] > 0 and summary["posts_failed"] == 0, summary
    assert summary["pds_posts"] >= summary["posts_published"], summary  # what listRecords shows on the PDS
    assert summary["customer_posts_to_shop"] >= 8, summary  # at least the showcase: 4 intents x 2 languages
    assert summary["customer_posts_answered"] == summary["customer_posts_to_shop"], summary["unanswered_customer_posts"]
    assert summary["customer_posts_answered_twice"] == 0, summary
    assert summary["mentions_seen"] >= summary["customer_posts_to_shop"], summary
    assert "what happened" in result.stdout and "posts on the PDS" in result.stdout
    assert "bluesky session created" in result.stderr  # the DEBUG lines are there to search
    for stream in (result.stdout, result.stderr):
        assert not APP_PASSWORD.search(stream), "the shop's app password must never be printed or logged"
    assert not (tmp_path / "bot.db").exists(), "the demo uses a temporary database, not the config's"
