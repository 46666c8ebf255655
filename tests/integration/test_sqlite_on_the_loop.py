"""SQLite run on the event loop: behaves as an async driver, never pins an old snapshot, and keeps its
write-ahead log bounded with checkpoints taken off the loop."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from coachbot.adapters.db import sqlite_checkpoints
from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.migrate import upgrade_async
from coachbot.adapters.db.models import AuditEntry
from coachbot.adapters.db.store import audit

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


async def _database(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'loop.db'}"
    await upgrade_async(url)
    return url


async def test_async_connection_execute_works_as_with_an_async_driver(tmp_path: Path) -> None:
    engine = make_engine(await _database(tmp_path))
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("select 41 + 1"))).scalar() == 42
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    finally:
        await engine.dispose()


async def test_a_half_read_result_does_not_hide_later_commits_from_its_connection(tmp_path: Path) -> None:
    engine = make_engine(await _database(tmp_path))
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session, session.begin():
            for n in range(3):
                audit(session, actor="test", action=f"a{n}", subject=None, detail={}, now=NOW)
        async with engine.connect() as conn:
            result = await conn.execute(select(AuditEntry.id))
            assert result.fetchone() is not None  # one row of three read, the result left open
            async with sessions() as writer, writer.begin():
                audit(writer, actor="test", action="later", subject=None, detail={}, now=NOW)
            count = (await conn.execute(select(func.count()).select_from(AuditEntry))).scalar()
        assert count == 4
    finally:
        await engine.dispose()


async def test_the_service_never_checkpoints_inside_a_commit(tmp_path: Path) -> None:
    engine = make_engine(await _database(tmp_path))
    try:
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
    finally:
        await engine.dispose()


async def test_checkpoints_off_the_loop_keep_the_write_ahead_log_bounded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_checkpoints, "CHECKPOINT_EVERY", 0.05)
    url = await _database(tmp_path)
    wal = tmp_path / "loop.db-wal"
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)

    async def write_a_batch() -> int:
        for _ in range(20):
            async with sessions() as session, session.begin():
                for n in range(50):
                    audit(session, actor="test", action="x" * 200, subject=str(n), detail={"n": n}, now=NOW)
        await asyncio.sleep(0.3)  # a few checkpoints' time
        return wal.stat().st_size

    try:
        first = await write_a_batch()
        sizes = [await write_a_batch() for _ in range(3)]
    finally:
        await engine.dispose()
    # Without checkpoints the log would hold every batch (4x the first); with them, writers start it
    # again from the beginning once a checkpoint has copied it into the database.
    assert max(sizes) <= 1.5 * first
