"""A database connection lost while idle in the pool (the server restarted, a proxy timed it out) costs
the patient nothing: the engine does not check connections before use, so the update's first statement
fails, and `handle_update` runs the update again on a fresh connection.

PostgreSQL only: SQLite is a file with no server, so nothing drops its connections (aiosqlite's
connection, closed underneath the pool, is a programming error that hangs, not a lost connection).
CI runs the suite against PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from coachbot.adapters.db.models import Measurement, ProcessedUpdate
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.app.channel import ChannelCommand
from coachbot.app.pipeline import PatientService
from coachbot.engine import Engine, TextMessage
from tests.support.coachbot_telegram import library
from tests.support.databases import BACKENDS, POSTGRES_ADMIN_URL

Sessions = async_sessionmaker[AsyncSession]
pytestmark = pytest.mark.parametrize("database_url", [b for b in BACKENDS if b != "sqlite"], indirect=True)
CHAT = 42
ONBOARDING = ["hello", "yes", "Alex", "no", "no", "6", "4", "no", "working", "8am", "sunday", "UK"]


async def drop_idle_connections(engine: AsyncEngine) -> int:
    """What a database restart does to the pool's idle connections; returns how many were dropped."""
    if engine.dialect.name == "postgresql":
        assert POSTGRES_ADMIN_URL is not None
        admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            async with admin.connect() as connection:
                dropped = await connection.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": engine.url.database})
                return int(dropped.scalar_one())
        finally:
            await admin.dispose()
    raise AssertionError("only PostgreSQL drops connections")


async def count(sessions: Sessions, model: type) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def in_checkin(sessions: Sessions) -> PatientService:
    lib = library()
    service = PatientService(sessions, Engine(lib), channel=TelegramChannel(lib.service.channel))
    for update_id, said in enumerate(ONBOARDING, 1):
        await service.handle_update(update_id, CHAT, TextMessage(said))
    await service.handle_update(100, CHAT, ChannelCommand("checkin"))
    return service


async def test_an_answer_after_the_pool_lost_its_connections_is_applied_once(
        session_factory: Sessions) -> None:
    service = await in_checkin(session_factory)
    before = await count(session_factory, Measurement)
    assert await drop_idle_connections(session_factory.kw["bind"]) >= 1
    result = await service.handle_update(101, CHAT, TextMessage("4"))  # an answer: the fast path
    assert result.queued and not result.duplicate
    assert await count(session_factory, Measurement) == before + 1


async def test_a_command_after_the_pool_lost_its_connections_is_applied_once(
        session_factory: Sessions) -> None:
    service = await in_checkin(session_factory)
    processed = await count(session_factory, ProcessedUpdate)
    assert await drop_idle_connections(session_factory.kw["bind"]) >= 1
    result = await service.handle_update(101, CHAT, TextMessage("/help"))  # the full path
    assert result.queued and not result.duplicate
    assert await count(session_factory, ProcessedUpdate) == processed + 1
