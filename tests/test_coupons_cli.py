"""`socialbot coupons issue|list|report|import-redemptions` through typer's CliRunner on real databases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.adapters.store import Store
from bot.app.cli import app
from tests.conftest import REPO_ROOT
from tests.test_coupons import seed_segments

WIDE = {"COLUMNS": "240"}


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
accounts:
  shop: {{platform: sandbox, handle: shop}}
templates_dir: {REPO_ROOT / "templates"}
segments:
  orders_csv: orders.csv
coupons:
  export_dir: exports
  campaigns:
    d11: {{discount: "15% off", budget: 20, holdout: 0.3, channel: export, code_prefix: "D11-"}}
    thanks: {{discount: "5% off", budget: 5, holdout: 0, segments: [seg1]}}
""",
        encoding="utf-8",
    )
    return config


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args), env=WIDE)


def test_issue_list_import_report(db_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    with Store.open(db_url) as store:
        store.upgrade()
        seed_segments(store, 40)
    common = ["--config", str(config), "--database", db_url]
    result = invoke("coupons", "issue", "d11", *common)
    assert result.exit_code == 0, result.output
    assert "d11" in result.output and "exported to" in result.output
    [export] = list((tmp_path / "exports").iterdir())
    with Store.open(db_url) as store:
        codes = [c for c in store.coupons.find(campaign="d11") if c.code]
        held = [c for c in store.coupons.find(campaign="d11") if c.holdout]
    assert len(codes) == 20 and export.read_text(encoding="utf-8").count("D11-") == 20
    result = invoke("coupons", "issue", "nope", *common)
    assert result.exit_code == 2 and "no coupon campaign" in result.output
    result = invoke("coupons", "issue", *common)  # every campaign: d11 has nothing new, thanks issues 5
    assert result.exit_code == 0, result.output
    assert "budget spent" in result.output

    result = invoke("coupons", "list", "--campaign", "d11", "--state", "delivered", "--limit", "0", *common)
    assert result.exit_code == 0, result.output
    assert result.output.count("D11-") == 20 and "@user" in result.output
    assert invoke("coupons", "list", "--state", "lost", *common).exit_code == 2

    redemptions = tmp_path / "redemptions.csv"
    redemptions.write_text(
        "code,order_id,amount,time\n"
        f"{codes[0].code},O1,100,2026-12-01T00:00:00Z\n"
        f"{codes[1].code},O2,50,2026-12-01T00:00:00Z\n"
        "D11-UNKNOWN,O3,10,2026-12-01\n"
        f"{codes[0].code},O4,20,2026-12-01\n"
        "x,,1,2026-12-01\n",
        encoding="utf-8",
    )
    result = invoke("coupons", "import-redemptions", str(redemptions), *common)
    assert result.exit_code == 0, result.output
    assert "2 counted, 1 unknown, 0 expired, 1 reused" in result.output
    assert "redemptions.csv:6" in result.output  # the bad row, by line

    # two held-out people ordered anyway after the campaign started
    (tmp_path / "orders.csv").write_text(
        "handle,order_id,amount,time\n"
        f"@{held[0].username},S1,30,2100-01-01T00:00:00Z\n"
        f"{held[1].username},S2,30,2100-01-01T00:00:00Z\n"
        f"{held[2].username},S3,30,2000-01-01T00:00:00Z\n",  # before: not counted
        encoding="utf-8",
    )
    result = invoke("coupons", "report", "--json", str(tmp_path / "report.json"), *common)
    assert result.exit_code == 0, result.output
    assert "uplift" in result.output and "d11" in result.output
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    [total] = [r for r in data["rows"] if r["campaign"] == "d11" and r["segment"] == "all"]
    assert (total["issued"], total["held_out"], total["delivered"], total["redeemed"]) == (20, len(held), 20, 2)
    assert total["eligible"] == 20 + len(held) and total["revenue"] == 150.0
    assert total["conversion"] == 0.1 and total["holdout_converted"] == 2
    assert abs(total["uplift"] - (0.1 - 2 / len(held))) < 1e-9
    per_segment = [r for r in data["rows"] if r["campaign"] == "d11" and r["segment"] != "all"]
    assert {r["segment"] for r in per_segment} == {"seg0", "seg1"}
    assert sum(r["issued"] for r in per_segment) == 20
    (tmp_path / "orders.csv").unlink()
    result = invoke("coupons", "report", "--json", "-", *common)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output[result.output.index("{") :])["rows"]
    assert all(r["uplift"] is None for r in rows)


@pytest.mark.slow
def test_bench_script_small_run(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "scripts/bench_coupons.py", "--count", "2000", "--batch", "500"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    last = out.strip().splitlines()[-1]
    assert last.startswith("RESULT coupons=2000 issue_s=")
