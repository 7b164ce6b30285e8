"""Product data from CSV files: good rows kept, each bad row reported with its file line (the first
MAX_LISTED_PROBLEMS of them; the rest summarised by kind).

A file is read once per change: the result is kept by path, size and modification time, so several campaigns
naming one CSV, and a reload that did not touch it, reuse the rows. Long files show progress through the
callback `reading_progress` installs (the CLI's `check`); the daemon installs none.
"""

from __future__ import annotations

import csv
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, ValidationError

from bot.core.errors import Problem
from bot.core.memory import paused_gc
from bot.settings.base import ConfigModel

logger = logging.getLogger(__name__)

_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")
_NUMERIC_START = frozenset("-0123456789")
_TEXT_COLUMNS = frozenset(("name", "url", "price"))

MAX_LISTED_PROBLEMS = 20
PROGRESS_EVERY = 20_000  # rows between progress calls
_CACHED_FILES = 8


class Product(ConfigModel):
    """A product a campaign template can show: a name, optionally a price and a URL, any other columns as given."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str
    price: float | None = None
    url: str | None = None


ReadProgress = Callable[[str, int, int], None]  # (file, bytes read, file size)
_progress: ContextVar[ReadProgress | None] = ContextVar("products_read_progress", default=None)
_cache: dict[str, tuple[tuple[int, int, int], list[Product], list[Problem]]] = {}
_cache_lock = threading.Lock()


@contextmanager
def reading_progress(callback: ReadProgress) -> Iterator[None]:
    """Products CSVs read inside this block report (file, bytes read, size) every PROGRESS_EVERY rows."""
    token = _progress.set(callback)
    try:
        yield
    finally:
        _progress.reset(token)


def _value(text: str) -> Any:
    """Extra columns that hold plain numbers become numbers (so templates can do arithmetic)."""
    if text[0] in _NUMERIC_START and _NUMBER.match(text):
        return float(text) if "." in text else int(text)
    return text


def _price(text: str) -> float:
    try:
        value = float(text)  # the usual case, '399' or '12.5'
    except ValueError:
        cleaned = text.strip().replace(",", "").replace("_", "")
        for symbol in ("¥", "$", "€", "£", "￥"):
            cleaned = cleaned.removeprefix(symbol)
        value = float(cleaned)
    if value != value or value < 0:  # NaN or negative
        raise ValueError(text)
    return value


def read_products_csv(path: Path) -> tuple[list[Product], list[Problem]]:
    """Parse a products CSV (UTF-8, header row; `name` required, `price` numeric, other columns kept).

    Returns (products, problems). A problem with line None means the file itself is unusable, or (with other
    problems beside it) summarises the bad rows past the first MAX_LISTED_PROBLEMS.
    """
    file = str(path)
    try:
        stat = path.stat()
    except OSError:
        stat = None
    if stat is None or not path.is_file():
        return [], [Problem(file, None, "", f"products CSV {path} not found")]
    key = str(path.resolve())
    version = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] == version:
        return list(cached[1]), list(cached[2])
    with paused_gc():
        products, problems = _read(path, stat.st_size)
    if not any(p.line is None for p in problems):  # a file that could not be read is read again next time
        with _cache_lock:
            _cache.pop(key, None)
            while len(_cache) >= _CACHED_FILES:
                _cache.pop(next(iter(_cache)))
            _cache[key] = (version, products, problems)
    return list(products), list(problems)


def _read(path: Path, size: int) -> tuple[list[Product], list[Problem]]:
    file = str(path)
    products: list[Product] = []
    problems: list[Problem] = []
    kinds: Counter[str] = Counter()
    first_lines: dict[str, list[int]] = {}

    def bad(line: int, kind: str, message: str) -> None:
        kinds[kind] += 1
        if len(problems) < MAX_LISTED_PROBLEMS:
            problems.append(Problem(file, line, "", message))
        else:
            first_lines.setdefault(kind, [])
            if len(first_lines[kind]) < 5:
                first_lines[kind].append(line)

    progress = _progress.get()
    validate = Product.model_validate
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                return [], [Problem(file, None, "", f"products CSV {path} is empty (it needs a header row)")]
            columns = [c.strip() for c in header]
            if "name" not in columns:
                has = ", ".join(columns)
                return [], [Problem(file, None, "", f"products CSV {path} needs a 'name' column (has: {has})")]
            width = len(columns)
            numeric = [c not in _TEXT_COLUMNS for c in columns]
            previous_end = reader.line_num
            for count, cells in enumerate(reader, 1):
                line = previous_end + 1
                previous_end = reader.line_num
                if progress is not None and count % PROGRESS_EVERY == 0:
                    progress(file, handle.buffer.tell(), size)
                if not cells:
                    continue  # blank line
                if len(cells) > width:
                    bad(line, "fields", f"row has {len(cells)} fields, header has {width}")
                    continue
                values: dict[str, Any] = {}
                for column, cell, number in zip(columns, cells, numeric, strict=False):  # short row: rest empty
                    cell = cell.strip()
                    if cell:
                        values[column] = _value(cell) if number else cell
                if not values:
                    continue  # only empty cells
                if "name" not in values:
                    bad(line, "name", "row has an empty 'name'")
                    continue
                if "price" in values:
                    try:
                        values["price"] = _price(values["price"])
                    except ValueError:
                        bad(line, "price", f"price {values['price']!r} is not a number")
                        continue
                try:
                    products.append(validate(values))
                except ValidationError as exc:
                    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                    bad(line, "invalid", detail)
            if progress is not None:
                progress(file, size, size)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return products, [*problems, Problem(file, None, "", f"cannot read products CSV {path}: {exc}")]
    if sum(kinds.values()) > len(problems):
        problems.append(Problem(file, None, "", _summary(kinds, len(problems), first_lines)))
    logger.debug("read %d products from %s (%d bad rows)", len(products), path, sum(kinds.values()))
    return products, problems


_KIND_NAMES = {
    "fields": "with more fields than the header",
    "name": "with an empty 'name'",
    "price": "whose price is not a number",
    "invalid": "with invalid values",
}


def _summary(kinds: Counter[str], listed: int, first_lines: dict[str, list[int]]) -> str:
    total = sum(kinds.values())
    parts = []
    for kind, count in kinds.most_common():
        lines = first_lines.get(kind)
        more = f" (e.g. lines {', '.join(map(str, lines))})" if lines else ""
        parts.append(f"{count:,} {_KIND_NAMES[kind]}{more}")
    return f"{total:,} bad rows in all, the first {listed} listed above: " + "; ".join(parts)
