"""SQLite for the asyncio engine without a thread hop per statement: the statements run on the loop.

aiosqlite runs every statement on a worker thread and wakes the event loop for each result. With
SQLite's own work at a few microseconds per statement (the pages are cached, WAL commits do not
fsync), those hops cost ten times the work: a daily check-in's start took 7.3 ms of CPU through
aiosqlite and 2.9 ms run on the loop, before anything else changed (README, Performance).

This dialect is the standard `sqlite3` (pysqlite) dialect declared async: SQLAlchemy's AsyncEngine
and AsyncSession run its calls inside their greenlet, which simply never has to wait. The price is
that a statement blocks the event loop while it runs, so:

- every writer of the process queues on the service's write gate (`service.write_gate`), so two of
  its transactions never wait for each other's lock inside SQLite (which, on the loop, would stall);
- another process holding the write lock (a `coachbot` admin command) makes a writer here wait in
  SQLite's busy handler, on the loop, for as long as that command's transaction lasts (milliseconds);
- long scans belong in batches (the scheduler claims due check-ins a batch at a time).

PostgreSQL (asyncpg) is unaffected: it is asynchronous by nature.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.util.concurrency import await_, in_greenlet

DRIVER = "coachbot_inline"
"""The driver name in a URL (`sqlite+coachbot_inline:///file.db`); `make_engine` picks it for SQLite."""


async def _settled() -> None:
    """An awaitable that is already done."""


def _as_async_driver() -> None:
    """Behave as an async driver would: pass through the event loop's side of SQLAlchemy's greenlet
    once (a switch there and back, no wait), which `AsyncConnection.execute` checks it did."""
    if in_greenlet():
        await_(_settled())


class InlineCursor(sqlite3.Cursor):
    """A `sqlite3` cursor that behaves as SQLAlchemy's asyncio layer expects of an async driver's: each
    statement runs to completion when executed and its rows wait in memory. A statement left half-read
    would otherwise keep its connection's read snapshot open, and the next transaction on that pooled
    connection would not see what others have committed since."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__(connection)
        self._rows: deque[Any] = deque()

    def execute(self, *args: Any) -> Any:
        _as_async_driver()
        super().execute(*args)
        self._rows = deque(super().fetchall() if self.description else ())
        return self

    def executemany(self, *args: Any) -> Any:
        _as_async_driver()
        super().executemany(*args)
        self._rows = deque()
        return self

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        count = min(len(self._rows), self.arraysize if size is None else size)
        return [self._rows.popleft() for _ in range(count)]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def _async_soft_close(self) -> None:
        """Nothing to do: the statement has finished and its rows are in memory."""


class InlineConnection(sqlite3.Connection):
    def cursor(self, factory: Any = InlineCursor) -> Any:
        return super().cursor(factory)


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    """pysqlite, usable from `create_async_engine`: calls run directly, on the event loop's thread."""

    driver = DRIVER
    is_async = True
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        # The asyncio-aware queue: a coroutine waiting for a free connection yields to the loop
        # (QueuePool's would block the thread the connections are waiting to be returned on).
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool

    def create_connect_args(self, url: URL) -> Any:
        args, options = super().create_connect_args(url)
        return args, {**options, "factory": InlineConnection}

    def get_driver_connection(self, connection: Any) -> Any:
        return connection


registry.register(f"sqlite.{DRIVER}", __name__, "InlineSQLiteDialect")


def inline_url(url: str | URL) -> URL:
    """The same SQLite database, through this dialect."""
    return make_url(url).set(drivername=f"sqlite+{DRIVER}")
