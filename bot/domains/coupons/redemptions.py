"""Redemptions the shop reports: a CSV import (`socialbot coupons import-redemptions FILE.csv`) and a signed
webhook (POST /redemptions on 127.0.0.1). Unknown, expired and reused codes are recorded with that status
and reported, never counted; an order imported twice is recorded once (idempotent on order_id)."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.adapters.localserver import Limits, LocalServer, Request, Response, Route, TokenBucket, json_response
from bot.adapters.orders import parse_time
from bot.adapters.store.types import storable
from bot.core.clock import Clock, SystemClock, ensure_utc
from bot.core.errors import Problem
from bot.core.logs import register_secret
from bot.core.records import RedemptionLine, RedemptionResult, RedemptionStatus
from bot.domains.coupons.codes import normalise_code
from bot.settings.coupons import REDEMPTION_SECRET_ENV

if TYPE_CHECKING:
    from bot.core.ports import RedemptionStore

logger = logging.getLogger(__name__)

REQUIRED = ("code", "order_id", "amount", "time")
BATCH = 10_000
MAX_BODY = 64 * 1024


@dataclass
class ImportReport:
    """What an import did. Counts cover every line; `problems`, `results` and rejected() keep the first KEEP of
    each (the problems file, when asked for, has them all)."""

    results: list[RedemptionResult] = field(default_factory=list)  # the first KEEP recorded lines
    problems: list[Problem] = field(default_factory=list)  # the first KEEP bad rows; line None: file unusable
    statuses: Counter[str] = field(default_factory=Counter)
    bad_kinds: Counter[str] = field(default_factory=Counter)  # bad rows per field (code, amount, time, fields ...)
    rows: int = 0  # data rows read
    sink: Callable[[Problem], None] | None = None  # hears every bad row (the problems file)
    _rejected: list[RedemptionResult] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        keys = (*RedemptionStatus.STORED, RedemptionStatus.DUPLICATE)
        unusable = sum(1 for p in self.problems if p.line is None)
        return {key: self.statuses.get(key, 0) for key in keys} | {"bad_rows": self.bad_rows + unusable}

    @property
    def bad_rows(self) -> int:
        return sum(self.bad_kinds.values())

    def rejected(self) -> list[RedemptionResult]:
        """Lines recorded but not counted (unknown, expired, reused code): the first KEEP."""
        return list(self._rejected)

    def add_problem(self, problem: Problem, kind: str) -> None:
        self.bad_kinds[kind] += 1
        if len(self.problems) < KEEP:
            self.problems.append(problem)
        if self.sink is not None:
            self.sink(problem)

    def add_results(self, results: list[RedemptionResult]) -> None:
        for result in results:
            self.statuses[result.status] += 1
            if result.status in _NOT_COUNTED and len(self._rejected) < KEEP:
                self._rejected.append(result)
        self.results.extend(results[: max(0, KEEP - len(self.results))])


KEEP = 1000
_NOT_COUNTED = (RedemptionStatus.UNKNOWN, RedemptionStatus.EXPIRED, RedemptionStatus.REUSED)
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, kept by surrogateescape
ImportProgress = Callable[[int, int], None]  # (bytes read, file size)


def parse_amount(text: str) -> float:
    try:
        amount = float(text)  # the usual '120.50'
    except ValueError:
        amount = float(text.strip().replace(",", "").lstrip("$¥€£"))
    if amount < 0 or not math.isfinite(amount):
        raise ValueError(f"{text!r} is not an amount")
    return amount


def parse_line(values: dict[str, Any], source: str | None) -> RedemptionLine:
    """One redemption from CSV cells or webhook JSON; ValueError(message) naming the bad field. Text is made
    storable first (bot.adapters.store.types.storable: a NUL removed), as the store would."""
    amount = values.get("amount")
    return _parse(
        str(values.get("code") or ""),
        str(values.get("order_id") or ""),
        None if amount in (None, "") else str(amount),
        str(values.get("time") or ""),
        source,
    )


def _parse(raw_code: str, raw_order: str, raw_amount: str | None, raw_time: str, source: str | None) -> RedemptionLine:
    code = storable(normalise_code(raw_code))
    if not code or len(code) > 64:
        raise ValueError("code: empty or longer than 64 characters")
    order_id = storable(raw_order.strip())
    if not order_id or len(order_id) > 100:
        raise ValueError("order_id: empty or longer than 100 characters")
    try:
        amount = parse_amount(raw_amount) if raw_amount else None
    except ValueError as exc:
        raise ValueError(f"amount: {raw_amount!r} is not a number") from exc
    try:
        time = datetime.fromisoformat(raw_time)  # the usual '2026-11-11T10:00:00Z'; else parse_time's rules
        if time.tzinfo is not UTC:
            time = ensure_utc(time)
    except ValueError:
        try:
            time = parse_time(raw_time)
        except ValueError as exc:
            raise ValueError(f"time: {raw_time!r} is not an ISO 8601 time") from exc
    return RedemptionLine(code=code, order_id=order_id, amount=amount, time=time, source=source)


def read_redemptions_csv(path: Path) -> tuple[list[RedemptionLine], list[Problem]]:
    """(good lines, problems with file line numbers); a problem with line None: the file is unusable."""
    report = ImportReport()
    lines = [line for batch, _ in _batches(path, report) for line in batch]
    return lines, report.problems


def _batches(path: Path, report: ImportReport) -> Iterator[tuple[list[RedemptionLine], int]]:
    """The file's good lines in batches of BATCH, each with the bytes read so far; bad rows go to
    report.add_problem with their line."""
    file = str(path)
    if not path.is_file():
        report.problems.append(Problem(file, None, "", f"redemptions CSV {path} not found"))
        return
    batch: list[RedemptionLine] = []
    position = 0
    try:
        with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            reader = csv.reader(handle)
            columns = [c.strip().lower() for c in next(reader, [])]
            missing = [c for c in REQUIRED if c not in columns]
            if missing:
                has = ", ".join(columns) or "nothing"
                report.problems.append(Problem(file, None, "", f"needs the columns {', '.join(missing)} (has: {has})"))
                return
            pick = itemgetter(*(columns.index(c) for c in REQUIRED))
            width = len(columns)
            name = path.name
            previous_end = reader.line_num
            while True:
                line = previous_end + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:  # one malformed row (e.g. a field over the size limit): the rest go on
                    previous_end = reader.line_num
                    report.rows += 1
                    report.add_problem(Problem(file, line, "", f"not a CSV row: {exc}"), "csv")
                    continue
                previous_end = reader.line_num
                if len(cells) != width:
                    if len(cells) > width:
                        report.rows += 1
                        report.add_problem(Problem(file, line, "", f"more fields than the header's {width}"), "fields")
                        continue
                    cells += [""] * (width - len(cells))  # a short row: the rest are empty (a blank line too)
                code, order, amount, when = pick(cells)
                if not (code or order or amount or when) and not "".join(cells).strip():
                    continue
                report.rows += 1
                whole = "".join(cells)
                if not whole.isascii() and _NOT_UTF8.search(whole):
                    report.add_problem(Problem(file, line, "", "not UTF-8 text (a byte the encoding refuses)"), "utf8")
                    continue
                try:
                    batch.append(_parse(code, order, amount.strip() or None, when, f"{name}:{line}"))
                except ValueError as exc:
                    key, _, message = str(exc).partition(": ")
                    report.add_problem(Problem(file, line, key, message), key)
                    continue
                if len(batch) >= BATCH:
                    position = handle.buffer.tell()
                    yield batch, position
                    batch = []
            position = handle.buffer.tell()
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        report.problems.append(Problem(file, None, "", f"cannot read {path}: {exc}"))
    if batch:
        yield batch, position


PROBLEM_COLUMNS = ("line", "problem", "field", "detail", "order_id", "code")


def import_redemptions(
    store: RedemptionStore, path: Path, *, progress: ImportProgress | None = None, problems_file: Path | None = None
) -> ImportReport:
    """Read and record a redemptions CSV, BATCH lines per transaction, without holding the file in memory.
    `problems_file` receives every bad row and every line not counted (CSV: line, problem, field, detail,
    order_id, code); the report keeps counts and the first KEEP of each."""
    out = None
    if problems_file is not None:
        out = problems_file.open("w", encoding="utf-8", errors="backslashreplace", newline="")
    writer = csv.writer(out) if out is not None else None
    report = ImportReport()
    if writer is not None:
        writer.writerow(PROBLEM_COLUMNS)
        report.sink = lambda p: writer.writerow((p.line or "", "bad row", p.path, p.message, "", ""))
    try:
        size = path.stat().st_size if path.is_file() else 0
        for batch, position in _batches(path, report):
            results = store.redemptions.record(batch)
            report.add_results(results)
            if writer is not None:
                rejected = [
                    ((r.line.source or "").rpartition(":")[2], r.status, "code", "", r.line.order_id, r.line.code)
                    for r in results
                    if r.status in _NOT_COUNTED
                ]
                writer.writerows(rejected)
            if progress is not None:
                progress(position, size)
    finally:
        if out is not None:
            out.close()
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
    rejected = report.rejected()
    if rejected:
        first = rejected[0]
        logger.warning(
            "redemptions %s: %d lines recorded but not counted (unknown, expired or reused code), the first: "
            "order %s (%s) code %s %s",
            path,
            sum(report.statuses[s] for s in _NOT_COUNTED),
            first.line.order_id,
            first.line.source,
            first.line.code,
            first.status,
        )
    return report


# --------------------------------------------------------------------------------------------- webhook

SIGNATURE_HEADER = "Socialbot-Signature"
TOLERANCE_SECONDS = 300  # a signature's timestamp may be this far from the daemon's clock, either way
MAX_DEPTH = 20  # nesting of JSON objects and arrays
RATE_PER_SECOND = 50.0
BURST = 200


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The Socialbot-Signature header value: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str | None, body: bytes, now: float) -> tuple[str | None, str]:
    """(None, matched signature) when `header` signs `body` with `secret` within the tolerance, else (reason, "")."""
    if not header:
        return f"unsigned: a {SIGNATURE_HEADER} header (t=<unix time>,v1=<hex HMAC-SHA256>) is needed", ""
    parts = [part.strip().partition("=") for part in header.split(",")]
    stamps = [value for key, _, value in parts if key == "t"]
    signatures = [value for key, _, value in parts if key == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not signatures:
        return f"{SIGNATURE_HEADER} must look like t=<unix time>,v1=<hex HMAC-SHA256>", ""
    timestamp = int(stamps[0])
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return f"stale: the signature's time is {now - timestamp:.0f} s from now (at most {TOLERANCE_SECONDS})", ""
    expected = sign(secret, body, timestamp).partition(",v1=")[2]
    for candidate in signatures:
        if hmac.compare_digest(expected.encode(), candidate.strip().lower().encode()):
            return None, expected
    return "the signature does not match the body (wrong secret, or the body was changed)", ""


def json_depth_over(body: bytes, limit: int) -> bool:
    """Whether objects/arrays in the JSON text nest deeper than `limit`, without parsing (no recursion)."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


