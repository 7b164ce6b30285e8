"""The audience's scheduled jobs (engagement, graph analysis, segments): an interval job whose first turn is right
away and whose failures are logged (with the traceback), never raised into the scheduler; `Progress`, how a
run reports its steps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.core.logs import job_failures

if TYPE_CHECKING:
    from bot.adapters.scheduling import Job

Progress = Callable[[str], None]  # a run's steps, as text (the CLI's spinner)


class _Turn:
    def __init__(self, turn: Callable[[], object], log: logging.Logger, what: str) -> None:
        self.turn = turn
        self.log = log
        self.what = what

    def __call__(self) -> None:
        with job_failures(self.log, self.what):
            self.turn()


def interval_job(
    job_id: str,
    name: str,
    every: timedelta,
    start_at: datetime,
    turn: Callable[[], object],
    *,
    log: logging.Logger,
    what: str,
) -> Job:
    """`turn()` every `every` from `start_at`; a failure is logged on `log` as "<what> failed"."""
    from bot.adapters.scheduling import Job  # APScheduler stays out of the CLI's reports

    return Job(job_id=job_id, func=_Turn(turn, log, what), spec=every.total_seconds(), name=name, start_at=start_at)
