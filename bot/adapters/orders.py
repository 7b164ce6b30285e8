"""Orders exported by the shop (handle, order_id, amount, time[, product]): good rows kept, bad rows reported
with their file line. Used for RFM features, recommendations and redemption checks, and for attribution: the
optional UTM columns (utm_source, utm_medium, utm_campaign, utm_content, utm_term) or a landing URL column holding
them say which post an order came from. A visits CSV (landing URL, time[, order_id][, handle]) does the same for
shops whose order export has no UTM (read_visits_csv)."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.adapters.templating.filters import utm_of_url
from bot.core.errors import Problem
from bot.settings.products import _price

logger = logging.getLogger(__name__)

Row = tuple[int, dict[str, str]]  # (file line, the row by lower-case column)
REQUIRED = ("handle", "order_id", "amount", "time")
UTM_FIELDS = ("source", "medium", "campaign", "content", "term")
UTM_COLUMNS = tuple(f"utm_{name}" for name in UTM_FIELDS)
# a column holding the URL a visitor landed on (Shopify's export calls it "Landing Site")
LANDING_COLUMNS = ("landing_url", "landing_site", "landing_page", "landing", "url")
VISIT_REQUIRED = ("time",)


@dataclass(frozen=True)
class Order:
    handle: str  # without '@', as the shop exported it
    order_id: str
    amount: float
    time: datetime  # aware, UTC
    product: str | None = None
    utm: dict[str, str] = field(default_factory=dict, compare=False)  # source/medium/campaign/content/term


@dataclass(frozen=True)
class Visit:
    """A visit the shop's analytics recorded: when, the UTM of the URL landed on, and the order it led to."""

    time: datetime  # aware, UTC
    utm: dict[str, str]
    order_id: str | None = None
    handle: str | None = None
    line: int = 0


def _landing_column(columns: list[str]) -> str | None:
    return next((c for c in LANDING_COLUMNS if c in columns), None)


def row_utm(row: dict[str, str], landing: str | None) -> dict[str, str]:
    """The UTM of a CSV row: its utm_* columns, and for those empty, the landing URL's (ValueError: a bad URL)."""
    found = {name: row[f"utm_{name}"] for name in UTM_FIELDS if row.get(f"utm_{name}")}
    if landing is not None and row.get(landing):
        for name, value in utm_of_url(row[landing]).items():
            if name in UTM_FIELDS:
                found.setdefault(name, value)
    return found


def parse_time(text: str) -> datetime:
    """ISO 8601 ('2026-11-11T10:00:00Z', '2026-11-11 10:00', '2026-11-11'); naive values are UTC."""
    value = text.strip()
    if not value:
        raise ValueError("empty time")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _rows(reader: csv.DictReader[str], file: str, columns: list[str], problems: list[Problem]) -> Iterator[Row]:
    """(file line, the row by lower-case column) of each non-blank row; a row longer than the header is a problem."""
    previous_end = reader.line_num
    for raw in reader:
        line = previous_end + 1
        previous_end = reader.line_num
        if None in raw:
            problems.append(Problem(file, line, "", f"row has more fields than the header's {len(columns)}"))
            continue
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if any(row.values()):
            yield line, row


def _when_and_utm(
    row: dict[str, str], landing: str | None, file: str, line: int, problems: list[Problem]
) -> tuple[datetime, dict[str, str]] | None:
    """The row's time and UTM, or None with the problem recorded."""
    try:
        when = parse_time(row["time"])
    except ValueError:
        problems.append(Problem(file, line, "time", f"time {row['time']!r} is not an ISO 8601 time"))
        return None
    try:
        return when, row_utm(row, landing)
    except ValueError:
        problems.append(Problem(file, line, landing or "", f"landing URL {row[landing or '']!r} is not a URL"))
        return None


def read_orders_csv(path: Path) -> tuple[list[Order], list[Problem]]:
    """Parse an orders CSV (UTF-8, header row with handle, order_id, amount, time; product optional; for
    attribution utm_source, utm_medium, utm_campaign, utm_content, utm_term and/or a landing URL column, optional).

    Returns (orders, problems); a problem with line None means the file itself is unusable. A repeated
    order_id keeps its first row and reports the others."""
    file = str(path)
    if not path.is_file():
        return [], [Problem(file, None, "", f"orders CSV {path} not found")]
    orders: list[Order] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip().lower() if c else "" for c in reader.fieldnames or []]
            missing = [c for c in REQUIRED if c not in columns]
            if not columns or missing:
                has = ", ".join(columns) or "nothing"
                need = ", ".join(missing or REQUIRED)
                return [], [Problem(file, None, "", f"orders CSV {path} needs the columns {need} (has: {has})")]
            landing = _landing_column(columns)
            for line, row in _rows(reader, file, columns, problems):
                handle_ = row["handle"].lstrip("@＠")
                if not handle_:
                    problems.append(Problem(file, line, "handle", "empty handle"))
                    continue
                if not row["order_id"]:
                    problems.append(Problem(file, line, "order_id", "empty order_id"))
                    continue
                if row["order_id"] in seen:
                    first = seen[row["order_id"]]
                    problems.append(Problem(file, line, "order_id", f"order {row['order_id']} repeats line {first}"))
                    continue
                try:
                    amount = _price(row["amount"])
                except ValueError:
                    problems.append(Problem(file, line, "amount", f"amount {row['amount']!r} is not a number"))
                    continue
                parsed = _when_and_utm(row, landing, file, line, problems)
                if parsed is None:
                    continue
                when, utm = parsed
                seen[row["order_id"]] = line
                orders.append(Order(handle_, row["order_id"], amount, when, row.get("product") or None, utm))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return orders, [*problems, Problem(file, None, "", f"cannot read orders CSV {path}: {exc}")]
    logger.debug("read %d orders from %s (%d bad rows)", len(orders), path, len(problems))
    return orders, problems


