"""A campaign's export for the shop's own email tool: the CSV written atomically, and the optional webhook."""

from __future__ import annotations

import csv
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def write_csv_atomically(target: Path, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns))
            writer.writeheader()
            writer.writerows(rows)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def post_webhook(url: str, payload: Mapping[str, Any]) -> str:
    """POST the export to the shop's webhook; the URL is never logged (it may carry a token)."""
    from bot.adapters.webhooks import post_json

    answer = post_json(url, payload, timeout=10, trust_env=False)
    if not answer.ok:
        failure = answer.error_type or f"HTTP {answer.status}"
        logger.warning("coupons: the export webhook failed (%s); the CSV file has the codes", failure)
        return f"failed: {failure}"
    logger.info("coupons: export of %s posted to the webhook", payload.get("campaign"))
    return "sent"
