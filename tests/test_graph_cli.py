"""`socialbot graph report|user|export` through typer's CliRunner on a real database and the shipped config."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
import pytest
from typer.testing import CliRunner

from bot.adapters.store import Store
from bot.app.cli import app
from tests.analysis.test_graph import fill, planted_rows
from tests.conftest import REPO_ROOT

CONFIG = str(REPO_ROOT / "config.yaml")
WIDE = {"COLUMNS": "220"}


@pytest.fixture
def filled(db_url: str) -> Iterator[str]:
    with Store.open(db_url) as store:
        store.upgrade()
        fill(store, planted_rows(datetime.now(UTC)))
    yield db_url


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args), env=WIDE)


def test_report_makes_a_snapshot_when_none_exists_and_writes_csv_json_html(filled: str, tmp_path: Path) -> None:
    common = ["--config", CONFIG, "--database", filled]
    result = invoke("graph", "report", "--top", "5", *common)
    assert result.exit_code == 0, result.output
    assert "no graph snapshot stored yet" in result.output
    assert "@user101" in result.output and "@user201" in result.output
    assert "PageRank #" in result.output and "brokers" in result.output and "#lamp1" in result.output
    with Store.open(filled) as store:
        assert len(store.graphs.snapshots()) == 1

    files = tmp_path / "out"
    result = invoke(
        "graph", "report", "--top", "0", "--csv", str(files / "r.csv"), "--json", str(files / "r.json"),
        "--html", str(files / "r.html"), *common,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with Store.open(filled) as store:
        assert len(store.graphs.snapshots()) == 1, "the report reads the latest snapshot"
    rows = list(csv.DictReader(io.StringIO((files / "r.csv").read_text(encoding="utf-8"))))
    assert len(rows) == 23 and rows[0]["rank"] == "1" and rows[0]["reasons"]
    assert {rows[0]["username"], rows[1]["username"]} == {"user101", "user201"}
    data = json.loads((files / "r.json").read_text(encoding="utf-8"))
    assert data["n_users"] == 23 and data["n_communities"] >= 2 and data["top"][0]["reasons"]
    page = (files / "r.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html") and "<svg" in page and "user101" in page

    refreshed = invoke("graph", "report", "--refresh", "--json", "-", *common)
    assert refreshed.exit_code == 0, refreshed.output
    assert json.loads(refreshed.stdout)["snapshot_id"] == 2


def test_user_shows_rank_reasons_ties_and_a_tie(filled: str) -> None:
    common = ["--config", CONFIG, "--database", filled]
    assert invoke("graph", "report", *common).exit_code == 0
    result = invoke("graph", "user", "@user150", "--with", "@user101", *common)
    assert result.exit_code == 0, result.output
    assert "rank" in result.output and "connects communities" in result.output
    assert "@user101" in result.output and "@user201" in result.output
    assert "tie with @user101" in result.output and "mutual" in result.output
    missing = invoke("graph", "user", "@nobody", *common)
    assert missing.exit_code == 1 and "not in the database" in missing.output


@pytest.mark.parametrize("fmt", ["gexf", "graphml"])
def test_export_for_gephi(filled: str, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"g.{fmt}"
    result = invoke("graph", "export", str(target), "--format", fmt, "--config", CONFIG, "--database", filled)
    assert result.exit_code == 0, result.output
    graph = (nx.read_gexf if fmt == "gexf" else nx.read_graphml)(target)
    assert graph.number_of_nodes() == 23
    assert {graph.nodes[n]["label"] for n in graph} >= {"user101", "user150"}
    bad = invoke("graph", "export", str(target), "--format", "png", "--config", CONFIG, "--database", filled)
    assert bad.exit_code == 2 and "gexf or graphml" in bad.output


def test_report_on_an_empty_database_says_what_to_do(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = invoke("graph", "report", "--config", CONFIG, "--database", url)
    assert result.exit_code == 1 and "socialbot db upgrade" in result.output
