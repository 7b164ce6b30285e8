"""`socialbot db upgrade` through the real CLI."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.adapters.store import Store
from bot.adapters.store.migrate import head_revision
from bot.app.cli import app


def test_db_upgrade_with_database_url(db_url: str) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["db", "upgrade", "--database", db_url])
    assert first.exit_code == 0, first.output
    assert "upgraded from empty" in " ".join(first.output.split())
    again = runner.invoke(app, ["db", "upgrade", "--database", db_url])
    assert again.exit_code == 0 and "up to date" in " ".join(again.output.split())
    with Store.open(db_url) as store:
        assert store.revision() == head_revision()


def test_db_upgrade_reads_database_url_from_config(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        "database_url: sqlite:///var/bot.db\naccounts:\n  shop:\n    platform: sandbox\n    handle: shop\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["db", "upgrade", "--config", str(config)], env={"SOCIALBOT_DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "var" / "bot.db").is_file()


def test_unreachable_database_is_a_clear_error_without_password() -> None:
    result = CliRunner().invoke(app, ["db", "upgrade", "--database", "postgresql://bot:hunter2@127.0.0.1:1/x"])
    assert result.exit_code == 1
    assert "hunter2" not in result.output
    assert "database error" in result.output
