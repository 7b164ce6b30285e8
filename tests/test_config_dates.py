"""A date or time in config.yaml that does not exist (2026-02-30, month 13, hour 25) is a config problem with its
file, line and key, in plain words: `socialbot check` exits 2 without a traceback, and a running daemon keeps its
last good config and says so once per edit."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.app.daemon import Daemon
from bot.core.errors import ConfigError
from bot.settings.config import load_config
from bot.settings.dates import date_problem
from tests.conftest import REPO_ROOT
from tests.test_daemon import ledger, rewrite, running, wait_for

__all__ = ["running"]  # the fixture, re-used

CONFIG = """\
timezone: Asia/Shanghai
database_url: sqlite:///bot.db
templates_dir: templates
accounts:
  shop:
    platform: sandbox
    handle: shop
campaigns:
  sale:
    account: shop
    template: sale.j2
    schedule:
      cron: "0 10 * * *"
    start: 2026-11-01
    end: 2026-11-12
    extra:
      launch: 2026-11-01
  arrivals:
    account: shop
    template: sale.j2
    schedule:
      interval: 8h
      start: 2026-11-01 09:00:00
  preview:
    account: shop
    template: sale.j2
    schedule:
      times:
        - 2026-12-01 10:00:00
        - 2026-12-03 20:00
coupons:
  campaigns:
    thanks:
      discount: "10% off"
      budget: 10
      ends: 2026-12-31
"""

SALE = "Sale {{ sequence }} at {{ slot }}\n"

# (what the team wrote, the key path, the value as written, the plain reason)
BAD_DATES = [
    ("start: 2026-11-01", "start: 2026-02-30", "campaigns.sale.start", "February 2026 has 28 days"),
    ("end: 2026-11-12", "end: 2026-13-12", "campaigns.sale.end", "there is no month 13"),
    ("end: 2026-11-12", 'end: "2026-04-31"', "campaigns.sale.end", "April 2026 has 30 days"),
    ("launch: 2026-11-01", "launch: 2026-02-29", "campaigns.sale.extra.launch", "February 2026 has 28 days"),
    (
        "start: 2026-11-01 09:00:00",
        "start: 2026-11-31 09:00:00",
        "campaigns.arrivals.schedule.start",
        "November 2026 has 30 days",
    ),
    ("- 2026-12-01 10:00:00", "- 2026-12-01 25:00:00", "campaigns.preview.schedule.times.0", "hours go from 00 to 23"),
    ("- 2026-12-03 20:00", "- 2026-13-03 20:00", "campaigns.preview.schedule.times.1", "there is no month 13"),
    ("ends: 2026-12-31", "ends: 2027-02-29", "coupons.campaigns.thanks.ends", "February 2027 has 28 days"),
    ("ends: 2026-12-31", "ends: 2026-12-31 10:61", "coupons.campaigns.thanks.ends", "minutes go from 00 to 59"),
]


def write_config(root: Path, text: str = CONFIG) -> Path:
    (root / "templates" / "coupons").mkdir(parents=True, exist_ok=True)
    (root / "templates" / "sale.j2").write_text(SALE, encoding="utf-8")
    (root / "templates" / "coupons" / "coupon.j2").write_text("{{ code }}: {{ discount }}\n", encoding="utf-8")
    config = root / "config.yaml"
    config.write_text(text, encoding="utf-8")
    return config


def line_of(text: str, needle: str) -> int:
    return next(number for number, row in enumerate(text.splitlines(), 1) if needle in row)


def test_the_example_config_of_this_test_is_good(tmp_path: Path) -> None:
    load_config(write_config(tmp_path), environ={})


@pytest.mark.parametrize(("good", "bad", "key", "reason"), BAD_DATES, ids=[row[1] for row in BAD_DATES])
def test_a_date_that_does_not_exist_is_one_problem_at_its_line(
    tmp_path: Path, good: str, bad: str, key: str, reason: str
) -> None:
    assert good in CONFIG
    text = CONFIG.replace(good, bad, 1)
    config = write_config(tmp_path, text)
    written = bad.split(": ", 1)[1] if ": " in bad else bad.removeprefix("- ")
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ={})
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.path) == (str(config), line_of(text, bad), key)
    assert problem.message == date_problem(written.strip('"')) and reason in problem.message

    result = CliRunner().invoke(app, ["check", "--config", str(config)], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert f"config.yaml:{line_of(text, bad)}: {key}: " in result.output and reason in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_check_prints_the_plain_line_and_no_traceback(tmp_path: Path) -> None:
    text = CONFIG.replace("start: 2026-11-01", "start: 2026-02-30", 1)
    config = write_config(tmp_path, text)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check", "--config", str(config)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    line = line_of(text, "2026-02-30")
    assert f"config.yaml:{line}: campaigns.sale.start: 2026-02-30 is not a date (February 2026 has 28 days)" in output
    assert "Traceback" not in output and "ValueError" not in output


def test_several_bad_dates_are_all_reported_and_nothing_else_about_them(tmp_path: Path) -> None:
    text = CONFIG.replace("start: 2026-11-01", "start: 2026-02-30", 1).replace("ends: 2026-12-31", "ends: 2026-00-01")
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, text), environ={})
    assert [(p.line, p.path) for p in caught.value.problems] == [
        (line_of(text, "2026-02-30"), "campaigns.sale.start"),
        (line_of(text, "2026-00-01"), "coupons.campaigns.thanks.ends"),
    ]


def test_date_problem_words() -> None:
    assert date_problem("2026-02-28") is None and date_problem("2028-02-29") is None
    assert date_problem("2026-11-01 23:59:59+08:00") is None and date_problem("not a date") is None
    assert date_problem("2026-02-30") == "2026-02-30 is not a date (February 2026 has 28 days)"
    assert (
        date_problem("2026-13-01 10:00")
        == "2026-13-01 10:00 is not a date (there is no month 13; months go from 1 to 12)"
    )
    assert date_problem("2026-11-01T24:00:00") == "2026-11-01T24:00:00 is not a time of day (hours go from 00 to 23)"
    assert "UTC offset" in (date_problem("2026-11-01 10:00:00 +25:00") or "")


# ---- the daemon: a bad date written while it runs ---------------------------------------------------------

DAEMON_CONFIG = """\
timezone: UTC
database_url: sqlite:///{root}/bot.db
templates_dir: templates
accounts:
  shop:
    platform: sandbox
    handle: shop
    base_url: {base_url}
