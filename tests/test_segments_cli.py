"""`socialbot segments report|user` through typer's CliRunner on a real database and the shipped config."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.adapters.store import Store
from bot.app.cli import app
from bot.core.records import InteractionRecord, UserRecord
from tests.analysis import test_segments
from tests.analysis.test_segments import SHOP, fill, groups_rows
from tests.conftest import REPO_ROOT

CONFIG = str(REPO_ROOT / "config.yaml")
WIDE = {"COLUMNS": "220"}
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def filled(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    now = datetime.now(UTC)
    monkeypatch.setattr(test_segments, "NOW", now)  # the CLI segments at the wall clock's now
    users, inter, msgs = groups_rows()
    users.append(UserRecord("x", "999", HOSTILE))
    inter.append(InteractionRecord("x", "999", SHOP, "like", "hostile-like", now))
    with Store.open(db_url) as store:
        store.upgrade()
        fill(store, (users, inter, msgs))
    yield db_url


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args), env=WIDE)


def test_report_segments_when_none_exist_and_writes_csv_json_html(filled: str, tmp_path: Path) -> None:
    common = ["--config", CONFIG, "--database", filled]
    result = invoke("segments", "report", *common)
    assert result.exit_code == 0, result.output
    assert "no segments stored yet" in result.output
    assert "complainers at risk" in result.output and "91 people" in result.output
    assert "complaints each on average" in result.output and "σ" not in result.output  # in words
    assert "for example" in result.output and "@angry10" in result.output  # members closest to the centre
    with Store.open(filled) as store:
        assert len(store.segments.runs()) == 1

    files = tmp_path / "out"
    result = invoke(
        "segments", "report", "--csv", str(files / "m.csv"), "--json", str(files / "s.json"),
        "--html", str(files / "s.html"), *common,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with Store.open(filled) as store:
        assert len(store.segments.runs()) == 1, "the report reads the latest run"
    rows = list(csv.DictReader(io.StringIO((files / "m.csv").read_text(encoding="utf-8"))))
    assert len(rows) == 91
    assert next(r for r in rows if r["username"] == "angry1040")["label"].endswith("complainers at risk")
    data = json.loads((files / "s.json").read_text(encoding="utf-8"))
    assert data["n_users"] == 91 and sum(s["size"] for s in data["segments"]) == 91
    assert all(s["z"] and s["centroid"] for s in data["segments"])
    page = (files / "s.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html") and page.count("<svg") >= 2
    assert "complainers at risk" in page and "angry1040" in page
    assert HOSTILE not in page and "&lt;script&gt;" in page, "user data escaped"
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page

    refreshed = invoke("segments", "report", "--refresh", "--json", "-", *common)
    assert refreshed.exit_code == 0, refreshed.output
    again = json.loads(refreshed.stdout)
    assert again["run_id"] == 2
    assert {s["id"]: s["label"] for s in again["segments"]} == {s["id"]: s["label"] for s in data["segments"]}


def test_user_shows_segment_and_features_against_the_centroid(filled: str) -> None:
    common = ["--config", CONFIG, "--database", filled]
    before = invoke("segments", "user", "@angry1040", *common)
    assert before.exit_code == 0, before.output
    assert "no segments yet" in before.output and "complaints" in before.output
    assert invoke("segments", "report", *common).exit_code == 0
    result = invoke("segments", "user", "@ANGRY1040", *common)
    assert result.exit_code == 0, result.output
    assert "complainers at risk" in result.output and "segment mean" in result.output
    assert "complaints" in result.output and "this person" in result.output
    missing = invoke("segments", "user", "@nobody", *common)
    assert missing.exit_code == 1 and "not in the database" in missing.output