@dataclass(frozen=True)
class OrderColumns:
    """Orders as columns, what the segments' RFM features read: handle (without '@'), amount, time (epoch seconds)."""

    handle: list[str]
    amount: list[float]
    epoch: list[float]

    def __len__(self) -> int:
        return len(self.handle)

    @classmethod
    def of(cls, orders: Iterable[Order]) -> OrderColumns:
        rows = [(o.handle, o.amount, o.time.timestamp()) for o in orders]
        return cls([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def read_order_columns(path: Path) -> tuple[OrderColumns, list[Problem]]:
    """read_orders_csv for the RFM features: the same orders kept and the same problems reported, read with a
    plain csv.reader into columns (handle, amount, time), no Order per row (a header repeating a column:
    read_orders_csv itself)."""
    file = str(path)
    if not path.is_file():
        return OrderColumns([], [], []), [Problem(file, None, "", f"orders CSV {path} not found")]
    handles: list[str] = []
    amounts: list[float] = []
    epochs: list[float] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            reader = csv.reader(stream)
            columns = [c.strip().lower() if c else "" for c in next(reader, None) or []]
            missing = [c for c in REQUIRED if c not in columns]
            if not columns or missing:
                has = ", ".join(columns) or "nothing"
                need = ", ".join(missing or REQUIRED)
                return OrderColumns([], [], []), [
                    Problem(file, None, "", f"orders CSV {path} needs the columns {need} (has: {has})")
                ]
            if len(set(columns)) < len(columns):
                orders, problems = read_orders_csv(path)
                return OrderColumns.of(orders), problems
            width = len(columns)
            at = {name: j for j, name in enumerate(columns)}
            j_handle, j_order, j_amount, j_time = (at[c] for c in REQUIRED)
            landing = _landing_column(columns)
            j_landing = at[landing] if landing is not None else None
            previous_end = reader.line_num
            for raw in reader:
                if not raw:  # a blank line, which csv.DictReader skips (a row after it: read_orders_csv's line)
                    continue
                line = previous_end + 1
                previous_end = reader.line_num
                if len(raw) > width:
                    problems.append(Problem(file, line, "", f"row has more fields than the header's {width}"))
                    continue
                fields = [v.strip() for v in raw]
                if len(fields) < width:
                    fields.extend([""] * (width - len(fields)))
                if not any(fields):
                    continue
                handle_ = fields[j_handle].lstrip("@＠")
                order_id = fields[j_order]
                if not handle_:
                    problems.append(Problem(file, line, "handle", "empty handle"))
                    continue
                if not order_id:
                    problems.append(Problem(file, line, "order_id", "empty order_id"))
                    continue
                if order_id in seen:
                    problems.append(Problem(file, line, "order_id", f"order {order_id} repeats line {seen[order_id]}"))
                    continue
                try:
                    amount = _price(fields[j_amount])
                except ValueError:
                    problems.append(Problem(file, line, "amount", f"amount {fields[j_amount]!r} is not a number"))
                    continue
                try:
                    when = parse_time(fields[j_time])
                except ValueError:
                    problems.append(Problem(file, line, "time", f"time {fields[j_time]!r} is not an ISO 8601 time"))
                    continue
                if j_landing is not None and fields[j_landing]:
                    try:
                        utm_of_url(fields[j_landing])
                    except ValueError:
                        problems.append(
                            Problem(file, line, landing or "", f"landing URL {fields[j_landing]!r} is not a URL")
                        )
                        continue
                seen[order_id] = line
                handles.append(handle_)
                amounts.append(amount)
                epochs.append(when.timestamp())
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        columns_read = OrderColumns(handles, amounts, epochs)
        return columns_read, [*problems, Problem(file, None, "", f"cannot read orders CSV {path}: {exc}")]
    logger.debug("read %d orders from %s (%d bad rows)", len(handles), path, len(problems))
    return OrderColumns(handles, amounts, epochs), problems


def read_visits_csv(path: Path) -> tuple[list[Visit], list[Problem]]:
    """Parse a visits CSV (UTF-8, header row with a landing URL column (landing_url, landing_site, landing_page,
    landing or url) or utm_* columns, and time; order_id and handle optional): the visits whose URL names a UTM
    campaign. Returns (visits, problems) like read_orders_csv; a visit without UTM is not a problem, only skipped."""
    file = str(path)
    if not path.is_file():
        return [], [Problem(file, None, "", f"visits CSV {path} not found")]
    visits: list[Visit] = []
    problems: list[Problem] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip().lower() if c else "" for c in reader.fieldnames or []]
            landing = _landing_column(columns)
            if not columns or "time" not in columns or (landing is None and "utm_campaign" not in columns):
                has = ", ".join(columns) or "nothing"
                return [], [
                    Problem(
                        file,
                        None,
                        "",
                        f"visits CSV {path} needs the columns landing_url (or utm_*) and time (has: {has})",
                    )
                ]
            for line, row in _rows(reader, file, columns, problems):
                parsed = _when_and_utm(row, landing, file, line, problems)
                if parsed is None:
                    continue
                when, utm = parsed
                if utm.get("campaign"):
                    handle_ = row.get("handle", "").lstrip("@＠") or None
                    visits.append(Visit(when, utm, row.get("order_id") or None, handle_, line))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return visits, [*problems, Problem(file, None, "", f"cannot read visits CSV {path}: {exc}")]
    logger.debug("read %d visits with UTM from %s (%d bad rows)", len(visits), path, len(problems))
    return visits, problems