campaigns:
  tick:
    account: shop
    template: tick.j2
    schedule:
      interval: 1s
    start: {start}
    extra:
      word: {word}
delivery:
  min_spacing_seconds: 0
  per_account_per_day: 0
  grace_minutes: 0.05
"""


def test_a_running_daemon_keeps_its_last_good_config_and_says_so_once(
    sandbox: Any, tmp_path: Path, running: Callable[..., Daemon], caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "tick.j2").write_text("{{ word }} {{ sequence }}\n", encoding="utf-8")
    config = tmp_path / "config.yaml"

    def write(start: str, word: str) -> None:
        rewrite(config, DAEMON_CONFIG.format(root=tmp_path, base_url=sandbox.url, start=start, word=word))

    write("2026-01-01", "Old")
    daemon = running(config, watch_seconds=0.2)
    wait_for(lambda: any(t["text"].startswith("Old ") for t in ledger(sandbox)), what="an 'Old' post")

    caplog.set_level(logging.DEBUG)
    caplog.clear()
    write("2026-02-30", "New")
    bad_line = line_of(config.read_text(encoding="utf-8"), "2026-02-30")
    said = f"config.yaml:{bad_line}: campaigns.tick.start: 2026-02-30 is not a date (February 2026 has 28 days)"
    wait_for(lambda: said in caplog.text, what="the refused reload")
    seen = len(ledger(sandbox))
    wait_for(lambda: len(ledger(sandbox)) >= seen + 3, what="posts after the bad edit")  # watched ~10 times meanwhile
    for _ in range(3):
        daemon._watch()  # and checked again, directly
    assert all(t["text"].startswith("Old ") for t in ledger(sandbox)[seen:]), "the refused config was used"

    about_it = [r for r in caplog.records if "2026-02-30" in r.getMessage()]
    assert len(about_it) == 1, [r.getMessage() for r in about_it]
    assert about_it[0].levelno == logging.ERROR and "\n" not in about_it[0].getMessage()
    assert "keeping the last good config" in about_it[0].getMessage()
    reloads = [r for r in caplog.records if r.name == "bot.app.daemon.lifecycle" and r.levelno >= logging.WARNING]
    assert reloads == about_it, [r.getMessage() for r in reloads]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"

    write("2026-02-28", "New")
    wait_for(lambda: ledger(sandbox)[-1]["text"].startswith("New "), what="a post with the fixed config")
    assert daemon.settings is not None and daemon.settings.campaigns["tick"].extra["word"] == "New"
