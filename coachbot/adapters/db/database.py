"""Engines and sessions for SQLite and PostgreSQL (asyncpg).

SQLite goes through aiosqlite, which runs each statement on a worker thread, so a statement or a
checkpoint never blocks the event loop. SQLite has one writer at a time: the unit of work
(`unit_of_work.py`) queues the process's writers on an asyncio lock instead of letting them wait for each
other inside SQLite.

`make_engine` is what the service uses. `make_migration_engine` is only for Alembic: on SQLite it turns
foreign keys off and wraps the whole run in one real transaction, because SQLite rebuilds a table to
alter it and, with foreign keys on, dropping the old copy would cascade-delete the rows that point at it.

Every engine hides statement parameters (`hide_parameters`): they are patients' words and names, and a
database error's message, which ends up in logs and tracebacks, would otherwise quote them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

#: How long a SQLite connection waits for another one's write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 10_000

_POSTGRES_SERVER_SETTINGS = {"application_name": "coachbot", "timezone": "UTC"}


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _check_supported(url: str) -> None:
    backend = make_url(url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r}: expected sqlite+aiosqlite or postgresql+asyncpg")


def _run_pragmas(dbapi_connection: Any, pragmas: list[str]) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in pragmas:
            cursor.execute(pragma)
    finally:
        cursor.close()


def sqlite_connect_pragmas(dbapi_connection: Any) -> None:
    """Every service connection to SQLite: WAL (readers never wait for the writer), commits without
    an fsync each (durable across a crash of the process, not of the machine's power), foreign keys
    enforced, and a wait for the write lock instead of an immediate error."""
    _run_pragmas(
        dbapi_connection,
        [
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        ],
    )


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An engine for the service: WAL and enforced foreign keys on SQLite, a pool on PostgreSQL."""
    _check_supported(url)
    if is_sqlite(url):
        engine = create_async_engine(url, echo=echo, hide_parameters=True,
                                     connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            sqlite_connect_pragmas(dbapi_connection)

        return engine
    # No pre-ping: it cost a round trip on every checkout (a fifth of an answer's CPU). A connection the
    # server dropped fails its first statement instead; SQLAlchemy then invalidates the pool, and
    # `PatientService.handle_update` runs the update again on a fresh connection.
    return create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=30,
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={"server_settings": _POSTGRES_SERVER_SETTINGS},
    )


def make_migration_engine(url: str) -> AsyncEngine:
    """An unpooled engine for schema changes; see the module docstring for the SQLite specifics."""
    _check_supported(url)
    if not is_sqlite(url):
        return create_async_engine(
            url, poolclass=NullPool, hide_parameters=True,
            connect_args={"server_settings": _POSTGRES_SERVER_SETTINGS},
        )
    engine = create_async_engine(
        url, poolclass=NullPool, hide_parameters=True, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions start, so DDL is
        # transactional; foreign keys can only be switched off outside a transaction.
        dbapi_connection.isolation_level = None
        _run_pragmas(
            dbapi_connection, ["PRAGMA foreign_keys=OFF", f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"]
        )

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
