"""Acting at a rate: about rate_per_s steps a second for a while, or in a daemon thread until stopped."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from bot.sandbox.audience.records import Action
from bot.sandbox.audience.transport import AudienceError

logger = logging.getLogger(__name__)


class Pacer:
    """Calls `step` (one weighted random action) at a steady rate; never bursts to catch up."""

    def __init__(self, step: Callable[[], list[Action]]) -> None:
        self._step = step
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self, rate_per_s: float, seconds: float, stop: threading.Event | None = None) -> list[Action]:
        """Perform about rate_per_s actions per second for `seconds` (or until `stop` is set)."""
        return self._run(rate_per_s, seconds, stop or threading.Event(), keep=True)

    def _run(self, rate_per_s: float, seconds: float, stop: threading.Event, *, keep: bool) -> list[Action]:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        interval = 1.0 / rate_per_s
        start = time.monotonic()
        deadline = start + seconds
        next_at = start
        out: list[Action] = []
        while not stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            if now < next_at:
                stop.wait(min(next_at, deadline) - now)
                continue
            actions = self._step()
            if keep:
                out.extend(actions)
            next_at += interval
            if next_at < now - 1.0:  # fell behind by more than a second: do not burst to catch up
                next_at = now
        return out

    def start_background(self, rate_per_s: float) -> None:
        """Act at rate_per_s in a daemon thread until stop(); sandbox errors are logged and retried."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self._run(rate_per_s, math.inf, self._stop, keep=False)
                except AudienceError as exc:
                    logger.warning("audience: %s (retrying in 1s)", exc)
                    self._stop.wait(1.0)
                except Exception:
                    logger.exception("audience thread failed")
                    return

        self._thread = threading.Thread(target=loop, name="sandbox-audience", daemon=True)
        self._thread.start()
        logger.info("audience acting at %.2f actions/s", rate_per_s)

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)
