"""`socialbot posts report` on real databases, the variant estimates' 90% intervals, and a small bench run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.adapters.store import Store
from bot.adapters.store.tables import outbox_t, post_metric_t
from bot.app.cli import app
from bot.domains.outcomes.rates import posts_from_columns
from bot.domains.outcomes.variants import estimates

ROOT = Path(__file__).resolve().parent.parent
ZONE = ZoneInfo("America/New_York")


def insert(url: str, table: Any, rows: list[dict[str, Any]]) -> None:
    with Store.open(url) as store:
        store.upgrade()
        if rows:
            with store.db.tx("test rows") as conn:
                conn.execute(table.insert(), rows)


def reading(i: int, posted_at: datetime, **values: Any) -> dict[str, Any]:
    row = {
        "account": "shop",
        "platform": "x",
        "post_id": f"p{i}",
        "outbox_key": f"campaign:spring:{i}",
        "kind": "post",
        "campaign": "spring",
        "variant": "A",
        "posted_at": posted_at,
        "age": "24h",
        "read_at": posted_at + timedelta(hours=24),
        "likes": 10,
        "reposts": 0,
        "replies": 0,
        "quotes": 0,
        "impressions": 1000,
    }
    return row | values


def config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.yaml"
    (tmp_path / "templates").mkdir(exist_ok=True)
    path.write_text(
        f"timezone: America/New_York\ndatabase_url: {url}\naccounts:\n  shop:\n    platform: x\n    handle: shop\n",
        encoding="utf-8",
    )
    return path


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def seeded(tmp_path: Path, url: str) -> Path:
    """Two weeks of posts: variant B does twice as well as A; a post whose shop time is a Tuesday 20:xx."""
    now = datetime.now(UTC).replace(microsecond=0)
    rows, outbox = [], []
    for i in range(24):
        at = now - timedelta(days=2 + i // 2, hours=i % 5)
        variant = "B" if i % 2 else "A"
        rows.append(reading(i, at, variant=variant, likes=40 if variant == "B" else 20))
        outbox.append(
            {
                "key": f"campaign:spring:{i}",
                "account": "shop",
                "kind": "post",
                "text": f"Spring sale <b>#{i}</b>: 20% off everything this weekend",
                "text_hash": f"h{i}",
                "state": "sent",
                "next_attempt_at": at,
                "created_at": at,
                "sent_at": at,
                "campaign": "spring",
            }
        )
    tuesday = now - timedelta(days=(now.astimezone(ZONE).weekday() - 1) % 7 + 7)
    tuesday_local = tuesday.astimezone(ZONE).replace(hour=20, minute=15)
    rows.append(reading(99, tuesday_local.astimezone(UTC), campaign="autumn", variant=None, outbox_key=None))
    insert(url, post_metric_t, rows)
    insert(url, outbox_t, outbox)
    return config(tmp_path, url)


def test_empty_store_says_no_readings_yet(tmp_path: Path, db_url: str) -> None:
    insert(db_url, post_metric_t, [])
    result = run("posts", "report", "--config", str(config(tmp_path, db_url)))
    assert result.exit_code == 0, result.output
    assert "no readings yet" in result.output


def test_report_prints_sentences_and_writes_csv_json_html_in_the_shops_zone(tmp_path: Path, db_url: str) -> None:
    cfg = seeded(tmp_path, db_url)
    out_csv, out_json, out_html = tmp_path / "p.csv", tmp_path / "p.json", tmp_path / "p.html"
    result = run(
        "posts", "report", "--config", str(cfg), "--csv", str(out_csv), "--json", str(out_json), "--html", str(out_html)
    )
    assert result.exit_code == 0, result.output
    text = result.output
    assert "25 posts since" in text and "America/New_York" in text
    assert "Campaign spring: 24 posts" in text
    assert "spring, Variant B: 4.0% engagement (" in text and "sent 12 times" in text
    assert "spring, Variant A: 2.0% engagement (" in text
    assert "Spring sale <b>#" in text  # the post's text, from its outbox row
    assert "e-" not in text and "σ" not in text

    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert len(rows) == 25 and rows[0]["revenue"] == ""
    tuesday = next(r for r in rows if r["post_id"] == "p99")
    assert tuesday["posted_at"].split()[1].startswith("20:15")  # shop time, not UTC
    assert tuesday["posted_at"].endswith(("EST", "EDT"))

    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["timezone"] == "America/New_York"
    posted = datetime.fromisoformat(next(p for p in data["posts"] if p["post_id"] == "p99")["posted_at"])
    assert (posted.weekday(), posted.hour) == (1, 20)
    assert data["best_times"]["shop"]["heatmap_posts"][1][20] == 1
    b = next(v for v in data["variants"] if v["variant"] == "B")
    assert b["interval_90"][0] < 0.04 < b["interval_90"][1] and b["share"] == pytest.approx(0.5)
    assert b["revenue"] is None

    page = out_html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "http" not in page
    assert "Spring sale &lt;b&gt;#" in page and "America/New_York" in page
    assert page.count('<td class="n" style="background:') == 7 * 24


def test_campaign_filter_keeps_lifts_against_all_posts(tmp_path: Path, db_url: str) -> None:
    cfg = seeded(tmp_path, db_url)
    out_json = tmp_path / "autumn.json"
    result = run("posts", "report", "--config", str(cfg), "--campaign", "autumn", "--json", str(out_json))
    assert result.exit_code == 0, result.output
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert [p["post_id"] for p in data["posts"]] == ["p99"]
    assert data["posts"][0]["lift"] < 1  # 1% against the account's usual ~3%
    result = run("posts", "report", "--config", str(cfg), "--since", "2000-01-01", "--campaign", "nothing")
    assert result.exit_code == 0 and "no readings yet for campaign nothing" in result.output


def synthetic(seed: int, rate: float, posts: int = 30) -> dict[str, list[Any]]:
    rng = np.random.default_rng(seed)
    impressions = rng.integers(300, 3000, posts)
    return {
        "account": ["shop"] * posts,
        "campaign": ["c"] * posts,
        "variant": ["A"] * posts,
        "posted_at": [1.7e9 + 3600 * i for i in range(posts)],
        "engagements": rng.binomial(impressions, rate).tolist(),
        "impressions": impressions.tolist(),
        "followers": [None] * posts,
    }


def test_variant_intervals_cover_the_planted_rate_in_most_seeds() -> None:
    covered = 0
    for seed in range(40):
        (estimate,) = estimates(posts_from_columns(synthetic(seed, 0.03)))
        assert estimate.low < estimate.rate < estimate.high
        covered += estimate.low <= 0.03 <= estimate.high
    assert 32 <= covered <= 40  # a 90% interval: 36 expected


def test_overdispersed_posts_widen_the_interval() -> None:
    columns = synthetic(1, 0.03)
    (steady,) = estimates(posts_from_columns(columns))
    columns["engagements"] = [e * (4 if i % 2 else 0) // 2 for i, e in enumerate(columns["engagements"])]
    (uneven,) = estimates(posts_from_columns(columns))
    assert uneven.high - uneven.low > 2 * (steady.high - steady.low)
    assert "sent 30 times" in uneven.sentence()


def test_small_bench_run_reports(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "scripts/bench_outcomes.py", "--readings", "20000", "--dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert any(line.startswith("  generated") for line in lines)  # progress while it runs
    result = dict(part.split("=", 1) for part in lines[-1].split()[1:])
    assert lines[-1].startswith("RESULT ") and int(result["readings"]) >= 19_998
    assert float(result["model_s"]) > 0 and float(result["numpy_s"]) >= 0
