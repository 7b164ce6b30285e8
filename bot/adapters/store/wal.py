"""SQLite's WAL copied into the database file by a thread of its own, so a write never waits for it.

SQLite's own automatic checkpoint runs in the connection that commits, when the WAL has grown past a number of
pages: that commit then copies the pages and syncs both files, which cost a fifth of the time of storing
mentions. Store.open runs a WalCheckpointer instead, every `interval` seconds, from its own connection (the
sqlite3 module lets other Python threads run while SQLite works). It also bounds what a power cut can lose: with
synchronous=NORMAL the WAL is synced at checkpoints, so at most the last `interval` seconds of commits, where an
automatic checkpoint might come only hours later in a quiet daemon. The writers keep SQLite's automatic
checkpoint as a backstop at BACKSTOP_PAGES, so the WAL stays bounded when the thread cannot keep up (or is not
running: a Store built from an engine of its own)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_SECONDS = 1.0
BACKSTOP_PAGES = 16_384  # the writers' own automatic checkpoint: a WAL of 64 MiB (4 KiB pages)


class WalCheckpointer:
    """Checkpoints (PASSIVE: never waits for readers or writers) the WAL of the SQLite file at `path`."""

    def __init__(self, path: Path, *, interval: float = CHECKPOINT_INTERVAL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wal-checkpoint {path.name}", daemon=True)
        self._failing = False

    def start(self) -> WalCheckpointer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            logger.warning(
                "WAL checkpoints of %s: cannot open the database (%s); SQLite's own take over", self.path, exc
            )
            return
        try:
            connection.execute("PRAGMA synchronous=NORMAL")  # the writers' setting: the checkpoint syncs both files
            while not self._stop.wait(self.interval):
                self.checkpoint(connection)
        finally:
            connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            if not self._failing:
                logger.warning("WAL checkpoint of %s failed (%s); retrying every %g s", self.path, exc, self.interval)
            self._failing = True
            return
        if self._failing:
            logger.info("WAL checkpoints of %s work again", self.path)
            self._failing = False
