"""An in-memory Platform that records every send, for the store's concurrency tests (no HTTP needed)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime

from bot.models import OutgoingMessage, User


class RecordingPlatform:
    name = "recording"
    max_length = 280

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 1_000_000_000_000_000_000
        self.sent: dict[str, str] = {}  # key -> remote id
        self.sends: Counter[str] = Counter()

    def me(self) -> User:
        return User("1", "shop")

    def length(self, text: str) -> int:
        return len(text)

    def send(self, message: OutgoingMessage) -> str:
        with self._lock:
            self._next += 1
            self.sends[message.key] += 1
            self.sent[message.key] = str(self._next)
            return str(self._next)

    def find_sent(self, message: OutgoingMessage, *, since: datetime | None = None) -> str | None:
        with self._lock:
            return self.sent.get(message.key)

    def close(self) -> None:
        pass
