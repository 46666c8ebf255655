"""SQLite's WAL checkpoints, moved off the event loop onto a thread of their own.

SQLite copies the write-ahead log back into the database file (a checkpoint, with its fsyncs) inside
whichever commit finds the log over 1,000 pages. The service's statements run on the event loop
(`sqlite_inline.py`), so that commit stalled every update for 5-25 ms, about once a second at a few
hundred answers a second, which set the p99 (bench/telegram_throughput.py). So the service's
connections never checkpoint (`PRAGMA wal_autocheckpoint=0`) and this thread does it, on its own
connection, every `every` seconds: a PASSIVE checkpoint waits for no lock and blocks no writer, and
the `sqlite3` module lets go of the GIL while SQLite works, so the loop runs on meanwhile.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("coachbot.db")

CHECKPOINT_EVERY = 1.0
"""Seconds between checkpoints: the log stays at about a second of writes."""


class WalCheckpointer:
    """One thread per database file and engine; `start` is idempotent, `stop` waits for it to end."""

    def __init__(self, path: str, *, every: float | None = None, busy_timeout_ms: int = 10_000) -> None:
        self.path, self.busy_timeout_ms = path, busy_timeout_ms
        self.every = CHECKPOINT_EVERY if every is None else every
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="coachbot-wal-checkpoints", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, check_same_thread=True)
        try:
            while not self._stop.wait(self.every):
                self.checkpoint(conn)
            self.checkpoint(conn)  # what the last second wrote, before the engine goes
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.runs += 1
        except sqlite3.Error as exc:  # tried again next time; the log only grows meanwhile
            log.warning("SQLite checkpoint failed: %s", type(exc).__name__)
