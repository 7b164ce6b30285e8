"""The daemon's retry policies, declared with tenacity (as APScheduler 4 declares its data stores' retries): the
database at start and in delivery. The outbox's per-row backoff is not here: it lives in the database.

Both sleep on the daemon's stop event, so a stop ends a wait at once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    stop_when_event_set,
    wait_exponential,
)

from bot.core.errors import StoreError, StoreUnavailable

DATABASE_RETRY_MAX_SECONDS = 10.0
BACKOFF = wait_exponential(multiplier=0.5, max=DATABASE_RETRY_MAX_SECONDS)  # 0.5, 1, 2, 4, 8, 10, 10 ... s

RetryHook = Callable[[RetryCallState], None]


def log_retry(log: logging.Logger, what: str, *, limit: float | None = None, once: bool = False) -> RetryHook:
    """A `before_sleep` hook: a warning naming what is retried, the attempt that failed, when the next one is and
    (with `limit`, the seconds the policy keeps trying) how long is left. `once`: only the first retry of a call
    warns; the later ones are logged at debug level."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        left = "" if limit is None else f", {max(0.0, limit - (state.seconds_since_start or 0.0)):.0f} s left"
        level = logging.DEBUG if once and state.attempt_number > 1 else logging.WARNING
        log.log(level, "%s (attempt %d failed; next in %.1f s%s): %s", what, state.attempt_number, wait, left, error)

    return before_sleep


def database_at_start(seconds: float, stop: threading.Event, log: logging.Logger) -> Retrying:
    """Opening the database: an unavailable one (StoreUnavailable; a wrong URL or password fails at once) is tried
    again for `seconds` or until stop, backing off from 0.5 s to 10 s, the last wait cut short at the deadline."""

    def wait(state: RetryCallState) -> float:
        return min(BACKOFF(state), max(0.0, seconds - (state.seconds_since_start or 0.0)))

    return Retrying(
        retry=retry_if_exception_type(StoreUnavailable),
        stop=stop_after_delay(seconds) | stop_when_event_set(stop),
        wait=wait,
        sleep=stop.wait,
        before_sleep=log_retry(log, "waiting for the database", limit=seconds),
        reraise=True,
    )


def database_in_delivery(stop: threading.Event, before_sleep: RetryHook) -> Retrying:
    """A delivery pass: any StoreError is waited out, backing off from 0.5 s to 10 s between passes, until the
    daemon stops (the last StoreError is then raised)."""
    return Retrying(
        retry=retry_if_exception_type(StoreError),
        stop=stop_when_event_set(stop),
        wait=BACKOFF,
        sleep=stop.wait,
        before_sleep=before_sleep,
        reraise=True,
    )
