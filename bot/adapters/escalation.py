"""Escalation webhook: POST a new inbox item to a chat tool (URL from $SOCIALBOT_ESCALATION_WEBHOOK_URL)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from bot.adapters.webhooks import post_json
from bot.settings.replies import WEBHOOK_ENV, Escalation

logger = logging.getLogger(__name__)


class Escalator:
    """Posts inbox items as JSON ({"text": ..., plus the fields}); errors are logged and returned, never raised."""

    def __init__(self, config: Escalation, *, url: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        env = os.environ if environ is None else environ
        self.url = url if url is not None else (env.get(WEBHOOK_ENV) or None)
        self._warned = False

    @property
    def enabled(self) -> bool:
        if self.config.webhook and not self.url and not self._warned:
            self._warned = True
            logger.warning("replies.escalation.webhook is on but %s is not set: no webhook POSTs", WEBHOOK_ENV)
        return bool(self.config.webhook and self.url)

    def post(self, item: Any) -> str:
        """POST one inbox item (bot.adapters.store.mentions.InboxItem); returns the status to record."""
        if not self.url:
            return "skipped: no webhook URL"
        who = f"@{item.username}" if item.username else f"user {item.user_id}"
        why = getattr(item, "reason", None) or item.intent or "escalation"
        payload = {
            "text": f"[socialbot] {why} from {who} to {item.account}: {item.text}",
            "inbox_id": item.id,
            "account": item.account,
            "platform": item.platform,
            "kind": item.kind,
            "mention_id": item.mention_id,
            "user_id": item.user_id,
            "username": item.username,
            "intent": item.intent,
            "reason": getattr(item, "reason", None),
            "customer_text": item.text,
        }
        answer = post_json(self.url, payload, timeout=self.config.timeout_seconds)
        if answer.status is None:
            logger.warning("escalation webhook for inbox item %s failed: %s", item.id, answer.error_type)
            return f"error: {answer.error_type}: {answer.error}"[:200]
        if answer.ok:
            logger.info("escalation webhook for inbox item %s: HTTP %d", item.id, answer.status)
            return f"sent: HTTP {answer.status}"
        logger.warning("escalation webhook for inbox item %s: HTTP %d", item.id, answer.status)
        return f"error: HTTP {answer.status}"
