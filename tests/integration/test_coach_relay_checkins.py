"""A check-in that falls due while a coach's conversation is open waits, and starts when it closes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db.models import Coach, Conversation, Patient
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.app.coaches.relay import HELD, RESUMED
from coachbot.app.pipeline import PatientService
from coachbot.engine import Engine, TextMessage
from tests.support.basics import Clock, library
from tests.support.scheduler_world import UTC, World

SAM = 900


async def world_with_coach(sessions: async_sessionmaker[AsyncSession]) -> tuple[World, Patient]:
    w = World(sessions, Clock(dt.datetime(2026, 6, 1, 7, 0, tzinfo=UTC)))
    w.channel = TelegramChannel(library().service.channel)  # type: ignore[assignment]
    w.service = PatientService(sessions, Engine(library()), w.clock, channel=w.channel)  # type: ignore[arg-type]
    patient = await w.add_patient(at=dt.time(9))  # 08:00 UTC (BST)
    async with sessions() as session, session.begin():
        coach = Coach(telegram_user_id=SAM, name="Sam", active=True, created_at=w.clock())
        session.add(coach)
        await session.flush()
        await session.execute(update(Patient).where(Patient.id == patient.id).values(coach_id=coach.id))
    return w, patient


async def test_check_in_waits_for_the_open_conversation_and_starts_when_the_coach_closes_it(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w, patient = await world_with_coach(session_factory)
    assert patient.chat_id is not None
    w.scheduler()
    await w.service.handle_update(1, SAM, TextMessage(f"/message {patient.label} Shall we talk today?"))
    await w.run_until(dt.datetime(2026, 6, 1, 8, 30, tzinfo=UTC))
    assert w.checkins_sent(patient.chat_id) == []
    [run] = await w.runs(patient.id)
    assert (run.status, run.reason) == ("skipped", HELD)
    w.clock.now = dt.datetime(2026, 6, 1, 9, 15, tzinfo=UTC)
    closed = await w.service.handle_update(2, SAM, TextMessage(f"/close {patient.label}"))
    to_patient = [q.payload["text"] for q in closed.queued if q.chat_id == patient.chat_id]
    assert to_patient[0].startswith("Your coach has finished this conversation for now.")
    assert len(to_patient) == 2 and "pain" in to_patient[1].lower()  # the check-in's first question
    [run] = await w.runs(patient.id)
    assert run.reason == RESUMED
    async with session_factory() as session:
        assert (await session.get(Conversation, patient.id)) is not None
    # Closing again, or a second close the same day, starts nothing more.
    again = await w.service.handle_update(3, SAM, TextMessage(f"/close {patient.label}"))
    assert [q.chat_id for q in again.queued] == [SAM]


async def test_next_days_check_in_goes_as_usual_after_the_conversation_closed(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w, patient = await world_with_coach(session_factory)
    assert patient.chat_id is not None
    w.scheduler()
    await w.service.handle_update(1, SAM, TextMessage(f"/message {patient.label} Hello"))
    await w.service.handle_update(2, SAM, TextMessage(f"/close {patient.label}"))
    await w.run_until(dt.datetime(2026, 6, 1, 8, 30, tzinfo=UTC))
    assert len(w.checkins_sent(patient.chat_id)) == 1