class ReplayGuard:
    """Signatures seen within the tolerance window, in memory (a restart forgets them; a replayed redemption is
    still recorded once, as the order id is unique)."""

    def __init__(self, window: float = 2 * TOLERANCE_SECONDS) -> None:
        self.window = window
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, signature: str, now: float) -> bool:
        with self._lock:
            if len(self._seen) > 1000:
                self._seen = {s: t for s, t in self._seen.items() if now - t <= self.window}
            seen = self._seen.get(signature)
            if seen is not None and now - seen <= self.window:
                return False
            self._seen[signature] = now
            return True


class RedemptionServer(LocalServer):
    """POST /redemptions with JSON {code, order_id, amount, time}, signed (Socialbot-Signature, see `sign`) ->
    {"status": counted|unknown|expired|reused|duplicate}. Refused, with {"error"} and one log line, nothing
    stored: 401 unsigned, wrong or stale signature; 409 a replayed signature; 403 a request from a web page
    (Origin header); 413 over MAX_BODY; 415 not JSON; 400 a bad or too deeply nested body; 429 over the rate.
    Listens on 127.0.0.1 only."""

    def __init__(
        self,
        store: RedemptionStore,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        secret: str,
        clock: Clock | None = None,
        rate: float = RATE_PER_SECOND,
        burst: int = BURST,
        limits: Limits | None = None,
    ) -> None:
        if not secret:
            raise ValueError(f"the redemption webhook needs a secret ({REDEMPTION_SECRET_ENV})")
        register_secret(secret)
        route = Route(
            "/redemptions",
            self._answer,
            methods=("POST",),
            max_body=MAX_BODY,
            content_types=("application/json",),
            limiter=TokenBucket(rate, burst),
        )
        super().__init__("redemption webhook", [route], host=host, port=port, limits=limits)
        self.store = store
        self._secret = secret
        self._clock = clock or SystemClock()
        self._replays = ReplayGuard()

    def start(self) -> RedemptionServer:
        super().start()
        logger.info("redemption webhook listening on %s/redemptions (signed requests only)", self.url)
        return self

    def _refuse(self, request: Request, status: int, reason: str) -> Response:
        self.refused(f"{request.method} {request.path}", request.client, status, reason)
        return json_response(status, {"error": reason})

    def _answer(self, request: Request) -> Response:
        if "origin" in request.headers:
            return self._refuse(request, 403, "requests from web pages (with an Origin header) are refused")
        now = self._clock.now().timestamp()
        reason, signature = verify(self._secret, request.headers.get(SIGNATURE_HEADER.lower()), request.body, now)
        if reason is not None:
            return self._refuse(request, 401, reason)
        if not self._replays.first_time(signature, now):
            return self._refuse(request, 409, "replayed: this signature was already used")
        if json_depth_over(request.body, MAX_DEPTH):
            return self._refuse(request, 400, f"the JSON nests deeper than {MAX_DEPTH} levels")
        try:
            data = json.loads(request.body)
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object {code, order_id, amount, time}")
            line = parse_line(data, "webhook")
        except (ValueError, UnicodeDecodeError) as exc:
            return self._refuse(request, 400, str(exc))
        try:
            [result] = self.store.redemptions.record([line])
        except Exception:
            logger.exception("redemption webhook: recording order %s failed", line.order_id)
            return json_response(500, {"error": "could not record the redemption; retry"})
        if result.status not in (RedemptionStatus.COUNTED, RedemptionStatus.DUPLICATE):
            logger.warning("redemption of order %s (webhook): code %s %s", line.order_id, line.code, result.status)
        return json_response(200, {"status": result.status, "order_id": line.order_id, "campaign": result.campaign})


def serve_redemptions(
    port: int, store: RedemptionStore, *, secret: str, host: str = "127.0.0.1", limits: Limits | None = None
) -> RedemptionServer:
    """Start the redemption webhook in a daemon thread (port 0: a free one); `.stop()` to end it."""
    return RedemptionServer(store, port, host, secret=secret, limits=limits).start()
