"""Run the Alembic migrations from code, without an ini file or a working directory.

Alembic's environment (`migrations/env.py`) drives an async engine with `asyncio.run`, which cannot
nest inside a running event loop; so when one is running in this thread, the work goes to a worker
thread and this call blocks until it is done. Use `upgrade_async` from async code to keep the loop free.
Runs are serialised in-process, because Alembic keeps its current context in module globals.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import coachbot

MIGRATIONS_DIR = Path(coachbot.__file__).resolve().parent.parent / "migrations"

_T = TypeVar("_T")
_lock = threading.Lock()


def alembic_config(url: str) -> Config:
    """An Alembic configuration for `url`, pointing at the repository's `migrations/` folder."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Config values go through ConfigParser interpolation; a URL-encoded password may hold "%".
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _serialised(fn: Callable[..., _T], *args: object) -> _T:
    with _lock:
        return fn(*args)


def _run_blocking(fn: Callable[..., _T], *args: object) -> _T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _serialised(fn, *args)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="alembic") as pool:
        return pool.submit(_serialised, fn, *args).result()


def _upgrade(url: str, revision: str) -> None:
    command.upgrade(alembic_config(url), revision)


def _downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def _current(url: str) -> str | None:
    async def read() -> str | None:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (by default the newest)."""
    _run_blocking(_upgrade, url, revision)


def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` back to `revision` ("base" removes every table)."""
    _run_blocking(_downgrade, url, revision)


def current(url: str) -> str | None:
    """The revision the database at `url` is at, or None before the first migration."""
    return _run_blocking(_current, url)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """`upgrade` for async callers: runs in a worker thread so the event loop keeps serving."""
    await asyncio.to_thread(_serialised, _upgrade, url, revision)
