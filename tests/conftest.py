"""Database fixtures: each test runs on SQLite, and on PostgreSQL when COACHBOT_TEST_POSTGRES_URL is set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.migrate import upgrade_async
from tests.support.databases import BACKENDS, POSTGRES_ADMIN_URL, fresh_postgres_database, sqlite_url


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    assert POSTGRES_ADMIN_URL is not None
    async with fresh_postgres_database(POSTGRES_ADMIN_URL) as url:
        yield url


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    """The URL of a database migrated to the newest revision."""
    await upgrade_async(database_url)
    return database_url


@pytest.fixture
async def session_factory(migrated_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(migrated_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()
