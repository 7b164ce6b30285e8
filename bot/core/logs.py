"""Logging set-up: one line per event, text or JSON, secrets redacted, chatty vendor loggers quietened."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Literal

from bot.core.errors import StoreUnavailable

LogFormat = Literal["text", "json"]

# Vendor loggers that log request headers (tokens) or are noisy at DEBUG.
_QUIET = ("tweepy", "requests_oauthlib", "oauthlib", "urllib3", "httpx", "httpcore", "apscheduler", "alembic")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


@contextmanager
def job_failures(log: logging.Logger, job: str) -> Iterator[None]:
    """The top of a scheduler job: it never raises. A database outage is one warning line (the next run tries
    again); anything else is logged with its traceback."""
    try:
        yield
    except StoreUnavailable as exc:
        log.warning("%s waits for the database: %s", job, exc)
    except Exception:
        log.exception("%s failed", job)


def register_secret(value: str | None) -> None:
    """Never let `value` reach a log line (replaced by '***')."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatException(self, ei: object) -> str:
        return redact(super().formatException(ei))  # type: ignore[arg-type]


def setup_logging(level: str | int = "INFO", fmt: LogFormat = "text", stream: IO[str] | None = None) -> None:
    """Configure the root logger once for the process (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_socialbot", False):
            root.removeHandler(old)
    handler._socialbot = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
