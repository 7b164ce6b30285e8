"""Coupon codes: generated with `secrets` in an unambiguous alphabet with a check character, or read from a
pool CSV the shop system exported.

A generated code is an optional campaign prefix, BODY_LENGTH random characters and one check character, all
from ALPHABET (no 0/O, 1/I/L: nothing a customer can misread). The check character makes the weighted sum
sum(i * value(c_i)) over the BODY_LENGTH + 1 characters (i = 1, 2, ...) divisible by 31, the size of the
alphabet and a prime: so any one wrong character, and any two characters swapped, gives an invalid code.
"""

from __future__ import annotations

import csv
import logging
import re
import secrets
from pathlib import Path

from bot.core.errors import Problem

logger = logging.getLogger(__name__)

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # 31 symbols: no 0, O, 1, I, L
BODY_LENGTH = 8
CODE_LENGTH = BODY_LENGTH + 1  # + the check character (the prefix comes on top)
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_N = len(ALPHABET)
_POOL_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$")


def _weighted(chars: str) -> int:
    return sum((i + 1) * _VALUE[c] for i, c in enumerate(chars)) % _N


def check_char(body: str) -> str:
    """The character that completes `body` (alphabet characters) to a valid code."""
    weight = len(body) + 1
    if weight % _N == 0:
        raise ValueError(f"a body of {len(body)} characters cannot carry a check character")
    # weight * v + s == 0 (mod 31)  ->  v = -s * weight^-1
    value = (-_weighted(body) * pow(weight, -1, _N)) % _N
    return ALPHABET[value]


def normalise_code(code: str) -> str:
    """What a customer typed, as stored: capitals, no spaces or inner dashes between groups of the body."""
    return "".join(str(code).split()).upper()


def new_code(prefix: str = "", *, rng: secrets.SystemRandom | None = None) -> str:
    """A fresh random code: prefix + BODY_LENGTH characters + check character."""
    choice = rng.choice if rng is not None else secrets.choice
    body = "".join(choice(ALPHABET) for _ in range(BODY_LENGTH))
    return f"{prefix}{body}{check_char(body)}"


def validate_code(code: str, prefix: str | None = None) -> bool:
    """Whether `code` is a well-formed generated code: its last CODE_LENGTH characters are from the
    alphabet and pass the check (one wrong or two swapped characters fail); with `prefix`, it also
    starts with that prefix and has nothing else."""
    text = normalise_code(code)
    if prefix is not None and (not text.startswith(prefix.upper()) or len(text) != len(prefix) + CODE_LENGTH):
        return False
    if len(text) < CODE_LENGTH:
        return False
    tail = text[-CODE_LENGTH:]
    if any(c not in _VALUE for c in tail):
        return False
    return _weighted(tail) == 0


def read_code_pool(path: Path) -> tuple[list[str], list[Problem]]:
    """Codes from a pool CSV: one code per line, or a header row with a `code` column. Bad lines (odd
    characters, too short or long, repeated) are reported with their line number and left out."""
    file = str(path)
    if not path.is_file():
        return [], [Problem(file, None, "", f"code pool {path} not found")]
    codes: list[str] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [], [Problem(file, None, "", f"cannot read the code pool {path}: {exc}")]
    column = 0
    start = 0
    if rows:
        header = [c.strip().lower() for c in rows[0]]
        if "code" in header:
            column, start = header.index("code"), 1
        elif len(header) > 1:
            return [], [Problem(file, 1, "", "a pool with several columns needs a header row with a `code` column")]
    for index, row in enumerate(rows[start:], start=start + 1):
        if not row or not any(cell.strip() for cell in row):
            continue
        if column >= len(row):
            problems.append(Problem(file, index, "code", "no code on this line"))
            continue
        code = normalise_code(row[column])
        if not _POOL_CODE.match(code):
            problems.append(Problem(file, index, "code", f"{row[column].strip()[:70]!r} is not a usable code"))
            continue
        if code in seen:
            problems.append(Problem(file, index, "code", f"code {code} repeats line {seen[code]}"))
            continue
        seen[code] = index
        codes.append(code)
    for problem in problems:
        logger.warning("code pool: %s", problem)
    return codes, problems
