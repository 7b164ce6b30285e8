"""Large catalogues and redemption files: `socialbot check` renders a representative sample of a big products CSV
(every row still validated, bad rows summarised past a limit, progress for long files), and a redemptions import
records set-based, summarises its problems (the full list to a file) and never lets one row stop the rest."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import bot.app.commands.check as check_command
from bot.adapters.store import Store
from bot.adapters.store.tables import redemption_t
from bot.app.checking import RENDER_ALL_UP_TO, representative_products, run_checks
from bot.app.cli import app
from bot.core.clock import FrozenClock, ManualClock
from bot.domains.coupons.redemptions import BATCH, import_redemptions
from bot.settings.config import Product
from bot.settings.products import MAX_LISTED_PROBLEMS
from tests.test_coupons_redemptions import issued

ROWS = 5000
TEMPLATE = "{{ product.name }}: {{ product.sale_price | price }} (was {{ product.price | price }}) {{ slot.day }}\n"


def catalogue(folder: Path, rows: int = ROWS, *, special: dict[int, str] | None = None) -> Path:
    """A products CSV of `rows` ordinary rows; `special` replaces row n (1-based) with that raw CSV line."""
    lines = ["name,price,sale_price,url"]
    for n in range(1, rows + 1):
        line = f"Lamp {n},{100 + n % 50},{80 + n % 50},https://shop.example/p/{n}"
        lines.append((special or {}).get(n, line))
    path = folder / "products.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def config(folder: Path, products: Path, *, campaigns: int = 1) -> Path:
    (folder / "templates").mkdir(exist_ok=True)
    (folder / "templates" / "promo.j2").write_text(TEMPLATE, encoding="utf-8")
    body = "".join(
        f"  promo{i}:\n    account: shop\n    template: promo.j2\n    schedule: {{cron: '0 10 * * *'}}\n"
        f"    products_csv: {products.name}\n"
        for i in range(campaigns)
    )
    path = folder / "config.yaml"
    path.write_text(
        "timezone: UTC\ntemplates_dir: templates\ndatabase_url: sqlite:///var/test.db\n"
        "accounts:\n  shop: {platform: sandbox, handle: shop}\ncampaigns:\n" + body,
        encoding="utf-8",
    )
    return path


when = FrozenClock(datetime(2026, 10, 1, tzinfo=UTC))


# ---------------------------------------------------------------------------------------------- check


def test_large_catalogue_is_rendered_from_a_sample_that_finds_the_odd_rows(tmp_path: Path) -> None:
    special = {
        3100: "Lamp without a sale price,120,,https://shop.example/p/odd",  # line 3101: sale_price missing
        4200: "L" + "o" * 290 + "ng lamp,120,99,https://shop.example/p/long",  # too long for X
    }
    report = run_checks(config(tmp_path, catalogue(tmp_path, special=special)), environ={}, clock=when)
    [rendering] = report.renderings
    assert rendering.products == ROWS and rendering.sampled < 200
    assert report.rendered < 400  # not 5,000 renders
    messages = [p.message for p in report.problems]
    assert any("no value" in m and "Lamp without a sale price" in m for m in messages), messages
    assert any("Looo" in m and "280" in m for m in messages), messages


def test_representative_products_picks_every_kind_of_row() -> None:
    rows = [Product(name=f"Lamp {n}", price=float(n), url=f"https://s.example/{n}", size="M") for n in range(1000)]
    rows[600] = Product(name="Lampe ☀ étoile", price=5.0, size="M")  # non-ASCII, no url
    rows[700] = Product(name="Lamp 🌙", price=6.0, size="M")  # outside the BMP (emoji)
    rows[800] = Product(name="Lamp", price=7.0, size=42)  # a number where the rest hold text
    rows[900] = Product(name="Lamp", price=10_000.0)  # no size; the largest price
    rows[950] = Product(name="Lamp " + "x" * 100, price=8.0, size="M")  # the longest name
    picked = set(representative_products(rows))
    assert {0, 600, 700, 800, 900, 950} <= picked
    assert len(picked) < 120
    small = rows[:RENDER_ALL_UP_TO]
    assert representative_products(small) == list(range(len(small)))


def test_campaigns_naming_one_csv_share_one_read(tmp_path: Path) -> None:
    report = run_checks(config(tmp_path, catalogue(tmp_path, 300), campaigns=2), environ={}, clock=when)
    assert report.ok and report.settings is not None
    first, second = (c.products for c in report.settings.campaigns.values())
    assert len(first) == 300 and all(a is b for a, b in zip(first, second, strict=True))


def test_bad_rows_are_listed_up_to_a_limit_then_summarised(tmp_path: Path) -> None:
    special = {n: f"Lamp {n},not a price,1,https://shop.example/p/{n}" for n in range(10, 510)}
    special |= {n: ",1,1,https://shop.example/nameless" for n in range(600, 700)}
    report = run_checks(config(tmp_path, catalogue(tmp_path, 1000, special=special)), environ={}, clock=when)
    listed = [p for p in report.problems if p.line is not None]
    assert [p.line for p in listed] == list(range(11, 11 + MAX_LISTED_PROBLEMS))
    [summary] = [p for p in report.problems if p.line is None]
    assert "600 bad rows" in summary.message
    assert "500 whose price is not a number" in summary.message and "100 with an empty 'name'" in summary.message
    assert report.settings is None or len(report.problems) < 30


def test_check_shows_progress_for_a_long_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_command, "PROGRESS_AFTER_S", 0.0)
    path = config(tmp_path, catalogue(tmp_path, 60_000))
    result = CliRunner().invoke(app, ["check", "--config", str(path)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "check: reading " in result.output and "products.csv: 100%" in result.output
    assert "(a sample of " in result.output and "60,000 products)" in result.output


def test_daemon_checks_say_nothing_about_progress(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    report = run_checks(config(tmp_path, catalogue(tmp_path, 30_000)), environ={}, clock=when)
    assert report.ok
    assert not [r for r in caplog.records if "%" in r.getMessage() or r.levelname not in ("DEBUG",)]


# ---------------------------------------------------------------------------------------------- redemptions


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 1, 9, tzinfo=UTC))


def test_one_odd_row_never_stops_the_import(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    codes = issued(store, clock, tmp_path)
    path = tmp_path / "redemptions.csv"
    with path.open("wb") as handle:
        handle.write(b"code,order_id,amount,time\n")
        handle.write(f"{codes[0]},A1,10,2026-11-03T10:00:00Z\n".encode())
        handle.write(f"{codes[1]},A\x002,10,2026-11-03T10:00:00Z\n".encode())  # NUL: cleaned, goes in
        handle.write(b"NOPE,A3\xff\xfe,10,2026-11-03T10:00:00Z\n")  # not UTF-8: this row only
        handle.write(b'NOPE,A4,10,"' + b"x" * 200_000 + b'"\n')  # over the csv field limit: this row only
        handle.write(f"{codes[2].lower()},A5,10,2026-11-03 10:00\n".encode())
        handle.write(f"{codes[3]}\x00,A6,10,2026-11-03\n".encode())
    report = import_redemptions(store, path)
    assert report.counts["counted"] == 4, report.problems
    assert [(p.line, p.message[:10]) for p in report.problems] == [(4, "not UTF-8 "), (5, "not a CSV ")]
    stored = {r.order_id: (r.code, r.status) for r in store.redemptions.find()}
    assert stored["A2"] == (codes[1], "counted") and stored["A6"] == (codes[3], "counted")
    assert set(stored) == {"A1", "A2", "A5", "A6"}


def test_large_import_is_summarised_consistent_and_stored_as_core_stores(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    codes = issued(store, clock, tmp_path)
    path = tmp_path / "big.csv"
    rows = BATCH + 2500
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["code", "order_id", "amount", "time"])
        for n in range(rows):
            if n % 10 == 9:
                out.writerow([f"NOPE{n}", f"O{n}", "lots", "2026-11-03T10:00:00Z"])  # bad amount
            else:
                code = codes[n % len(codes)] if n < 40 else f"NOPE{n}"  # each code twice: counted, then reused
                out.writerow([code, f"O{n}", "12.5", "2026-11-03T10:00:00Z"])
        out.writerow([codes[0], "O0", "12.5", "2026-11-03T10:00:00Z"])  # an order seen before
    seen: list[tuple[int, int]] = []
    report = import_redemptions(
        store, path, progress=lambda done, total: seen.append((done, total)), problems_file=tmp_path / "problems.csv"
    )
    bad = rows // 10
    counts = report.counts
    assert counts["counted"] == len(codes) and counts["bad_rows"] == bad and counts["duplicate"] == 1
    assert counts["reused"] == 36 - len(codes) and counts["unknown"] == rows - bad - 36
    assert len(report.problems) == 1000 and report.bad_kinds == {"amount": bad}
    assert len(seen) >= 2 and seen[-1][0] == seen[-1][1] == path.stat().st_size
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    with (tmp_path / "problems.csv").open(encoding="utf-8") as handle:
        listed = list(csv.DictReader(handle))
    assert len(listed) == bad + counts["unknown"] + counts["reused"]
    assert {row["problem"] for row in listed} == {"bad row", "unknown", "reused"}
    assert listed[0]["line"] == "11" and listed[0]["field"] == "amount"
    moment = datetime(2026, 11, 3, 10, tzinfo=UTC)
    with store.engine.connect() as conn:  # stored in Core's own format: comparisons with bound times hold
        at = conn.execute(sa.select(sa.func.count()).where(redemption_t.c.redeemed_at == moment)).scalar_one()
    assert at == rows - bad
    assert sum(1 for c in store.coupons.find(campaign="d11") if c.state == "redeemed") == len(codes)


def test_import_command_prints_a_summary_not_a_line_per_row(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    issued(store, clock, tmp_path)
    path = tmp_path / "redemptions.csv"
    body = "".join(f"NOPE{n},O{n},{'lots' if n % 2 else '5'},2026-11-03\n" for n in range(3000))
    path.write_text("code,order_id,amount,time\n" + body, encoding="utf-8")
    (tmp_path / "templates").mkdir(exist_ok=True)
    config = tmp_path / "config.yaml"
    config.write_text(
        "timezone: UTC\naccounts:\n  shop: {platform: sandbox, handle: shop}\ncampaigns: {}\n", encoding="utf-8"
    )
    problems = tmp_path / "problems.csv"
    url = str(store.engine.url.render_as_string(hide_password=False))
    args = ["coupons", "import-redemptions", str(path), "--config", str(config), "--database", url]
    result = CliRunner().invoke(app, [*args, "--problems-file", str(problems)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "1,500 bad row(s) (amount 1,500)" in result.output and "the first 5:" in result.output
    assert "0 counted, 1500 unknown" in result.output
    assert len(result.output.splitlines()) < 25
    assert sum(1 for _ in problems.open(encoding="utf-8")) == 1 + 3000
