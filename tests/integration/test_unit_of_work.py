"""The SQLAlchemy unit of work (coachbot/adapters/db/unit_of_work.py) on SQLite and PostgreSQL: what a
block keeps without and with a commit, and the write gate it holds."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db.models import AuditEntry, Patient
from coachbot.adapters.db.store import INSERT_UPDATE_ID
from coachbot.adapters.db.unit_of_work import SqlUnitOfWorks, joined, session_of, write_gate
from tests.support.db_faults import fail_update_commits

Sessions = async_sessionmaker[AsyncSession]
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


async def audit_count(sessions: Sessions) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(AuditEntry))).scalar_one())


async def test_a_unit_of_work_keeps_its_writes_only_when_committed(session_factory: Sessions) -> None:
    uows = SqlUnitOfWorks(session_factory)
    async with uows() as uow:
        uow.audit.record(actor="system", action="left", subject=None, detail={}, now=NOW)
    assert await audit_count(session_factory) == 0
    async with uows() as uow:
        uow.audit.record(actor="system", action="kept", subject=None, detail={}, now=NOW)
        await uow.commit()
    assert await audit_count(session_factory) == 1


async def test_an_error_inside_the_block_rolls_back_and_releases_the_gate(session_factory: Sessions) -> None:
    uows = SqlUnitOfWorks(session_factory)
    with pytest.raises(RuntimeError):
        async with uows() as uow:
            uow.audit.record(actor="system", action="failed", subject=None, detail={}, now=NOW)
            raise RuntimeError("boom")
    assert await audit_count(session_factory) == 0
    async with asyncio.timeout(5), uows() as uow:  # the gate was given back
        await uow.commit()


async def test_a_commit_that_fails_leaves_nothing_for_the_next_unit_of_work_to_see(
        session_factory: Sessions) -> None:
    """A COMMIT the database refuses (the connection dropped at that moment) keeps nothing, and the
    connection goes back to the pool rolled back: on PostgreSQL it once came back still inside the
    failed transaction, so the outbox sweep saw, and sent, the replies of an update that had failed."""
    fault = fail_update_commits(session_factory.kw["bind"])
    uows = SqlUnitOfWorks(session_factory)
    with pytest.raises(OperationalError):
        async with uows() as uow:
            uow.audit.record(actor="system", action="failed at commit", subject=None, detail={}, now=NOW)
            await session_of(uow).execute(INSERT_UPDATE_ID, {"update_id": 1, "processed_at": NOW})
            await uow.commit()
    assert fault.failed == 1
    for _ in range(3):  # whichever pooled connection the next readers get
        assert await audit_count(session_factory) == 0


async def test_on_sqlite_every_unit_of_work_holds_the_one_gate_of_its_database(
        session_factory: Sessions) -> None:
    gate = write_gate(session_factory)
    if session_factory.kw["bind"].dialect.name != "sqlite":
        assert not isinstance(gate, asyncio.Lock), "PostgreSQL locks rows: writers run side by side"
        return
    assert isinstance(gate, asyncio.Lock)
    assert write_gate(session_factory) is gate, "one gate per database engine, whoever asks"
    first, second = SqlUnitOfWorks(session_factory), SqlUnitOfWorks(session_factory)
    async with first():
        assert gate.locked()
        waiting = asyncio.create_task(second().__aenter__())
        await asyncio.sleep(0.05)
        assert not waiting.done(), "a second writer queues on the gate instead of SQLite's busy handler"
    uow = await asyncio.wait_for(waiting, 5)
    await uow.__aexit__(None, None, None)
    assert not gate.locked()


async def test_a_session_opened_by_hand_joins_as_a_unit_of_work_that_leaves_the_commit_to_its_owner(
        session_factory: Sessions) -> None:
    async with session_factory() as session, session.begin():
        uow = joined(session)
        assert session_of(uow) is session and joined(session) is uow
        patient = Patient(label="P-JOINED", chat_id=77, created_at=NOW, updated_at=NOW)
        session.add(patient)
        await session.flush()
        assert await uow.patients.get(patient.id) is patient
        with pytest.raises(RuntimeError):
            await uow.commit()
    async with session_factory() as session:
        assert (await session.execute(select(Patient.label))).scalars().all() == ["P-JOINED"]
