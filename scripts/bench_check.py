#!/usr/bin/env python3
"""`socialbot check` on a large catalogue: the shipped config and templates with data/double11.csv (read by two
campaigns) replaced by ROWS products, a few of them unusual (emoji, Chinese, long names), checked by the real
CLI in a subprocess.

Baselines in the same run: a bare csv.reader pass over the same file (the floor), and the path this replaced,
which rendered every product with every variant, each render handing the template the whole catalogue:
a few of those renders timed on the same catalogue and extrapolated to ROWS x variants x campaigns.
Last line: RESULT rows=N check_s=X csv_only_s=C per_row_extrapolated_s=P speedup=S peak_mb=M exit=0
(goal: check_s <= 30 for 1,000,000 rows)
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UNUSUAL = ["Kumo lamp 🌙✨", "云 亚麻被套 特别版", "Sora oak side table, extra long edition for the big living room"]


def write_catalogue(path: Path, rows: int) -> None:
    rng = random.Random(1)
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["name", "name_zh", "price", "sale_price", "url"])
        for n in range(rows):
            price = rng.randint(50, 2000)
            name = UNUSUAL[n % len(UNUSUAL)] if n % 99_991 == 7 else f"Product {n} lamp"
            out.writerow([name, f"产品{n}", price, price - 30, f"https://lumenhome.example.com/p/item-{n}"])


def old_path_seconds(config: Path, samples: int) -> float:
    """Seconds the replaced check would take: every product x variant x account of every campaign rendered by
    TemplateRenderer with the full catalogue in its context; `samples` renders of each big campaign timed."""
    from bot.adapters.templating import TemplateRenderer
    from bot.app.checking import sample_slots
    from bot.core.clock import FrozenClock
    from bot.settings.config import load_config

    settings = load_config(config, require_credentials=False)
    now = datetime(2026, 10, 30, tzinfo=UTC)
    renderer = TemplateRenderer(settings, clock=FrozenClock(now))
    total = 0.0
    for name, campaign in settings.campaigns.items():
        count = renderer.variants(renderer.campaign_template(name))
        renders = max(1, len(campaign.products)) * count * len(campaign.targets)
        slot = sample_slots(settings, name, now)[0]
        tries = min(samples, renders)
        started = time.perf_counter()
        for index in range(tries):
            renderer.render_campaign(name, slot_at=slot, sequence=index, variant=index % count)
        total += (time.perf_counter() - started) / tries * renders
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="products in the catalogue")
    parser.add_argument("--baseline-renders", type=int, default=4, help="renders timed per campaign, old path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in ("templates", "data"):
            shutil.copytree(ROOT / name, folder / name)
        shutil.copy(ROOT / "config.yaml", folder / "config.yaml")
        catalogue = folder / "data" / "double11.csv"
        write_catalogue(catalogue, args.rows)
        print(f"{args.rows:,} products ({catalogue.stat().st_size / 1e6:.0f} MB)", flush=True)

        started = time.perf_counter()
        with catalogue.open(encoding="utf-8", newline="") as handle:
            sum(1 for _ in csv.reader(handle))
        csv_s = time.perf_counter() - started

        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "bot", "check", "--config", str(folder / "config.yaml")],
            capture_output=True,
            text=True,
            cwd=folder,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
            check=False,
        )
        check_s = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(done.stdout.strip(), flush=True)
        if done.returncode != 0:
            print(done.stderr[-3000:], flush=True)
        per_row_s = old_path_seconds(folder / "config.yaml", args.baseline_renders)

    print(
        f"RESULT rows={args.rows} check_s={check_s:.1f} csv_only_s={csv_s:.1f} "
        f"per_row_extrapolated_s={per_row_s:.0f} speedup={per_row_s / check_s:.0f} peak_mb={peak_mb:.0f} "
        f"exit={done.returncode}"
    )
    if done.returncode != 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
