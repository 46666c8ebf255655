"""Run the Alembic migrations from code, without an ini file or a working directory.

Alembic's environment (`migrations/env.py`) drives an async engine with `asyncio.run`, which cannot
nest inside a running event loop; so when one is running in this thread, the work goes to a worker
thread and this call blocks until it is done. Use `upgrade_async` from async code to keep the loop free.
Runs are serialised in-process, because Alembic keeps its current context in module globals.

Start-up fast path: when the database's `alembic_version` already names the newest revision (read
from the migration files, no Alembic needed), `upgrade_async` returns after that one SELECT, so a
normal start never imports Alembic (a third of a second) or runs its environment.
"""

from __future__ import annotations

import asyncio
import enum
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

import coachbot

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(coachbot.__file__).resolve().parent.parent / "migrations"
_REVISION = re.compile(r"^revision\b[^=\n]*=\s*(.+)$", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\b[^=\n]*=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")

_T = TypeVar("_T")
_lock = threading.Lock()


def alembic_config(url: str) -> Config:
    """An Alembic configuration for `url`, pointing at the repository's `migrations/` folder."""
    from alembic.config import Config  # noqa: PLC0415 - Alembic is loaded only when it has work

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
    from alembic import command  # noqa: PLC0415

    command.upgrade(alembic_config(url), revision)


def _downgrade(url: str, revision: str) -> None:
    from alembic import command  # noqa: PLC0415

    command.downgrade(alembic_config(url), revision)


def _current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

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


async def upgrade_async(url: str, revision: str = "head", *, engine: AsyncEngine | None = None) -> None:
    """`upgrade` for async callers: runs in a worker thread so the event loop keeps serving. Returns
    at once, without Alembic, when the database is already at the newest revision (asked through
    `engine` when given, so a starting process connects once)."""
    if revision == "head" and await at_head(url, engine=engine):
        return
    await asyncio.to_thread(_serialised, _upgrade, url, revision)


def _revision_graph() -> tuple[set[str], set[str]] | None:
    """Every revision and every revision some other one follows, read from the migration files'
    `revision` and `down_revision` lines (each time: nothing to go stale); None when a file lacks one."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None
        revisions.update(_QUOTED.findall(revision.group(1)))
        parents.update(_QUOTED.findall(down.group(1)))
    return revisions, parents


def head_revision() -> str | None:
    """The newest revision; None when the files do not show exactly one head, and then Alembic decides."""
    graph = _revision_graph()
    if graph is None:
        return None
    heads = graph[0] - graph[1]
    return heads.pop() if len(heads) == 1 else None


class SchemaState(enum.Enum):
    """Where a database's schema stands against this code's migrations."""

    CURRENT = "current"
    NEVER_MIGRATED = "never migrated"
    BEHIND = "behind"  # an older revision of these files: `coachbot db upgrade` brings it up
    AHEAD = "ahead"  # a revision these files do not know: written by a newer coachbot


async def schema_state(url: str) -> SchemaState:
    """Connect once to the database at `url` and compare its `alembic_version` with the migration
    files. Connection failures propagate as the driver raises them (see `errors.explain`)."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            if not await connection.run_sync(lambda sync: inspect(sync).has_table("alembic_version")):
                return SchemaState.NEVER_MIGRATED
            versions = set((await connection.execute(text("SELECT version_num FROM alembic_version")))
                           .scalars())
    finally:
        await engine.dispose()
    graph, head = _revision_graph(), head_revision()
    if not versions:
        return SchemaState.NEVER_MIGRATED
    if head is None or graph is None or versions == {head}:
        return SchemaState.CURRENT
    return SchemaState.BEHIND if versions <= graph[0] else SchemaState.AHEAD


async def connects(url: str) -> None:
    """Open and close one connection to `url` (creating an SQLite file): a start-up check that fails
    with the driver's own exception."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect():
            pass
    finally:
        await engine.dispose()


async def at_head(url: str, *, engine: AsyncEngine | None = None) -> bool:
    """Whether the database at `url` is at the newest revision already: one SELECT."""
    head = head_revision()
    if head is None:
        return False
    own = engine is None
    db = create_async_engine(url, poolclass=NullPool) if engine is None else engine
    try:
        async with db.connect() as connection:
            result = await connection.execute(text("SELECT version_num FROM alembic_version"))
            versions = result.scalars().all()
    except (SQLAlchemyError, OSError):  # no alembic_version table yet, or no database: Alembic will say
        return False
    finally:
        if own:
            await db.dispose()
    return list(versions) == [head]
