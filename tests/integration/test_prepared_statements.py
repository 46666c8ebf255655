"""Statements prepared once and run on the driver's cursor store and read values exactly as SQLAlchemy
does, on both databases (`coachbot/adapters/db/prepared.py`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.util import greenlet_spawn

from coachbot.adapters.db.answer_lane import AsyncEngineLane
from coachbot.adapters.db.models import Conversation, Patient, ProcessedUpdate
from coachbot.adapters.db.prepared import Prepared

NOW = dt.datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=dt.UTC)
_P = Patient.__table__
_C = Conversation.__table__


async def on_cursor(sessions: async_sessionmaker[AsyncSession], work: Any) -> Any:
    """Run `work(cursor, dialect)` in one committed transaction on a pooled driver connection."""
    engine = sessions.kw["bind"]

    def run() -> Any:
        raw = engine.sync_engine.raw_connection()
        try:
            cursor = raw.dbapi_connection.cursor()
            result = work(cursor, engine.dialect)
            raw.dbapi_connection.commit()
            return result
        finally:
            raw.close()

    return await greenlet_spawn(run)


async def a_patient(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session, session.begin():
        patient = Patient(label="P-PREP01", chat_id=5, status="active", created_at=NOW, updated_at=NOW)
        session.add(patient)
        await session.flush()
        return patient.id


async def test_a_prepared_write_is_read_back_by_the_orm_exactly_as_written(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    patient_id = await a_patient(session_factory)
    answers = {"pain_now": 4, "note": "ça va", "nested": [1, None]}

    def write(cursor: Any, dialect: Any) -> None:
        Prepared(insert(_C), dialect, columns=("patient_id", "script", "script_version", "state", "answers",
                                              "misses", "started_at", "updated_at")).run(cursor, {
            "patient_id": patient_id, "script": "daily", "script_version": "v1", "state": "mood",
            "answers": answers, "misses": 0, "started_at": NOW, "updated_at": NOW})

    await on_cursor(session_factory, write)
    async with session_factory() as session:
        row = await session.get(Conversation, patient_id)
    assert row is not None
    assert (row.answers, row.started_at, row.state) == (answers, NOW, "mood")


async def test_a_prepared_read_converts_columns_as_sqlalchemy_does(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    patient_id = await a_patient(session_factory)
    statement = (select(_P.c.id, _P.c.created_at, _P.c.unreachable, literal("fixed"))
                 .where(_P.c.id == bindparam("pid"), _P.c.status.in_([literal("active"), literal("new")])))
    rows = await on_cursor(session_factory, lambda cursor, dialect: Prepared(statement, dialect).run(
        cursor, {"pid": patient_id}))
    async with session_factory() as session:
        expected = (await session.execute(statement, {"pid": patient_id})).all()
    assert rows == [tuple(row) for row in expected]
    assert rows == [(patient_id, NOW, False, "fixed")]


async def test_an_update_sets_only_the_columns_it_was_prepared_for(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    patient_id = await a_patient(session_factory)
    later = NOW + dt.timedelta(hours=1)
    statement = update(_P).where(_P.c.id == bindparam("pid"))
    await on_cursor(session_factory, lambda cursor, dialect: Prepared(
        statement, dialect, columns=("updated_at",)).run(cursor, {"pid": patient_id, "updated_at": later}))
    async with session_factory() as session:
        patient = await session.get(Patient, patient_id)
    assert patient is not None
    assert (patient.updated_at, patient.created_at, patient.status) == (later, NOW, "active")


async def test_a_duplicate_key_is_sqlalchemys_integrity_error_and_the_lane_carries_on(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    lane = AsyncEngineLane(session_factory.kw["bind"])
    async with session_factory() as session, session.begin():
        session.add(ProcessedUpdate(update_id=42, processed_at=NOW))
    insert_twice = insert(ProcessedUpdate.__table__)

    def decide(_snapshot: object, _reads: object) -> None:
        return None

    with pytest.raises(IntegrityError):
        await on_cursor(session_factory, lambda cursor, dialect: Prepared(insert_twice, dialect).run(
            cursor, {"update_id": 42, "processed_at": NOW}))
    assert await lane.answer(1, NOW, decide) is None  # and after: nothing was left half done


def test_an_in_list_of_plain_values_is_refused_with_the_way_to_write_it() -> None:
    from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect  # noqa: PLC0415

    with pytest.raises(ValueError, match="bound expressions"):
        Prepared(select(_P.c.id).where(_P.c.status.in_(["active", "new"])), sqlite_dialect())
