"""SIGTERM, SIGINT and SIGHUP for `socialbot run`, caught from its first moment (standard library only).

`bot/app/cli.py` installs the handlers before it imports anything else, so a signal during start-up (config check,
the wait for the database, migrations, platform connections) never kills the daemon: a stop ends start-up
cleanly, and a SIGHUP is remembered and applied once, as one reload, when the daemon is ready.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

_early: DaemonSignals | None = None


class DaemonSignals:
    """The daemon's signal handlers. They only set flags and events: logging and reloading happen elsewhere."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.stop_signal: str | None = None  # the first SIGTERM/SIGINT received
        self._reload: Callable[[], object] | None = None
        self._hup_pending = False
        self._previous: dict[signal.Signals, Any] = {}

    def install(self) -> DaemonSignals:
        for sig in HANDLED:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def stop_on(self, event: threading.Event) -> None:
        """SIGTERM/SIGINT set `event` (at once when one came already)."""
        self.stop = event
        if self.stop_signal is not None:
            event.set()

    def ready(self, reload: Callable[[], object]) -> bool:
        """From now on each SIGHUP runs `reload` in a thread. Returns whether SIGHUP came during start-up (the
        caller reloads once for all of them)."""
        self._reload = reload
        pending, self._hup_pending = self._hup_pending, False
        return pending

    def _handle(self, signum: int, _frame: object) -> None:
        if signum == signal.SIGHUP:
            reload = self._reload
            if reload is None:
                self._hup_pending = True
            else:
                threading.Thread(target=reload, name="reload", daemon=True).start()
            return
        if self.stop_signal is None:
            self.stop_signal = signal.Signals(signum).name
        self.stop.set()


def catch_early(args: Sequence[str]) -> None:
    """For `socialbot run` (args: the command line after the program name), install the handlers now."""
    global _early
    if args[:1] == ["run"] and _early is None and threading.current_thread() is threading.main_thread():
        _early = DaemonSignals().install()


def take_early() -> DaemonSignals | None:
    """The handlers catch_early installed (once), for the daemon to take over."""
    global _early
    early, _early = _early, None
    return early
