"""The answer fast path's storage: one transaction per answer, all or nothing, on both databases."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db import store
from coachbot.adapters.db.answer_lane import AnswerWrite
from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.migrate import upgrade_async
from coachbot.adapters.db.models import Conversation, Measurement, OutboxMessage, Patient
from coachbot.adapters.db.sqlite_inline import DRIVER
from coachbot.adapters.db.store import PatientSnapshot
from coachbot.channel import QueuedMessage
from coachbot.engine import Engine, StartDialog, TextMessage
from coachbot.service import PatientService
from coachbot.spec import load_library

DIALOGS = Path(__file__).resolve().parents[2] / "dialogs"
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
CHAT = 777
ONBOARDING = ["hello", "yes", "Alex", "no", "no", "6", "4", "8am", "UK"]


async def in_checkin(sessions: async_sessionmaker[AsyncSession]) -> PatientService:
    """A patient onboarded and waiting at the daily check-in's first question."""
    service = PatientService(sessions, Engine(load_library(DIALOGS)), lambda: NOW)
    for text in ONBOARDING:
        await service.handle(CHAT, TextMessage(text))
    await service.handle(CHAT, StartDialog("daily_checkin"))
    return service


async def rows(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


def pain(value: int, *, update_id: int | None = None,
         outbox: bool = False) -> Callable[[PatientSnapshot, object], AnswerWrite]:
    def decide(snapshot: PatientSnapshot, _reads: object) -> AnswerWrite:
        position = snapshot.position
        queued = [QueuedMessage(id=0, chat_id=CHAT, lane=0, kind="text", payload={"text": "ok"},
                                not_before=NOW, attempts=0, patient_id=snapshot.patient_id,
                                escalation_id=None, label=snapshot.label)] if outbox else []
        return AnswerWrite(patient_id=snapshot.patient_id, now=NOW, update_id=update_id, outbox=queued,
                           measures=[("pain_now", value, position.script, position.state)],
                           position=position.with_answer("pain_now", value))
    return decide


async def test_an_answer_writes_its_measurement_position_outbox_row_and_update_id_together(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    service = await in_checkin(session_factory)
    measurements = await rows(session_factory, Measurement)
    done = await service.answers.answer(CHAT, NOW, pain(7, update_id=1, outbox=True))
    assert done is not None
    _write, queued = done
    assert [q.id > 0 for q in queued] == [True]
    assert await rows(session_factory, Measurement) == measurements + 1
    assert await rows(session_factory, OutboxMessage) >= 1
    async with session_factory() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
    assert conversation.answers.get("pain_now") == 7


@pytest.mark.parametrize("reply", [True, False], ids=["one-reply", "no-reply"])
async def test_a_redelivered_update_id_rolls_the_whole_answer_back_and_the_lane_carries_on(
        session_factory: async_sessionmaker[AsyncSession], reply: bool) -> None:
    """With one reply PostgreSQL writes the answer in one statement, without one in several."""
    service = await in_checkin(session_factory)
    await service.answers.answer(CHAT, NOW, pain(5, update_id=42))
    measurements = await rows(session_factory, Measurement)
    outbox = await rows(session_factory, OutboxMessage)
    with pytest.raises(IntegrityError):
        await service.answers.answer(CHAT, NOW, pain(9, update_id=42, outbox=reply))
    assert (await rows(session_factory, Measurement), await rows(session_factory, OutboxMessage)) == (
        measurements, outbox)
    assert await service.answers.answer(CHAT, NOW, pain(3, update_id=43)) is not None
    assert await rows(session_factory, Measurement) == measurements + 1


async def test_the_lanes_connections_go_back_to_the_pool_ready_for_transactions(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    """The lane reads and writes a one-statement answer on PostgreSQL outside a transaction; the
    connection it returns must again roll back what a failed transaction wrote."""
    service = await in_checkin(session_factory)
    assert await service.answers.answer(CHAT, NOW, pain(5, update_id=42, outbox=True)) is not None
    measurements = await rows(session_factory, Measurement)
    async with session_factory() as session:
        patient_id = (await session.execute(select(Patient.id))).scalar_one()
    with pytest.raises(RuntimeError, match="failed"):
        async with session_factory() as session, session.begin():
            store.add_measurement(session, patient_id, "pain_now", 3, "daily_checkin", "pain", NOW)
            await session.flush()
            raise RuntimeError("failed after the insert")
    assert await rows(session_factory, Measurement) == measurements


async def test_declining_or_failing_to_decide_writes_nothing(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    service = await in_checkin(session_factory)
    measurements = await rows(session_factory, Measurement)
    assert await service.answers.answer(CHAT, NOW, lambda snapshot, reads: None) is None

    def broken(snapshot: PatientSnapshot, reads: object) -> AnswerWrite:
        raise RuntimeError("the engine failed")

    with pytest.raises(RuntimeError):
        await service.answers.answer(CHAT, NOW, broken)
    assert await rows(session_factory, Measurement) == measurements
    assert await service.answers.answer(CHAT, NOW, pain(2)) is not None


async def test_a_chat_with_no_dialog_running_is_left_to_the_full_path(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    service = await in_checkin(session_factory)
    assert await service.answers.answer(CHAT + 1, NOW, pain(5)) is None


async def test_sqlite_statements_run_on_the_event_loop_without_a_worker_thread(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'lane.db'}"
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        assert engine.dialect.driver == DRIVER
        before = set(threading.enumerate())
        service = await in_checkin(make_sessionmaker(engine))
        assert await service.answers.answer(CHAT, NOW, pain(4)) is not None
        started = {thread.name for thread in set(threading.enumerate()) - before}
        assert started <= {"coachbot-wal-checkpoints"}  # the checkpoints' own thread, nothing per statement
    finally:
        await engine.dispose()
