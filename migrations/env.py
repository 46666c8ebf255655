"""Alembic environment: one async connection, one transaction for the whole run.

The database URL comes from the config's `sqlalchemy.url` (set by coachbot.adapters.db.migrate), or, on
the command line, from `COACHBOT_DATABASE_URL`. On SQLite, foreign keys are off during the run (see
coachbot.adapters.db.database.make_migration_engine) and checked before committing instead.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from coachbot.adapters.db.database import is_sqlite, make_migration_engine
from coachbot.adapters.db.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("COACHBOT_DATABASE_URL")
    if not url:
        raise RuntimeError("no database URL: set sqlalchemy.url or COACHBOT_DATABASE_URL")
    return url


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write the model's own column types as plain SQLAlchemy types, so migrations never import models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(database_url: str, **options: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=is_sqlite(database_url),
        render_item=_render_item,
        compare_type=True,
        **options,
    )


def _run_offline(url: str) -> None:
    _configure(url, url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection, url: str) -> None:
    _configure(url, connection=connection)
    with context.begin_transaction():
        context.run_migrations()
    if is_sqlite(url):
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:10]}")


async def _run_online(url: str) -> None:
    engine = make_migration_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run_on, url)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _run_offline(_database_url())
else:
    asyncio.run(_run_online(_database_url()))
