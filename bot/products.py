"""Product data from CSV files: good rows kept, each bad row reported with its file line."""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.errors import Problem

logger = logging.getLogger(__name__)

_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")


def _value(text: str) -> Any:
    """Extra columns that hold plain numbers become numbers (so templates can do arithmetic)."""
    if _NUMBER.match(text):
        return float(text) if "." in text else int(text)
    return text


def _price(text: str) -> float:
    cleaned = text.strip().replace(",", "").replace("_", "")
    for symbol in ("¥", "$", "€", "£", "￥"):
        cleaned = cleaned.removeprefix(symbol)
    value = float(cleaned)
    if value != value or value < 0:  # NaN or negative
        raise ValueError(text)
    return value


def read_products_csv(path: Path) -> tuple[list[Any], list[Problem]]:
    """Parse a products CSV (UTF-8, header row; `name` required, `price` numeric, other columns kept).

    Returns (products, problems). A problem with line None means the file itself is unusable.
    """
    from bot.config import Product

    file = str(path)
    if not path.is_file():
        return [], [Problem(file, None, "", f"products CSV {path} not found")]
    products: list[Any] = []
    problems: list[Problem] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames
            if not header:
                return [], [Problem(file, None, "", f"products CSV {path} is empty (it needs a header row)")]
            columns = [c.strip() if c else c for c in header]
            if "name" not in columns:
                has = ", ".join(map(str, columns))
                return [], [Problem(file, None, "", f"products CSV {path} needs a 'name' column (has: {has})")]
            previous_end = reader.line_num
            for raw in reader:
                line = previous_end + 1
                previous_end = reader.line_num
                if None in raw:
                    fields = len(columns) + len(raw[None])
                    problems.append(Problem(file, line, "", f"row has {fields} fields, header has {len(columns)}"))
                    continue
                row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
                if not any(row.values()):
                    continue  # blank line
                if not row.get("name"):
                    problems.append(Problem(file, line, "", "row has an empty 'name'"))
                    continue
                values: dict[str, Any] = {
                    k: (v if k in ("name", "url", "price") else _value(v)) for k, v in row.items() if v != ""
                }
                if "price" in values:
                    try:
                        values["price"] = _price(values["price"])
                    except ValueError:
                        problems.append(Problem(file, line, "", f"price {row['price']!r} is not a number"))
                        continue
                try:
                    products.append(Product.model_validate(values))
                except ValidationError as exc:
                    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                    problems.append(Problem(file, line, "", detail))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return products, [*problems, Problem(file, None, "", f"cannot read products CSV {path}: {exc}")]
    logger.debug("read %d products from %s (%d bad rows)", len(products), path, len(problems))
    return products, problems
