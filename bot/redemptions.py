"""Redemptions the shop reports: a CSV import (`socialbot coupons import-redemptions FILE.csv`) and a small
webhook (POST /redemptions on 127.0.0.1). Unknown, expired and reused codes are recorded with that status
and reported, never counted; an order imported twice is recorded once (idempotent on order_id)."""

from __future__ import annotations

import csv
import json
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.codes import normalise_code
from bot.errors import Problem
from bot.localserver import LocalServer, send_body
from bot.orders import parse_time
from bot.store.coupons import RedemptionLine, RedemptionResult, RedemptionStatus

if TYPE_CHECKING:
    from bot.store import Store

logger = logging.getLogger(__name__)

REQUIRED = ("code", "order_id", "amount", "time")
BATCH = 1000
MAX_BODY = 64 * 1024


@dataclass
class ImportReport:
    results: list[RedemptionResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(r.status for r in self.results)
        keys = (*RedemptionStatus.STORED, RedemptionStatus.DUPLICATE)
        return {key: counted.get(key, 0) for key in keys} | {"bad_rows": len(self.problems)}

    def rejected(self) -> list[RedemptionResult]:
        """Lines recorded but not counted (unknown, expired, reused code)."""
        keep = (RedemptionStatus.UNKNOWN, RedemptionStatus.EXPIRED, RedemptionStatus.REUSED)
        return [r for r in self.results if r.status in keep]


def parse_amount(text: str) -> float:
    value = text.strip().replace(",", "").lstrip("$¥€£")
    amount = float(value)
    if amount < 0 or not math.isfinite(amount):
        raise ValueError(f"{text!r} is not an amount")
    return amount


def parse_line(values: dict[str, Any], source: str | None) -> RedemptionLine:
    """One redemption from CSV cells or webhook JSON; ValueError(message) naming the bad field."""
    code = normalise_code(str(values.get("code") or ""))
    if not code or len(code) > 64:
        raise ValueError("code: empty or longer than 64 characters")
    order_id = str(values.get("order_id") or "").strip()
    if not order_id or len(order_id) > 100:
        raise ValueError("order_id: empty or longer than 100 characters")
    raw_amount = values.get("amount")
    try:
        amount = parse_amount(str(raw_amount)) if raw_amount not in (None, "") else None
    except ValueError as exc:
        raise ValueError(f"amount: {raw_amount!r} is not a number") from exc
    try:
        time = parse_time(str(values.get("time") or ""))
    except ValueError as exc:
        raise ValueError(f"time: {values.get('time')!r} is not an ISO 8601 time") from exc
    return RedemptionLine(code=code, order_id=order_id, amount=amount, time=time, source=source)


def read_redemptions_csv(path: Path) -> tuple[list[RedemptionLine], list[Problem]]:
    """(good lines, problems with file line numbers); a problem with line None: the file is unusable."""
    file = str(path)
    if not path.is_file():
        return [], [Problem(file, None, "", f"redemptions CSV {path} not found")]
    lines: list[RedemptionLine] = []
    problems: list[Problem] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip().lower() if c else "" for c in reader.fieldnames or []]
            missing = [c for c in REQUIRED if c not in columns]
            if missing:
                has = ", ".join(columns) or "nothing"
                return [], [Problem(file, None, "", f"needs the columns {', '.join(missing)} (has: {has})")]
            previous_end = reader.line_num
            for raw in reader:
                line = previous_end + 1
                previous_end = reader.line_num
                if None in raw:
                    problems.append(Problem(file, line, "", f"more fields than the header's {len(columns)}"))
                    continue
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
                if not any(row.values()):
                    continue
                try:
                    lines.append(parse_line(row, f"{path.name}:{line}"))
                except ValueError as exc:
                    key, _, message = str(exc).partition(": ")
                    problems.append(Problem(file, line, key, message))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return lines, [*problems, Problem(file, None, "", f"cannot read {path}: {exc}")]
    return lines, problems


def import_redemptions(store: Store, path: Path) -> ImportReport:
    """Read and record a redemptions CSV (in transactions of BATCH lines)."""
    lines, problems = read_redemptions_csv(path)
    report = ImportReport(problems=problems)
    for start in range(0, len(lines), BATCH):
        report.results.extend(store.record_redemptions(lines[start : start + BATCH]))
    counts = report.counts
    logger.info(
        "redemptions %s: %d counted, %d unknown, %d expired, %d reused, %d imported before, %d bad rows",
        path,
        counts["counted"],
        counts["unknown"],
        counts["expired"],
        counts["reused"],
        counts["duplicate"],
        counts["bad_rows"],
    )
    for result in report.rejected():
        logger.warning(
            "redemption of order %s (%s): code %s %s",
            result.line.order_id,
            result.line.source,
            result.line.code,
            result.status,
        )
    return report


# --------------------------------------------------------------------------------------------- webhook


class _Handler(BaseHTTPRequestHandler):
    server: RedemptionServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("redemption webhook: " + format, *args)

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        send_body(self, status, "application/json", json.dumps(payload).encode())

    def do_GET(self) -> None:
        self._answer(404 if self.path != "/redemptions" else 405, {"error": "POST /redemptions"})

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/redemptions":
            self._answer(404, {"error": "not found: POST /redemptions"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._answer(400, {"error": f"a JSON body of 1 to {MAX_BODY} bytes is needed"})
            return
        try:
            data = json.loads(self.rfile.read(length))
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object {code, order_id, amount, time}")
            line = parse_line(data, "webhook")
        except (ValueError, UnicodeDecodeError) as exc:
            self._answer(400, {"error": str(exc)})
            return
        try:
            [result] = self.server.store.record_redemptions([line])
        except Exception:
            logger.exception("redemption webhook: recording order %s failed", line.order_id)
            self._answer(500, {"error": "could not record the redemption; retry"})
            return
        if result.status not in (RedemptionStatus.COUNTED, RedemptionStatus.DUPLICATE):
            logger.warning("redemption of order %s (webhook): code %s %s", line.order_id, line.code, result.status)
        self._answer(200, {"status": result.status, "order_id": line.order_id, "campaign": result.campaign})


class RedemptionServer(LocalServer):
    """POST /redemptions with JSON {code, order_id, amount, time} -> {"status": counted|unknown|expired|reused|
    duplicate}; 400 with {"error"} for a bad body. Listens on 127.0.0.1 only."""

    thread_name = "redemption-webhook"

    def __init__(self, store: Store, port: int = 0, host: str = "127.0.0.1") -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the redemption webhook listens on 127.0.0.1 only")
        super().__init__(host, port, _Handler)
        self.store = store

    def start(self) -> RedemptionServer:
        super().start()
        logger.info("redemption webhook listening on %s/redemptions", self.url)
        return self


def serve_redemptions(port: int, store: Store, *, host: str = "127.0.0.1") -> RedemptionServer:
    """Start the redemption webhook in a daemon thread (port 0: a free one); `.stop()` to end it."""
    return RedemptionServer(store, port, host).start()
