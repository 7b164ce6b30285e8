"""`socialbot preview` and `socialbot schedule` via the real CLI on a config in tmp_path (no credentials, no DB)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.app.cli import app

CONFIG = """\
timezone: Asia/Shanghai
database_url: sqlite:///var/never-opened.db
accounts:
  shop:
    platform: sandbox
    handle: lumenhome
  realx:
    platform: x
    handle: LumenX
campaigns:
  sale:
    account: shop
    template: sale.j2
    schedule:
      cron: "0 10,20 * * *"
    start: 2026-11-01
    end: 2026-11-12
  ny:
    account: realx
    template: ny.j2
    timezone: America/New_York
    schedule:
      cron: "30 1 * * *"
  long:
    account: shop
    template: long.j2
    schedule:
      interval: 1d
  quiet:
    account: shop
    template: sale.j2
    enabled: false
    schedule:
      times: ["2026-12-01 10:00"]
"""

TEMPLATES = {
    "sale.j2": "Sale day {{ slot.day }}: first take #{{ sequence }}\n"
    "{# variant #}\n"
    "Sale day {{ slot.day }}: second take\n",
    "ny.j2": "Good morning New York, it is {{ slot.strftime('%H:%M %Z') }}\n",
    "long.j2": "Much too long " + "words " * 60 + "\n",
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "templates").mkdir()
    for name, body in TEMPLATES.items():
        (tmp_path / "templates" / name).write_text(body, encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "160"})
    return result.exit_code, result.output


def test_preview_renders_the_slot_at_or_after_a_time(config: Path) -> None:
    code, out = run("preview", "sale", "--at", "2026-11-11 09:00", "--config", str(config))
    assert code == 0, out
    assert "2026-11-11 10:00 CST" in out
    assert "Sale day 11:" in out
    assert "valid" in out and "/280" in out
    assert not (config.parent / "var").exists()  # no database was touched


def test_preview_all_variants_and_a_chosen_variant(config: Path) -> None:
    code, out = run("preview", "sale", "--at", "2026-11-05 10:00", "--all", "--config", str(config))
    assert code == 0, out
    assert "first take" in out and "second take" in out
    code, out = run("preview", "sale", "--at", "2026-11-05 10:00", "--variant", "1", "--config", str(config))
    assert code == 0 and "second take" in out and "first take" not in out
    code, out = run("preview", "sale", "--variant", "7", "--at", "2026-11-05", "--config", str(config))
    assert code == 2


def test_preview_uses_the_campaign_timezone(config: Path) -> None:
    code, out = run("preview", "ny", "--at", "2026-11-01T00:00-04:00", "--config", str(config))
    assert code == 0, out
    assert "2026-11-01 01:30 EDT" in out
    assert "Good morning New York, it is 01:30 EDT" in out


def test_preview_of_too_long_text_exits_2(config: Path) -> None:
    code, out = run("preview", "long", "--config", str(config))
    assert code == 2
    assert "invalid" in out


def test_preview_of_an_unknown_campaign_exits_2(config: Path) -> None:
    code, out = run("preview", "nope", "--config", str(config))
    assert code == 2
    assert "sale" in out


def test_schedule_lists_upcoming_slots_sorted_in_local_time(config: Path) -> None:
    code, out = run("schedule", "--next", "5", "--from", "2026-11-10 12:00", "--config", str(config))
    assert code == 0, out
    lines = [
        line for line in out.splitlines() if "2026-11" in line and ("sale" in line or "ny" in line or "long" in line)
    ]
    assert len(lines) == 5
    expected = [  # sorted by instant, each shown in its campaign's own timezone
        ("2026-11-10 01:30 EST", "ny"),
        ("2026-11-10 20:00 CST", "sale"),
        ("2026-11-11 00:00 CST", "long"),
        ("2026-11-11 10:00 CST", "sale"),
        ("2026-11-11 01:30 EST", "ny"),
    ]
    for line, (when, name) in zip(lines, expected, strict=True):
        assert when in line and f" {name} " in line
    assert "America/New_York" in out and "Asia/Shanghai" in out
    assert "quiet" not in out  # disabled campaigns are not listed


def test_schedule_for_one_campaign_and_after_its_window(config: Path) -> None:
    code, out = run(
        "schedule", "--campaign", "sale", "--next", "3", "--from", "2026-11-12 00:00", "--config", str(config)
    )
    assert code == 0, out
    assert out.count("sale.j2") == 2  # 12 Nov 10:00 and 20:00: a date-only end includes that day
    code, out = run("schedule", "--campaign", "quiet", "--from", "2026-11-01", "--config", str(config))
    assert code == 0 and "2026-12-01 10:00 CST" in out and "disabled" in out


def test_bad_config_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("accounts: [1, 2\n", encoding="utf-8")
    code, _ = run("schedule", "--config", str(path))
    assert code == 2
