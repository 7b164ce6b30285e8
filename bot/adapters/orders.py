"""Orders exported by the shop (handle, order_id, amount, time[, product]): good rows kept, bad rows reported
with their file line. Used for RFM features, recommendations and redemption checks."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.core.errors import Problem
from bot.settings.products import _price

logger = logging.getLogger(__name__)

REQUIRED = ("handle", "order_id", "amount", "time")


@dataclass(frozen=True)
class Order:
    handle: str  # without '@', as the shop exported it
    order_id: str
    amount: float
    time: datetime  # aware, UTC
    product: str | None = None


def parse_time(text: str) -> datetime:
    """ISO 8601 ('2026-11-11T10:00:00Z', '2026-11-11 10:00', '2026-11-11'); naive values are UTC."""
    value = text.strip()
    if not value:
        raise ValueError("empty time")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def read_orders_csv(path: Path) -> tuple[list[Order], list[Problem]]:
    """Parse an orders CSV (UTF-8, header row with handle, order_id, amount, time; product optional).

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
            previous_end = reader.line_num
            for raw in reader:
                line = previous_end + 1
                previous_end = reader.line_num
                if None in raw:
                    problems.append(Problem(file, line, "", f"row has more fields than the header's {len(columns)}"))
                    continue
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
                if not any(row.values()):
                    continue
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
                try:
                    when = parse_time(row["time"])
                except ValueError:
                    problems.append(Problem(file, line, "time", f"time {row['time']!r} is not an ISO 8601 time"))
                    continue
                seen[row["order_id"]] = line
                orders.append(Order(handle_, row["order_id"], amount, when, row.get("product") or None))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return orders, [*problems, Problem(file, None, "", f"cannot read orders CSV {path}: {exc}")]
    logger.debug("read %d orders from %s (%d bad rows)", len(orders), path, len(problems))
    return orders, problems
